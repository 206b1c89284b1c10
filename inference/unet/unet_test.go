package unet

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"cmrseg/app/shareddata"
	"cmrseg/inference/torch"
	"cmrseg/inference/weights"
)

var worker *torch.Worker

func TestMain(m *testing.M) {
	worker = torch.NewWorker(2)
	code := m.Run()
	worker.Close()
	os.Exit(code)
}

// TestForwardMatchesPyTorch saves random weights, runs the network in Go
// and in the independent functional PyTorch implementation, and compares
// the logits.
func TestForwardMatchesPyTorch(t *testing.T) {
	py := shareddata.Python(t, "torch", "numpy")
	cfg := Config{InChannels: 1, Classes: 4, Stages: 5, BaseFeatures: 8, MaxFeatures: 64, ConvsPerStage: 2}
	dir := t.TempDir()
	const n, h, w = 2, 64, 48
	x := make([]float32, n*h*w)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	var got []float32
	var shape []int64
	err := worker.Do(context.Background(), func(s *torch.Scope) error {
		s.ManualSeed(5)
		m, err := New(s, cfg)
		if err != nil {
			return err
		}
		defer m.Free()
		ws, err := m.Export(s)
		if err != nil {
			return err
		}
		if err := weights.Write(filepath.Join(dir, "w.safetensors"), ws, weights.F32, nil); err != nil {
			return err
		}
		var out []torch.Tensor
		s.NoGrad(func() {
			out = m.Forward(s, s.FromFloat32(x, n, 1, h, w), false, false)
		})
		if len(out) != 1 {
			t.Fatalf("%d outputs without deep supervision", len(out))
		}
		shape = s.Shape(out[0])
		got = s.Float32s(out[0])
		ds := m.Forward(s, s.FromFloat32(x, n, 1, h, w), true, true)
		if len(ds) != cfg.Stages-1 {
			t.Errorf("deep supervision gave %d outputs, want %d", len(ds), cfg.Stages-1)
		}
		return s.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{n, 4, h, w}; len(shape) != 4 || shape[1] != 4 || shape[2] != h || shape[3] != w {
		t.Fatalf("output shape %v, want %v", shape, want)
	}
	cj, _ := json.Marshal(cfg)
	os.WriteFile(filepath.Join(dir, "cfg.json"), cj, 0o644)
	shareddata.WriteRaw(t, filepath.Join(dir, "x.f32"), x)
	cmd := exec.Command(py, "../reference/unet_ref.py", "forward", filepath.Join(dir, "cfg.json"), filepath.Join(dir, "w.safetensors"), filepath.Join(dir, "x.f32"), "2,1,64,48", filepath.Join(dir, "y.f32"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("reference: %v\n%s", err, out)
	}
	want := shareddata.ReadFloat32(t, filepath.Join(dir, "y.f32"))
	var maxErr, maxAbs float64
	for i := range want {
		maxErr = max(maxErr, math.Abs(float64(got[i]-want[i])))
		maxAbs = max(maxAbs, math.Abs(float64(want[i])))
	}
	t.Logf("U-Net logits: max |Go − PyTorch| = %.3g (max |logit| %.3g)", maxErr, maxAbs)
	if maxErr > 1e-4 {
		t.Fatalf("max abs difference %.3g > 1e-4", maxErr)
	}
}

func TestLoadRejectsMismatchedCheckpoint(t *testing.T) {
	cfg := Config{InChannels: 1, Classes: 4, Stages: 3, BaseFeatures: 4, MaxFeatures: 16, ConvsPerStage: 2}
	other := cfg
	other.BaseFeatures = 8
	err := worker.Do(context.Background(), func(s *torch.Scope) error {
		a, err := New(s, cfg)
		if err != nil {
			return err
		}
		defer a.Free()
		b, err := New(s, other)
		if err != nil {
			return err
		}
		defer b.Free()
		wb, _ := b.Export(s)
		if err := a.Load(s, wb); err == nil {
			t.Error("loaded a checkpoint of another width")
		} else {
			t.Log(err)
		}
		wa, _ := a.Export(s)
		wa[3].Name = "bogus"
		if err := a.Load(s, wa); err == nil {
			t.Error("loaded a checkpoint with an unknown tensor")
		}
		wa, _ = a.Export(s)
		for i := range wa[0].Data {
			wa[0].Data[i] = 0.5
		}
		if err := a.Load(s, wa); err != nil {
			return err
		}
		back, _ := a.Export(s)
		if back[0].Data[0] != 0.5 {
			t.Error("Load did not overwrite the parameter")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestInputSizeMustFitTheDepth(t *testing.T) {
	cfg := Config{InChannels: 1, Classes: 4, Stages: 4, BaseFeatures: 4, MaxFeatures: 16, ConvsPerStage: 1}
	err := worker.Do(context.Background(), func(s *torch.Scope) error {
		m, err := New(s, cfg)
		if err != nil {
			return err
		}
		defer m.Free()
		m.Forward(s, s.Zeros(torch.Float32, torch.CPU, 1, 1, 30, 32), false, false)
		return nil
	})
	if err == nil {
		t.Fatal("30-pixel input accepted by a 4-stage network")
	}
}
