package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"cmrseg/app/contour"
	"cmrseg/app/shareddata"
	"cmrseg/app/study"
	"cmrseg/app/studyio"
	"cmrseg/inference/uncertainty"
	"cmrseg/inference/unet"
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
	var phases []int
	var perfect, swapped []*uncertainty.Result
	for t0 := 0; t0 < s.NT; t0++ {
		any := false
		for k := 0; k < s.Dims[2]; k++ {
			if c, _ := ref.Contoured(k, t0); c {
				any = true
			}
		}
		if !any {
			continue
		}
		phases = append(phases, t0)
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
	var a, b contourScore
	scoreContours(&a, s, ref, phases, perfect)
	if a.CavityImages != 18 || a.MyocardiumImages != 9 {
		t.Errorf("contoured images: %d cavity, %d myocardium; the data set has 18 i- and 9 o-contours", a.CavityImages, a.MyocardiumImages)
	}
	if a.CavityDice != 1 || a.MyocardiumDice != 1 || a.CavityPooled != 1 || a.MyocardiumPooled != 1 {
		t.Errorf("truth against itself: %+v", a)
	}
	scoreContours(&b, s, ref, phases, swapped)
	if b.CavityDice != 0 || b.CavityPooled != 0 || !(b.MyocardiumPooled > 0 && b.MyocardiumPooled < 0.9) {
		t.Errorf("cavity relabelled as myocardium: cavity %.3f/%.3f, myocardium pooled %.3f", b.CavityDice, b.CavityPooled, b.MyocardiumPooled)
	}
}

// TestEvaluateContoursCLI runs the command end to end with a tiny random
// bundle: every contoured image is scored and the JSON is written.
func TestEvaluateContoursCLI(t *testing.T) {
	root := shareddata.Require(t, "sunnybrook")
	model := randomModel(t, unet.Config{InChannels: 1, Classes: 4, Stages: 3, BaseFeatures: 4, MaxFeatures: 16, ConvsPerStage: 1}, 2)
	js := filepath.Join(t.TempDir(), "r.json")
	var stdout, stderr bytes.Buffer
	args := []string{"evaluate-contours", "--model", model, "--device", "cpu", "--json", js,
		"--dicom", filepath.Join(root, "SCD0000101"), "--contours", filepath.Join(root, "contours", "SC-HF-I-1")}
	if code := Run(args, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	raw, err := os.ReadFile(js)
	if err != nil {
		t.Fatal(err)
	}
	var rs []contourScore
	if err := json.Unmarshal(raw, &rs); err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].CavityImages != 18 || len(rs[0].PerImageCavity) != 18 || rs[0].CavityPooled < 0 || rs[0].CavityPooled > 1 {
		t.Fatalf("results %+v", rs)
	}
	var errs bytes.Buffer
	if code := Run([]string{"evaluate-contours", "--model", model, "--dicom", filepath.Join(root, "SCD0000101"), "--contours", t.TempDir()}, &stdout, &errs); code == 0 {
		t.Error("a contour folder without contours was accepted")
	}
}
