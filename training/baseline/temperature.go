package baseline

import (
	"context"
	"fmt"
	"math"
	"strings"

	"cmrseg/app/study"
	"cmrseg/inference/bundle"
	"cmrseg/inference/torch"
	"cmrseg/inference/unet"
	"cmrseg/inference/weights"
	"cmrseg/training/data"
	"cmrseg/training/metrics"
	"cmrseg/training/trainer"
)

// FitTemperature returns the T > 0 minimising the mean negative
// log-likelihood of labels under softmax(logits / T) (Guo et al. 2017).
// logits are voxel-major: logits[i*classes + c]. The NLL is convex in
// β = 1/T, so Newton's method on β (with step halving) converges.
func FitTemperature(logits []float32, labels []uint8, classes int) (float64, error) {
	n := len(labels)
	if classes < 2 || n == 0 || len(logits) != n*classes {
		return 0, fmt.Errorf("temperature: %d logits for %d labels of %d classes", len(logits), n, classes)
	}
	for i, l := range labels {
		if int(l) >= classes {
			return 0, fmt.Errorf("temperature: label %d of voxel %d is outside 0..%d", l, i, classes-1)
		}
	}
	// f(β), f'(β), f''(β) of the mean NLL at inverse temperature β.
	eval := func(beta float64) (f, g, h float64) {
		p := make([]float64, classes)
		for i := 0; i < n; i++ {
			z := logits[i*classes : (i+1)*classes]
			m := math.Inf(-1)
			for _, v := range z {
				m = math.Max(m, beta*float64(v))
			}
			s := 0.0
			for c, v := range z {
				p[c] = math.Exp(beta*float64(v) - m)
				s += p[c]
			}
			var ez, ez2 float64
			for c, v := range z {
				p[c] /= s
				ez += p[c] * float64(v)
				ez2 += p[c] * float64(v) * float64(v)
			}
			zy := float64(z[labels[i]])
			f += m + math.Log(s) - beta*zy
			g += ez - zy
			h += ez2 - ez*ez
		}
		return f / float64(n), g / float64(n), h / float64(n)
	}
	beta := 1.0
	f, g, h := eval(beta)
	for it := 0; it < 100 && math.Abs(g) > 1e-9; it++ {
		step := -g / math.Max(h, 1e-12)
		nb := beta + step
		for nb <= 0 {
			step /= 2
			nb = beta + step
		}
		nf, ng, nh := eval(nb)
		for k := 0; k < 40 && nf > f+1e-15; k++ { // backtrack
			step /= 2
			nb = beta + step
			nf, ng, nh = eval(nb)
		}
		if math.Abs(nb-beta) < 1e-12*beta {
			beta = nb
			break
		}
		beta, f, g, h = nb, nf, ng, nh
	}
	if !(beta > 0) || math.IsInf(beta, 0) {
		return 0, fmt.Errorf("temperature: the fit diverged (β = %g); are the logits degenerate?", beta)
	}
	return 1 / beta, nil
}

// MaxFitVoxels bounds the voxels temperature fitting uses (evenly strided).
const MaxFitVoxels = 2_000_000

// Temperature fits T for the single model (the last checkpoint) of src on
// its validation cases and writes a single-model bundle with
// Inference.Temperature = T. The voxels used are those inside the
// bounding box of each validation volume's reference foreground: the
// region the ECE is measured on, where the background that dominates the
// field of view does not swamp the fit. dataPaths default to the data the
// bundle was trained on.
func Temperature(ctx context.Context, w *torch.Worker, src *bundle.Bundle, dataPaths []string, out string) (*bundle.Bundle, float64, error) {
	if len(src.Training.ValCases) == 0 {
		return nil, 0, fmt.Errorf("baseline: %s records no validation cases to fit a temperature on", src.Dir)
	}
	if len(dataPaths) == 0 {
		dataPaths = strings.Split(src.Training.Data, ", ")
	}
	sp := src.Preprocessing.SpacingMM
	if sp[0] != sp[1] {
		return nil, 0, fmt.Errorf("baseline: %s has anisotropic in-plane spacing %v", src.Dir, sp)
	}
	cases, err := data.List(dataPaths)
	if err != nil {
		return nil, 0, err
	}
	val, err := data.Select(cases, src.Training.ValCases)
	if err != nil {
		return nil, 0, err
	}
	set, err := data.Load(ctx, val, sp[0], src.Network.Classes, 0)
	if err != nil {
		return nil, 0, err
	}
	ci := lastCheckpoint(src)
	ws, err := src.Weights(ci)
	if err != nil {
		return nil, 0, err
	}
	logits, labels, err := ValidationLogits(ctx, w, src.Network, ws, set)
	if err != nil {
		return nil, 0, err
	}
	t, err := FitTemperature(logits, labels, src.Network.Classes)
	if err != nil {
		return nil, 0, err
	}
	if err := prepare(out); err != nil {
		return nil, 0, err
	}
	m := derive(src, bundle.Single, fmt.Sprintf("temperature-scaled single model (epoch %d): T = %.4f fitted by NLL on %d voxels of %d validation volumes",
		src.Checkpoints[ci].Epoch, t, len(labels), len(set.Volumes)))
	m.Name = strings.TrimSuffix(m.Name, "-"+bundle.Single) + "-temperature"
	m.Inference.Temperature = t
	c, err := copyCheckpoint(src, ci, out, src.Checkpoints[ci].File)
	if err != nil {
		return nil, 0, err
	}
	m.Checkpoints = []bundle.Checkpoint{c}
	b, err := finish(out, m)
	return b, t, err
}

// ValidationLogits runs one checkpoint on every volume of set and returns
// the logits (voxel-major) and reference labels of the voxels inside each
// volume's foreground bounding box, strided down to MaxFitVoxels.
func ValidationLogits(ctx context.Context, w *torch.Worker, net unet.Config, ws []weights.Tensor, set *data.Set) ([]float32, []uint8, error) {
	var logits []float32
	var labels []uint8
	classes := net.Classes
	err := w.Do(ctx, func(s *torch.Scope) error {
		m, err := unet.New(s, net)
		if err != nil {
			return err
		}
		defer m.Free()
		if err := m.Load(s, ws); err != nil {
			return err
		}
		for _, v := range set.Volumes {
			if err := ctx.Err(); err != nil {
				return err
			}
			out, err := trainer.ForwardVolume(s, m, v.Image, v.Grid.Dims, torch.CPU, false)
			if err != nil {
				return err
			}
			lo, hi, ok := metrics.ForegroundBox(study.Labels{Geometry: v.Grid, Data: v.Labels})
			if !ok {
				continue
			}
			nx, ny := v.Grid.Dims[0], v.Grid.Dims[1]
			hw := nx * ny
			for k := lo[2]; k <= hi[2]; k++ {
				for j := lo[1]; j <= hi[1]; j++ {
					for i := lo[0]; i <= hi[0]; i++ {
						p := i + nx*j
						for c := 0; c < classes; c++ {
							logits = append(logits, out[(k*classes+c)*hw+p])
						}
						labels = append(labels, v.Labels[k*hw+p])
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if len(labels) == 0 {
		return nil, nil, fmt.Errorf("baseline: no validation volume has foreground")
	}
	if n := len(labels); n > MaxFitVoxels {
		stride := (n + MaxFitVoxels - 1) / MaxFitVoxels
		k := 0
		for i := 0; i < n; i += stride {
			copy(logits[k*classes:(k+1)*classes], logits[i*classes:(i+1)*classes])
			labels[k] = labels[i]
			k++
		}
		logits, labels = logits[:k*classes], labels[:k]
	}
	return logits, labels, nil
}
