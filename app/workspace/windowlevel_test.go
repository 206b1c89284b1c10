package workspace

import (
	"math"
	"testing"
)

// A 150-pixel right-drag moves window and level by under a fifth of the
// intensity range, the same amount whatever the window was (the drag once
// compounded to W 591→1790 and L 296→−344); a huge drag stops at the
// limits; presets still set the same values.
func TestWindowDragScaledAndClamped(t *testing.T) {
	st, seg := Demo()
	w := New(Config{Engine: seg})
	if err := w.SetStudy(st); err != nil {
		t.Fatal(err)
	}
	s := w.Series()
	v := w.View()
	lo, hi := intensityRange(s.Phase(v.Phase))
	r := hi - lo

	w.ApplyPreset(WindowPresets[0])
	w0, l0 := v.Window, v.Level
	w.AdjustWindow(150, -150)
	dw, dl := v.Window-w0, v.Level-l0
	if math.Abs(dw-150*r/windowDragPixels) > 1e-9*r || math.Abs(dl+150*r/windowDragPixels) > 1e-9*r || dw > 0.2*r {
		t.Fatalf("150 px drag on range %.4g: ΔW %.4g ΔL %.4g", r, dw, dl)
	}
	// Same step from a wide window: linear, not compounding.
	v.Window = 0.9 * r
	w.AdjustWindow(150, 0)
	if got := v.Window - 0.9*r; math.Abs(got-dw) > 1e-9*r {
		t.Fatalf("step from a wide window %.4g, from the preset %.4g", got, dw)
	}
	w.AdjustWindow(1e6, 1e6)
	if v.Window != 2*r || v.Level != hi+r/2 {
		t.Fatalf("after a huge drag W %.4g L %.4g, want %.4g and %.4g", v.Window, v.Level, 2*r, hi+r/2)
	}
	w.AdjustWindow(-1e7, -1e7)
	if v.Window != r/500 || v.Level != lo-r/2 {
		t.Fatalf("after a huge drag back W %.4g L %.4g", v.Window, v.Level)
	}
	w.ApplyPreset(WindowPresets[0])
	if v.Window != w0 || v.Level != l0 {
		t.Fatalf("preset gives W %.4g L %.4g, was %.4g %.4g", v.Window, v.Level, w0, l0)
	}
}
