package workspace

import (
	"image/color"
	"math"
	"testing"

	"cmrseg/app/report"
)

// TestRenderCurves: every measured point is drawn in its structure's
// colour where the layout puts it, the band fills between its bounds, the
// ED and ES phases are marked, and missing phases draw no point.
func TestRenderCurves(t *testing.T) {
	nan := math.NaN()
	c := &report.Curves{NT: 9, Points: []report.CurvePoint{
		{Phase: 0, LV: 150, LVLow: 140, LVHigh: 160, RV: 120, RVLow: nan, RVHigh: nan},
		{Phase: 1, LV: 120, LVLow: 110, LVHigh: 130, RV: 100, RVLow: nan, RVHigh: nan},
		{Phase: 3, LV: 60, LVLow: 50, LVHigh: 70, RV: 50, RVLow: nan, RVHigh: nan},
		{Phase: 8, LV: 140, LVLow: 130, LVHigh: 150, RV: 110, RVLow: nan, RVHigh: nan},
	}}
	const w, h = 300, 120
	img := RenderCurves(c, 0, 3, w, h)
	l := NewCurveLayout(c, w, h)
	if math.Abs(l.YMax-176) > 1e-9 { // 10 % above the highest band
		t.Errorf("y range %v ml, want 176", l.YMax)
	}
	at := func(x, y float64) color.RGBA { return img.RGBAAt(int(math.Round(x)), int(math.Round(y))) }
	for _, p := range c.Points {
		if got := at(l.X(p.Phase), l.Y(p.LV)); got != CurveLV {
			t.Errorf("LV point of phase %d: pixel %v", p.Phase+1, got)
		}
		if got := at(l.X(p.Phase), l.Y(p.RV)); got != CurveRV {
			t.Errorf("RV point of phase %d: pixel %v", p.Phase+1, got)
		}
	}
	// Between phases 4 and 9 (1-based), 8 ml above the line, lies band.
	x := (l.X(3) + l.X(8)) / 2
	mid := (60.0 + 140) / 2
	if got := at(x, l.Y(mid+8)); got != curveLVBand {
		t.Errorf("band above the LV line at x %.0f: pixel %v", x, got)
	}
	// Above the band: white.
	if got := at(x, l.Y(mid+20)); got != (color.RGBA{255, 255, 255, 255}) {
		t.Errorf("above the band: pixel %v", got)
	}
	// ED and ES markers: a dashed grey column at phases 1 and 4.
	for _, ph := range []int{0, 3} {
		grey := 0
		for y := 0; y < h; y++ {
			if img.RGBAAt(int(math.Round(l.X(ph))), y) == curveMarker {
				grey++
			}
		}
		if grey < h/4 {
			t.Errorf("phase %d marker: %d grey pixels", ph+1, grey)
		}
	}
	// Phase 6 (not segmented) has no point of its own: the pixel where a
	// point would be is the interpolated line's, not a 5×5 square.
	sq := 0
	x6 := int(math.Round(l.X(5)))
	for dx := -2; dx <= 2; dx++ {
		for y := 0; y < h; y++ {
			if img.RGBAAt(x6+dx, y) == CurveLV {
				sq++
			}
		}
	}
	if sq > 12 {
		t.Errorf("%d LV pixels around the unsegmented phase 6: a point was drawn", sq)
	}
	// Nothing to draw, or no room: a blank image, no panic.
	if b := RenderCurves(nil, 0, 0, 10, 10); b.RGBAAt(5, 5) != (color.RGBA{255, 255, 255, 255}) {
		t.Error("nil curves drew something")
	}
	RenderCurves(c, 0, 3, 0, 0)
	RenderCurves(&report.Curves{NT: 1, Points: []report.CurvePoint{{LV: 1, LVLow: nan, LVHigh: nan, RVLow: nan, RVHigh: nan}}}, 0, 0, 20, 20)
}
