// Package geom moves images between voxel grids and patient space:
// in-plane resampling to a target spacing and back (bilinear for images
// and per-class probabilities, nearest for labels), and point mapping
// between slices, pixels and LPS millimetres. Every function states the
// grid it produces; none passes bare voxels without one.
package geom

import (
	"fmt"
	"math"

	"cmrseg/app/study"
)

// Interp chooses how a value between voxel centres is computed.
type Interp int

const (
	Linear  Interp = iota // bilinear in-plane: images, probabilities
	Nearest               // nearest voxel: labels
)

// Probs are per-class probability volumes on a grid, class-major:
// Data[c*N + voxel].
type Probs struct {
	study.Geometry
	Classes int
	Data    []float32
}

// Class returns class c's volume, aliasing Data.
func (p *Probs) Class(c int) []float32 { n := p.N(); return p.Data[c*n : (c+1)*n] }

// InPlaneGrid is the grid covering the same field of view as g with
// in-plane pixels as close to spacing (mm) as a whole number of pixels
// allows; the slices are unchanged. The actual spacing is the field of
// view divided by the new pixel count, so the edges of the field of view
// coincide exactly (nnU-Net's resampling does the same).
func InPlaneGrid(g study.Geometry, spacing [2]float64) study.Geometry {
	out := g
	for a := 0; a < 2; a++ {
		fov := float64(g.Dims[a]) * g.Spacing[a]
		// Clamped so a forged spacing cannot overflow int (1e30 mm once
		// gave a one-pixel grid); Image refuses the clamped size.
		n := max(1, int(math.Min(math.Round(fov/spacing[a]), 1<<31)))
		if math.IsNaN(fov / spacing[a]) {
			n = 1 << 31
		}
		out.Dims[a] = n
		out.Spacing[a] = fov / float64(n)
	}
	// Keep the outer edge of pixel (0,0) fixed: the old centre sits half an
	// old pixel inside it, the new one half a new pixel.
	for r := 0; r < 3; r++ {
		out.Origin[r] = g.Origin[r]
		for a := 0; a < 2; a++ {
			out.Origin[r] += g.Direction[a][r] * (out.Spacing[a] - g.Spacing[a]) / 2
		}
	}
	return out
}

// Image resamples nt volumes on grid from (laid out like Series.Data) to
// grid to, in-plane, with interp. The grids must share their slices.
// Points up to half a pixel outside from's field of view take the edge
// value; points further out are 0.
func Image(data []float32, nt int, from, to study.Geometry, interp Interp) ([]float32, error) {
	if len(data) != nt*from.N() {
		return nil, fmt.Errorf("geom: %d values for %d volumes of %v", len(data), nt, from.Dims)
	}
	if err := checkGrid(to, nt); err != nil {
		return nil, err
	}
	m, err := inPlaneMap(from, to)
	if err != nil {
		return nil, err
	}
	out := make([]float32, nt*to.N())
	nIn, nOut := from.N(), to.N()
	for v := 0; v < nt; v++ {
		sample(data[v*nIn:(v+1)*nIn], from.Dims, out[v*nOut:(v+1)*nOut], to.Dims, m, interp)
	}
	return out, nil
}

// Series resamples every phase of s bilinearly onto grid to; the result
// keeps s's timing, phases and metadata but not its Source (the file's
// header describes the old grid).
func Series(s *study.Series, to study.Geometry) (*study.Series, error) {
	data, err := Image(s.Data, s.NT, s.Geometry, to, Linear)
	if err != nil {
		return nil, err
	}
	out := *s
	out.Geometry, out.Data, out.Source = to, data, nil
	return &out, nil
}

// Labels resamples a label map onto grid to by nearest neighbour.
func Labels(l *study.Labels, to study.Geometry) (*study.Labels, error) {
	f := make([]float32, len(l.Data))
	for i, v := range l.Data {
		f[i] = float32(v)
	}
	out, err := Image(f, 1, l.Geometry, to, Nearest)
	if err != nil {
		return nil, err
	}
	res := &study.Labels{Geometry: to, Data: make([]uint8, len(out))}
	for i, v := range out {
		res.Data[i] = uint8(v)
	}
	return res, nil
}

// Resample resamples each class bilinearly onto grid to. Bilinear weights
// sum to one, so probabilities still sum to one per voxel; take Argmax
// afterwards, never before (resampling a hard label loses the boundary).
func (p *Probs) Resample(to study.Geometry) (*Probs, error) {
	data, err := Image(p.Data, p.Classes, p.Geometry, to, Linear)
	if err != nil {
		return nil, err
	}
	return &Probs{Geometry: to, Classes: p.Classes, Data: data}, nil
}

