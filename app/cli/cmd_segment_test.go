package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"cmrseg/app/shareddata"
	"cmrseg/inference/bundle"
	"cmrseg/inference/ensemble"
	"cmrseg/inference/torch"
	"cmrseg/inference/unet"
)

// randomModel writes a random-weights bundle for CLI tests.
func randomModel(t *testing.T, cfg unet.Config, n int) string {
	t.Helper()
	w := torch.NewWorker(2)
	defer w.Close()
	dir := filepath.Join(t.TempDir(), "model")
	m := bundle.Manifest{Network: cfg, Preprocessing: bundle.Preprocessing{SpacingMM: [2]float64{1.8, 1.8}, Normalization: "zscore", PatchSize: [2]int{128, 128}}}
	if err := ensemble.RandomBundle(w, dir, m, n, 3); err != nil {
		t.Fatal(err)
	}
	return dir
}

// checkOutputs has nibabel compare every output with its input: shape
// (plus the class axis for probabilities), affine, dtype and value ranges.
func checkOutputs(t *testing.T, py string, pairs [][2]string) {
	t.Helper()
	script := `
import json, sys
import nibabel as nib, numpy as np
out = []
for inp, outp in json.load(open(sys.argv[1])):
    a, b = nib.load(inp), nib.load(outp)
    d = np.asarray(b.dataobj)
    r = {"out": outp, "in_shape": list(a.shape), "shape": list(b.shape), "dtype": str(d.dtype),
         "affine_err": float(np.abs(a.affine - b.affine).max()), "min": float(d.min()), "max": float(d.max())}
    if outp.endswith("_prob.nii.gz"):
        r["sum_err"] = float(np.abs(d.sum(axis=-1) - 1).max())
    out.append(r)
print(json.dumps(out))
`
	dir := t.TempDir()
	js, _ := json.Marshal(pairs)
	os.WriteFile(filepath.Join(dir, "pairs.json"), js, 0o644)
	os.WriteFile(filepath.Join(dir, "check.py"), []byte(script), 0o644)
	raw, err := exec.Command(py, filepath.Join(dir, "check.py"), filepath.Join(dir, "pairs.json")).Output()
	if err != nil {
		t.Fatalf("nibabel: %v", err)
	}
	var rs []struct {
		Out       string
		InShape   []int `json:"in_shape"`
		Shape     []int
		DType     string
		AffineErr float64 `json:"affine_err"`
		Min, Max  float64
		SumErr    *float64 `json:"sum_err"`
	}
	if err := json.Unmarshal(raw, &rs); err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		name := filepath.Base(r.Out)
		want := append([]int(nil), r.InShape...)
		wantType, lo, hi := "float32", 0.0, 1.3863
		switch {
		case strings.HasSuffix(name, "_seg.nii.gz"):
			wantType, hi = "uint8", 3
		case strings.HasSuffix(name, "_prob.nii.gz"):
			want, hi = append(want[:3:3], 4), 1
		}
		if !equalInts(r.Shape, want) || r.AffineErr != 0 || r.DType != wantType || r.Min < lo || r.Max > hi+1e-4 {
			t.Errorf("%s: shape %v (want %v), affine differs by %g, %s in [%g, %g]", name, r.Shape, want, r.AffineErr, r.DType, r.Min, r.Max)
		}
		if r.SumErr != nil && *r.SumErr > 1e-5 {
			t.Errorf("%s: probabilities sum to 1 ± %g", name, *r.SumErr)
		}
		t.Logf("%s: shape %v %s, affine identical to the input's", name, r.Shape, r.DType)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSegmentACDCPatient runs `cmrseg segment` on an ACDC patient folder:
// one set of outputs per frame file, each with the frame's shape and affine.
func TestSegmentACDCPatient(t *testing.T) {
	py := shareddata.Python(t, "nibabel", "numpy")
	patient := filepath.Join(shareddata.Require(t, "acdc/training"), "patient001")
	model := randomModel(t, unet.Config{InChannels: 1, Classes: 4, Stages: 5, BaseFeatures: 8, MaxFeatures: 64, ConvsPerStage: 2}, 2)
	out := filepath.Join(t.TempDir(), "out")
	var stdout, stderr bytes.Buffer
	if code := Run([]string{"segment", "--model", model, "--device", "cpu", "--probabilities", "--out", out, patient}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	t.Log("\n" + stdout.String())
	for _, want := range []string{"frame 01 (ED)", "frame 12 (ES)", "LV", "MYO", "RV", "uncertainty", "CPU"} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	var pairs [][2]string
	for _, f := range []string{"patient001_frame01", "patient001_frame12"} {
		for _, kind := range []string{"_seg", "_entropy", "_prob"} {
			pairs = append(pairs, [2]string{filepath.Join(patient, f+".nii.gz"), filepath.Join(out, f+kind+".nii.gz")})
		}
	}
	checkOutputs(t, py, pairs)
	// One report for the patient from both frames: phases are ACDC's frame
	// numbers, the curve has the two frames of 30 and no timing, so no
	// rates are claimed.
	b, err := os.ReadFile(filepath.Join(out, "patient001_report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		ED          int `json:"ed_phase_1based"`
		ESPhase     int `json:"es_phase_1based"`
		Checkpoints int `json:"checkpoints"`
		Curves      struct {
			Phases int    `json:"phases"`
			Timing string `json:"timing"`
			Points []struct {
				Phase int `json:"phase_1based"`
			} `json:"points"`
			PER struct {
				Value *float64 `json:"value"`
			} `json:"lv_peak_ejection_rate"`
		} `json:"curves"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("report JSON: %v\n%s", err, b)
	}
	if rep.ED != 1 || rep.ESPhase != 12 || rep.Checkpoints != 2 || rep.Curves.Phases != 30 || len(rep.Curves.Points) != 2 ||
		rep.Curves.Points[1].Phase != 12 || rep.Curves.PER.Value != nil || !strings.Contains(rep.Curves.Timing, "timing unknown") {
		t.Errorf("report: %+v", rep)
	}
	if _, err := os.Stat(filepath.Join(out, "patient001_report.csv")); err != nil || !strings.Contains(stdout.String(), "report") {
		t.Errorf("report CSV %v; summary:\n%s", err, stdout.String())
	}
	if m, _ := filepath.Glob(filepath.Join(out, ".*")); len(m) > 0 {
		t.Errorf("temporary files left behind: %v", m)
	}
}

// TestSegment4D segments a whole 4D cine (ACDC patient090's) given as a
// NIfTI file: 4D labels and entropy with the input's shape and affine, and
// ES chosen as the phase of smallest LV cavity.
func TestSegment4D(t *testing.T) {
	if testing.Short() {
		t.Skip("segments every phase of a cine; slow on a CPU")
	}
	py := shareddata.Python(t, "nibabel", "numpy")
	cine := filepath.Join(shareddata.Require(t, "acdc/training"), "patient090", "patient090_4d.nii.gz")
	model := randomModel(t, unet.Config{InChannels: 1, Classes: 4, Stages: 3, BaseFeatures: 4, MaxFeatures: 16, ConvsPerStage: 1}, 1)
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := Run([]string{"segment", "--model", model, "--device", "cpu", "--out", out, cine}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	t.Log("\n" + stdout.String())
	if !strings.Contains(stdout.String(), "ED phase 1") || !strings.Contains(stdout.String(), "ES phase") {
		t.Errorf("summary lacks ED/ES:\n%s", stdout.String())
	}
	checkOutputs(t, py, [][2]string{
		{cine, filepath.Join(out, "patient090_4d_seg.nii.gz")},
		{cine, filepath.Join(out, "patient090_4d_entropy.nii.gz")},
	})
}

// TestSegmentErrors: no model, a missing input and a corrupt input are
// clear errors naming what is wrong; other inputs still get segmented.
func TestSegmentErrors(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if _, err := os.Stat("/usr/share/cmrseg/model/model.toml"); err != nil {
		code := Run([]string{"segment", "--out", t.TempDir(), "x.nii.gz"}, &stdout, &stderr)
		if code != 1 || !strings.Contains(stderr.String(), "--model") {
			t.Fatalf("without a model: exit %d, %q", code, stderr.String())
		}
	}
	patient := filepath.Join(shareddata.Require(t, "acdc/training"), "patient001")
	model := randomModel(t, unet.Config{InChannels: 1, Classes: 4, Stages: 3, BaseFeatures: 4, MaxFeatures: 16, ConvsPerStage: 1}, 1)
	dir := t.TempDir()
	bad := filepath.Join(dir, "broken.nii.gz")
	os.WriteFile(bad, []byte("\x1f\x8b\x08 this is not gzip"), 0o644)
	missing := filepath.Join(dir, "missing.nii.gz")
	out := filepath.Join(dir, "out")
	stdout.Reset()
	stderr.Reset()
	code := Run([]string{"segment", "--model", model, "--device", "cpu", "--out", out, bad, missing, filepath.Join(patient, "patient001_frame01.nii.gz")}, &stdout, &stderr)
	t.Log(stderr.String())
	if code != 1 || !strings.Contains(stderr.String(), bad) || !strings.Contains(stderr.String(), missing) || !strings.Contains(stderr.String(), "2 of 3") {
		t.Fatalf("exit %d, stderr %q", code, stderr.String())
	}
	if _, err := os.Stat(filepath.Join(out, "patient001_frame01_seg.nii.gz")); err != nil {
		t.Fatalf("the good input was not segmented: %v", err)
	}
	stderr.Reset()
	if code := Run([]string{"segment", "--model", model, patient}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "usage") {
		t.Fatalf("without --out: exit %d, %q", code, stderr.String())
	}
}

// TestSegmentDICOM segments the Sunnybrook cine DICOM series: 4D outputs
// named from the series description and UID, on the series' grid.
func TestSegmentDICOM(t *testing.T) {
	if testing.Short() {
		t.Skip("segments every phase of a cine; slow on a CPU")
	}
	py := shareddata.Python(t, "nibabel", "numpy")
	dcm := filepath.Join(shareddata.Require(t, "sunnybrook"), "SCD0000101")
	model := randomModel(t, unet.Config{InChannels: 1, Classes: 4, Stages: 3, BaseFeatures: 4, MaxFeatures: 16, ConvsPerStage: 1}, 1)
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := Run([]string{"segment", "--model", model, "--device", "cpu", "--out", out, dcm}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	t.Log("\n" + stdout.String())
	segs, _ := filepath.Glob(filepath.Join(out, "*_seg.nii.gz"))
	if len(segs) != 1 {
		t.Fatalf("outputs %v, want one _seg file", segs)
	}
	script := `
import sys, json, nibabel as nib, numpy as np
s = nib.load(sys.argv[1])
print(json.dumps({"shape": list(s.shape), "zooms": [float(z) for z in s.header.get_zooms()[:3]]}))
`
	raw, err := exec.Command(py, "-c", script, segs[0]).Output()
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Shape []int
		Zooms []float64
	}
	json.Unmarshal(raw, &r)
	if !equalInts(r.Shape, []int{256, 256, 12, 20}) || len(r.Zooms) != 3 || r.Zooms[0] < 1.36 || r.Zooms[0] > 1.37 {
		t.Fatalf("%s: shape %v zooms %v, want 256×256×12×20 at 1.367 mm", filepath.Base(segs[0]), r.Shape, r.Zooms)
	}
	t.Logf("%s: shape %v, voxel %v mm", filepath.Base(segs[0]), r.Shape, r.Zooms)
	// The cine's report: a curve point per phase on the DICOM trigger
	// times, and rates unless the (random) model put ES on ED.
	reps, _ := filepath.Glob(filepath.Join(out, "*_report.json"))
	if len(reps) != 1 {
		t.Fatalf("reports %v, want one", reps)
	}
	b, err := os.ReadFile(reps[0])
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Curves struct {
			Timing string `json:"timing"`
			Points []struct {
				TimeMS *float64 `json:"time_ms"`
			} `json:"points"`
			PER struct {
				Value *float64 `json:"value"`
			} `json:"lv_peak_ejection_rate"`
		} `json:"curves"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	c := rep.Curves
	if len(c.Points) != 20 || c.Points[0].TimeMS == nil || c.Points[1].TimeMS == nil || !(*c.Points[1].TimeMS > *c.Points[0].TimeMS) ||
		(c.Timing == "") != (c.PER.Value != nil) || (c.Timing != "" && !strings.Contains(c.Timing, "same phase")) {
		t.Errorf("report curves: timing %q, %d points, PER %v", c.Timing, len(c.Points), c.PER.Value)
	}
}
