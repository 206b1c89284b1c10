package baseline

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"cmrseg/inference/bundle"
	"cmrseg/inference/ensemble"
	"cmrseg/inference/torch"
	"cmrseg/training/data"
	"cmrseg/training/metrics"
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
// Inference.Temperature = T. The logits come from that very bundle run
// through inference/ensemble as the window and `cmrseg segment` run it
// (heart-region tiling, region growth, mirroring as the bundle says,
// resampling to each case's own grid; see DeployedLogits), not from a
// whole-slice pass on the training grid, whose logits a patch-trained
// network does not produce in use. The voxels used are those inside the
// bounding box of each validation volume's reference foreground (the
// region the ECE is measured on, where the background that dominates the
// field of view does not swamp the fit) and inside the region the network
// ran on. dataPaths default to the data the bundle was trained on.
func Temperature(ctx context.Context, w *torch.Worker, src *bundle.Bundle, dataPaths []string, out string) (b *bundle.Bundle, t float64, err error) {
	if len(src.Training.ValCases) == 0 {
		return nil, 0, fmt.Errorf("baseline: %s records no validation cases to fit a temperature on", src.Dir)
	}
	if len(dataPaths) == 0 {
		dataPaths = strings.Split(src.Training.Data, ", ")
	}
	cases, err := data.List(dataPaths)
	if err != nil {
		return nil, 0, err
	}
	val, err := data.Select(cases, src.Training.ValCases)
	if err != nil {
		return nil, 0, err
	}
	if err := prepare(out); err != nil {
		return nil, 0, err
	}
	// The bundle is written at T = 1 first, so the fit runs the bundle it
	// ships; the manifest is rewritten with T once fitted, or removed.
	defer func() {
		if err != nil {
			os.Remove(filepath.Join(out, bundle.ManifestName))
		}
	}()
	ci := lastCheckpoint(src)
	m := derive(src, bundle.Single, "temperature-scaled single model: T being fitted")
	m.Name = strings.TrimSuffix(m.Name, "-"+bundle.Single) + "-temperature"
	m.Inference.Temperature = 1
	c, err := copyCheckpoint(src, ci, out, src.Checkpoints[ci].File)
	if err != nil {
		return nil, 0, err
	}
	m.Checkpoints = []bundle.Checkpoint{c}
	if _, err = finish(out, m); err != nil {
		return nil, 0, err
	}
	logits, labels, volumes, err := DeployedLogits(ctx, w, out, val)
	if err != nil {
		return nil, 0, err
	}
	if t, err = FitTemperature(logits, labels, src.Network.Classes); err != nil {
		return nil, 0, err
	}
	m.Description = derive(src, bundle.Single, fmt.Sprintf("temperature-scaled single model (epoch %d): T = %.4f fitted by NLL on %d voxels of %d validation volumes through the deployed heart-region path",
		src.Checkpoints[ci].Epoch, t, len(labels), volumes)).Description
	m.Inference.Temperature = t
	b, err = finish(out, m)
	return b, t, err
}

// DeployedLogits loads the single-model bundle in dir with
// inference/ensemble (default options: the window's heart-region tiling,
// mirroring as the bundle says) and returns, for every labelled phase of
// cases, its checkpoint's logits (voxel-major: logits[i*classes+c]) and
// the reference labels of the voxels inside the reference foreground's
// bounding box and inside the region the network ran on, strided down to
// MaxFitVoxels, with the number of volumes they come from.
func DeployedLogits(ctx context.Context, w *torch.Worker, dir string, cases []data.Case) (logits []float32, labels []uint8, volumes int, err error) {
	p, err := ensemble.Load(w, dir, ensemble.Options{})
	if err != nil {
		return nil, nil, 0, err
	}
	defer p.Close()
	if p.Checkpoints() != 1 {
		return nil, nil, 0, fmt.Errorf("baseline: %s has %d checkpoints; temperature scaling fits one", dir, p.Checkpoints())
	}
	classes := p.Bundle().Network.Classes
	for _, c := range cases {
		smp, err := c.Load()
		if err != nil {
			return nil, nil, 0, err
		}
		for t, ref := range smp.Labels {
			if ref == nil {
				continue
			}
			if err := ctx.Err(); err != nil {
				return nil, nil, 0, err
			}
			lo, hi, ok := metrics.ForegroundBox(*ref)
			if !ok {
				continue
			}
			z, err := p.CheckpointLogits(ctx, smp.Series, t, 0)
			if err != nil {
				return nil, nil, 0, fmt.Errorf("baseline: case %s phase %d: %w", c.ID, t+1, err)
			}
			volumes++
			nx, ny := ref.Dims[0], ref.Dims[1]
			n := len(ref.Data)
			for k := lo[2]; k <= hi[2]; k++ {
				for j := lo[1]; j <= hi[1]; j++ {
					for i := lo[0]; i <= hi[0]; i++ {
						v := i + nx*(j+ny*k)
						if !z.Inside[v] {
							continue
						}
						for cl := 0; cl < classes; cl++ {
							logits = append(logits, z.Data[cl*n+v])
						}
						labels = append(labels, ref.Data[v])
					}
				}
			}
		}
	}
	if len(labels) == 0 {
		return nil, nil, 0, fmt.Errorf("baseline: no validation volume has foreground inside the region the network ran on")
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
	return logits, labels, volumes, nil
}
