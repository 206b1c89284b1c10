// Package ensemble segments a study with a model bundle's checkpoint
// ensemble (Zhao et al., MICCAI 2022): every checkpoint's softmax on the
// same preprocessed slices, averaged into the prediction, with entropy and
// mutual information as the uncertainty (package uncertainty).
//
// The flow for one cardiac phase, each step a function of this package:
//
//	prepare   z-score over the 3D volume, bilinear in-plane resampling to the
//	          bundle's spacing (app/geom), symmetric zero padding to a
//	          multiple of the U-Net divisor and at least the training patch
//	run       on the torch worker: the volume goes to the device once; per
//	          checkpoint (per dropout pass for MC-Dropout bundles), per
//	          chunk of slices: optional mirroring (i, j, both, batched with
//	          the slices; softmax averaged per checkpoint), temperature on
//	          the logits, softmax, crop, bilinear resampling of each class
//	          back to the input grid, one device-to-host copy
//	combine   uncertainty.Accumulator on its own goroutine, fed each sample
//	          as soon as it is complete; then the bundle's largest-component
//	          post-processing (package postprocess) of the labels and samples
//
// GPU cost in the number of checkpoints M: every checkpoint stays resident
// on the device for the Predictor's lifetime (no reloading); preprocessing
// and the upload are paid once per phase, not per checkpoint; the slices
// of a volume (times 4 with mirroring) are one batch, so a checkpoint costs
// one batched forward pass plus one transfer per chunk; and the host-side
// combination of checkpoint m (the Accumulator's O(voxels) work, which on
// a GPU is the larger part) runs while checkpoint m+1 is on the device, as
// does a phase's final combination with the next phase's network. So the
// time grows like max(M·forward, M·combine) plus a fixed part, not like
// their sum.
package ensemble

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"cmrseg/app/study"
	"cmrseg/inference/bundle"
	"cmrseg/inference/postprocess"
	"cmrseg/inference/torch"
	"cmrseg/inference/uncertainty"
	"cmrseg/inference/unet"
	"cmrseg/inference/weights"
)

// Tiling chooses between whole-slice inference and a sliding window.
type Tiling int

const (
	// TileAuto runs nnU-Net's sliding window whenever a slice is larger
	// than the training patch, whole slices otherwise. A network trained on
	// patches sees other instance-norm statistics and less background on a
	// whole slice: on ACDC validation cases a 128² patch model scored Dice
	// RV/MYO/LV .50/.75/.84 on whole slices and .77/.84/.90 tiled.
	TileAuto Tiling = iota
	// TileNever always runs whole (padded) slices.
	TileNever
	// TileAlways runs nnU-Net's sliding window: tiles of the training patch,
	// step half a tile, Gaussian weights (σ = tile/8).
	TileAlways
)

// Options configure a Predictor.
type Options struct {
	// Device is "auto" (or ""), "cpu" or "cuda". Auto takes CUDA when the
	// loaded libtorch has it. A CUDA failure (including out of memory)
	// falls back to the CPU with a warning.
	Device string
	// TTA enables test-time mirroring (along i, j and both). The bundle's
	// inference.mirror_tta turns it on as well.
	TTA bool
	// BatchSlices is the number of slices per forward pass (mirrored copies
	// come on top); 0 chooses from the slice size and the device.
	BatchSlices int
	// Tiling chooses whole-slice or sliding-window inference.
	Tiling Tiling
	// RawLabels skips the bundle's post-processing (inference.postprocess),
	// leaving every label map the plain argmax: `cmrseg evaluate` needs the
	// raw maps to choose a post-processing.
	RawLabels bool
	// OnWarning, when set, receives each warning as it happens (from the
	// goroutine calling Load or Predict). Warnings also collect in
	// Predictor.Warnings.
	OnWarning func(string)
}

