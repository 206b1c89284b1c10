package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cmrseg/app/shareddata"
	"cmrseg/inference/bundle"
	"cmrseg/training/baseline"
)

const tinyTrainTOML = `# CI-sized run
[split]
val_fraction = 0
val_count = 1
[network]
stages = 3
base_features = 4
max_features = 16
[train]
patch = [64, 64]
batch_size = 4
iterations_per_epoch = 2
[schedule]
epochs = 4
cycles = 2
keep_per_cycle = 2
[run]
threads = 1
seed = 3
`

// TestTrainBaselineEvaluateCLI drives the three verbs the way a user
// would: train a tiny run on real ACDC patients, derive the SWA baseline,
// and evaluate both on the run's validation case with JSON and PNG output.
func TestTrainBaselineEvaluateCLI(t *testing.T) {
	src, err := filepath.Abs(shareddata.Require(t, "acdc/training"))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	dataDir := filepath.Join(tmp, "acdc")
	os.Mkdir(dataDir, 0o755)
	for _, id := range []string{"patient001", "patient021", "patient061"} {
		os.Symlink(filepath.Join(src, id), filepath.Join(dataDir, id))
	}
	cfgPath := filepath.Join(tmp, "tiny.toml")
	os.WriteFile(cfgPath, []byte(tinyTrainTOML), 0o644)
	run := filepath.Join(tmp, "run")
	cli := func(args ...string) (string, string, int) {
		var out, errb bytes.Buffer
		code := Run(args, &out, &errb)
		return out.String(), errb.String(), code
	}
	out, errs, code := cli("train", "--config", cfgPath, "--data", dataDir, "--run", run, "--val-every", "2")
	if code != 0 {
		t.Fatalf("train: %s%s", out, errs)
	}
	if !strings.Contains(out, "epoch 4/4") || !strings.Contains(out, "lr 0.10000") || !strings.Contains(out, "checkpoint cycle1-epoch0003.safetensors") {
		t.Errorf("train output lacks progress lines:\n%s", out)
	}
	b, err := bundle.Load(filepath.Join(run, "bundle"))
	if err != nil {
		t.Fatal(err)
	}
	if b.Training.Config != tinyTrainTOML || !strings.HasPrefix(b.Training.Command, "cmrseg train --config") {
		t.Errorf("provenance: config %q command %q", b.Training.Config, b.Training.Command)
	}
	// Resuming a finished run (the data folder taken from the run) is a no-op.
	if out, errs, code = cli("train", "--resume", "--run", run); code != 0 {
		t.Fatalf("resume: %s%s", out, errs)
	}
	if _, errs, code = cli("train", "--config", cfgPath, "--data", dataDir, "--run", run); code == 0 || !strings.Contains(errs, "already holds a run") {
		t.Errorf("retraining into a used folder: %d %s", code, errs)
	}
	swa := filepath.Join(tmp, "swa")
	if out, errs, code = cli("baseline", "swa", "--from", run, "--out", swa); code != 0 {
		t.Fatalf("baseline swa: %s%s", out, errs)
	}
	js, pngs := filepath.Join(tmp, "eval.json"), filepath.Join(tmp, "png")
	out, errs, code = cli("evaluate", "--split-from", run, "--model", run+","+swa, "--json", js, "--png-dir", pngs, "--threads", "1")
	if code != 0 {
		t.Fatalf("evaluate: %s%s", out, errs)
	}
	if !strings.Contains(out, "Table 1") || !strings.Contains(out, "multi-modal (run)") || !strings.Contains(out, "swa (swa)") || !strings.Contains(out, "Failure analysis swa (swa)") {
		t.Errorf("evaluate output:\n%s", out)
	}
	var res struct {
		Cases   []string
		Methods []struct {
			Kind        string
			Samples     int
			Dice        []*float64
			RawDice     []*float64 `json:"dice_raw"`
			Postprocess string
			ECE         *float64 `json:"ece_percent"`
			Slices      int
			Reliability string `json:"reliability_png"`
			Volumes     []json.RawMessage
			Failure     struct {
				Volumes []struct {
					Case, Group, Phase string
					Positions          []json.RawMessage
				}
				Groups []struct{ Group, Phase, Position string }
			} `json:"failure_analysis"`
		}
	}
	raw, _ := os.ReadFile(js)
	if err := json.Unmarshal(raw, &res); err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	if len(res.Cases) != 1 || len(res.Methods) != 2 || res.Methods[0].Samples != 4 || res.Methods[1].Samples != 1 {
		t.Fatalf("results: %s", raw)
	}
	for _, m := range res.Methods {
		if len(m.Volumes) != 2 || m.ECE == nil || !(*m.ECE >= 0 && *m.ECE <= 100) || m.Slices == 0 || len(m.Dice) != 3 {
			t.Errorf("%s: %d volumes (ED+ES expected), ECE %v, %d slices", m.Kind, len(m.Volumes), m.ECE, m.Slices)
		}
		// These bundles have no post-processing: both Dice rows are the same.
		if m.Postprocess != "none" || len(m.RawDice) != 3 || fmt.Sprint(deref(m.RawDice)) != fmt.Sprint(deref(m.Dice)) {
			t.Errorf("%s: post-processing %q, Dice %v, raw %v", m.Kind, m.Postprocess, deref(m.Dice), deref(m.RawDice))
		}
		// The failure analysis: ED and ES of the one case in three positions,
		// averaged for its group and for all.
		fv, fg := m.Failure.Volumes, m.Failure.Groups
		if len(fv) != 2 || fv[0].Group == "" || fv[0].Phase+fv[1].Phase != "EDES" || len(fv[0].Positions) != 3 || len(fg) != 2*2*3 || fg[0].Group != fv[0].Group || fg[6].Group != "all" {
			t.Errorf("%s: failure analysis %+v", m.Kind, m.Failure)
		}
		f, err := os.Open(m.Reliability)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.Decode(f); err != nil {
			t.Errorf("%s: %v", m.Reliability, err)
		}
		f.Close()
	}
	// --calibrate-qc stores the operating point it reports in the bundle,
	// and the bundle still loads (its checksums are untouched).
	js2 := filepath.Join(tmp, "eval2.json")
	if out, errs, code = cli("evaluate", "--split-from", run, "--model", swa, "--json", js2, "--threads", "1", "--calibrate-qc", "--calibrate-postprocessing"); code != 0 {
		t.Fatalf("evaluate --calibrate-qc: %s%s", out, errs)
	}
	var cal struct {
		Methods []struct {
			QC          *struct{ Threshold float64 } `json:"qc_calibration"`
			Postprocess string
			Warnings    []string
		}
	}
	raw, _ = os.ReadFile(js2)
	json.Unmarshal(raw, &cal)
	b, berr := bundle.Load(swa)
	if berr != nil {
		t.Fatal(berr)
	}
	switch m := cal.Methods[0]; {
	case m.QC != nil && (b.Inference.QCThreshold != m.QC.Threshold || b.Inference.QCCalibration == ""):
		t.Errorf("bundle qc_threshold %g (%q), evaluate reported %g", b.Inference.QCThreshold, b.Inference.QCCalibration, m.QC.Threshold)
	case m.QC == nil && (b.Inference.QCThreshold != 0 || !strings.Contains(strings.Join(m.Warnings, ";"), "QC threshold not calibrated")):
		t.Errorf("no calibration reported but bundle has %g; warnings %v", b.Inference.QCThreshold, m.Warnings)
	}
	t.Logf("QC calibration of the tiny SWA bundle: %s", b.Inference.QCCalibration)
	// --calibrate-postprocessing stores its choice, with the evidence, next
	// to the QC threshold, and reports the bundle as it now runs.
	if pp := b.Inference.Postprocess; !strings.Contains(pp.Decision, "nnU-Net-style choice on 2 volumes") || cal.Methods[0].Postprocess != pp.String() {
		t.Errorf("post-processing stored %+v, reported %q", pp, cal.Methods[0].Postprocess)
	}
	t.Logf("post-processing of the tiny SWA bundle: %s (%s)", b.Inference.Postprocess, b.Inference.Postprocess.Decision)
	// --calibrate-temperature fits one temperature shared by the run's four
	// checkpoints, stores it with how it was fitted, and scores the
	// tempered ensemble (the JSON reports the temperature it ran with).
	js3 := filepath.Join(tmp, "eval3.json")
	if out, errs, code = cli("evaluate", "--split-from", run, "--model", run, "--json", js3, "--threads", "1", "--calibrate-temperature"); code != 0 {
		t.Fatalf("evaluate --calibrate-temperature: %s%s", out, errs)
	}
	var tempered struct {
		Methods []struct{ Temperature float64 }
	}
	raw, _ = os.ReadFile(js3)
	json.Unmarshal(raw, &tempered)
	rb, err := bundle.Load(filepath.Join(run, "bundle"))
	if err != nil {
		t.Fatal(err)
	}
	if T := rb.Inference.Temperature; !(T >= baseline.MinFitTemperature && T <= baseline.MaxFitTemperature) || !strings.Contains(rb.Inference.TemperatureCalibration, "all 4 checkpoints") ||
		len(tempered.Methods) != 1 || tempered.Methods[0].Temperature != T {
		t.Errorf("temperature stored %g (%q), reported %+v", T, rb.Inference.TemperatureCalibration, tempered.Methods)
	}
	t.Logf("temperature of the tiny run: %s", rb.Inference.TemperatureCalibration)
	// Bad input names the file and the field.
	bad := filepath.Join(tmp, "bad.toml")
	os.WriteFile(bad, []byte("[train]\nbatch_size = 0\n"), 0o644)
	if _, errs, _ = cli("train", "--config", bad, "--run", filepath.Join(tmp, "r2")); !strings.Contains(errs, bad) || !strings.Contains(errs, "train.batch_size") {
		t.Errorf("bad config error: %s", errs)
	}
	if _, errs, _ = cli("evaluate", "--data", dataDir, "--model", filepath.Join(tmp, "nope")); !strings.Contains(errs, "nope") {
		t.Errorf("missing bundle error: %s", errs)
	}
}

func deref(xs []*float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = math.NaN()
		if x != nil {
			out[i] = *x
		}
	}
	return out
}
