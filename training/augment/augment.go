// Package augment draws nnU-Net-style randomly augmented 2D training
// patches from an image slice and its label slice: crop with foreground
// oversampling, one affine resample (rotation, scaling, mirroring), then
// intensity transforms, deterministic for a given random generator. An
// optional elastic deformation bends the affine sampling grid.
package augment

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// NumLabels bounds the label values (ACDC: 0 bg, 1 RV, 2 MYO, 3 LV).
const NumLabels = 4

// Slice is one 2D image with its labels on the same W×H grid, row-major:
// index = x + W*y. The image is expected z-scored (nnU-Net's MRI
// normalisation), so 0 is a neutral padding value.
type Slice struct {
	W, H   int
	Image  []float32
	Labels []uint8
}

// NewSlice allocates a zero slice.
func NewSlice(w, h int) Slice {
	return Slice{W: w, H: h, Image: make([]float32, w*h), Labels: make([]uint8, w*h)}
}

func (s Slice) check(what string) error {
	if s.W <= 0 || s.H <= 0 {
		return fmt.Errorf("augment: %s is %d×%d pixels", what, s.W, s.H)
	}
	if len(s.Image) != s.W*s.H || len(s.Labels) != s.W*s.H {
		return fmt.Errorf("augment: %s is %d×%d but has %d image and %d label values", what, s.W, s.H, len(s.Image), len(s.Labels))
	}
	return nil
}

// Oversample says whether sample i of a batch must be centred on
// foreground: the last round(batch·fraction) ones, as nnU-Net v2 does
// (i ≥ round(batch·(1 − fraction))).
func Oversample(i, batch int, fraction float64) bool {
	return float64(i) >= math.Round(float64(batch)*(1-fraction))
}

// Augmenter draws patches of one size. It keeps scratch buffers, so use
// one per goroutine.
type Augmenter struct {
	P         Params
	PatchW    int
	PatchH    int
	tmp, tmp2 []float32 // blur and low-resolution scratch
	dx, dy    []float32 // elastic displacement, patch pixels
	kernel    []float32
	cols      []lerp
	fgCount   [NumLabels]int
}

// New checks the parameters and the patch size.
func New(p Params, patchW, patchH int) (*Augmenter, error) {
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("augment.%w", err)
	}
	if patchW <= 0 || patchH <= 0 {
		return nil, fmt.Errorf("augment: patch size %d×%d must be positive", patchW, patchH)
	}
	n := patchW * patchH
	return &Augmenter{P: p, PatchW: patchW, PatchH: patchH, tmp: make([]float32, n), tmp2: make([]float32, n)}, nil
}

// spatial is the affine map from patch pixel (u, v) to source position:
// src = centre + Scale·R(angle)·flip(u − W/2, v − H/2).
type spatial struct {
	CX, CY       float64
	Angle, Scale float64 // radians, factor
	FlipX, FlipY bool
}

func (s spatial) identity() bool {
	return s.Angle == 0 && s.Scale == 1 && !s.FlipX && !s.FlipY
}

// Sample writes one augmented patch of src into dst (PatchW×PatchH,
// allocated when its size is wrong). With foreground set and any label > 0
// in src, the patch is centred on a random foreground pixel of a random
// present class; otherwise the centre is uniform over the positions that
// keep the patch inside the slice (or the slice centred in the patch).
func (a *Augmenter) Sample(dst *Slice, src Slice, foreground bool, rng *rand.Rand) error {
	if err := src.check("source slice"); err != nil {
		return err
	}
	if dst.W != a.PatchW || dst.H != a.PatchH || len(dst.Image) != a.PatchW*a.PatchH || len(dst.Labels) != a.PatchW*a.PatchH {
		*dst = NewSlice(a.PatchW, a.PatchH)
	}
	cx, cy, err := a.centre(src, foreground, rng)
	if err != nil {
		return err
	}
	sp := spatial{CX: float64(cx), CY: float64(cy), Scale: 1}
	var dx, dy []float32
	p := a.P
	if p.Rotation.P > 0 && rng.Float64() < p.Rotation.P {
		sp.Angle = uniform(rng, p.Rotation) * math.Pi / 180
	}
	if p.Scaling.P > 0 && rng.Float64() < p.Scaling.P {
		sp.Scale = uniform(rng, p.Scaling)
	}
	if p.MirrorP > 0 {
		sp.FlipX = rng.Float64() < p.MirrorP
		sp.FlipY = rng.Float64() < p.MirrorP
	}
	if hit(rng, p.Elastic.P) {
		alpha := uniform(rng, p.Elastic.alphaRange())
		sigma := uniform(rng, p.Elastic.sigmaRange())
		dx, dy = a.elasticField(alpha, sigma, rng)
	}
	resample(dst, src, sp, dx, dy)
	a.intensity(dst, rng)
	return nil
}

