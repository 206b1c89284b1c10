package workspace

import "math"

// windowDragPixels is how far a right-drag goes to move window or level by
// the image's whole intensity range.
const windowDragPixels = 800

// AdjustWindow changes window and level by a right-drag of (dx, dy) screen
// pixels: right widens the window, down raises the level. The step is a
// fixed fraction of the current phase's intensity range (not of the current
// window, which compounded: 150 px once took W 591→1790), and both stay in
// a sensible band: the window between 1/500 and twice the range, the level
// within half a range of it.
func (w *Workspace) AdjustWindow(dx, dy float64) {
	s := w.Series()
	if s == nil {
		return
	}
	v := w.View()
	lo, hi := intensityRange(s.Phase(v.Phase))
	r := math.Max(hi-lo, 1e-6)
	step := r / windowDragPixels
	v.Window = math.Min(math.Max(v.Window+dx*step, r/500), 2*r)
	v.Level = math.Min(math.Max(v.Level+dy*step, lo-r/2), hi+r/2)
}

// intensityRange is the smallest and largest finite value.
func intensityRange(vals []float32) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, x := range vals {
		f := float64(x)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		lo, hi = math.Min(lo, f), math.Max(hi, f)
	}
	if lo > hi {
		return 0, 1
	}
	return lo, hi
}