// Predictor is a loaded bundle, ready to segment. Its methods are safe for
// use by one goroutine at a time.
type Predictor struct {
	w      *torch.Worker
	b      *bundle.Bundle
	opts   Options
	tta    bool
	dev    torch.Device
	models []*unet.Model

	mu       sync.Mutex
	warnings []string
	timings  Timings
}

// Timings are the wall times of the last Predict call's stages. Network
// includes waits for the combination when it falls behind; Combine runs
// concurrently with the network, so the three may add up to more than the
// call took.
type Timings struct {
	Prepare, Network, Combine time.Duration
}

// Load reads and verifies the bundle in dir and puts every checkpoint on
// the device. All torch work runs on w, which the caller owns and closes
// after Close.
func Load(w *torch.Worker, dir string, opts Options) (*Predictor, error) {
	switch opts.Device {
	case "", "auto", "cpu", "cuda":
	default:
		return nil, fmt.Errorf("ensemble: device %q: want auto, cpu or cuda", opts.Device)
	}
	if opts.BatchSlices < 0 {
		return nil, fmt.Errorf("ensemble: batch of %d slices", opts.BatchSlices)
	}
	b, err := bundle.Load(dir)
	if err != nil {
		return nil, err
	}
	if b.Network.InChannels != 1 {
		return nil, fmt.Errorf("ensemble: model bundle %s: the network takes %d input channels; cine segmentation needs 1", dir, b.Network.InChannels)
	}
	if t := b.Inference.Temperature; t < 0 || math.IsNaN(t) || math.IsInf(t, 0) {
		return nil, fmt.Errorf("ensemble: model bundle %s: temperature %g must be positive", dir, t)
	}
	if b.Inference.DropoutSamples < 0 {
		return nil, fmt.Errorf("ensemble: model bundle %s: dropout_samples %d", dir, b.Inference.DropoutSamples)
	}
	ws := make([][]weights.Tensor, len(b.Checkpoints))
	for i := range ws {
		if ws[i], err = b.Weights(i); err != nil {
			return nil, err
		}
	}
	p := &Predictor{w: w, b: b, opts: opts, tta: opts.TTA || b.Inference.MirrorTTA}
	err = w.Do(context.Background(), func(s *torch.Scope) error {
		cuda := s.CUDAAvailable()
		switch {
		case opts.Device == "cuda" && !cuda:
			return errNoCUDA
		case opts.Device == "cuda" || (opts.Device != "cpu" && cuda):
			p.dev = torch.CUDA(0)
		}
		return p.loadModels(s, ws)
	})
	if errors.Is(err, errNoCUDA) {
		return nil, fmt.Errorf("ensemble: device cuda requested, but the loaded libtorch has no usable CUDA device (see cmrseg doctor); use --device cpu or auto")
	}
	if err != nil && p.dev.CUDA {
		p.warn(fmt.Sprintf("CUDA failed while loading the model (%v); running on the CPU", err))
		p.dev = torch.CPU
		err = w.Do(context.Background(), func(s *torch.Scope) error { return p.loadModels(s, ws) })
	}
	if err != nil {
		return nil, fmt.Errorf("ensemble: loading model bundle %s: %w", dir, err)
	}
	return p, nil
}

var errNoCUDA = errors.New("no CUDA")

// loadModels (re)creates one resident model per checkpoint on p.dev.
func (p *Predictor) loadModels(s *torch.Scope, ws [][]weights.Tensor) error {
	p.freeModels()
	for i, w := range ws {
		m, err := unet.New(s, p.b.Network)
		if err != nil {
			return err
		}
		p.models = append(p.models, m)
		if err := m.Load(s, w); err != nil {
			return fmt.Errorf("checkpoint %s: %w", p.b.Checkpoints[i].File, err)
		}
		if p.dev.CUDA {
			if err := m.To(s, p.dev); err != nil {
				return err
			}
		}
	}
	return s.Err()
}

func (p *Predictor) freeModels() {
	for _, m := range p.models {
		m.Free()
	}
	p.models = nil
}

