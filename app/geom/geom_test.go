package geom

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"cmrseg/app/study"
)

// oblique is a rotated, non-cubic grid like a real short-axis stack.
func oblique(nx, ny, nz int) study.Geometry {
	c, s := math.Cos(0.4), math.Sin(0.4)
	return study.Geometry{
		Dims:    [3]int{nx, ny, nz},
		Spacing: [3]float64{1.5625, 1.5625, 10},
		Origin:  [3]float64{-150, 40, 12},
		Direction: [3][3]float64{
			{c, s, 0},
			{-s * 0.6, c * 0.6, 0.8},
			{s * 0.8, -c * 0.8, 0.6},
		},
	}
}

// fill evaluates f at the LPS position of every voxel.
func fill(g study.Geometry, f func(p [3]float64) float64) []float32 {
	out := make([]float32, g.N())
	for k := 0; k < g.Dims[2]; k++ {
		for j := 0; j < g.Dims[1]; j++ {
			for i := 0; i < g.Dims[0]; i++ {
				out[i+g.Dims[0]*(j+g.Dims[1]*k)] = float32(f(g.VoxelToWorld(float64(i), float64(j), float64(k))))
			}
		}
	}
	return out
}

func TestWorldToVoxelInverts(t *testing.T) {
	g := oblique(10, 10, 5)
	g.Direction[1] = [3]float64{0.1, 0.9, 0.3} // not even orthogonal
	r := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		v := [3]float64{r.Float64()*300 - 50, r.Float64()*300 - 50, r.Float64()*20 - 5}
		back := g.WorldToVoxel(g.VoxelToWorld(v[0], v[1], v[2]))
		for a := range 3 {
			if math.Abs(back[a]-v[a]) > 1e-9 {
				t.Fatalf("%v -> %v", v, back)
			}
		}
	}
}

func TestInPlaneGrid(t *testing.T) {
	g := oblique(216, 256, 10)
	h := InPlaneGrid(g, [2]float64{1.25, 1.25})
	// 216*1.5625 = 337.5 mm -> 270 pixels of exactly 1.25 mm.
	if h.Dims != [3]int{270, 320, 10} || h.Spacing != [3]float64{1.25, 1.25, 10} || h.Direction != g.Direction {
		t.Fatalf("grid %v spacing %v", h.Dims, h.Spacing)
	}
	// The outer corner of the field of view is the same point.
	a, b := g.VoxelToWorld(-0.5, -0.5, 0), h.VoxelToWorld(-0.5, -0.5, 0)
	c, d := g.VoxelToWorld(215.5, 255.5, 9), h.VoxelToWorld(269.5, 319.5, 9)
	for r := range 3 {
		if math.Abs(a[r]-b[r]) > 1e-9 || math.Abs(c[r]-d[r]) > 1e-9 {
			t.Fatalf("field of view moved: %v vs %v, %v vs %v", a, b, c, d)
		}
	}
	// A spacing that does not divide the field of view is rounded to whole pixels.
	h = InPlaneGrid(g, [2]float64{1.4, 1.4})
	if h.Dims[0] != 241 || math.Abs(h.Spacing[0]*241-337.5) > 1e-9 {
		t.Errorf("1.4 mm: %v %v", h.Dims, h.Spacing)
	}
}

// A linear ramp in patient space is reproduced exactly by bilinear
// resampling wherever the target pixel lies within the source's centres.
func TestLinearRampIsExact(t *testing.T) {
	g := oblique(40, 30, 3)
	ramp := func(p [3]float64) float64 { return 100 + 0.7*p[0] - 1.3*p[1] + 0.4*p[2] }
	src := fill(g, ramp)
	for _, sp := range []float64{0.6, 1.0, 2.3, 3.1} {
		to := InPlaneGrid(g, [2]float64{sp, sp})
		out, err := Image(src, 1, g, to, Linear)
		if err != nil {
			t.Fatal(err)
		}
		want := fill(to, ramp)
		worst, n := 0.0, 0
		for k := range to.Dims[2] {
			for j := range to.Dims[1] {
				for i := range to.Dims[0] {
					v := g.WorldToVoxel(to.VoxelToWorld(float64(i), float64(j), float64(k)))
					if v[0] < 0 || v[1] < 0 || v[0] > float64(g.Dims[0]-1) || v[1] > float64(g.Dims[1]-1) {
						continue // edge half-pixel: clamped, not interpolated
					}
					idx := i + to.Dims[0]*(j+to.Dims[1]*k)
					worst = max(worst, math.Abs(float64(out[idx]-want[idx])))
					n++
				}
			}
		}
		t.Logf("spacing %.1f mm: %d interior voxels, max error %.2g", sp, n, worst)
		if worst > 1e-3 || n < to.N()/2 {
			t.Errorf("spacing %.1f: ramp error %g over %d voxels", sp, worst, n)
		}
	}
}