// Argmax is the label map of the most probable class (the lower class on ties).
func (p *Probs) Argmax() *study.Labels {
	n := p.N()
	l := &study.Labels{Geometry: p.Geometry, Data: make([]uint8, n)}
	for i := 0; i < n; i++ {
		best := 0
		for c := 1; c < p.Classes; c++ {
			if p.Data[c*n+i] > p.Data[best*n+i] {
				best = c
			}
		}
		l.Data[i] = uint8(best)
	}
	return l
}

// affine2 maps a destination pixel (i, j) to source pixel coordinates.
type affine2 struct{ x0, xi, xj, y0, yi, yj float64 }

// inPlaneMap checks that slice k of to lies on slice k of from and
// returns the (shared) in-plane pixel mapping.
func inPlaneMap(from, to study.Geometry) (affine2, error) {
	if from.Dims[2] != to.Dims[2] {
		return affine2{}, fmt.Errorf("geom: grids have %d and %d slices; only in-plane resampling is supported", from.Dims[2], to.Dims[2])
	}
	src := func(i, j, k float64) [3]float64 { return from.WorldToVoxel(to.VoxelToWorld(i, j, k)) }
	var m affine2
	for k := 0; k < to.Dims[2]; k++ {
		o, a, b := src(0, 0, float64(k)), src(1, 0, float64(k)), src(0, 1, float64(k))
		for _, p := range [][3]float64{o, a, b} {
			if math.IsNaN(p[2]) || math.Abs(p[2]-float64(k)) > 1e-3 {
				return affine2{}, fmt.Errorf("geom: slice %d of the target grid is not on slice %d of the source (source k = %.4g); only in-plane resampling is supported", k, k, p[2])
			}
		}
		if k == 0 {
			m = affine2{o[0], a[0] - o[0], b[0] - o[0], o[1], a[1] - o[1], b[1] - o[1]}
		} else if math.Abs(o[0]-m.x0) > 1e-3 || math.Abs(o[1]-m.y0) > 1e-3 {
			return affine2{}, fmt.Errorf("geom: the grids' slices are shifted in-plane differently at slice %d", k)
		}
	}
	return m, nil
}

func sample(src []float32, sd [3]int, dst []float32, dd [3]int, m affine2, interp Interp) {
	nx, ny := sd[0], sd[1]
	for k := 0; k < dd[2]; k++ {
		plane := src[k*nx*ny : (k+1)*nx*ny]
		for j := 0; j < dd[1]; j++ {
			for i := 0; i < dd[0]; i++ {
				x := m.x0 + float64(i)*m.xi + float64(j)*m.xj
				y := m.y0 + float64(i)*m.yi + float64(j)*m.yj
				var v float32
				if x >= -0.5 && y >= -0.5 && x <= float64(nx)-0.5 && y <= float64(ny)-0.5 {
					x, y = clamp(x, nx), clamp(y, ny)
					if interp == Nearest {
						v = plane[int(math.Round(x))+nx*int(math.Round(y))]
					} else {
						v = bilinear(plane, nx, ny, x, y)
					}
				}
				dst[i+dd[0]*(j+dd[1]*k)] = v
			}
		}
	}
}

func clamp(x float64, n int) float64 { return min(max(x, 0), float64(n-1)) }

func bilinear(p []float32, nx, ny int, x, y float64) float32 {
	x0, y0 := min(int(x), nx-2), min(int(y), ny-2)
	if nx == 1 {
		x0 = 0
	}
	if ny == 1 {
		y0 = 0
	}
	fx, fy := x-float64(x0), y-float64(y0)
	at := func(i, j int) float64 { return float64(p[min(i, nx-1)+nx*min(j, ny-1)]) }
	top := at(x0, y0)*(1-fx) + at(x0+1, y0)*fx
	bot := at(x0, y0+1)*(1-fx) + at(x0+1, y0+1)*fx
	return float32(top*(1-fy) + bot*fy)
}

// PointOnSlice is the LPS position of in-plane pixel coordinates (x, y)
// (continuous; integers are pixel centres) on slice k of g.
func PointOnSlice(g study.Geometry, k int, x, y float64) [3]float64 {
	return g.VoxelToWorld(x, y, float64(k))
}

// Project finds where an LPS point falls on g: its in-plane pixel
// coordinates, the nearest slice and the distance in mm from that
// slice's plane (signed along the slice normal).
func Project(g study.Geometry, p [3]float64) (x, y float64, k int, offMM float64) {
	v := g.WorldToVoxel(p)
	k = int(math.Round(v[2]))
	return v[0], v[1], k, (v[2] - float64(k)) * g.Spacing[2]
}

// MapInPlane maps pixel coordinates (x, y) on slice k of grid from to the
// pixel coordinates of the same point on grid to (e.g. a contour drawn on
// a resampled image back to the original); k2 is its slice on to.
func MapInPlane(from study.Geometry, k int, x, y float64, to study.Geometry) (x2, y2 float64, k2 int) {
	x2, y2, k2, _ = Project(to, PointOnSlice(from, k, x, y))
	return x2, y2, k2
}
