package baseline

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"cmrseg/app/study"
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
	var vols []Volume
	for _, c := range cases {
		smp, err := c.Load()
		if err != nil {
			return nil, nil, 0, err
		}
		for t, ref := range smp.Labels {
			if ref != nil {
				vols = append(vols, Volume{ID: c.ID, Series: smp.Series, Phase: t, Ref: *ref})
			}
		}
	}
	all, labels, volumes, err := CheckpointLogits(ctx, p, vols, MaxFitVoxels)
	if err != nil {
		return nil, nil, 0, err
	}
	return all[0], labels, volumes, nil
}

// Volume is one labelled phase of a case.
type Volume struct {
	ID     string
	Series *study.Series
	Phase  int // 0-based
	Ref    study.Labels
}

// CheckpointLogits runs each of p's checkpoints alone along the deployed
// path (ensemble.Predictor.AllCheckpointLogits) on every volume and returns,
// per checkpoint, the logits (voxel-major: logits[k][i*classes+c]) of the
// voxels inside the reference foreground's bounding box (where the ECE is
// measured, and where the background that dominates the field of view
// does not swamp a fit) that every checkpoint's region covers, their
// reference labels, strided down to maxVoxels, and the number of volumes
// they come from.
func CheckpointLogits(ctx context.Context, p *ensemble.Predictor, vols []Volume, maxVoxels int) (logits [][]float32, labels []uint8, volumes int, err error) {
	classes, k := p.Bundle().Network.Classes, p.Checkpoints()
	logits = make([][]float32, k)
	for _, v := range vols {
		if err := ctx.Err(); err != nil {
			return nil, nil, 0, err
		}
		lo, hi, ok := metrics.ForegroundBox(v.Ref)
		if !ok {
			continue
		}
		zs, err := p.AllCheckpointLogits(ctx, v.Series, v.Phase)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("baseline: case %s phase %d: %w", v.ID, v.Phase+1, err)
		}
		volumes++
		nx, ny, n := v.Ref.Dims[0], v.Ref.Dims[1], len(v.Ref.Data)
		for z := lo[2]; z <= hi[2]; z++ {
			for y := lo[1]; y <= hi[1]; y++ {
			voxels:
				for x := lo[0]; x <= hi[0]; x++ {
					vox := x + nx*(y+ny*z)
					for _, zc := range zs {
						if !zc.Inside[vox] {
							continue voxels
						}
					}
					for ci, zc := range zs {
						for c := 0; c < classes; c++ {
							logits[ci] = append(logits[ci], zc.Data[c*n+vox])
						}
					}
					labels = append(labels, v.Ref.Data[vox])
				}
			}
		}
	}
	if len(labels) == 0 {
		return nil, nil, 0, fmt.Errorf("baseline: no volume has reference foreground inside the region the network ran on")
	}
	if n := len(labels); n > maxVoxels {
		stride := (n + maxVoxels - 1) / maxVoxels
		m := 0
		for i := 0; i < n; i += stride {
			for ci := range logits {
				copy(logits[ci][m*classes:(m+1)*classes], logits[ci][i*classes:(i+1)*classes])
			}
			labels[m] = labels[i]
			m++
		}
		for ci := range logits {
			logits[ci] = logits[ci][:m*classes]
		}
		labels = labels[:m]
	}
	return logits, labels, volumes, nil
}

// FitEnsembleTemperature returns the one T > 0, shared by every checkpoint,
// that minimises the mean negative log-likelihood of labels under the
// ensemble's predictive distribution mean_k softmax(logits[k] / T), the
// distribution the app shows. logits[k] is checkpoint k's, voxel-major as
// in FitTemperature. With one checkpoint it is FitTemperature's T. The NLL
// of a mixture is not convex in 1/T, so a log-spaced grid over
// [MinFitTemperature, MaxFitTemperature] brackets the minimum and a
// golden-section search refines it.
func FitEnsembleTemperature(logits [][]float32, labels []uint8, classes int) (float64, error) {
	n := len(labels)
	if classes < 2 || n == 0 || len(logits) == 0 {
		return 0, fmt.Errorf("temperature: %d checkpoints, %d labels of %d classes", len(logits), n, classes)
	}
	for k, z := range logits {
		if len(z) != n*classes {
			return 0, fmt.Errorf("temperature: checkpoint %d has %d logits for %d labels of %d classes", k, len(z), n, classes)
		}
	}
	for i, l := range labels {
		if int(l) >= classes {
			return 0, fmt.Errorf("temperature: label %d of voxel %d is outside 0..%d", l, i, classes-1)
		}
	}
	nll := func(t float64) float64 { return ensembleNLL(logits, labels, classes, 1/t) }
	const grid = 24
	lo, hi := math.Log(MinFitTemperature), math.Log(MaxFitTemperature)
	step := (hi - lo) / grid
	best, bestF := 0, math.Inf(1)
	for g := 0; g <= grid; g++ {
		if f := nll(math.Exp(lo + float64(g)*step)); f < bestF {
			best, bestF = g, f
		}
	}
	if math.IsInf(bestF, 0) || math.IsNaN(bestF) {
		return 0, fmt.Errorf("temperature: the likelihood is not finite at any temperature; are the logits degenerate?")
	}
	// Golden section on log T in the grid cell either side of the best point.
	a, b := lo+float64(max(best-1, 0))*step, lo+float64(min(best+1, grid))*step
	r := (math.Sqrt(5) - 1) / 2
	c, d := b-r*(b-a), a+r*(b-a)
	fc, fd := nll(math.Exp(c)), nll(math.Exp(d))
	for b-a > 1e-4 {
		if fc < fd {
			b, d, fd = d, c, fc
			c = b - r*(b-a)
			fc = nll(math.Exp(c))
		} else {
			a, c, fc = c, d, fd
			d = a + r*(b-a)
			fd = nll(math.Exp(d))
		}
	}
	return math.Exp((a + b) / 2), nil
}

// The range FitEnsembleTemperature searches: wide enough for any network
// this app trains (fitted values are near 1), narrow enough that a
// degenerate fit shows as a value at an end rather than as infinity.
const (
	MinFitTemperature = 0.2
	MaxFitTemperature = 5.0
)

// ensembleNLL is the mean -log of the label's probability under
// mean_k softmax(beta·logits[k]), split over the cores.
func ensembleNLL(logits [][]float32, labels []uint8, classes int, beta float64) float64 {
	n := len(labels)
	workers := min(runtime.NumCPU(), max(1, n/4096))
	sums := make([]float64, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			e := make([]float64, classes)
			s := 0.0
			for i := w * n / workers; i < (w+1)*n/workers; i++ {
				p := 0.0
				for _, lk := range logits {
					z := lk[i*classes : (i+1)*classes]
					m := math.Inf(-1)
					for c, v := range z {
						e[c] = beta * float64(v)
						m = math.Max(m, e[c])
					}
					t := 0.0
					for c := range e {
						e[c] = math.Exp(e[c] - m)
						t += e[c]
					}
					p += e[labels[i]] / t
				}
				s -= math.Log(math.Max(p/float64(len(logits)), math.SmallestNonzeroFloat64))
			}
			sums[w] = s
		}(w)
	}
	wg.Wait()
	total := 0.0
	for _, s := range sums {
		total += s
	}
	return total / float64(n)
}