// Round trips of a smooth blob through finer and coarser grids stay
// within stated bounds (relative to the peak).
func TestRoundTripError(t *testing.T) {
	g := oblique(96, 80, 2)
	centre := g.VoxelToWorld(45, 41, 0.5)
	blob := func(p [3]float64) float64 {
		d := 0.0
		for a := range 2 { // in-plane-ish Gaussian, 15 mm wide
			d += (p[a] - centre[a]) * (p[a] - centre[a])
		}
		return 1000 * math.Exp(-d/(2*15*15))
	}
	src := fill(g, blob)
	for _, c := range []struct{ spacing, bound float64 }{{0.7, 0.005}, {1.0, 0.005}, {3.0, 0.03}} {
		to := InPlaneGrid(g, [2]float64{c.spacing, c.spacing})
		mid, err := Image(src, 1, g, to, Linear)
		if err != nil {
			t.Fatal(err)
		}
		back, err := Image(mid, 1, to, g, Linear)
		if err != nil {
			t.Fatal(err)
		}
		worst := 0.0
		for i := range src {
			worst = max(worst, math.Abs(float64(back[i]-src[i]))/1000)
		}
		t.Logf("via %.1f mm: max round-trip error %.3f %% of peak", c.spacing, 100*worst)
		if worst > c.bound {
			t.Errorf("via %.1f mm: error %.4f of peak, bound %.4f", c.spacing, worst, c.bound)
		}
	}
}

func TestLabelsAndProbs(t *testing.T) {
	g := oblique(64, 48, 2)
	l := &study.Labels{Geometry: g, Data: make([]uint8, g.N())}
	for k := range 2 {
		for j := range 48 {
			for i := range 64 {
				d := math.Hypot(float64(i-30), float64(j-24))
				v := uint8(0)
				switch {
				case d < 8:
					v = 3
				case d < 12:
					v = 2
				case d < 18 && i < 30:
					v = 1
				}
				l.Data[i+64*(j+48*k)] = v
			}
		}
	}
	// Nearest at exactly twice the resolution and back is lossless.
	fine := InPlaneGrid(g, [2]float64{g.Spacing[0] / 2, g.Spacing[1] / 2})
	up, err := Labels(l, fine)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Labels(up, g)
	if err != nil {
		t.Fatal(err)
	}
	for i := range l.Data {
		if back.Data[i] != l.Data[i] {
			t.Fatalf("voxel %d: %d -> %d", i, l.Data[i], back.Data[i])
		}
	}
	// Probabilities resampled per class still sum to one, and their argmax
	// agrees with nearest-resampled labels away from boundaries.
	p := &Probs{Geometry: g, Classes: 4, Data: make([]float32, 4*g.N())}
	for i, v := range l.Data {
		p.Class(int(v))[i] = 1
	}
	rp, err := p.Resample(InPlaneGrid(g, [2]float64{1.1, 1.1}))
	if err != nil {
		t.Fatal(err)
	}
	nl, _ := Labels(l, rp.Geometry)
	am := rp.Argmax()
	differ := 0
	for i := range am.Data {
		sum := float32(0)
		for c := range 4 {
			sum += rp.Class(c)[i]
		}
		if math.Abs(float64(sum-1)) > 1e-5 {
			t.Fatalf("voxel %d: probabilities sum to %g", i, sum)
		}
		if am.Data[i] != nl.Data[i] {
			differ++
		}
	}
	if frac := float64(differ) / float64(len(am.Data)); frac > 0.03 {
		t.Errorf("argmax differs from nearest labels at %.1f %% of voxels", 100*frac)
	}
}

func TestPointsAndErrors(t *testing.T) {
	g := oblique(40, 30, 6)
	to := InPlaneGrid(g, [2]float64{1, 1})
	p := PointOnSlice(g, 4, 12.5, 7.25)
	x, y, k, off := Project(g, p)
	if math.Abs(x-12.5) > 1e-9 || math.Abs(y-7.25) > 1e-9 || k != 4 || math.Abs(off) > 1e-9 {
		t.Errorf("Project = %g %g %d %g", x, y, k, off)
	}
	// 3 mm along the slice normal is 3 mm off slice 4.
	q := [3]float64{p[0] + 3*g.Direction[2][0], p[1] + 3*g.Direction[2][1], p[2] + 3*g.Direction[2][2]}
	if _, _, k, off := Project(g, q); k != 4 || math.Abs(off-3) > 1e-9 {
		t.Errorf("off-plane: slice %d off %g", k, off)
	}
	// Pixel x lies (x+0.5)*spacing mm from the field of view's edge, on either grid.
	x2, y2, k2 := MapInPlane(g, 4, 12.5, 7.25, to)
	if math.Abs(x2-(13*1.5625/to.Spacing[0]-0.5)) > 1e-9 || math.Abs(y2-(7.75*1.5625/to.Spacing[1]-0.5)) > 1e-9 || k2 != 4 {
		t.Errorf("MapInPlane = %g %g %d", x2, y2, k2)
	}
	// Grids that do not share slices are refused.
	shifted := to
	shifted.Origin[0] += 5 * g.Direction[2][0]
	shifted.Origin[1] += 5 * g.Direction[2][1]
	shifted.Origin[2] += 5 * g.Direction[2][2]
	if _, err := Image(make([]float32, g.N()), 1, g, shifted, Linear); err == nil || !strings.Contains(err.Error(), "in-plane") {
		t.Errorf("shifted slices: %v", err)
	}
	if _, err := Image(make([]float32, 3), 1, g, to, Linear); err == nil {
		t.Error("wrong data length accepted")
	}
}
