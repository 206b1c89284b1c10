package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"cmrseg/inference/bundle"
)

// linkedBundle is the shipped bundle's checkpoints (symlinked) with its
// manifest changed by edit: a bundle to calibrate, or a twin.
func linkedBundle(t *testing.T, name string, edit func(*bundle.Manifest)) string {
	t.Helper()
	src, err := bundle.Load("../../assets/model")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range src.Checkpoints {
		abs, _ := filepath.Abs(filepath.Join(src.Dir, c.File))
		if err := os.Symlink(abs, filepath.Join(dir, c.File)); err != nil {
			t.Fatal(err)
		}
	}
	m := src.Manifest
	m.Name = name
	edit(&m)
	if err := bundle.WriteManifest(dir, &m); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestCalibrateFromCLI gives an uncalibrated all-cases model its twin's
// calibration and refuses a twin with nothing held out.
func TestCalibrateFromCLI(t *testing.T) {
	src, err := bundle.Load("../../assets/model")
	if err != nil {
		t.Fatal(err)
	}
	all := src.Training.TrainCases
	held := src.Training.HeldOutCases()
	twin := linkedBundle(t, "twin", func(m *bundle.Manifest) {
		m.Training.ValCases = slices.Clone(held)
		m.Training.TrainCases = slices.DeleteFunc(slices.Clone(all), func(c string) bool { return slices.Contains(held, c) })
		m.Training.CalibrationTwin, m.Training.CalibrationCases = "", nil
		m.Inference.Temperature = 1.25
		m.Inference.TemperatureCalibration = "fitted on the twin's cases"
		m.Inference.QCCalibration = "chosen on the twin's cases"
		m.Inference.Postprocess.Decision = "chosen on the twin's cases"
	})
	model := linkedBundle(t, "model", func(m *bundle.Manifest) {
		if len(m.Training.ValCases) > 0 { // an 80/20 bundle: pretend it trained on all
			m.Training.TrainCases = append(m.Training.TrainCases, m.Training.ValCases...)
			m.Training.ValCases = nil
		}
		m.Inference = bundle.Inference{}
		m.Training.CalibrationTwin, m.Training.CalibrationCases = "", nil
	})
	var stdout, stderr bytes.Buffer
	if code := Run([]string{"calibrate-from", "--twin", model, "--model", twin}, &stdout, &stderr); code == 0 ||
		!strings.Contains(stderr.String(), "validation cases of its own") {
		t.Fatalf("a twin given as the model: exit %d, %s", code, stderr.String())
	}
	stdout.Reset()
	stderr.Reset()
	if code := Run([]string{"calibrate-from", "--twin", twin, "--model", model}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	b, err := bundle.Load(model)
	if err != nil {
		t.Fatal(err)
	}
	if b.Inference.Temperature != 1.25 || !b.CalibratedOnTwin() || b.Training.CalibrationTwin != "twin" || !slices.Equal(b.Training.CalibrationCases, held) {
		t.Fatalf("model after calibrate-from: %+v %+v", b.Inference, b.Training.CalibrationTwin)
	}
	if !strings.Contains(stdout.String(), "temperature 1.2500") || !strings.Contains(stdout.String(), "from twin twin") {
		t.Errorf("output %q", stdout.String())
	}
	// Its twin's held-out cases are its training cases: the anytime
	// benchmark asks for the twin instead of scoring them.
	stderr.Reset()
	if code := Run([]string{"bench", "anytime", "--model", model}, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), "give its twin twin as --model") {
		t.Errorf("bench anytime on a model trained on every case: exit %d, %s", code, stderr.String())
	}
}
