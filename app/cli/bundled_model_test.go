package cli

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"cmrseg/app/dataset"
	"cmrseg/app/nifti"
	"cmrseg/app/shareddata"
	"cmrseg/inference/bundle"
	"cmrseg/training/metrics"
)

// TestBundledModel checks the model the packages ship (assets/model) is
// what the README says: a multi-modal ensemble of at least 3 cycles × 3
// checkpoints within 60 MB, trained on ACDC patients disjoint from its
// validation split (four per pathology group), or trained on all of them
// with its calibration taken from a twin on that split, and that it
// really segments a patient. The floors are far
// below its measured accuracy (README, `cmrseg evaluate`): they catch a
// broken bundle, checkpoint or preprocessing, not a small regression. The
// bundle's largest-component post-processing must have been chosen on its
// validation cases and must reach `cmrseg segment`'s output: scipy finds
// one 26-connected component per cleaned class in what it writes.
func TestBundledModel(t *testing.T) {
	const dir = "../../assets/model"
	b, err := bundle.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if b.Kind != bundle.MultiModal {
		t.Errorf("bundled model is %q, want %q", b.Kind, bundle.MultiModal)
	}
	perCycle := map[int]int{}
	for _, c := range b.Checkpoints {
		perCycle[c.Cycle]++
	}
	full := 0
	for _, n := range perCycle {
		if n >= 3 {
			full++
		}
	}
	if full < 3 {
		t.Errorf("checkpoints per cycle %v: want at least 3 cycles of 3", perCycle)
	}
	var size int64
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		if fi, err := e.Info(); err == nil {
			size += fi.Size()
		}
	}
	if size > 60<<20 {
		t.Errorf("bundle is %.1f MB, over the 60 MB budget", float64(size)/(1<<20))
	}
	t.Logf("%s: %d checkpoints in %d cycles, %.1f MB", b.Name, len(b.Checkpoints), len(perCycle), float64(size)/(1<<20))

	acdc := shareddata.Require(t, "acdc/training")
	tr, val := b.Training.TrainCases, b.Training.ValCases
	if b.CalibratedOnTwin() {
		// The final model trained on all 100 patients; every decision and
		// its calibration come from its twin's 80/20 split, whose held-out
		// cases are checked below like a validation split.
		val = b.Training.HeldOutCases()
		if len(b.Training.ValCases) != 0 || len(tr) != 100 {
			t.Fatalf("model.toml lists %d training and %d validation cases, want all 100 ACDC training patients and none held out", len(tr), len(b.Training.ValCases))
		}
		for _, c := range val {
			if !slices.Contains(tr, c) {
				t.Errorf("twin's held-out case %s is not among the training cases", c)
			}
		}
	} else {
		for _, c := range val {
			if slices.Contains(tr, c) {
				t.Errorf("validation case %s is also a training case", c)
			}
		}
	}
	if len(tr) == 0 || len(val) == 0 {
		t.Fatalf("model.toml lists %d training and %d held-out cases", len(tr), len(val))
	}
	groups := map[string]int{}
	for _, c := range val {
		info, err := dataset.ReadInfo(filepath.Join(acdc, c, "Info.cfg"))
		if err != nil {
			t.Fatal(err)
		}
		groups[info.Group]++
	}
	for _, n := range groups {
		if len(groups) != 5 || n != len(val)/5 {
			t.Errorf("validation split not stratified by the five ACDC groups: %v", groups)
			break
		}
	}

	pp := b.Inference.Postprocess
	if pp.IsZero() || !strings.Contains(pp.Decision, fmt.Sprintf("of %d cases", len(val))) {
		t.Errorf("post-processing %v (%q): want one chosen on the %d validation cases", pp, pp.Decision, len(val))
	}
	// The ensemble's shared temperature, and the QC threshold calibrated
	// with it, come from the same validation cases.
	if T := b.Inference.Temperature; T == 0 || T == 1 || !strings.Contains(b.Inference.TemperatureCalibration, fmt.Sprintf("of %d cases", len(val))) ||
		!strings.Contains(b.Inference.QCCalibration, fmt.Sprintf("of %d cases", len(val))) {
		t.Errorf("temperature %g (%q), QC %q: want both calibrated on the %d validation cases", T, b.Inference.TemperatureCalibration, b.Inference.QCCalibration, len(val))
	}

	// Segment the first held-out patient's ED and ES frames (for the model
	// on all 100, a training case: the floors still catch a broken bundle).
	c := val[0]
	out := filepath.Join(t.TempDir(), "out")
	var stdout, stderr bytes.Buffer
	if code := Run([]string{"segment", "--model", dir, "--device", "cpu", "--out", out, filepath.Join(acdc, c)}, &stdout, &stderr); code != 0 {
		t.Fatalf("segment exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	segs, _ := filepath.Glob(filepath.Join(out, c+"_frame??_seg.nii.gz"))
	if len(segs) != 2 {
		t.Fatalf("segment wrote %v, want the ED and ES frames", segs)
	}
	var sum [3]float64
	for _, p := range segs {
		pred, err := nifti.ReadLabels(p)
		if err != nil {
			t.Fatal(err)
		}
		gt := filepath.Join(acdc, c, strings.Replace(filepath.Base(p), "_seg.", "_gt.", 1))
		ref, err := nifti.ReadLabels(gt)
		if err != nil {
			t.Fatal(err)
		}
		d, err := metrics.VolumeDice(*ref, *pred)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: Dice RV %.3f MYO %.3f LV %.3f", filepath.Base(p), d[0], d[1], d[2])
		for k := range d {
			sum[k] += d[k] / float64(len(segs))
		}
	}
	py := shareddata.Python(t, "numpy", "scipy", "nibabel")
	for _, c := range pp.LargestClasses {
		for _, p := range segs {
			out, err := exec.Command(py, "-c", componentsOracle, p, fmt.Sprint(c)).CombinedOutput()
			if err != nil {
				t.Fatalf("scipy oracle on %s: %v\n%s", p, err, out)
			}
			if n := strings.TrimSpace(string(out)); n != "1" {
				t.Errorf("%s: class %d has %s connected components after post-processing, want 1", filepath.Base(p), c, n)
			}
		}
	}
	for k, floor := range [3]float64{0.80, 0.80, 0.90} {
		if !(sum[k] >= floor) {
			t.Errorf("%s: mean Dice of %s %.3f, below the floor %.2f", c, []string{"RV", "MYO", "LV"}[k], sum[k], floor)
		}
	}
}

// componentsOracle prints the number of 26-connected components of one
// class in a label NIfTI.
const componentsOracle = `
import sys, numpy as np, nibabel as nib
from scipy import ndimage
l = np.asarray(nib.load(sys.argv[1]).dataobj)
print(ndimage.label(l == int(sys.argv[2]), structure=np.ones((3, 3, 3)))[1])
`