// Close frees the models (on the worker). The worker stays open.
func (p *Predictor) Close() {
	p.w.Do(context.Background(), func(*torch.Scope) error {
		p.freeModels()
		return nil
	})
}

// Device says where the ensemble runs, e.g. "CPU (2 threads)".
func (p *Predictor) Device() string {
	if p.dev.CUDA {
		return fmt.Sprintf("CUDA (device %d)", p.dev.Index)
	}
	return fmt.Sprintf("CPU (%d threads)", p.w.Threads())
}

// Bundle is the loaded bundle's manifest and folder.
func (p *Predictor) Bundle() *bundle.Bundle { return p.b }

// QCThreshold is the bundle's calibrated slice-flag threshold in nats (0
// when the bundle was not calibrated).
func (p *Predictor) QCThreshold() float64 { return p.b.Inference.QCThreshold }

// Checkpoints is the number of resident checkpoints.
func (p *Predictor) Checkpoints() int { return len(p.b.Checkpoints) }

// Samples is the number of softmax maps per phase: one per checkpoint, or
// one per dropout pass of each checkpoint for MC-Dropout bundles.
func (p *Predictor) Samples() int { return len(p.b.Checkpoints) * p.passes() }

// TTA reports whether mirroring is applied.
func (p *Predictor) TTA() bool { return p.tta }

// Warnings returns the warnings so far (e.g. a fall-back from CUDA).
func (p *Predictor) Warnings() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.warnings...)
}

// LastTimings are the stage times of the last Predict call.
func (p *Predictor) LastTimings() Timings {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.timings
}

func (p *Predictor) warn(msg string) {
	p.mu.Lock()
	p.warnings = append(p.warnings, msg)
	p.mu.Unlock()
	if p.opts.OnWarning != nil {
		p.opts.OnWarning(msg)
	}
}

func (p *Predictor) addTime(d *time.Duration, since time.Time) {
	p.mu.Lock()
	*d += time.Since(since)
	p.mu.Unlock()
}

// passes is the number of forward passes per checkpoint.
func (p *Predictor) passes() int {
	if p.b.Network.Dropout > 0 && p.b.Inference.DropoutSamples > 0 {
		return p.b.Inference.DropoutSamples
	}
	return 1
}

// Segment is Predict under the name app/workspace's Segmenter interface uses.
func (p *Predictor) Segment(ctx context.Context, s *study.Series, phases []int, progress func(done, total int)) ([]*uncertainty.Result, error) {
	return p.Predict(ctx, s, phases, progress)
}

// Predict segments the given phases of s and returns one result per entry
// of phases, in that order, on the series' own grid. progress, when not
// nil, is called from the torch worker's goroutine after every checkpoint
// pass over a chunk of slices. Cancelling ctx stops the work between chunks
// and returns ctx.Err().
func (p *Predictor) Predict(ctx context.Context, s *study.Series, phases []int, progress func(done, total int)) ([]*uncertainty.Result, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("ensemble: %w", err)
	}
	for _, t := range phases {
		if t < 0 || t >= s.NT {
			return nil, fmt.Errorf("ensemble: series %q: phase %d out of range 0..%d", s.Meta.SeriesDescription, t, s.NT-1)
		}
	}
	p.mu.Lock()
	p.timings = Timings{}
	p.mu.Unlock()
	pend := make([]*pending, len(phases))
	// The combination of a phase goes on while the next phase runs through
	// the network; at most two phases are in flight.
	wait := func(upto int) error {
		for i := 0; i < upto; i++ {
			if pend[i] != nil {
				<-pend[i].done
				if pend[i].err != nil {
					return fmt.Errorf("ensemble: series %q phase %d: %w", s.Meta.SeriesDescription, phases[i], pend[i].err)
				}
			}
		}
		return nil
	}
	done := 0
	for n, t := range phases {
		if err := ctx.Err(); err != nil {
			wait(n)
			return nil, err
		}
		if err := wait(n - 1); err != nil {
			wait(n)
			return nil, err
		}
		t0 := time.Now()
		prep, err := prepare(s, t, p.b.Preprocessing, p.b.Network.Divisor())
		p.addTime(&p.timings.Prepare, t0)
		if err != nil {
			wait(n)
			return nil, fmt.Errorf("ensemble: series %q: %w", s.Meta.SeriesDescription, err)
		}
		var step func()
		if progress != nil {
			per := p.stepsPerPhase(prep)
			base, total := done, len(phases)*per
			i := 0
			step = func() {
				i++
				progress(min(base+i, total), total)
			}
			done += per
		}
		if pend[n], err = p.phase(ctx, s.Geometry, prep, step); err != nil {
			wait(n)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("ensemble: series %q phase %d: %w", s.Meta.SeriesDescription, t, err)
		}
	}
	if err := wait(len(phases)); err != nil {
		return nil, err
	}
	results := make([]*uncertainty.Result, len(phases))
	for i, pd := range pend {
		results[i] = pd.res
	}
	return results, nil
}

