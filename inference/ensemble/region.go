package ensemble

import (
	"context"
	"math"
	"slices"

	"cmrseg/app/study"
	"cmrseg/inference/postprocess"
)

// box is a rectangle [y0, y1) × [x0, x1) of a padded network slice.
type box struct{ y0, y1, x0, x1 int }

func (b box) empty() bool { return b.y1 <= b.y0 || b.x1 <= b.x0 }

// Heart-region parameters, in network pixels (1.5 mm for the bundled model).
const (
	// regionMargin is added around the located heart on every side: room
	// for the heart's motion between the located phase (ED, the largest)
	// and the others, and for context at the tile border.
	regionMargin = 16
	// borderBand: foreground this close to the region's inner border means
	// the heart may continue outside it, so the region grows.
	borderBand = 4
	// maxShift bounds TileAuto's per-checkpoint tile shift along each
	// axis: σ of the tile's Gaussian weights (tile/8 for the bundled 128²
	// patch), the same order as the overlap the sliding window blends.
	maxShift = 16
	// growStep is how far a region grows on a side its foreground reached:
	// twice the margin. Half a patch (64 px) was the step first; it pushed
	// regions that one tile could cover into the sliding window (patient001
	// at ED+ES: three growths, 2500 evaluations instead of 240), while
	// the foreground that reaches a border is seldom more than a margin
	// beyond the located heart.
	growStep = 2 * regionMargin
)

// tiling is where the network runs on a padded h × w slice: tile size and
// top-left corners. covered is the union of the tiles.
type tiling struct {
	h, w, th, tw int
	ys, xs       []int
	region       bool // a heart region (else the whole slice)
	// shifts (TileAuto's shifted tiles) replace the one tile at (ys[0], xs[0]) per
	// sample: sample k of the sample order runs it moved by shifts[k mod
	// len] (rows, columns).
	shifts [][2]int
}

// sample is the tiling sample k (position in the sample order) runs.
func (t tiling) sample(k int) tiling {
	if len(t.shifts) == 0 {
		return t
	}
	d := t.shifts[k%len(t.shifts)]
	u := t
	u.shifts = nil
	u.ys, u.xs = []int{t.ys[0] + d[0]}, []int{t.xs[0] + d[1]}
	return u
}

// covered is the box every sample's tiles cover.
func (t tiling) covered() box {
	if len(t.shifts) > 0 {
		b := box{0, t.h, 0, t.w}
		for k := range t.shifts {
			c := t.sample(k).covered()
			b = box{max(b.y0, c.y0), min(b.y1, c.y1), max(b.x0, c.x0), min(b.x1, c.x1)}
		}
		return b
	}
	return box{t.ys[0], t.ys[len(t.ys)-1] + t.th, t.xs[0], t.xs[len(t.xs)-1] + t.tw}
}

// tiles is the number of tiles per slice.
func (t tiling) tiles() int { return len(t.ys) * len(t.xs) }

// wholeSlice is one tile of the padded slice.
func wholeSlice(h, w int) tiling { return tiling{h: h, w: w, th: h, tw: w, ys: []int{0}, xs: []int{0}} }

// slidingWindow is nnU-Net's tiling of the whole slice.
func slidingWindow(h, w, th, tw int) tiling {
	return tiling{h: h, w: w, th: th, tw: tw, ys: steps(h, th), xs: steps(w, tw)}
}

// coverTiling covers the slice with as few patch tiles as possible (the
// localisation pass: one checkpoint, no overlap beyond what the slice size
// forces).
func coverTiling(h, w, th, tw int) tiling {
	cover := func(size, tile int) []int {
		if size <= tile {
			return []int{0}
		}
		n := (size + tile - 1) / tile
		out := make([]int, n)
		for i := range out {
			out[i] = int(math.Round(float64(size-tile) * float64(i) / float64(n-1)))
		}
		return out
	}
	return tiling{h: h, w: w, th: th, tw: tw, ys: cover(h, th), xs: cover(w, tw)}
}

