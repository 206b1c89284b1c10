package evaluation

import (
	"path/filepath"
	"testing"

	"cmrseg/app/contour"
	"cmrseg/app/shareddata"
	"cmrseg/app/study"
	"cmrseg/app/studyio"
	"cmrseg/inference/uncertainty"
)

// TestScoreContoursOracle scores the expert labels against themselves
// (Dice 1 everywhere) and against a prediction with the cavity moved into
// the myocardium label (cavity Dice 0, myocardium Dice below 1), on the
// real Sunnybrook series and contours.
func TestScoreContoursOracle(t *testing.T) {
	root := shareddata.Require(t, "sunnybrook")
	st, err := studyio.Open(filepath.Join(root, "SCD0000101"))
	if err != nil {
		t.Fatal(err)
	}
	s := st.Series[0]
	ref, err := contour.LoadSunnybrook(filepath.Join(root, "contours", "SC-HF-I-1"), s)
	if err != nil {
		t.Fatal(err)
	}
	phases := ContouredPhases(ref, s)
	var perfect, swapped []*uncertainty.Result
	for _, t0 := range phases {
		truth := ref.Phases[t0].Data
		perfect = append(perfect, &uncertainty.Result{Labels: truth})
		sw := append([]uint8(nil), truth...)
		for i, v := range sw {
			if v == study.LV {
				sw[i] = study.Myocardium
			}
		}
		swapped = append(swapped, &uncertainty.Result{Labels: sw})
	}
	if len(phases) != 2 {
		t.Errorf("contoured phases %v: SC-HF-I-1 has contours at ED and ES", phases)
	}
	var a, b ContourScore
	ScoreContours(&a, s, ref, phases, perfect)
	if a.CavityImages != 18 || a.MyocardiumImages != 9 {
		t.Errorf("contoured images: %d cavity, %d myocardium; the data set has 18 i- and 9 o-contours", a.CavityImages, a.MyocardiumImages)
	}
	if a.CavityDice != 1 || a.MyocardiumDice != 1 || a.CavityPooled != 1 || a.MyocardiumPooled != 1 {
		t.Errorf("truth against itself: %+v", a)
	}
	ScoreContours(&b, s, ref, phases, swapped)
	if b.CavityDice != 0 || b.CavityPooled != 0 || !(b.MyocardiumPooled > 0 && b.MyocardiumPooled < 0.9) {
		t.Errorf("cavity relabelled as myocardium: cavity %.3f/%.3f, myocardium pooled %.3f", b.CavityDice, b.CavityPooled, b.MyocardiumPooled)
	}
}
