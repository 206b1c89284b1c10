package ensemble

import (
	"context"
	"fmt"
	"os"
	"time"

	"cmrseg/inference/bundle"
	"cmrseg/inference/torch"
	"cmrseg/inference/unet"
	"cmrseg/inference/weights"
)

// RandomBundle writes a bundle of n checkpoints with random weights (He
// initialisation, torch seeded with seed, seed+1, …) into dir, taking the
// architecture, preprocessing, labels and inference settings from m. It
// exists for tests and benchmarks, which need real networks but not
// trained ones: such a bundle's segmentations are meaningless.
func RandomBundle(w *torch.Worker, dir string, m bundle.Manifest, n int, seed uint64) error {
	if n < 1 {
		return fmt.Errorf("ensemble: random bundle of %d checkpoints", n)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if m.Name == "" {
		m.Name = "random weights (test/benchmark only)"
	}
	if m.Kind == "" {
		m.Kind = bundle.MultiModal
	}
	if m.Labels.Names == nil {
		m.Labels = bundle.DefaultLabels()
	}
	if m.Preprocessing.Normalization == "" {
		m.Preprocessing.Normalization = "zscore"
	}
	m.Created = time.Now().UTC().Truncate(time.Second)
	m.Checkpoints = nil
	for i := 0; i < n; i++ {
		var ws []weights.Tensor
		err := w.Do(context.Background(), func(s *torch.Scope) error {
			s.ManualSeed(seed + uint64(i))
			net, err := unet.New(s, m.Network)
			if err != nil {
				return err
			}
			defer net.Free()
			ws, err = net.Export(s)
			return err
		})
		if err != nil {
			return err
		}
		c, err := bundle.AddCheckpoint(dir, fmt.Sprintf("checkpoint_%02d.safetensors", i), ws, weights.F32, 0, i)
		if err != nil {
			return err
		}
		m.Checkpoints = append(m.Checkpoints, c)
	}
	return bundle.WriteManifest(dir, &m)
}
