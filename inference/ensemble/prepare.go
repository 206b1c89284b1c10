package ensemble

import (
	"fmt"
	"math"

	"cmrseg/app/geom"
	"cmrseg/app/study"
	"cmrseg/inference/bundle"
)

// Prepared is one 3D volume (one cardiac phase) ready for the network:
// z-scored, resampled in-plane to the bundle's spacing and padded so every
// slice fits the network. It is what the network sees, exported so tests
// and benchmarks can hand exactly the same slices to another
// implementation.
type Prepared struct {
	// Grid is the network grid: the input's field of view at the bundle's
	// in-plane spacing (geom.InPlaneGrid), before padding.
	Grid study.Geometry
	// Height and Width are the padded slice size: rows (j) and columns (i).
	Height, Width int
	// PadTop and PadLeft are the rows and columns of padding before the
	// image; the image occupies rows PadTop … PadTop+Grid.Dims[1]-1.
	PadTop, PadLeft int
	// Slices holds Grid.Dims[2] padded slices of Height × Width values,
	// column (i) fastest: Slices[(k*Height+y)*Width+x]. Padding is 0, the
	// mean intensity after z-scoring.
	Slices []float32
	// Mean and Std are the z-score statistics of the source volume.
	Mean, Std float64
}

// padding is nnU-Net's: symmetric (the extra pixel after), to a multiple of
// the network's divisor and at least the training patch.
func padding(grid study.Geometry, divisor int, patch [2]int) (h, w, top, left int) {
	up := func(n int) int { return (n + divisor - 1) / divisor * divisor }
	h = up(max(grid.Dims[1], patch[0]))
	w = up(max(grid.Dims[0], patch[1]))
	return h, w, (h - grid.Dims[1]) / 2, (w - grid.Dims[0]) / 2
}

// netGrid is the grid the network runs on for a series on g.
func netGrid(g study.Geometry, pre bundle.Preprocessing) study.Geometry {
	return geom.InPlaneGrid(g, pre.SpacingMM)
}

// prepare z-scores phase t of s over its whole 3D volume (nnU-Net's MRI
// normalisation: mean and standard deviation of every voxel), resamples it
// bilinearly to the network grid and pads every slice.
func prepare(s *study.Series, t int, pre bundle.Preprocessing, divisor int) (*Prepared, error) {
	if t < 0 || t >= s.NT {
		return nil, fmt.Errorf("phase %d out of range 0..%d", t, s.NT-1)
	}
	vol := s.Phase(t)
	var sum, sq float64
	for _, v := range vol {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("phase %d has a non-finite voxel value %g", t, v)
		}
		sum += float64(v)
	}
	n := float64(len(vol))
	mean := sum / n
	for _, v := range vol {
		d := float64(v) - mean
		sq += d * d
	}
	std := math.Sqrt(sq / n)
	inv := 1 / math.Max(std, 1e-8)
	norm := make([]float32, len(vol))
	for i, v := range vol {
		norm[i] = float32((float64(v) - mean) * inv)
	}
	grid := netGrid(s.Geometry, pre)
	res, err := geom.Image(norm, 1, s.Geometry, grid, geom.Linear)
	if err != nil {
		return nil, err
	}
	h, w, top, left := padding(grid, divisor, pre.PatchSize)
	ni, nj, nk := grid.Dims[0], grid.Dims[1], grid.Dims[2]
	out := make([]float32, nk*h*w)
	for k := 0; k < nk; k++ {
		for j := 0; j < nj; j++ {
			src := res[(k*nj+j)*ni : (k*nj+j+1)*ni]
			copy(out[(k*h+top+j)*w+left:], src)
		}
	}
	return &Prepared{Grid: grid, Height: h, Width: w, PadTop: top, PadLeft: left, Slices: out, Mean: mean, Std: std}, nil
}

// Prepare returns phase t of s exactly as the network sees it, so another
// implementation (the PyTorch reference in tests) can be fed the same slices.
func (p *Predictor) Prepare(s *study.Series, t int) (*Prepared, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("ensemble: %w", err)
	}
	return prepare(s, t, p.b.Preprocessing, p.b.Network.Divisor())
}
