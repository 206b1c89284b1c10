package bundle

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"cmrseg/app/membudget"
	"cmrseg/inference/bundle/manifest"
	"cmrseg/inference/unet"
)

// Tampered manifests (issue 21 item 5): every one is refused by Load with
// manifest.ErrInvalid, before anything the size of the claim is allocated.
func TestManifestRanges(t *testing.T) {
	dir, _ := testBundle(t)
	mp := filepath.Join(dir, ManifestName)
	orig, _ := os.ReadFile(mp)
	for name, c := range map[string]struct{ from, to, field string }{
		"base_features 4096":   {"base_features = 4", "base_features = 4096", "network.base_features"},
		"convs_per_stage 1e8":  {"convs_per_stage = 2", "convs_per_stage = 100000000", "network.convs_per_stage"},
		"patch 65536":          {"patch_size = [64, 64]", "patch_size = [65536, 65536]", "preprocessing.patch_size[0]"},
		"spacing 1e-4":         {"spacing_mm = [1.5, 1.5]", "spacing_mm = [0.0001, 0.0001]", "preprocessing.spacing_mm[0]"},
		"dropout samples 1e9":  {"dropout_samples = 0", "dropout_samples = 1000000000", "inference.dropout_samples"},
		"temperature -1":       {"temperature = 0.0", "temperature = -1.0", "inference.temperature"},
		"hidden checkpoint":    {`"ckpt0.safetensors"`, `".ckpt0.safetensors"`, "checkpoint[0].file"},
		"short digest":         {`sha256 = "`, `sha256 = "ab`, "checkpoint[0].sha256"},
		"unknown kind":         {`kind = "multi-modal"`, `kind = "magic"`, "kind"},
		"label value too high": {"values = [0, 1, 2, 3]", "values = [0, 1, 2, 300]", "labels.values"},
	} {
		edited := strings.Replace(string(orig), c.from, c.to, 1)
		if edited == string(orig) {
			t.Fatalf("%s: %q not in the manifest", name, c.from)
		}
		os.WriteFile(mp, []byte(edited), 0o644)
		var err error
		if a := allocated(func() { _, err = Load(dir) }); a > 8<<20 {
			t.Errorf("%s: Load allocated %d bytes", name, a)
		}
		var fe *manifest.FieldError
		if !errors.Is(err, manifest.ErrInvalid) || !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%s: %v; want a FieldError for %s", name, err, c.field)
		}
	}
}

// Checkpoints must be regular files of bounded size whose shapes fit the
// architecture; a link to /dev/zero or a FIFO is refused at once.
func TestHostileCheckpoints(t *testing.T) {
	dir, m := testBundle(t)
	ck := filepath.Join(dir, "ckpt1.safetensors")
	saved, _ := os.ReadFile(ck)

	os.Remove(ck)
	must(t, os.Symlink("/dev/zero", ck))
	_, err := Load(dir)
	var ce *manifest.CheckpointError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("/dev/zero: %v", err)
	}

	os.Remove(ck)
	must(t, syscall.Mkfifo(ck, 0o644))
	done := make(chan error, 1)
	go func() { _, err := Load(dir); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, manifest.ErrInvalid) {
			t.Errorf("FIFO: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a FIFO checkpoint hangs Load")
	}

	// A file larger than the architecture can need.
	os.Remove(ck)
	big := make([]byte, manifest.CheckpointLimit(m.Network.Params())+1)
	copy(big, saved)
	must(t, os.WriteFile(ck, big, 0o644))
	if _, err := Load(dir); !errors.As(err, &ce) || !strings.Contains(err.Error(), "more than the") {
		t.Errorf("oversized: %v", err)
	}

	// Another architecture's checkpoint, with a matching digest: the
	// shapes are compared before any network exists.
	other := unet.Config{InChannels: 1, Classes: 4, Stages: 3, BaseFeatures: 8, MaxFeatures: 16, ConvsPerStage: 2}
	os.Remove(ck)
	c, err := AddCheckpoint(dir, "ckpt1.safetensors", fakeWeights(other, 1), "F32", 1, 19)
	must(t, err)
	m.Checkpoints[1] = c
	must(t, WriteManifest(dir, m))
	if _, err := Load(dir); !errors.As(err, &ce) || !strings.Contains(err.Error(), "shape") {
		t.Errorf("wrong shapes: %v", err)
	}
}

func TestEnsembleOverBudget(t *testing.T) {
	dir, _ := testBundle(t)
	defer membudget.SetLimit(membudget.SetLimit(1 << 10))
	if _, err := Load(dir); !errors.Is(err, membudget.ErrOverBudget) {
		t.Errorf("Load under a 1 KiB budget: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
