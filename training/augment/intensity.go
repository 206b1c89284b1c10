package augment

import (
	"math"
	"math/rand/v2"
)

// intensity applies the image-only transforms in nnU-Net v2's order:
// noise, blur, brightness, contrast, low resolution, inverted gamma, gamma.
func (a *Augmenter) intensity(s *Slice, rng *rand.Rand) {
	p := a.P
	img := s.Image
	if hit(rng, p.Noise.P) {
		std := float32(uniform(rng, p.Noise))
		for i := range img {
			img[i] += std * float32(rng.NormFloat64())
		}
	}
	if hit(rng, p.Blur.P) {
		a.blur(img, s.W, s.H, uniform(rng, p.Blur))
	}
	if hit(rng, p.Brightness.P) {
		Brightness(img, float32(uniform(rng, p.Brightness)))
	}
	if hit(rng, p.Contrast.P) {
		Contrast(img, float32(aroundOne(rng, p.Contrast)))
	}
	if hit(rng, p.LowRes.P) {
		a.lowRes(img, s.W, s.H, uniform(rng, p.LowRes))
	}
	if hit(rng, p.GammaInverted.P) {
		Gamma(img, aroundOne(rng, p.GammaInverted), true)
	}
	if hit(rng, p.Gamma.P) {
		Gamma(img, aroundOne(rng, p.Gamma), false)
	}
}

func hit(rng *rand.Rand, p float64) bool { return p > 0 && rng.Float64() < p }

// aroundOne samples as batchgenerators does for contrast and gamma: half
// the time below 1 when the range allows, so shrink and stretch are equally
// likely whatever the range's asymmetry.
func aroundOne(rng *rand.Rand, r Range) float64 {
	if r.Min < 1 && rng.Float64() < 0.5 {
		return r.Min + (math.Min(r.Max, 1)-r.Min)*rng.Float64()
	}
	lo := math.Max(r.Min, 1)
	return lo + (r.Max-lo)*rng.Float64()
}

// Brightness multiplies every pixel by f.
func Brightness(img []float32, f float32) {
	for i := range img {
		img[i] *= f
	}
}

// Contrast scales about the mean by f and clips to the original range.
func Contrast(img []float32, f float32) {
	if len(img) == 0 {
		return
	}
	mean, lo, hi := stats(img)
	m := float32(mean)
	for i, x := range img {
		y := (x-m)*f + m
		img[i] = min(max(y, lo), hi)
	}
}

func stats(img []float32) (mean float64, lo, hi float32) {
	lo, hi = img[0], img[0]
	for _, x := range img {
		mean += float64(x)
		lo = min(lo, x)
		hi = max(hi, x)
	}
	return mean / float64(len(img)), lo, hi
}

// Gamma maps the image to [0, 1] by its range, raises it to g, maps it
// back and restores the original mean and standard deviation
// (batchgenerators' retain_stats). invert applies it to −img instead.
func Gamma(img []float32, g float64, invert bool) {
	if len(img) == 0 {
		return
	}
	sign := float32(1)
	if invert {
		sign = -1
	}
	mean0, sd0 := meanStd(img, sign)
	_, lo, hi := stats(img)
	if invert {
		lo, hi = -hi, -lo
	}
	rng := float64(hi - lo)
	const eps = 1e-7
	pow := newPowTable(g)
	inv := 1 / (rng + eps)
	var sum, sum2 float64
	for i, x := range img {
		t := float64(sign*x-lo) * inv
		y := pow.at(t)*rng + float64(lo)
		img[i] = float32(y)
		sum += y
		sum2 += y * y
	}
	n := float64(len(img))
	m1 := sum / n
	sd1 := math.Sqrt(math.Max(sum2/n-m1*m1, 0))
	scale := sd0 / (sd1 + 1e-8)
	for i, y := range img {
		img[i] = sign * float32((float64(y)-m1)*scale+mean0)
	}
}

func meanStd(img []float32, sign float32) (float64, float64) {
	var s, s2 float64
	for _, x := range img {
		v := float64(sign * x)
		s += v
		s2 += v * v
	}
	n := float64(len(img))
	m := s / n
	return m, math.Sqrt(math.Max(s2/n-m*m, 0))
}

