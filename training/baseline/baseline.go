// Package baseline derives the comparison methods of the paper from
// trained bundles: a single model, SWA, the single-modal ensemble of the
// last cycle, MC-Dropout, a deep ensemble of independently seeded runs, and
// temperature scaling of the single model. The multi-modal bundle a run
// writes is the method itself.
package baseline

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"cmrseg/app/atomicfile"
	"cmrseg/inference/bundle"
	"cmrseg/inference/weights"
)

// lastCycle returns the indices of the checkpoints of the bundle's last
// cycle, in order.
func lastCycle(b *bundle.Bundle) []int {
	last := b.Checkpoints[0].Cycle
	for _, c := range b.Checkpoints {
		last = max(last, c.Cycle)
	}
	var idx []int
	for i, c := range b.Checkpoints {
		if c.Cycle == last {
			idx = append(idx, i)
		}
	}
	return idx
}

// lastCheckpoint is the index of the checkpoint of the latest epoch.
func lastCheckpoint(b *bundle.Bundle) int {
	best := 0
	for i, c := range b.Checkpoints {
		if c.Epoch > b.Checkpoints[best].Epoch {
			best = i
		}
	}
	return best
}

// derive starts a manifest for a bundle made from src.
func derive(src *bundle.Bundle, kind, what string) bundle.Manifest {
	m := src.Manifest
	m.Kind = kind
	m.Name = filepath.Base(filepath.Clean(src.Dir)) + "-" + kind
	m.Description = fmt.Sprintf("%s, derived from %s (%s)", what, src.Dir, src.Kind)
	m.Created = time.Now().UTC().Truncate(time.Second)
	m.Checkpoints = nil
	m.Inference.DropoutSamples = 0
	// A temperature fitted for src's ensemble (evaluate
	// --calibrate-temperature) belongs to that mixture, not to a baseline
	// made of some of its checkpoints: the baselines start untempered.
	m.Inference.Temperature = 1
	m.Inference.TemperatureCalibration = ""
	return m
}

// prepare makes the output folder; one that already holds a bundle is
// not overwritten.
func prepare(out string) error {
	if _, err := os.Stat(filepath.Join(out, bundle.ManifestName)); err == nil {
		return fmt.Errorf("baseline: %s already holds a bundle; choose another --out", out)
	}
	return os.MkdirAll(out, 0o755)
}

