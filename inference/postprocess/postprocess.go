// Package postprocess removes spurious islands from a label map the way
// nnU-Net does: keep only the largest connected component of the whole
// foreground and/or of single classes, where validation data showed that it
// helps (a heart is one connected organ, and each of its three structures is
// one connected region; a blob of "LV" in the liver is not).
//
// Which steps a bundle applies is decided on its validation cases by
// `cmrseg evaluate --calibrate-postprocessing` (Choose) and stored in its
// model.toml, so the review window, `cmrseg segment` and the evaluation all
// use the same rule.
package postprocess

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Spec says which largest-component steps to apply, in order: the whole
// foreground first (one component over all classes ≠ 0), then each listed
// class on its own. Removed voxels become background (0).
type Spec struct {
	LargestForeground bool    `toml:"largest_foreground"`
	LargestClasses    []uint8 `toml:"largest_classes"`
	// Decision records how the spec was chosen (cases, Dice before/after).
	Decision string `toml:"decision,omitempty"`
}

// IsZero reports whether the spec changes nothing.
func (s Spec) IsZero() bool { return !s.LargestForeground && len(s.LargestClasses) == 0 }

// String describes the spec for people ("none", "largest foreground
// component; largest component of classes 1, 3").
func (s Spec) String() string {
	if s.IsZero() {
		return "none"
	}
	var parts []string
	if s.LargestForeground {
		parts = append(parts, "largest foreground component")
	}
	if len(s.LargestClasses) > 0 {
		cs := make([]string, len(s.LargestClasses))
		for i, c := range s.LargestClasses {
			cs[i] = fmt.Sprint(c)
		}
		parts = append(parts, "largest component of class "+strings.Join(cs, ", "))
	}
	return strings.Join(parts, "; ")
}

// Validate checks the classes against the number of classes of the model.
func (s Spec) Validate(classes int) error {
	seen := map[uint8]bool{}
	for _, c := range s.LargestClasses {
		if c == 0 || int(c) >= classes {
			return fmt.Errorf("postprocess: class %d is not a foreground class of a %d-class model", c, classes)
		}
		if seen[c] {
			return fmt.Errorf("postprocess: class %d listed twice", c)
		}
		seen[c] = true
	}
	return nil
}

// Apply post-processes labels (i fastest, then j, then k, dims voxels) in
// place and returns the number of voxels set to background.
//
// It works on the bounding box of the foreground only: every step acts on
// foreground voxels, components never leave that box, and the box keeps
// the memory order of the voxels (so ties resolve as on the whole volume).
// A heart fills a few per cent of a cine volume, and the window runs this
// after every sample of every phase.
func (s Spec) Apply(labels []uint8, dims [3]int) int {
	if s.IsZero() || len(labels) != dims[0]*dims[1]*dims[2] {
		return s.apply(labels, dims)
	}
	lo, hi, ok := foregroundBox(labels, dims)
	if !ok {
		return 0
	}
	if lo == [3]int{} && hi == dims {
		return s.apply(labels, dims)
	}
	sub := [3]int{hi[0] - lo[0], hi[1] - lo[1], hi[2] - lo[2]}
	crop := make([]uint8, 0, sub[0]*sub[1]*sub[2])
	row := func(j, k int) int { return lo[0] + dims[0]*(j+dims[1]*k) }
	for k := lo[2]; k < hi[2]; k++ {
		for j := lo[1]; j < hi[1]; j++ {
			crop = append(crop, labels[row(j, k):row(j, k)+sub[0]]...)
		}
	}
	removed := s.apply(crop, sub)
	if removed > 0 {
		x := 0
		for k := lo[2]; k < hi[2]; k++ {
			for j := lo[1]; j < hi[1]; j++ {
				copy(labels[row(j, k):], crop[x:x+sub[0]])
				x += sub[0]
			}
		}
	}
	return removed
}

// foregroundBox is the smallest box [lo, hi) holding every non-zero label;
// ok is false when there is none.
func foregroundBox(labels []uint8, dims [3]int) (lo, hi [3]int, ok bool) {
	lo = dims
	x := 0
	for k := 0; k < dims[2]; k++ {
		for j := 0; j < dims[1]; j++ {
			for i := 0; i < dims[0]; i, x = i+1, x+1 {
				if labels[x] != 0 {
					lo = [3]int{min(lo[0], i), min(lo[1], j), min(lo[2], k)}
					hi = [3]int{max(hi[0], i+1), max(hi[1], j+1), max(hi[2], k+1)}
					ok = true
				}
			}
		}
	}
	return lo, hi, ok
}

// apply is Apply on the whole volume.
func (s Spec) apply(labels []uint8, dims [3]int) int {
	removed := 0
	if s.LargestForeground {
		removed += keepLargest(labels, dims, func(l uint8) bool { return l != 0 })
	}
	for _, c := range s.LargestClasses {
		removed += keepLargest(labels, dims, func(l uint8) bool { return l == c })
	}
	return removed
}