// postprocessResult applies spec to the prediction and to every posterior
// sample, so the samples behind the credible intervals are cleaned the same
// way as the labels they bracket. Slice scores stay those of the raw
// samples: the QC threshold was calibrated on them.
func postprocessResult(r *uncertainty.Result, spec postprocess.Spec) {
	spec.Apply(r.Labels, r.Dims)
	for k, s := range r.SampleLabels {
		s = slices.Clone(s) // shared with the accumulator
		spec.Apply(s, r.Dims)
		r.SampleLabels[k] = s
	}
}

// pending is a phase whose samples are being combined.
type pending struct {
	done chan struct{} // closed when res or err is set
	res  *uncertainty.Result
	err  error
}

// combine starts the goroutine that folds a phase's samples, as they come
// through the returned channel, into an uncertainty.Accumulator on grid g.
// Closing the channel finishes the result.
func (p *Predictor) combine(g study.Geometry) (*pending, chan<- []float32) {
	pd := &pending{done: make(chan struct{})}
	// One sample may wait while the next one is computed.
	ch := make(chan []float32, 1)
	go func() {
		defer close(pd.done)
		acc := uncertainty.NewAccumulator(g, p.b.Network.Classes)
		for pr := range ch {
			if pd.err == nil {
				t0 := time.Now()
				pd.err = acc.Add(pr)
				p.addTime(&p.timings.Combine, t0)
			}
		}
		if pd.err == nil {
			t0 := time.Now()
			pd.res = acc.Result()
			if spec := p.b.Inference.Postprocess; !p.opts.RawLabels && !spec.IsZero() {
				postprocessResult(pd.res, spec)
			}
			p.addTime(&p.timings.Combine, t0)
		}
	}()
	return pd, ch
}

// phase runs the ensemble on one prepared phase, handing each sample's
// class-major probability map on grid out to a combining goroutine as soon
// as it is complete, so the host-side combination of checkpoint m overlaps
// the network pass of checkpoint m+1. A CUDA failure moves the models to
// the CPU and runs the phase again there.
func (p *Predictor) phase(ctx context.Context, out study.Geometry, prep *Prepared, step func()) (*pending, error) {
	t0 := time.Now()
	defer p.addTime(&p.timings.Network, t0)
	attempt := func() (*pending, error) {
		pd, ch := p.combine(out)
		err := p.run(ctx, prep, out, step, func(pr []float32) { ch <- pr })
		close(ch)
		if err != nil {
			<-pd.done
			return nil, err
		}
		return pd, nil
	}
	pd, err := attempt()
	if err == nil || !p.dev.CUDA || ctx.Err() != nil {
		return pd, err
	}
	p.warn(fmt.Sprintf("CUDA failed (%v); continuing on the CPU", err))
	if ferr := p.fallBackToCPU(); ferr != nil {
		return nil, fmt.Errorf("%v; then moving to the CPU failed: %w", err, ferr)
	}
	return attempt()
}

