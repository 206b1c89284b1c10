package ensemble

import (
	"context"
	"fmt"
	"slices"

	"cmrseg/app/study"
	"cmrseg/inference/torch"
)

// Logits is one checkpoint's logits for one phase, on the series' own
// grid, as the deployed path produces them (see CheckpointLogits).
type Logits struct {
	Classes int
	// Data is class-major: the logit of class c at voxel i is Data[c*N+i],
	// N the series' voxels per phase.
	Data []float32
	// Inside marks the voxels whose every resampling neighbour lies in the
	// region the network ran on. Outside it the deployed prediction is
	// background with probability 1 whatever the logits or temperature, so
	// only Inside voxels tell a temperature anything.
	Inside []bool
	// Region is the tiling used, in the words of Predictor.Region.
	Region string
}

// CheckpointLogits runs checkpoint ci (an index into the bundle's
// checkpoints) alone, once (dropout off), on phase t of s along the path
// Predict takes: the same preprocessing, heart-region localisation (by
// the first checkpoint of the sample order), tiling, region growth,
// mirroring, Gaussian tile blending, crop and bilinear resampling to the
// series' grid. It stops
// short of temperature and softmax, so the blending and resampling act on
// logits where Predict's act on probabilities; where one tile covers a
// voxel on the network grid, softmax(Logits/T) is what Predict would give
// with temperature T. Temperature scaling fits T on these, so it sees the
// logits the window and `cmrseg segment` compute, not a whole-slice pass.
func (p *Predictor) CheckpointLogits(ctx context.Context, s *study.Series, t, ci int) (*Logits, error) {
	if ci < 0 || ci >= len(p.models) {
		return nil, fmt.Errorf("ensemble: checkpoint %d of %d", ci, len(p.models))
	}
	prep, tl, err := p.logitsStart(ctx, s, t)
	if err != nil {
		return nil, err
	}
	return p.checkpointLogits(ctx, s, t, ci, prep, tl)
}

// AllCheckpointLogits is CheckpointLogits for every checkpoint in bundle
// order, sharing one preprocessing and one heart-region localisation
// (the first checkpoint's, as each single call does), so fitting a
// temperature runs the localisation once per volume instead of once per
// checkpoint. Its results equal the single calls'.
func (p *Predictor) AllCheckpointLogits(ctx context.Context, s *study.Series, t int) ([]*Logits, error) {
	prep, tl, err := p.logitsStart(ctx, s, t)
	if err != nil {
		return nil, err
	}
	out := make([]*Logits, len(p.models))
	for ci := range out {
		if out[ci], err = p.checkpointLogits(ctx, s, t, ci, prep, tl); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// logitsStart prepares phase t and finds the tiling every checkpoint starts from.
func (p *Predictor) logitsStart(ctx context.Context, s *study.Series, t int) (*Prepared, tiling, error) {
	prep, err := p.Prepare(s, t)
	if err != nil {
		return nil, tiling{}, fmt.Errorf("ensemble: series %q: %w", s.Meta.SeriesDescription, err)
	}
	tl, err := p.tilingFor(ctx, prep)
	if err != nil {
		return nil, tiling{}, p.wrap(ctx, s, t, err)
	}
	return prep, tl, nil
}

// checkpointLogits runs checkpoint ci from tiling tl, growing the region
// as this checkpoint's own argmax asks.
func (p *Predictor) checkpointLogits(ctx context.Context, s *study.Series, t, ci int, prep *Prepared, tl tiling) (*Logits, error) {
	g := &group{phases: []int{t}, preps: []*Prepared{prep}, out: s.Geometry, logits: true, logitsOf: ci}
	var data []float32
	for {
		var grown *tiling
		err := p.run(ctx, g, tl, func(_ int, z []float32) bool {
			// The argmax of logits is that of their softmax, so the
			// region grows as Predict's would for this checkpoint.
			if grown = p.grownFor(tl, z, s.Geometry, prep); grown != nil {
				return false
			}
			data = z
			return true
		})
		if err != nil {
			return nil, p.wrap(ctx, s, t, err)
		}
		if grown == nil {
			break
		}
		tl = *grown
	}
	// With shifted tiles, this checkpoint's own tile is where it ran.
	inside, err := p.inside(ctx, tl.sample(slices.Index(p.order(), ci)), prep, s.Geometry)
	if err != nil {
		return nil, p.wrap(ctx, s, t, err)
	}
	p.mu.Lock()
	p.regions = []tiling{tl}
	p.mu.Unlock()
	return &Logits{Classes: p.b.Network.Classes, Data: data, Inside: inside, Region: p.Region()}, nil
}

// inside maps tiling t's covered box to the output grid through the same
// crop and resampling as the network's output: a voxel is inside when its
// interpolated coverage is 1.
func (p *Predictor) inside(ctx context.Context, t tiling, prep *Prepared, out study.Geometry) ([]bool, error) {
	n := out.Dims[0] * out.Dims[1] * out.Dims[2]
	in := make([]bool, n)
	if !t.region {
		for i := range in {
			in[i] = true
		}
		return in, nil
	}
	nk, h, w := prep.Grid.Dims[2], prep.Height, prep.Width
	cov := t.covered()
	mask := make([]float32, nk*h*w)
	for k := 0; k < nk; k++ {
		for y := cov.y0; y < cov.y1; y++ {
			for x := cov.x0; x < cov.x1; x++ {
				mask[(k*h+y)*w+x] = 1
			}
		}
	}
	var got []float32
	err := p.w.Do(ctx, func(s *torch.Scope) error {
		s.NoGrad(func() {
			x := s.FromFloat32(mask, int64(nk), 1, int64(h), int64(w))
			got = s.Float32s(p.toOutput(s, x, prep, out))
		})
		return s.Err()
	})
	if err != nil {
		return nil, err
	}
	if len(got) != n {
		return nil, fmt.Errorf("coverage map of %d voxels for a grid of %d", len(got), n)
	}
	for i, v := range got {
		in[i] = v >= 1-1e-5
	}
	return in, nil
}