// keepLargest sets to 0 every voxel in a member component other than the
// largest (Largest) and returns how many it set.
func keepLargest(labels []uint8, dims [3]int, member func(uint8) bool) int {
	comp, sizes := Components(labels, dims, member)
	if len(sizes) < 2 {
		return 0
	}
	keep := Largest(sizes)
	removed := 0
	for v, c := range comp {
		if c != 0 && c != keep {
			labels[v] = 0
			removed++
		}
	}
	return removed
}

// Components labels the connected components of the voxels whose label
// satisfies member (i fastest, then j, then k, dims voxels): comp[v] is 0
// for other voxels and the component's number (from 1, in memory order of
// each component's first voxel) for members; sizes[c-1] is component c's
// voxel count. Components are 26-connected: the myocardium is a thin ring
// whose pixels often touch only diagonally, and with 4- or 6-connectivity
// such a ring falls apart into pieces of which all but one would be erased.
// A labels slice that does not match dims has no components.
func Components(labels []uint8, dims [3]int, member func(uint8) bool) (comp []int32, sizes []int) {
	nx, ny, nz := dims[0], dims[1], dims[2]
	n := nx * ny * nz
	if n <= 0 || len(labels) != n {
		return nil, nil
	}
	comp = make([]int32, n)
	stack := make([]int, 0, 1024)
	for start := range n {
		if comp[start] != 0 || !member(labels[start]) {
			continue
		}
		id := int32(len(sizes) + 1)
		size := 0
		comp[start] = id
		stack = append(stack[:0], start)
		for len(stack) > 0 {
			v := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			size++
			i, j, k := v%nx, (v/nx)%ny, v/(nx*ny)
			for dk := -1; dk <= 1; dk++ {
				kk := k + dk
				if kk < 0 || kk >= nz {
					continue
				}
				for dj := -1; dj <= 1; dj++ {
					jj := j + dj
					if jj < 0 || jj >= ny {
						continue
					}
					for di := -1; di <= 1; di++ {
						ii := i + di
						if ii < 0 || ii >= nx {
							continue
						}
						u := ii + nx*(jj+ny*kk)
						if comp[u] == 0 && member(labels[u]) {
							comp[u] = id
							stack = append(stack, u)
						}
					}
				}
			}
		}
		sizes = append(sizes, size)
	}
	return comp, sizes
}

// Largest is the number of the component that post-processing keeps: the
// largest; ties keep the one found first in memory order, so results are
// deterministic. It is 0 when there are no components.
func Largest(sizes []int) int32 {
	if len(sizes) == 0 {
		return 0
	}
	return int32(slices.Index(sizes, slices.Max(sizes)) + 1)
}

// Volume is one validation volume for Choose: a raw (not post-processed)
// label map and a way to score a candidate against its reference.
type Volume struct {
	Labels []uint8
	Dims   [3]int
	// Score returns the Dice of each foreground class (index c-1 for class
	// c) of pred against the reference; NaN where both are empty.
	Score func(pred []uint8) ([]float64, error)
}

// Choice is Choose's decision with the evidence for it.
type Choice struct {
	Spec
	Before, After []float64 // mean Dice per foreground class, without and with Spec
	Volumes       int
}

// Choose decides, nnU-Net style, which post-processing helps on vols:
// largest foreground component if it raises the mean Dice over the classes
// without lowering any class; then, on top of that, each class's largest
// component if it raises that class's mean Dice. With no volumes it chooses
// nothing.
func Choose(vols []Volume, classes int) (Choice, error) {
	score := func(s Spec) ([]float64, error) {
		sums := make([]float64, classes-1)
		counts := make([]int, classes-1)
		for _, v := range vols {
			l := slices.Clone(v.Labels)
			s.Apply(l, v.Dims)
			d, err := v.Score(l)
			if err != nil {
				return nil, err
			}
			if len(d) != classes-1 {
				return nil, fmt.Errorf("postprocess: score has %d classes, want %d", len(d), classes-1)
			}
			for c, x := range d {
				if !math.IsNaN(x) {
					sums[c] += x
					counts[c]++
				}
			}
		}
		for c := range sums {
			if counts[c] > 0 {
				sums[c] /= float64(counts[c])
			}
		}
		return sums, nil
	}
	ch := Choice{Volumes: len(vols)}
	if len(vols) == 0 || classes < 2 {
		return ch, nil
	}
	var err error
	if ch.Before, err = score(Spec{}); err != nil {
		return ch, err
	}
	best := ch.Before
	if fg, err := score(Spec{LargestForeground: true}); err != nil {
		return ch, err
	} else if mean(fg) > mean(best) && !anyWorse(fg, best) {
		ch.LargestForeground, best = true, fg
	}
	for c := 1; c < classes; c++ {
		try := Spec{LargestForeground: ch.LargestForeground, LargestClasses: append(slices.Clone(ch.LargestClasses), uint8(c))}
		d, err := score(try)
		if err != nil {
			return ch, err
		}
		if d[c-1] > best[c-1] {
			ch.LargestClasses, best = try.LargestClasses, d
		}
	}
	ch.After = best
	return ch, nil
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func anyWorse(a, b []float64) bool {
	for i := range a {
		if a[i] < b[i] {
			return true
		}
	}
	return false
}
