package study

// BaseAtFirst tells which end of a short-axis stack is the base from its
// labels (x fastest, then y, then slice, as Labels.Data): the ventricles
// taper to the apex, so the half of the slices holding foreground nearer
// the base holds more of it. first is true when slice 1 is the base (also
// on a tie or with fewer than two foreground slices); ok is false then,
// when the labels do not say.
func BaseAtFirst(data []uint8, dims [3]int) (first, ok bool) {
	plane := dims[0] * dims[1]
	if plane <= 0 || len(data) != plane*dims[2] {
		return true, false
	}
	var area []int // foreground voxels of the slices that hold some, in order
	for k := 0; k < dims[2]; k++ {
		n := 0
		for _, l := range data[k*plane : (k+1)*plane] {
			if l != Background {
				n++
			}
		}
		if n > 0 {
			area = append(area, n)
		}
	}
	// Compare the halves (the middle slice of an odd count in neither).
	a, b := 0, 0
	for r := range len(area) / 2 {
		a += area[r]
		b += area[len(area)-1-r]
	}
	return a >= b, len(area) >= 2 && a != b
}

// Slice positions counted from the base (SlicePositions); PositionOutside
// holds the slices without reference foreground (above the base or below
// the apex).
const (
	PositionBasal = iota
	PositionMid
	PositionApical
	PositionOutside
)

// SlicePositions assigns every slice of ref a position: the slices with
// foreground are ranked from the base (BaseAtFirst) and rank r of n falls
// in third floor(3(r+½)/n), so a count not divisible by three gives its
// extra slices to mid. It also reports whether the base is at k = 0.
func SlicePositions(ref Labels) (pos []int, baseAtFirst bool) {
	nz := ref.Dims[2]
	plane := ref.Dims[0] * ref.Dims[1]
	var fg []int // slices with reference foreground, in k order
	for k := range nz {
		for _, l := range ref.Data[k*plane : (k+1)*plane] {
			if l != Background {
				fg = append(fg, k)
				break
			}
		}
	}
	pos = make([]int, nz)
	for k := range pos {
		pos[k] = PositionOutside
	}
	n := len(fg)
	baseAtFirst, _ = BaseAtFirst(ref.Data, ref.Dims)
	for r, k := range fg {
		rank := r
		if !baseAtFirst {
			rank = n - 1 - r
		}
		pos[k] = (6*rank + 3) / (2 * n) // floor(3(rank+½)/n)
	}
	return pos, baseAtFirst
}