func (p *Predictor) fallBackToCPU() error {
	ws := make([][]weights.Tensor, len(p.b.Checkpoints))
	for i := range ws {
		var err error
		if ws[i], err = p.b.Weights(i); err != nil {
			return err
		}
	}
	p.dev = torch.CPU
	return p.w.Do(context.Background(), func(s *torch.Scope) error { return p.loadModels(s, ws) })
}

// Pixel budgets per forward pass, which bound activation memory: about
// 1 GB on the CPU and 4 GB on a GPU for a base-32 U-Net.
const (
	cpuPixels  = 1 << 20
	cudaPixels = 1 << 22
)

// layout decides the forward-pass shapes for a prepared phase: the tile
// (the whole padded slice unless tiling) and the slices per chunk.
func (p *Predictor) layout(prep *Prepared) (tileH, tileW, batch int) {
	tileH, tileW = prep.Height, prep.Width
	if th, tw, ok := p.tile(); ok {
		if p.opts.Tiling == TileAlways || (p.opts.Tiling == TileAuto && (prep.Height > th || prep.Width > tw)) {
			tileH, tileW = th, tw
		}
	}
	batch = p.opts.BatchSlices
	if batch == 0 {
		budget := cpuPixels
		if p.dev.CUDA {
			budget = cudaPixels
		}
		per := tileH * tileW
		if p.tta {
			per *= 4
		}
		batch = max(1, budget/per)
	}
	return tileH, tileW, min(batch, prep.Grid.Dims[2])
}

// tile is the sliding-window tile: the training patch rounded up to the
// network's divisor.
func (p *Predictor) tile() (h, w int, ok bool) {
	ps, d := p.b.Preprocessing.PatchSize, p.b.Network.Divisor()
	if ps[0] <= 0 || ps[1] <= 0 {
		return 0, 0, false
	}
	return (ps[0] + d - 1) / d * d, (ps[1] + d - 1) / d * d, true
}

func (p *Predictor) stepsPerPhase(prep *Prepared) int {
	_, _, batch := p.layout(prep)
	chunks := (prep.Grid.Dims[2] + batch - 1) / batch
	return chunks * p.Samples()
}

// run is one attempt at a phase on the current device: for every sample
// (checkpoint, or dropout pass) every chunk of slices, then emit with that
// sample's class-major probabilities on grid out. emit is called on the
// worker's goroutine.
func (p *Predictor) run(ctx context.Context, prep *Prepared, out study.Geometry, step func(), emit func([]float32)) error {
	if out.Dims[2] != prep.Grid.Dims[2] {
		return fmt.Errorf("output grid has %d slices, the network grid %d", out.Dims[2], prep.Grid.Dims[2])
	}
	tileH, tileW, batch := p.layout(prep)
	nk, h, w := prep.Grid.Dims[2], prep.Height, prep.Width
	classes, plane, n := p.b.Network.Classes, out.Dims[0]*out.Dims[1], out.N()
	train := p.passes() > 1
	return p.w.Do(ctx, func(s *torch.Scope) error {
		// Dropout passes draw from torch's generator: seed it so a
		// prediction is reproducible.
		s.ManualSeed(0)
		var err error
		s.NoGrad(func() {
			// The whole prepared volume goes to the device once.
			x := s.FromFloat32(prep.Slices, int64(nk), 1, int64(h), int64(w))
			if p.dev.CUDA {
				x = s.To(x, p.dev, torch.Float32)
			}
			var win *window
			if tileH != h || tileW != w {
				win = newWindow(s, h, w, tileH, tileW, p.dev)
			}
			if err = s.Err(); err != nil {
				return
			}
			for mi, m := range p.models {
				for pass := 0; pass < p.passes(); pass++ {
					buf := make([]float32, classes*n)
					for k0 := 0; k0 < nk; k0 += batch {
						if err = ctx.Err(); err != nil {
							return
						}
						k1 := min(k0+batch, nk)
						err = s.Child(func(c *torch.Scope) error {
							xb := c.Slice(x, 0, int64(k0), int64(k1))
							var pr torch.Tensor
							if win != nil {
								pr = win.probs(c, func(cs *torch.Scope, t torch.Tensor) torch.Tensor { return p.probs(cs, m, t, train) }, xb)
							} else {
								pr = p.probs(c, m, xb, train)
							}
							// One transfer per chunk: (classes, slices, rows, cols).
							data := c.Float32s(p.toOutput(c, pr, prep, out))
							if err := c.Err(); err != nil {
								return err
							}
							b := k1 - k0
							for cl := 0; cl < classes; cl++ {
								copy(buf[cl*n+k0*plane:], data[cl*b*plane:(cl+1)*b*plane])
							}
							return nil
						})
						if err != nil {
							err = fmt.Errorf("checkpoint %s: %w", p.b.Checkpoints[mi].File, err)
							return
						}
						if step != nil {
							step()
						}
					}
					emit(buf)
				}
			}
		})
		return err
	})
}

