// Package ensemble segments a study with a model bundle's checkpoint
// ensemble (Zhao et al., MICCAI 2022): every checkpoint's softmax on the
// same preprocessed slices, averaged into the prediction, with entropy and
// mutual information as the uncertainty (package uncertainty).
//
// The flow of a call, each step a function of this package:
//
//	prepare   package preprocess: z-score over the 3D volume, bilinear
//	          in-plane resampling to the bundle's spacing, symmetric zero
//	          padding to the U-Net divisor and at least the training patch
//	locate    (TileAuto, slices larger than the patch) one checkpoint on a
//	          coarse tiling of the first phase; the bounding box of the
//	          heart's components plus a margin is the heart region, covered
//	          by one tile per sample (or, when large, a few); outside it
//	          every sample says background
//	run       on the torch worker, for a group of phases (ED and ES first,
//	          then several phases per batch): per sample (checkpoints one
//	          from each cycle in turn; dropout passes for MC-Dropout), per
//	          batch of slices: optional mirroring, temperature, softmax,
//	          Gaussian-weighted tile blending, crop, bilinear resampling
//	          back to the input grid, one device-to-host copy; a sample
//	          whose heart reaches the region border grows the region and
//	          runs the group again
//	combine   uncertainty.Accumulator on its own goroutine per phase, fed
//	          each sample as soon as it is complete (an anytime Update per
//	          sample for the leading phases); then the bundle's
//	          largest-component post-processing (package postprocess)
//
// Cost in the number of checkpoints M: every checkpoint stays resident on
// the device (no reloading); preprocessing and the upload are paid once per
// phase, not per checkpoint; the slices of several phases (times 4 with
// mirroring) form one batch; and the host-side combination of sample m
// runs while sample m+1 is on the device. So the time grows like
// M · tiles · slices network evaluations plus a fixed part.
package ensemble

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"cmrseg/app/study"
	"cmrseg/inference/bundle"
	"cmrseg/inference/torch"
	"cmrseg/inference/unet"
	"cmrseg/inference/weights"
)

// EngineVersion numbers the pipeline's numerics: a change that alters the
// probabilities of the same bundle and options raises it, so that stored
// results (the window's result cache, batch fingerprints) are recomputed.
// 2: heart regions as shifted single tiles; 3: up to one and a half
// patches as one larger tile, regions grown by the heart's components only;
// 4: the localisation pass on every other slice.
const EngineVersion = 4

// Tiling chooses how slices larger than the training patch are covered.
type Tiling int

const (
	// TileAuto runs the whole ensemble only on the heart region: one
	// checkpoint locates the heart on a coarse tiling of the first phase;
	// the region is that plus a margin, and every voxel outside it is
	// background with probability 1 in every sample. A region of up to one
	// and a half patches per axis gets one tile per checkpoint (the patch,
	// or the region plus room to shift rounded up to the divisor), shifted
	// by up to σ of the tile weights, a different shift per checkpoint, so
	// the ensemble's average also averages over tile context, as the
	// sliding window's overlapping tiles do; a larger region gets the
	// sliding window over it (TileRegionWindow). A region whose heart (not
	// an island) reaches its border grows and runs again, so a heart is
	// never cut off. Slices no larger than the patch run whole. On
	// validation it scored within .003 Dice and .03 % ECE of the full
	// sliding window at a fifth of its time (README, model table); whole
	// slices (TileNever) show how far a much larger tile would be from
	// the training patches.
	TileAuto Tiling = iota
	// TileNever always runs whole (padded) slices. A network trained on
	// patches sees other instance-norm statistics and more background on a
	// whole slice: on ACDC validation cases a 128² patch model scored Dice
	// RV/MYO/LV .50/.75/.84 on whole slices and .77/.84/.90 tiled.
	TileNever
	// TileAlways runs nnU-Net's sliding window over the whole slice (tiles
	// of the training patch, step half a tile, Gaussian weights σ = tile/8)
	// even when the slice fits one tile.
	TileAlways
	// TileFull runs the sliding window over the whole slice whenever it is
	// larger than the training patch (the behaviour before heart-region
	// inference; kept for comparison).
	TileFull
	// TileRegionWindow is TileAuto with nnU-Net's sliding window over the
	// heart region (tiles at half a patch over at least one and a half
	// patches) even when the region fits one tile: the heart-region
	// behaviour before shifted tiles, kept for comparison.
	TileRegionWindow
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

	mu          sync.Mutex
	warnings    []string
	timings     Timings
	regions     []tiling // per phase of the last call
	evaluations int      // network evaluations of the last call
	startRegion *box     // tests: replaces the localisation pass
}

// Timings are the wall times of the last Predict call's stages. Network
// includes waits for the combination when it falls behind; Combine runs
// concurrently with the network, so the three may add up to more than the
// call took.
type Timings struct {
	Prepare, Locate, Network, Combine time.Duration
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

// probs is one checkpoint's softmax on a batch x (B, 1, H, W), averaged
// over the mirrored copies when TTA is on.
func (p *Predictor) probs(s *torch.Scope, m *unet.Model, x torch.Tensor, train bool) torch.Tensor {
	return p.sample(s, m, x, train, false)
}

// sample is probs, or with logits the raw logits (no temperature, no
// softmax; averaged over the mirrored copies) that temperature fitting
// scales.
func (p *Predictor) sample(s *torch.Scope, m *unet.Model, x torch.Tensor, train, logits bool) torch.Tensor {
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
	pr := outs[0]
	if !logits {
		if t := p.b.Inference.Temperature; t > 0 && t != 1 {
			pr = s.MulScalar(pr, 1/t)
		}
		pr = s.Softmax(pr, 1)
	}
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
