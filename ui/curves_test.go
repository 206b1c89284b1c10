package ui

import (
	"image"
	"strings"
	"testing"

	"cmrseg/app/workspace"
)

// TestReportPanelCurves: once the demo is segmented the report panel's
// plot holds one point per segmented phase and draws the LV curve, and its
// caption names the phase count and, with all 25 phases in, the rates.
func TestReportPanelCurves(t *testing.T) {
	v := newViewer(t)
	p := v.report
	s := v.ws.Series()
	segmentedPhases := 0
	for ph := 0; ph < s.NT; ph++ {
		if v.ws.Session.Segmented(ph) {
			segmentedPhases++
		}
	}
	if p.plotData == nil || len(p.plotData.Points) != segmentedPhases || p.ed != s.ED || p.es != s.ES {
		t.Fatalf("plot data %+v for %d segmented phases", p.plotData, segmentedPhases)
	}
	img, ok := p.plot.Generator(300, 120).(*image.RGBA)
	if !ok {
		t.Fatal("plot is not an RGBA image")
	}
	lv := 0
	for y := 0; y < 120; y++ {
		for x := 0; x < 300; x++ {
			if img.RGBAAt(x, y) == workspace.CurveLV {
				lv++
			}
		}
	}
	if lv < 40 {
		t.Errorf("%d LV-coloured pixels in the plot", lv)
	}
	text := p.plotLegend.Text
	if !strings.Contains(text, "of 25 phases") {
		t.Errorf("caption %q", text)
	}
	if segmentedPhases == s.NT && !strings.Contains(text, "peak ejection") {
		t.Errorf("all phases in, caption without rates: %q", text)
	}
	t.Logf("%d of %d phases segmented; caption: %s", segmentedPhases, s.NT, text)

	// The bull's-eye shows the live report's ED thickness per segment.
	r, err := v.ws.Report()
	if err != nil || r.AHA == nil {
		t.Fatalf("live report: %v", err)
	}
	eye, ok := p.eye.Generator(120, 120).(*image.RGBA)
	if !ok {
		t.Fatal("bull's-eye is not an RGBA image")
	}
	// Middle of the mid anterior segment (7): straight up, 0.6 r (r 59 px).
	if got, want := eye.RGBAAt(60, 60-35), workspace.ThicknessColour(r.AHA.Segments[6].EDThickness.Value); got != want {
		t.Errorf("segment 7 drawn %v, want %v (%.2f mm)", got, want, r.AHA.Segments[6].EDThickness.Value)
	}
	if !strings.Contains(p.eyeLegend.Text, "Thinnest") {
		t.Errorf("bull's-eye caption %q", p.eyeLegend.Text)
	}
	t.Logf("bull's-eye caption: %s", p.eyeLegend.Text)
}
