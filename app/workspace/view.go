package workspace

import (
	"fmt"
	"math"
	"slices"

	"cmrseg/app/session"
)

// Frame is the current rendering input.
func (w *Workspace) Frame() Frame {
	v := *w.View()
	f := Frame{Series: w.Series(), Phase: v.Phase, Slice: v.Slice, View: v, Display: w.Display}
	if w.Session != nil && w.Session.Segmented(v.Phase) {
		f.Labels = w.Session.Labels(v.Phase)
		f.Uncertainty = w.Session.UncertaintyMap(v.Phase)
		if h := w.hover; h != nil && h.key == w.hoverKey(h.i, h.j) {
			f.Preview = h.preview
		}
	} else if u, ok := w.provisional[v.Phase]; ok {
		f.Labels = u.Result.Labels
		f.Uncertainty = u.Result.Entropy
		if v.Overlay == session.OverlayMutualInfo {
			f.Uncertainty = u.Result.MutualInfo
		}
	}
	return f
}

// hoverState is the click preview under the pointer.
type hoverState struct {
	key     string
	i, j    int
	preview map[int]uint8
	note    string
}

// hoverKey names what a preview at (i, j) depends on: the session, the
// phase and slice shown and its edits so far.
func (w *Workspace) hoverKey(i, j int) string {
	if w.Session == nil {
		return ""
	}
	v := w.Session.View
	return fmt.Sprintf("%p/%d/%d/%d/%d/%d", w.Session, v.Phase, v.Slice, w.Session.JournalRecords(), i, j)
}

// Hover computes what a one-click correction at voxel (i, j) of the shown
// slice would change, for the window to outline before the click; ok false
// (the pointer left the image) clears it. It returns whether the preview
// changed (the view needs redrawing) and the click's note ("" when a
// click there would change nothing).
func (w *Workspace) Hover(i, j int, ok bool) (changed bool, note string) {
	if !ok || w.Session == nil || w.Session.Final() {
		changed = w.hover != nil
		w.hover = nil
		return changed, ""
	}
	key := w.hoverKey(i, j)
	if w.hover != nil && w.hover.key == key {
		return false, w.hover.note
	}
	had := w.hover != nil && len(w.hover.preview) > 0
	v := w.Session.View
	h := &hoverState{key: key, i: i, j: j}
	if c, err := w.Session.PreviewClick(v.Phase, v.Slice, i, j); err == nil && len(c.Voxels) > 0 {
		h.preview = make(map[int]uint8, len(c.Voxels))
		for _, x := range c.Voxels {
			h.preview[x.Index] = x.New
		}
		h.note = c.Note
	}
	w.hover = h
	return had || len(h.preview) > 0, h.note
}

// Viewport is the current view's mapping for a widget of w×h pixels.
func (w *Workspace) Viewport(width, height float64) Viewport {
	s := w.Series()
	v := w.View()
	if s == nil {
		return Viewport{W: width, H: height, Zoom: 1}
	}
	return Viewport{W: width, H: height, Cols: s.Dims[0], Rows: s.Dims[1], SpacingI: s.Spacing[0], SpacingJ: s.Spacing[1],
		Zoom: v.Zoom, PanX: v.PanX, PanY: v.PanY}
}

// SetViewport stores a viewport's zoom and pan in the view.
func (w *Workspace) SetViewport(vp Viewport) {
	v := w.View()
	v.Zoom, v.PanX, v.PanY = vp.Zoom, vp.PanX, vp.PanY
}

// ResetView fits the image and resets the window to the default.
func (w *Workspace) ResetView() {
	v := w.View()
	v.Zoom, v.PanX, v.PanY = 1, 0, 0
}

// SetSlice and SetPhase clamp and store the position.
func (w *Workspace) SetSlice(k int) {
	if s := w.Series(); s != nil {
		w.View().Slice = clampInt(k, 0, s.Dims[2]-1)
	}
}

// SetPhase clamps and stores the phase; with wrap it cycles (cine).
func (w *Workspace) SetPhase(t int, wrap bool) {
	s := w.Series()
	if s == nil {
		return
	}
	if wrap {
		t = ((t % s.NT) + s.NT) % s.NT
	}
	w.View().Phase = clampInt(t, 0, s.NT-1)
}

func clampInt(v, lo, hi int) int {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// WindowPreset is a named window/level relative to the image's intensity
// distribution (MR has no absolute units).
type WindowPreset struct {
	Name string
	// Lo and Hi are percentiles of the current phase's intensities.
	Lo, Hi float64
}

// WindowPresets offered by the viewer.
var WindowPresets = []WindowPreset{
	{"Default (1–99 %)", 0.01, 0.99},
	{"Blood pool (bright)", 0.30, 0.999},
	{"Myocardium (contrast)", 0.05, 0.90},
	{"Full range", 0, 1},
}

// ApplyPreset sets window and level from preset p on the current phase.
func (w *Workspace) ApplyPreset(p WindowPreset) {
	s := w.Series()
	if s == nil {
		return
	}
	v := w.View()
	vals := slices.Clone(s.Phase(v.Phase))
	slices.Sort(vals)
	at := func(q float64) float64 { return float64(vals[int(q*float64(len(vals)-1)+0.5)]) }
	lo, hi := at(p.Lo), at(p.Hi)
	v.Window, v.Level = math.Max(hi-lo, 1e-6), (hi+lo)/2
}

// GoTo shows slice k of phase t.
func (w *Workspace) GoTo(t, k int) {
	w.SetPhase(t, false)
	w.SetSlice(k)
}