// centre picks the source pixel that lands on patch pixel (W/2, H/2).
func (a *Augmenter) centre(src Slice, foreground bool, rng *rand.Rand) (int, int, error) {
	a.fgCount = [NumLabels]int{}
	for i, l := range src.Labels {
		if l >= NumLabels {
			return 0, 0, fmt.Errorf("augment: label %d at pixel (%d,%d) is outside 0..%d", l, i%src.W, i/src.W, NumLabels-1)
		}
		a.fgCount[l]++
	}
	if foreground {
		var present [NumLabels]uint8
		np := 0
		for c := uint8(1); c < NumLabels; c++ {
			if a.fgCount[c] > 0 {
				present[np] = c
				np++
			}
		}
		if np > 0 {
			c := present[rng.IntN(np)]
			k := rng.IntN(a.fgCount[c])
			for i, l := range src.Labels {
				if l == c {
					if k == 0 {
						return i % src.W, i / src.W, nil
					}
					k--
				}
			}
		}
	}
	return randomCentre(src.W, a.PatchW, rng), randomCentre(src.H, a.PatchH, rng), nil
}

// randomCentre draws the top-left offset so the patch stays inside the
// slice when it fits, and centres the slice in the patch when it does not.
func randomCentre(size, patch int, rng *rand.Rand) int {
	if size <= patch {
		return (size-patch)/2 + patch/2 // slice centred in the patch
	}
	return rng.IntN(size-patch+1) + patch/2
}

// elasticField draws the displacement of every patch pixel, one field per
// axis: smoothed uniform noise times alpha. The slices are the
// Augmenter's, valid until the next call.
func (a *Augmenter) elasticField(alpha, sigma float64, rng *rand.Rand) (dx, dy []float32) {
	n := a.PatchW * a.PatchH
	if len(a.dx) != n {
		a.dx, a.dy = make([]float32, n), make([]float32, n)
	}
	for _, f := range [][]float32{a.dx, a.dy} {
		for i := range f {
			f[i] = float32(2*rng.Float64() - 1)
		}
		a.blur(f, a.PatchW, a.PatchH, sigma)
		for i := range f {
			f[i] *= float32(alpha)
		}
	}
	return a.dx, a.dy
}