// regionTiling covers box r of an h × w slice with patch tiles (ph × pw)
// at nnU-Net's step of half a tile, over r widened to at least one and a
// half patches (centred on r, inside the slice): every pixel of the heart
// is then blended from several overlapping tiles, as in the full sliding
// window. A single tile centred on the heart scored the same Dice but a
// worse calibration (validation ECE 1.89 % against 1.39 % on four cases):
// the overlapping tiles are a small ensemble of their own.
func regionTiling(r box, h, w, ph, pw, divisor int) tiling {
	axis := func(lo, hi, size, patch int) []int {
		n := max(hi-lo, patch*3/2)
		if n >= size {
			return steps(size, patch)
		}
		lo = min(max((lo+hi)/2-n/2, 0), size-n)
		st := steps(n, patch)
		for i := range st {
			st[i] = min(lo+st[i], size-patch)
		}
		return st
	}
	t := tiling{h: h, w: w, th: min(ph, h), tw: min(pw, w), region: true}
	t.ys = axis(r.y0, r.y1, h, t.th)
	t.xs = axis(r.x0, r.x1, w, t.tw)
	return t
}

// shiftedTiling covers box r of an h × w slice with one tile per sample,
// centred on r and shifted by up to maxShift pixels per axis, a different
// shift per sample, each shifted tile still covering all of r. The tile is
// the ph × pw patch, or, for a larger r, r's extent plus maxShift (room
// for the shifts) rounded up to the network's divisor, up to lh × lw: one
// such tile costs less than the four or more patches of the sliding
// window over r, and keeps the per-sample shifts that make the tiles a
// small ensemble of their own. ok is false when r exceeds the limit. The
// order of the shifts puts opposite corners first, so the first samples of
// an anytime ensemble already see the region from different sides.
func shiftedTiling(r box, h, w, ph, pw, lh, lw, divisor int) (t tiling, ok bool) {
	size := func(lo, hi, size, patch, limit int) (int, bool) {
		n := hi - lo
		if n <= patch {
			return min(patch, size), true
		}
		n = (n + maxShift + divisor - 1) / divisor * divisor
		return min(n, size), hi-lo <= min(limit, size)
	}
	th, oky := size(r.y0, r.y1, h, ph, lh)
	tw, okx := size(r.x0, r.x1, w, pw, lw)
	if !oky || !okx {
		return tiling{}, false
	}
	axis := func(lo, hi, size, tile int) (base int, d []int) {
		base = min(max((lo+hi)/2-tile/2, 0), size-tile)
		// Allowed shifts keep [lo, hi) inside the tile and the tile inside
		// the slice.
		dlo := max(hi-tile-base, -base, -maxShift)
		dhi := min(lo-base, size-tile-base, maxShift)
		return base, []int{0, dlo, dhi}
	}
	y0, dy := axis(r.y0, r.y1, h, th)
	x0, dx := axis(r.x0, r.x1, w, tw)
	// (centre), (−,−), (+,+), (−,+), (+,−), (0,−), (0,+), (−,0), (+,0)
	order := [][2]int{{0, 0}, {1, 1}, {2, 2}, {1, 2}, {2, 1}, {0, 1}, {0, 2}, {1, 0}, {2, 0}}
	t = tiling{h: h, w: w, th: th, tw: tw, ys: []int{y0}, xs: []int{x0}, region: true}
	for _, o := range order {
		t.shifts = append(t.shifts, [2]int{dy[o[0]], dx[o[1]]})
	}
	return t, true
}