// copyCheckpoint copies checkpoint i of src into out under name, keeping
// its digest.
func copyCheckpoint(src *bundle.Bundle, i int, out, name string) (bundle.Checkpoint, error) {
	c := src.Checkpoints[i]
	raw, err := os.ReadFile(filepath.Join(src.Dir, c.File))
	if err != nil {
		return c, fmt.Errorf("baseline: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(out, name), raw); err != nil {
		return c, fmt.Errorf("baseline: %w", err)
	}
	c.File = name
	return c, nil
}

func finish(out string, m bundle.Manifest) (*bundle.Bundle, error) {
	if err := bundle.WriteManifest(out, &m); err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	return bundle.Load(out)
}

// Single is the vanilla baseline: the last checkpoint alone.
func Single(src *bundle.Bundle, out string) (*bundle.Bundle, error) {
	return SingleAt(src, out, -1)
}

// SingleAt is the checkpoint of one epoch alone (epoch < 0: the last), for
// learning curves over the checkpoints a run kept.
func SingleAt(src *bundle.Bundle, out string, epoch int) (*bundle.Bundle, error) {
	i := lastCheckpoint(src)
	if epoch >= 0 {
		i = slices.IndexFunc(src.Checkpoints, func(c bundle.Checkpoint) bool { return c.Epoch == epoch })
		if i < 0 {
			var kept []int
			for _, c := range src.Checkpoints {
				kept = append(kept, c.Epoch)
			}
			return nil, fmt.Errorf("baseline: %s keeps no checkpoint of epoch %d (it keeps epochs %v)", src.Dir, epoch, kept)
		}
	}
	if err := prepare(out); err != nil {
		return nil, err
	}
	m := derive(src, bundle.Single, fmt.Sprintf("single model: the checkpoint of epoch %d", src.Checkpoints[i].Epoch))
	c, err := copyCheckpoint(src, i, out, src.Checkpoints[i].File)
	if err != nil {
		return nil, err
	}
	m.Checkpoints = []bundle.Checkpoint{c}
	return finish(out, m)
}

// SingleModal keeps the checkpoints of the last cycle: samples around one
// mode of the posterior.
func SingleModal(src *bundle.Bundle, out string) (*bundle.Bundle, error) {
	if err := prepare(out); err != nil {
		return nil, err
	}
	idx := lastCycle(src)
	m := derive(src, bundle.SingleModal, fmt.Sprintf("single-modal: the %d checkpoints of cycle %d", len(idx), src.Checkpoints[idx[0]].Cycle))
	for _, i := range idx {
		c, err := copyCheckpoint(src, i, out, src.Checkpoints[i].File)
		if err != nil {
			return nil, err
		}
		m.Checkpoints = append(m.Checkpoints, c)
	}
	return finish(out, m)
}

// SWA averages the weights of the last cycle's checkpoints into one model
// (stochastic weight averaging). The network normalises with InstanceNorm,
// which has no running statistics, so unlike BatchNorm networks the
// averaged model needs no pass over the data to recompute them.
func SWA(src *bundle.Bundle, out string) (*bundle.Bundle, error) {
	if err := prepare(out); err != nil {
		return nil, err
	}
	idx := lastCycle(src)
	var sum [][]float64
	var avg []weights.Tensor
	for _, i := range idx {
		ws, err := src.Weights(i)
		if err != nil {
			return nil, err
		}
		if sum == nil {
			sum = make([][]float64, len(ws))
			avg = make([]weights.Tensor, len(ws))
			for j, t := range ws {
				sum[j] = make([]float64, len(t.Data))
				avg[j] = weights.Tensor{Name: t.Name, Shape: t.Shape, Data: make([]float32, len(t.Data))}
			}
		}
		if len(ws) != len(avg) {
			return nil, fmt.Errorf("baseline: checkpoint %s has %d tensors, %s has %d", src.Checkpoints[i].File, len(ws), src.Checkpoints[idx[0]].File, len(avg))
		}
		for j, t := range ws {
			if t.Name != avg[j].Name || len(t.Data) != len(sum[j]) {
				return nil, fmt.Errorf("baseline: checkpoint %s: tensor %d is %s with %d values, expected %s with %d", src.Checkpoints[i].File, j, t.Name, len(t.Data), avg[j].Name, len(sum[j]))
			}
			for k, v := range t.Data {
				sum[j][k] += float64(v)
			}
		}
	}
	n := float64(len(idx))
	for j := range avg {
		for k, v := range sum[j] {
			avg[j].Data[k] = float32(v / n)
		}
	}
	var epochs []string
	for _, i := range idx {
		epochs = append(epochs, fmt.Sprint(src.Checkpoints[i].Epoch))
	}
	last := src.Checkpoints[idx[len(idx)-1]]
	m := derive(src, bundle.SWA, fmt.Sprintf("SWA: mean weights of the cycle-%d checkpoints of epochs %s", last.Cycle, strings.Join(epochs, ", ")))
	c, err := bundle.AddCheckpoint(out, "swa.safetensors", avg, weights.F32, last.Cycle, last.Epoch)
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	m.Checkpoints = []bundle.Checkpoint{c}
	return finish(out, m)
}

// MCDropout is the last checkpoint of a network trained with dropout,
// sampled samples times with dropout active at inference.
func MCDropout(src *bundle.Bundle, out string, samples int) (*bundle.Bundle, error) {
	if !(src.Network.Dropout > 0) {
		return nil, fmt.Errorf("baseline: %s was trained without dropout (network.dropout = 0); train with network.dropout > 0 for MC-Dropout", src.Dir)
	}
	if samples < 2 {
		return nil, fmt.Errorf("baseline: MC-Dropout needs at least 2 samples, got %d", samples)
	}
	if err := prepare(out); err != nil {
		return nil, err
	}
	i := lastCheckpoint(src)
	m := derive(src, bundle.MCDropout, fmt.Sprintf("MC-Dropout: epoch %d, dropout p %g, %d samples", src.Checkpoints[i].Epoch, src.Network.Dropout, samples))
	m.Inference.DropoutSamples = samples
	c, err := copyCheckpoint(src, i, out, src.Checkpoints[i].File)
	if err != nil {
		return nil, err
	}
	m.Checkpoints = []bundle.Checkpoint{c}
	return finish(out, m)
}

// DeepEnsemble merges the last checkpoints of independently seeded runs.
// The runs must share architecture, preprocessing and data split.
func DeepEnsemble(srcs []*bundle.Bundle, out string) (*bundle.Bundle, error) {
	if len(srcs) < 2 {
		return nil, fmt.Errorf("baseline: a deep ensemble needs at least 2 runs, got %d", len(srcs))
	}
	first := srcs[0]
	seeds := map[int64]string{}
	for _, b := range srcs {
		if b.Network != first.Network {
			return nil, fmt.Errorf("baseline: %s has network %+v, %s has %+v", b.Dir, b.Network, first.Dir, first.Network)
		}
		if b.Preprocessing != first.Preprocessing {
			return nil, fmt.Errorf("baseline: %s preprocesses differently (%+v) from %s (%+v)", b.Dir, b.Preprocessing, first.Dir, first.Preprocessing)
		}
		if strings.Join(b.Training.ValCases, ",") != strings.Join(first.Training.ValCases, ",") {
			return nil, fmt.Errorf("baseline: %s and %s were validated on different cases; members of a deep ensemble must share the split", b.Dir, first.Dir)
		}
		if prev, dup := seeds[b.Training.Seed]; dup {
			return nil, fmt.Errorf("baseline: %s and %s have the same seed %d; a deep ensemble needs independent runs", prev, b.Dir, b.Training.Seed)
		}
		seeds[b.Training.Seed] = b.Dir
	}
	if err := prepare(out); err != nil {
		return nil, err
	}
	var desc []string
	m := derive(first, bundle.DeepEnsemble, "")
	for k, b := range srcs {
		i := lastCheckpoint(b)
		c, err := copyCheckpoint(b, i, out, fmt.Sprintf("member%d-%s", k, b.Checkpoints[i].File))
		if err != nil {
			return nil, err
		}
		m.Checkpoints = append(m.Checkpoints, c)
		desc = append(desc, fmt.Sprintf("%s (seed %d, epoch %d)", b.Dir, b.Training.Seed, b.Checkpoints[i].Epoch))
	}
	m.Description = fmt.Sprintf("deep ensemble of %d independently seeded runs: %s", len(srcs), strings.Join(desc, "; "))
	m.Training.Command = "cmrseg baseline deep-ensemble"
	return finish(out, m)
}