// blur is a separable Gaussian (radius 4σ, scipy's 'reflect' border).
func (a *Augmenter) blur(img []float32, w, h int, sigma float64) {
	r := int(4*sigma + 0.5)
	a.kernel = a.kernel[:0]
	var sum float64
	for i := -r; i <= r; i++ {
		k := math.Exp(-float64(i*i) / (2 * sigma * sigma))
		a.kernel = append(a.kernel, float32(k))
		sum += k
	}
	for i := range a.kernel {
		a.kernel[i] /= float32(sum)
	}
	tmp := a.scratch(len(img))
	k := a.kernel
	for y := 0; y < h; y++ { // rows into tmp
		row := img[y*w : (y+1)*w]
		out := tmp[y*w : (y+1)*w]
		for x := 0; x < w; x++ {
			var acc float32
			if x-r >= 0 && x+r < w {
				for t, kv := range k {
					acc += kv * row[x-r+t]
				}
			} else {
				for t, kv := range k {
					acc += kv * row[reflect(x-r+t, w)]
				}
			}
			out[x] = acc
		}
	}
	for y := 0; y < h; y++ { // columns back into img
		out := img[y*w : (y+1)*w]
		clear(out)
		for t, kv := range k {
			yy := reflect(y-r+t, h)
			src := tmp[yy*w : (yy+1)*w]
			for x := range out {
				out[x] += kv * src[x]
			}
		}
	}
}

// reflect folds an index into [0, n) as d c b a | a b c d | d c b a.
func reflect(i, n int) int {
	if n == 1 {
		return 0
	}
	for i < 0 || i >= n {
		if i < 0 {
			i = -i - 1
		}
		if i >= n {
			i = 2*n - i - 1
		}
	}
	return i
}

func (a *Augmenter) scratch(n int) []float32 {
	if cap(a.tmp) < n {
		a.tmp = make([]float32, n)
	}
	return a.tmp[:n]
}

// lowRes simulates a coarser acquisition: nearest-neighbour downsampling
// by zoom, then bilinear upsampling back (pixel centres aligned).
func (a *Augmenter) lowRes(img []float32, w, h int, zoom float64) {
	lw := max(1, int(math.Round(float64(w)*zoom)))
	lh := max(1, int(math.Round(float64(h)*zoom)))
	if lw == w && lh == h {
		return
	}
	if cap(a.tmp2) < lw*lh {
		a.tmp2 = make([]float32, lw*lh)
	}
	low := a.tmp2[:lw*lh]
	for y := 0; y < lh; y++ {
		sy := min(int((float64(y)+0.5)*float64(h)/float64(lh)), h-1)
		for x := 0; x < lw; x++ {
			sx := min(int((float64(x)+0.5)*float64(w)/float64(lw)), w-1)
			low[x+lw*y] = img[sx+w*sy]
		}
	}
	// Column weights once; rows reuse them.
	if cap(a.cols) < w {
		a.cols = make([]lerp, w)
	}
	cols := a.cols[:w]
	for x := range cols {
		cols[x] = lerpAt(x, w, lw)
	}
	for y := 0; y < h; y++ {
		r := lerpAt(y, h, lh)
		ty := r.t
		row0, row1 := low[lw*r.i0:lw*(r.i0+1)], low[lw*r.i1:lw*(r.i1+1)]
		out := img[w*y : w*(y+1)]
		for x, c := range cols {
			top := row0[c.i0] + (row0[c.i1]-row0[c.i0])*c.t
			bot := row1[c.i0] + (row1[c.i1]-row1[c.i0])*c.t
			out[x] = top + (bot-top)*ty
		}
	}
}

// lerp is where output pixel i of n samples a grid of m pixels
// (centres aligned, clamped at the borders).
type lerp struct {
	i0, i1 int
	t      float32
}

func lerpAt(i, n, m int) lerp {
	s := (float64(i)+0.5)*float64(m)/float64(n) - 0.5
	s = max(0, min(s, float64(m-1)))
	i0 := int(s)
	return lerp{i0, min(i0+1, m-1), float32(s - float64(i0))}
}

// powTable evaluates t^g on [0, 1] fast: per pixel math.Pow cost most of
// a sample's budget. It tabulates f(u) = u^(2g) on a uniform grid of
// u = √t, where f is smooth at 0 for g ≥ ½, and interpolates linearly
// (error ≤ h²/8·max f” < 2e-6 for ½ ≤ g ≤ 2); other g fall back to Pow.
type powTable struct {
	g     float64
	table []float64 // nil: exact
}

const powTableSize = 1024

func newPowTable(g float64) powTable {
	if 2*g < 1 || g > 2 {
		return powTable{g: g}
	}
	t := make([]float64, powTableSize+2)
	for i := range t {
		t[i] = math.Pow(float64(i)/powTableSize, 2*g)
	}
	return powTable{g: g, table: t}
}

func (p powTable) at(t float64) float64 {
	if p.table == nil {
		return math.Pow(t, p.g)
	}
	if !(t > 0) { // also NaN
		t = 0
	} else if t > 1 {
		t = 1
	}
	u := math.Sqrt(t) * powTableSize
	i := int(u)
	f := u - float64(i)
	return p.table[i] + (p.table[i+1]-p.table[i])*f
}