// locate returns the bounding box of the heart in class-major
// probabilities pr (classes × slices × h × w) of the localisation pass,
// plus the margin, clipped to the slice; empty when there is no
// foreground. The heart is the foreground's 26-connected components of at
// least a fifth of the largest one's size: one checkpoint on unblended
// tiles leaves small islands far from the heart (on ACDC validation cases
// they stretched the box over most of the slice), and a large piece of
// heart cut off from the rest is still kept. A heart part left outside
// grows the region when the ensemble's foreground reaches its border.
func locate(pr []float32, classes, nk, h, w int) box {
	plane := h * w
	n := nk * plane
	fg := make([]uint8, n)
	for i := 0; i < n; i++ {
		best := pr[i]
		for c := 1; c < classes; c++ {
			if v := pr[c*n+i]; v > best {
				best, fg[i] = v, 1
			}
		}
	}
	heart := heartOnly(fg, [3]int{w, h, nk})
	b := box{h, 0, w, 0}
	for i, in := range heart {
		if !in {
			continue
		}
		y, x := (i%plane)/w, i%w
		b.y0, b.y1 = min(b.y0, y), max(b.y1, y+1)
		b.x0, b.x1 = min(b.x0, x), max(b.x1, x+1)
	}
	if b.empty() {
		return box{}
	}
	return box{max(b.y0-regionMargin, 0), min(b.y1+regionMargin, h), max(b.x0-regionMargin, 0), min(b.x1+regionMargin, w)}
}

// heartOnly marks the voxels of foreground mask fg (x fastest, dims x, y,
// z) that belong to the heart: its 26-connected components of at least a
// fifth of the largest one's size. The smaller ones are the islands that
// largest-component post-processing removes.
func heartOnly(fg []uint8, dims [3]int) []bool {
	comp, sizes := postprocess.Components(fg, dims, func(l uint8) bool { return l != 0 })
	out := make([]bool, len(fg))
	if len(sizes) == 0 {
		return out
	}
	big := slices.Max(sizes)
	for i, c := range comp {
		out[i] = c != 0 && sizes[c-1]*5 >= big
	}
	return out
}

// reachesBorder reports on which sides the argmax of one sample's
// class-major probabilities prob (on output grid out) has heart foreground
// (heartOnly: an island at the border does not mean the heart was cut)
// within borderBand network pixels of the covered box cov, where cov's
// side lies inside the image (the image's own edge is no cut). prep maps
// network pixels to the output grid: same field of view, edges aligned.
func reachesBorder(prob []float32, classes int, out study.Geometry, prep *Prepared, cov box) (top, bottom, left, right bool) {
	g := prep.Grid
	// Network-pixel edge positions (unpadded) → output-pixel edge positions.
	sy, sx := g.Spacing[1]/out.Spacing[1], g.Spacing[0]/out.Spacing[0]
	ni, nj, nk := out.Dims[0], out.Dims[1], out.Dims[2]
	n := ni * nj * nk
	mask := make([]uint8, n)
	for i := range mask {
		best := prob[i]
		for c := 1; c < classes; c++ {
			if prob[c*n+i] > best {
				mask[i] = 1
				break
			}
		}
	}
	// rows (or columns) of the output grid whose centres lie in [a, b)
	// network pixels (unpadded).
	span := func(a, b int, scale float64, size int) (int, int) {
		lo := int(math.Ceil(float64(a)*scale - 0.5))
		hi := int(math.Ceil(float64(b)*scale - 0.5))
		return max(lo, 0), min(hi, size)
	}
	// The bands along the sides that lie inside the image, as output-grid
	// boxes (j0, j1, i0, i1); a side at the image's edge has none.
	var bands [4]*[4]int
	y0, y1 := cov.y0-prep.PadTop, cov.y1-prep.PadTop
	x0, x1 := cov.x0-prep.PadLeft, cov.x1-prep.PadLeft
	if y0 > 0 {
		j0, j1 := span(y0, y0+borderBand, sy, nj)
		bands[0] = &[4]int{j0, j1, 0, ni}
	}
	if y1 < g.Dims[1] {
		j0, j1 := span(y1-borderBand, y1, sy, nj)
		bands[1] = &[4]int{j0, j1, 0, ni}
	}
	if x0 > 0 {
		i0, i1 := span(x0, x0+borderBand, sx, ni)
		bands[2] = &[4]int{0, nj, i0, i1}
	}
	if x1 < g.Dims[0] {
		i0, i1 := span(x1-borderBand, x1, sx, ni)
		bands[3] = &[4]int{0, nj, i0, i1}
	}
	anyIn := func(b *[4]int, fg func(int) bool) bool {
		if b == nil {
			return false
		}
		for k := 0; k < nk; k++ {
			for j := b[0]; j < b[1]; j++ {
				for i := b[2]; i < b[3]; i++ {
					if fg((k*nj+j)*ni + i) {
						return true
					}
				}
			}
		}
		return false
	}
	// Usually no foreground reaches a band at all: then the heart does
	// not either, and its components (the costly part, run for every
	// sample) are not needed.
	inMask := func(i int) bool { return mask[i] != 0 }
	if !anyIn(bands[0], inMask) && !anyIn(bands[1], inMask) && !anyIn(bands[2], inMask) && !anyIn(bands[3], inMask) {
		return
	}
	heart := heartOnly(mask, [3]int{ni, nj, nk})
	inHeart := func(i int) bool { return heart[i] }
	return anyIn(bands[0], inHeart), anyIn(bands[1], inHeart), anyIn(bands[2], inHeart), anyIn(bands[3], inHeart)
}