// collect runs a phase and returns every sample's map (tests).
func (p *Predictor) collect(ctx context.Context, prep *Prepared, out study.Geometry) ([][]float32, error) {
	var all [][]float32
	err := p.run(ctx, prep, out, nil, func(pr []float32) { all = append(all, pr) })
	return all, err
}

// probs is one checkpoint's softmax on a batch x (B, 1, H, W), averaged
// over the mirrored copies when TTA is on.
func (p *Predictor) probs(s *torch.Scope, m *unet.Model, x torch.Tensor, train bool) torch.Tensor {
	sh := s.Shape(x)
	if s.Err() != nil {
		return torch.Tensor{}
	}
	b := sh[0]
	in := x
	if p.tta {
		in = s.Cat(0, x, s.Flip(x, 3), s.Flip(x, 2), s.Flip(x, 2, 3))
	}
	outs := m.Forward(s, in, train, false)
	if len(outs) == 0 {
		return torch.Tensor{}
	}
	logits := outs[0]
	if t := p.b.Inference.Temperature; t > 0 && t != 1 {
		logits = s.MulScalar(logits, 1/t)
	}
	pr := s.Softmax(logits, 1)
	if p.tta {
		sum := s.Add(
			s.Add(s.Slice(pr, 0, 0, b), s.Flip(s.Slice(pr, 0, b, 2*b), 3)),
			s.Add(s.Flip(s.Slice(pr, 0, 2*b, 3*b), 2), s.Flip(s.Slice(pr, 0, 3*b, 4*b), 2, 3)))
		pr = s.MulScalar(sum, 0.25)
	}
	return pr
}

// toOutput crops the padding off (B, C, H, W) probabilities, resamples
// each class bilinearly to grid out and returns them class-first
// (C, B, rows, cols). The network grid is geom.InPlaneGrid of the input:
// same field of view, edges aligned, so torch's bilinear interpolation with
// align_corners=false maps pixel centres exactly as geom.Image does (a test
// checks the two agree).
func (p *Predictor) toOutput(s *torch.Scope, pr torch.Tensor, prep *Prepared, out study.Geometry) torch.Tensor {
	g := prep.Grid
	pr = s.Slice(s.Slice(pr, 2, int64(prep.PadTop), int64(prep.PadTop+g.Dims[1])), 3, int64(prep.PadLeft), int64(prep.PadLeft+g.Dims[0]))
	if out.Dims != g.Dims {
		pr = s.Resize(pr, out.Dims[1], out.Dims[0], torch.Bilinear)
	}
	return s.Permute(pr, 1, 0, 2, 3)
}
