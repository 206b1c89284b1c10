// Package preprocess turns one cardiac phase (a 3D volume) into what the
// U-Net sees, the same way for training, inference, the PyTorch reference
// checks and the training tab's evaluation: z-score over the whole volume
// (nnU-Net's MRI normalisation), bilinear in-plane resampling to the model's
// spacing, and, for inference, symmetric zero padding to a multiple of the
// network's divisor and at least the training patch. It is torch-free, so
// every layer may import it; one home means training and inference cannot
// drift apart (a skew between the two is the classic silent accuracy loss).
package preprocess

import (
	"fmt"
	"math"

	"cmrseg/app/geom"
	"cmrseg/app/study"
)

// Volume is one z-scored volume resampled onto the network grid, unpadded.
type Volume struct {
	// Grid is the network grid: the input's field of view at the model's
	// in-plane spacing (geom.InPlaneGrid), slices unchanged.
	Grid study.Geometry
	// Image holds Grid.N() values, column (i) fastest.
	Image []float32
	// Mean and Std are the z-score statistics of the source volume.
	Mean, Std float64
}

// ZScore returns vol normalised to zero mean and unit standard deviation
// over all its voxels, with the statistics. A non-finite voxel is an error:
// it would turn the whole volume into NaN.
func ZScore(vol []float32) (out []float32, mean, std float64, err error) {
	if len(vol) == 0 {
		return nil, 0, 0, fmt.Errorf("empty volume")
	}
	var sum float64
	for i, v := range vol {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, 0, 0, fmt.Errorf("voxel %d has a non-finite value %g", i, v)
		}
		sum += float64(v)
	}
	n := float64(len(vol))
	mean = sum / n
	var sq float64
	for _, v := range vol {
		d := float64(v) - mean
		sq += d * d
	}
	std = math.Sqrt(sq / n)
	inv := 1 / math.Max(std, 1e-8)
	out = make([]float32, len(vol))
	for i, v := range vol {
		out[i] = float32((float64(v) - mean) * inv)
	}
	return out, mean, std, nil
}

// Resample z-scores vol (on grid g) and resamples it bilinearly onto the
// in-plane grid of the given spacing.
func Resample(vol []float32, g study.Geometry, spacingMM [2]float64) (*Volume, error) {
	if len(vol) != g.N() {
		return nil, fmt.Errorf("%d voxels for grid %v", len(vol), g.Dims)
	}
	z, mean, std, err := ZScore(vol)
	if err != nil {
		return nil, err
	}
	to := geom.InPlaneGrid(g, spacingMM)
	img, err := geom.Image(z, 1, g, to, geom.Linear)
	if err != nil {
		return nil, err
	}
	return &Volume{Grid: to, Image: img, Mean: mean, Std: std}, nil
}

// Padded is a Volume padded for the network: every slice Height × Width,
// the image at rows PadTop… and columns PadLeft…; the padding is 0, the
// mean intensity after z-scoring.
type Padded struct {
	Volume
	Height, Width   int
	PadTop, PadLeft int
	// Slices holds Grid.Dims[2] padded slices: Slices[(k*Height+y)*Width+x].
	Slices []float32
}

// PadSize is nnU-Net's padding of a grid: symmetric (the extra pixel
// after), to a multiple of divisor and at least the training patch (rows,
// columns).
func PadSize(grid study.Geometry, divisor int, patch [2]int) (h, w, top, left int) {
	up := func(n int) int { return (n + divisor - 1) / divisor * divisor }
	h = up(max(grid.Dims[1], patch[0]))
	w = up(max(grid.Dims[0], patch[1]))
	return h, w, (h - grid.Dims[1]) / 2, (w - grid.Dims[0]) / 2
}

// Pad lays v's slices into zero-padded slices of PadSize.
func Pad(v *Volume, divisor int, patch [2]int) *Padded {
	h, w, top, left := PadSize(v.Grid, divisor, patch)
	ni, nj, nk := v.Grid.Dims[0], v.Grid.Dims[1], v.Grid.Dims[2]
	out := make([]float32, nk*h*w)
	for k := 0; k < nk; k++ {
		for j := 0; j < nj; j++ {
			copy(out[(k*h+top+j)*w+left:], v.Image[(k*nj+j)*ni:(k*nj+j+1)*ni])
		}
	}
	return &Padded{Volume: *v, Height: h, Width: w, PadTop: top, PadLeft: left, Slices: out}
}

// ForNetwork is the whole inference preprocessing of one volume: Resample
// then Pad.
func ForNetwork(vol []float32, g study.Geometry, spacingMM [2]float64, divisor int, patch [2]int) (*Padded, error) {
	v, err := Resample(vol, g, spacingMM)
	if err != nil {
		return nil, err
	}
	return Pad(v, divisor, patch), nil
}

// Unpad returns slice k of p without its padding: exactly Volume.Image's
// slice k.
func (p *Padded) Unpad(k int) []float32 {
	ni, nj := p.Grid.Dims[0], p.Grid.Dims[1]
	out := make([]float32, 0, ni*nj)
	for j := 0; j < nj; j++ {
		row := (k*p.Height+p.PadTop+j)*p.Width + p.PadLeft
		out = append(out, p.Slices[row:row+ni]...)
	}
	return out
}