// resample fills dst from src by the affine map, after displacing patch
// pixel i by (dx[i], dy[i]) when dx is not nil: bilinear for the image,
// nearest for the labels, zero outside the source.
func resample(dst *Slice, src Slice, sp spatial, dx, dy []float32) {
	w, h := dst.W, dst.H
	if sp.identity() && dx == nil {
		x0, y0 := int(sp.CX)-w/2, int(sp.CY)-h/2
		for v := 0; v < h; v++ {
			row := dst.Image[v*w : (v+1)*w]
			lrow := dst.Labels[v*w : (v+1)*w]
			y := y0 + v
			if y < 0 || y >= src.H {
				clear(row)
				clear(lrow)
				continue
			}
			for u := range row {
				x := x0 + u
				if x < 0 || x >= src.W {
					row[u], lrow[u] = 0, 0
				} else {
					row[u], lrow[u] = src.Image[x+src.W*y], src.Labels[x+src.W*y]
				}
			}
		}
		return
	}
	cos, sin := snap(math.Cos(sp.Angle)), snap(math.Sin(sp.Angle))
	// Columns of the matrix mapping (du, dv) to source offsets.
	ax, ay := sp.Scale*cos, sp.Scale*sin  // d/du
	bx, by := -sp.Scale*sin, sp.Scale*cos // d/dv
	if sp.FlipX {
		ax, ay = -ax, -ay
	}
	if sp.FlipY {
		bx, by = -bx, -by
	}
	sw, sh := src.W, src.H
	for v := 0; v < h; v++ {
		dv := float64(v - h/2)
		x := sp.CX + bx*dv - ax*float64(w/2)
		y := sp.CY + by*dv - ay*float64(w/2)
		for u := 0; u < w; u++ {
			i := u + w*v
			xs, ys := x, y // this pixel's source position
			if dx != nil {
				xs += ax*float64(dx[i]) + bx*float64(dy[i])
				ys += ay*float64(dx[i]) + by*float64(dy[i])
			}
			// nearest label
			xn, yn := floor(xs+0.5), floor(ys+0.5)
			if xn >= 0 && xn < sw && yn >= 0 && yn < sh {
				dst.Labels[i] = src.Labels[xn+sw*yn]
			} else {
				dst.Labels[i] = 0
			}
			// bilinear image, zero outside
			x0, y0 := floor(xs), floor(ys)
			tx, ty := float32(xs-float64(x0)), float32(ys-float64(y0))
			var v00, v10, v01, v11 float32
			if x0 >= 0 && y0 >= 0 && x0+1 < sw && y0+1 < sh {
				j := x0 + sw*y0
				v00, v10, v01, v11 = src.Image[j], src.Image[j+1], src.Image[j+sw], src.Image[j+sw+1]
			} else if x0 >= -1 && y0 >= -1 && x0 < sw && y0 < sh {
				v00, v10 = at(src, x0, y0), at(src, x0+1, y0)
				v01, v11 = at(src, x0, y0+1), at(src, x0+1, y0+1)
			}
			top := v00 + (v10-v00)*tx
			bot := v01 + (v11-v01)*tx
			dst.Image[i] = top + (bot-top)*ty
			x += ax
			y += ay
		}
	}
}

// floor is math.Floor to int without its NaN/Inf checks (coordinates are
// finite by construction).
func floor(x float64) int {
	i := int(x)
	if float64(i) > x {
		i--
	}
	return i
}

func at(s Slice, x, y int) float32 {
	if x < 0 || y < 0 || x >= s.W || y >= s.H {
		return 0
	}
	return s.Image[x+s.W*y]
}

// snap makes sin/cos of multiples of 90° exact, so a quarter turn moves
// pixels onto pixels instead of blending them by 1e-17.
func snap(x float64) float64 {
	for _, v := range []float64{-1, 0, 1} {
		if math.Abs(x-v) < 1e-12 {
			return v
		}
	}
	return x
}

func uniform(rng *rand.Rand, r Range) float64 {
	return r.Min + (r.Max-r.Min)*rng.Float64()
}

// MirrorX flips s left–right in place.
func MirrorX(s Slice) {
	for y := 0; y < s.H; y++ {
		row, lrow := s.Image[y*s.W:(y+1)*s.W], s.Labels[y*s.W:(y+1)*s.W]
		for i, j := 0, s.W-1; i < j; i, j = i+1, j-1 {
			row[i], row[j] = row[j], row[i]
			lrow[i], lrow[j] = lrow[j], lrow[i]
		}
	}
}

// MirrorY flips s top–bottom in place.
func MirrorY(s Slice) {
	for i, j := 0, s.H-1; i < j; i, j = i+1, j-1 {
		a, b := s.Image[i*s.W:(i+1)*s.W], s.Image[j*s.W:(j+1)*s.W]
		for x := range a {
			a[x], b[x] = b[x], a[x]
		}
		la, lb := s.Labels[i*s.W:(i+1)*s.W], s.Labels[j*s.W:(j+1)*s.W]
		for x := range la {
			la[x], lb[x] = lb[x], la[x]
		}
	}
}
