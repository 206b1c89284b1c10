package ensemble

import (
	"math"

	"cmrseg/inference/torch"
)

// window is nnU-Net's sliding-window inference over padded slices of
// h × w: tiles of th × tw (at step half a tile over the whole slice, or over
// the heart region only), each tile's probabilities weighted by a Gaussian
// (σ = tile/8, centred on the tile) and normalised by the summed weights,
// so tile borders, where the network sees least context, count least.
// Pixels no tile covers are background with probability 1.
type window struct {
	tiling
	gauss   torch.Tensor // (1, 1, th, tw)
	norm    torch.Tensor // (1, 1, h, w): 1 / Σ weights, 0 where uncovered
	outside torch.Tensor // (1, C, h, w): one-hot background where uncovered; invalid when all is covered
}

// steps are nnU-Net's tile offsets along one axis: as few tiles as a step
// of at most half a tile allows, spread evenly from 0 to size−tile.
func steps(size, tile int) []int {
	if size <= tile {
		return []int{0}
	}
	n := int(math.Ceil(float64(size-tile)/(0.5*float64(tile)))) + 1
	step := float64(size-tile) / float64(n-1)
	out := make([]int, n)
	for i := range out {
		out[i] = int(math.Round(step * float64(i)))
	}
	return out
}

// gaussian is the tile weight map, row-major th × tw, peak 1.
func gaussian(th, tw int) []float32 {
	g := make([]float32, th*tw)
	sy, sx := float64(th)/8, float64(tw)/8
	cy, cx := float64(th/2), float64(tw/2)
	for y := 0; y < th; y++ {
		for x := 0; x < tw; x++ {
			dy, dx := (float64(y)-cy)/sy, (float64(x)-cx)/sx
			g[y*tw+x] = float32(math.Exp(-(dy*dy + dx*dx) / 2))
		}
	}
	return g
}

// newWindow builds the weights of tiling t for the given number of
// classes in scope c (on dev).
func newWindow(c *torch.Scope, t tiling, classes int, dev torch.Device) *window {
	h, w, th, tw := t.h, t.w, t.th, t.tw
	wn := &window{tiling: t}
	g := gaussian(th, tw)
	sum := make([]float64, h*w)
	for _, y0 := range t.ys {
		for _, x0 := range t.xs {
			for y := 0; y < th; y++ {
				for x := 0; x < tw; x++ {
					sum[(y0+y)*w+x0+x] += float64(g[y*tw+x])
				}
			}
		}
	}
	inv := make([]float32, h*w)
	var bg []float32
	for i, v := range sum {
		if v > 0 {
			inv[i] = float32(1 / v)
			continue
		}
		if bg == nil {
			bg = make([]float32, classes*h*w)
		}
		bg[i] = 1 // class 0, background
	}
	wn.gauss = c.FromFloat32(g, 1, 1, int64(th), int64(tw))
	wn.norm = c.FromFloat32(inv, 1, 1, int64(h), int64(w))
	if bg != nil {
		wn.outside = c.FromFloat32(bg, 1, int64(classes), int64(h), int64(w))
	}
	if dev.CUDA {
		wn.gauss = c.To(wn.gauss, dev, torch.Float32)
		wn.norm = c.To(wn.norm, dev, torch.Float32)
		if bg != nil {
			wn.outside = c.To(wn.outside, dev, torch.Float32)
		}
	}
	return wn
}

// probs runs f (in the given scope: a batch (B, 1, th, tw) to probabilities (B, C, th, tw)) on
// every tile of x (B, 1, h, w) and blends the tiles into (B, C, h, w).
func (wn *window) probs(s *torch.Scope, f func(*torch.Scope, torch.Tensor) torch.Tensor, x torch.Tensor) torch.Tensor {
	var acc torch.Tensor
	defer func() { acc.Free() }()
	for _, y0 := range wn.ys {
		for _, x0 := range wn.xs {
			err := s.Child(func(c *torch.Scope) error {
				tile := c.Slice(c.Slice(x, 2, int64(y0), int64(y0+wn.th)), 3, int64(x0), int64(x0+wn.tw))
				pr := c.Mul(f(c, tile), wn.gauss)
				pr = c.Pad(pr, 0, int64(x0), int64(wn.w-x0-wn.tw), int64(y0), int64(wn.h-y0-wn.th))
				if acc.Valid() {
					pr = c.Add(acc, pr)
				}
				if err := c.Err(); err != nil {
					return err
				}
				acc.Free()
				acc = c.Keep(pr)
				return nil
			})
			if err != nil {
				return torch.Tensor{}
			}
		}
	}
	out := s.Mul(acc, wn.norm)
	if wn.outside.Valid() {
		out = s.Add(out, wn.outside)
	}
	return out
}