// grow extends r by growStep on each side that was reached, clipped to
// the h × w slice.
func grow(r box, h, w int, top, bottom, left, right bool) box {
	if top {
		r.y0 = max(r.y0-growStep, 0)
	}
	if bottom {
		r.y1 = min(r.y1+growStep, h)
	}
	if left {
		r.x0 = max(r.x0-growStep, 0)
	}
	if right {
		r.x1 = min(r.x1+growStep, w)
	}
	return r
}

// Tiles describes where the network runs on a series' padded slices, for
// another implementation (the PyTorch reference benchmark) to run exactly
// the same tiles.
type Tiles struct {
	Height int   `json:"height"`
	Width  int   `json:"width"`
	TileH  int   `json:"tile_h"`
	TileW  int   `json:"tile_w"`
	Ys     []int `json:"ys"`
	Xs     []int `json:"xs"`
	// Region: pixels no tile covers are background with probability 1.
	Region bool `json:"region"`
	// Checkpoint (shifted tiles), when set, replaces Ys and Xs: checkpoint i
	// of the bundle runs the one tile whose top-left corner is
	// Checkpoint[i] (row, column).
	Checkpoint [][2]int `json:"checkpoint_tiles,omitempty"`
	// Locate is the localisation pass that chose the region (nil when
	// none ran): the checkpoint (index into the bundle) and its tiles.
	Locate *Tiles `json:"locate,omitempty"`
	// LocateCheckpoint is the checkpoint of the localisation pass.
	LocateCheckpoint int `json:"locate_checkpoint"`
	// LocateStride: the localisation pass runs on every LocateStride-th
	// slice, starting with the first.
	LocateStride int `json:"locate_stride,omitempty"`
}

// TilesFor runs the tiling choice of a call starting at phase t of s (the
// localisation pass included) and returns it.
func (p *Predictor) TilesFor(ctx context.Context, s *study.Series, t int) (*Tiles, error) {
	prep, err := p.Prepare(s, t)
	if err != nil {
		return nil, err
	}
	tl, err := p.tilingFor(ctx, prep)
	if err != nil {
		return nil, err
	}
	out := &Tiles{Height: tl.h, Width: tl.w, TileH: tl.th, TileW: tl.tw, Ys: tl.ys, Xs: tl.xs, Region: tl.region}
	if len(tl.shifts) > 0 {
		out.Checkpoint = make([][2]int, len(p.b.Checkpoints))
		for k, mi := range p.order() {
			u := tl.sample(k)
			out.Checkpoint[mi] = [2]int{u.ys[0], u.xs[0]}
		}
	}
	if tl.region && p.startRegion == nil {
		th, tw, _ := p.tile()
		c := coverTiling(tl.h, tl.w, th, tw)
		out.Locate = &Tiles{Height: c.h, Width: c.w, TileH: c.th, TileW: c.tw, Ys: c.ys, Xs: c.xs}
		out.LocateCheckpoint = p.order()[0]
		out.LocateStride = locationStride(prep.Grid.Dims[2])
	}
	return out, nil
}
