package ensemble

import (
	"fmt"

	"cmrseg/app/geom"
	"cmrseg/app/study"
	"cmrseg/inference/bundle"
	"cmrseg/inference/preprocess"
)

// Prepared is one 3D volume (one cardiac phase) ready for the network:
// z-scored, resampled in-plane to the bundle's spacing and padded so every
// slice fits the network (package preprocess, which training uses too). It
// is what the network sees, exported so tests and benchmarks can hand
// exactly the same slices to another implementation.
type Prepared = preprocess.Padded

// netGrid is the grid the network runs on for a series on g.
func netGrid(g study.Geometry, pre bundle.Preprocessing) study.Geometry {
	return geom.InPlaneGrid(g, pre.SpacingMM)
}

// prepare returns phase t of s as the network sees it.
func prepare(s *study.Series, t int, pre bundle.Preprocessing, divisor int) (*Prepared, error) {
	if t < 0 || t >= s.NT {
		return nil, fmt.Errorf("phase %d out of range 0..%d", t, s.NT-1)
	}
	p, err := preprocess.ForNetwork(s.Phase(t), s.Geometry, pre.SpacingMM, divisor, pre.PatchSize)
	if err != nil {
		return nil, fmt.Errorf("phase %d: %w", t, err)
	}
	return p, nil
}

// Prepare returns phase t of s exactly as the network sees it, so another
// implementation (the PyTorch reference in tests) can be fed the same slices.
func (p *Predictor) Prepare(s *study.Series, t int) (*Prepared, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("ensemble: %w", err)
	}
	return prepare(s, t, p.b.Preprocessing, p.b.Network.Divisor())
}
