package trainer

import (
	"context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"cmrseg/inference/bundle"
)

// TestInitFromBundle: a fine-tune starts from the bundle's last
// checkpoint. With a learning rate of 1e-12 one epoch leaves the weights
// where they started, so the new checkpoint must equal the old one (He
// initialisation would differ by the weights' own scale); a bundle of
// another network is refused.
func TestInitFromBundle(t *testing.T) {
	refDir, cfg, _, _ := referenceRun(t)
	old, err := bundle.Load(filepath.Join(refDir, BundleDir))
	if err != nil {
		t.Fatal(err)
	}
	last := 0
	for i, c := range old.Checkpoints {
		if c.Epoch > old.Checkpoints[last].Epoch {
			last = i
		}
	}
	want, err := old.Weights(last)
	if err != nil {
		t.Fatal(err)
	}

	other := cfg
	other.Network.BaseFeatures *= 2
	other.Network.MaxFeatures = max(other.Network.MaxFeatures, other.Network.BaseFeatures)
	if _, err := Train(context.Background(), other, t.TempDir(), Options{Worker: worker, InitFrom: refDir}, nil); err == nil || !strings.Contains(err.Error(), "is not the config's") {
		t.Fatalf("init from another network: %v", err)
	}

	ft := cfg
	ft.Schedule.Epochs, ft.Schedule.Cycles, ft.Schedule.KeepPerCycle = 1, 1, 1
	ft.Schedule.LR0, ft.Schedule.LRRestart = 1e-12, 1e-12
	run := t.TempDir()
	if _, err := Train(context.Background(), ft, run, Options{Worker: worker, InitFrom: refDir}, nil); err != nil {
		t.Fatal(err)
	}
	nb, err := bundle.Load(filepath.Join(run, BundleDir))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(nb.Description, "fine-tuned from "+refDir) {
		t.Errorf("description %q does not name the starting bundle", nb.Description)
	}
	got, err := nb.Weights(0)
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for i := range want {
		for k := range want[i].Data {
			worst = math.Max(worst, math.Abs(float64(got[i].Data[k]-want[i].Data[k])))
		}
	}
	if worst > 1e-5 {
		t.Fatalf("fine-tuned weights differ from the starting checkpoint by up to %g", worst)
	}
	t.Logf("after one epoch at lr 1e-12 the weights are the starting checkpoint's to %.2g", worst)
}
