package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"cmrseg/app/shareddata"
	"cmrseg/inference/unet"
	"cmrseg/training/evaluation"
)

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
	var rs []evaluation.ContourScore
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
