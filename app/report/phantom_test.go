package report

import (
	"math"
	"testing"

	"cmrseg/app/phantom"
)

// TestPhantomTruth: the report on the demo phantom's exact labels gives the
// phantom's known volumes and ejection fractions (voxel counts), and those
// lie within pixelisation error of the analytic design (LV EF 60 %).
func TestPhantomTruth(t *testing.T) {
	s, labels, truth := phantom.Generate(phantom.Options{Seed: 1})
	r, err := Compute(Input{
		Geometry: s.Geometry,
		Meta:     s.Meta,
		ED:       Phase{Index: truth.ED, Labels: labels[truth.ED].Data},
		ES:       Phase{Index: truth.ES, Labels: labels[truth.ES].Data},
	})
	if err != nil {
		t.Fatal(err)
	}
	l := truth.Labels
	checks := []struct {
		key       string
		want, tol float64 // tol relative to max(1, |want|)
	}{
		{LVEDV, l.LVEDV, 1e-9}, {LVESV, l.LVESV, 1e-9}, {LVSV, l.LVEDV - l.LVESV, 1e-9}, {LVEF, l.LVEF, 1e-9},
		{RVEDV, l.RVEDV, 1e-9}, {RVESV, l.RVESV, 1e-9}, {RVEF, l.RVEF, 1e-9}, {LVMass, 1.05 * l.MyoVolume, 1e-9},
		// Against the analytic design: pixelisation only.
		{LVEF, truth.Design.LVEF, 0.01}, {RVEF, truth.Design.RVEF, 0.01}, {LVEDV, truth.Design.LVEDV, 0.03},
	}
	for _, c := range checks {
		got := mustIndex(t, r, c.key).Value
		if math.Abs(got-c.want) > c.tol*math.Max(1, math.Abs(c.want)) {
			t.Errorf("%s = %.4f, want %.4f ± %g", c.key, got, c.want, c.tol)
		}
	}
	if math.IsNaN(r.BSA) || r.BSA < 1.5 || r.BSA > 2.5 {
		t.Errorf("BSA %.3f m² from the phantom's height and weight", r.BSA)
	}
	t.Logf("phantom: LV EDV %.1f ml (design %.1f), ESV %.1f, EF %.2f %% (design %.2f), RV EF %.2f %% (design %.2f)",
		l.LVEDV, truth.Design.LVEDV, l.LVESV, l.LVEF, truth.Design.LVEF, l.RVEF, truth.Design.RVEF)
}
