package augment

import (
	"fmt"
	"math"
)

// Range is one random transform: applied to a sample with probability P,
// its strength drawn uniformly from [Min, Max].
type Range struct {
	P   float64 `toml:"p"`
	Min float64 `toml:"min"`
	Max float64 `toml:"max"`
}

// Params are the augmentation switches: P = 0 turns a transform off.
// Defaults follow nnU-Net v2's 2D pipeline, where elastic deformation is
// off (Elastic.P = 0; issue 16 tried it on). Where nnU-Net also draws a per-channel
// probability (blur 0.5, low resolution 0.5), P is the product for our
// single-channel images.
type Params struct {
	// Rotation angle in degrees (nnU-Net: ±180, p 0.2).
	Rotation Range `toml:"rotation"`
	// Scaling factor; > 1 shrinks the anatomy in the patch, as in
	// nnU-Net, which multiplies sampling coordinates (0.7–1.4, p 0.2).
	Scaling Range `toml:"scaling"`
	// MirrorP flips each in-plane axis independently (nnU-Net: 0.5).
	MirrorP float64 `toml:"mirror_p"`
	// Noise standard deviation added to the z-scored image; nnU-Net calls
	// this range "variance" but uses it as the standard deviation (0–0.1, p 0.1).
	Noise Range `toml:"noise"`
	// Blur Gaussian σ in pixels (0.5–1, p 0.2·0.5).
	Blur Range `toml:"blur"`
	// Brightness multiplies the image (0.75–1.25, p 0.15).
	Brightness Range `toml:"brightness"`
	// Contrast scales about the mean, clipped to the old range (0.75–1.25, p 0.15).
	Contrast Range `toml:"contrast"`
	// LowRes zoom: downsample by it (nearest), upsample back (bilinear)
	// (0.5–1, p 0.25·0.5).
	LowRes Range `toml:"low_res"`
	// GammaInverted applies gamma to the negated image (0.7–1.5, p 0.1);
	// Gamma to the image itself (0.7–1.5, p 0.3). Both keep mean and std.
	GammaInverted Range `toml:"gamma_inverted"`
	Gamma         Range `toml:"gamma"`
	// Elastic deformation of the sampling grid (off by default).
	Elastic Elastic `toml:"elastic"`
}

// Elastic is batchgenerators' elastic deformation (Simard et al. 2003):
// per axis, uniform noise in [-1, 1] over the patch, Gaussian-smoothed with
// σ pixels and scaled by α, displaces each patch pixel before the affine
// map, so image and labels bend together. nnU-Net v1's 2D ranges are
// α 0–200, σ 9–13 with p 0.2, but its trainers (and v2) switch it off.
type Elastic struct {
	P     float64    `toml:"p"`
	Alpha [2]float64 `toml:"alpha"` // min, max displacement scale, pixels
	Sigma [2]float64 `toml:"sigma"` // min, max smoothing σ, pixels
}

// DefaultParams returns nnU-Net v2's 2D augmentation settings.
func DefaultParams() Params {
	return Params{
		Rotation:      Range{P: 0.2, Min: -180, Max: 180},
		Scaling:       Range{P: 0.2, Min: 0.7, Max: 1.4},
		MirrorP:       0.5,
		Noise:         Range{P: 0.1, Min: 0, Max: 0.1},
		Blur:          Range{P: 0.1, Min: 0.5, Max: 1},
		Brightness:    Range{P: 0.15, Min: 0.75, Max: 1.25},
		Contrast:      Range{P: 0.15, Min: 0.75, Max: 1.25},
		LowRes:        Range{P: 0.125, Min: 0.5, Max: 1},
		GammaInverted: Range{P: 0.1, Min: 0.7, Max: 1.5},
		Gamma:         Range{P: 0.3, Min: 0.7, Max: 1.5},
	}
}

// Off returns settings that leave every sample unchanged apart from the crop.
func Off() Params { return Params{} }

// Validate names the first field (TOML key under augment.) that is out of range.
func (p Params) Validate() error {
	if !(p.MirrorP >= 0 && p.MirrorP <= 1) {
		return fmt.Errorf("mirror_p: probability must lie in [0, 1], got %g", p.MirrorP)
	}
	e := p.Elastic
	if !(e.P >= 0 && e.P <= 1) {
		return fmt.Errorf("elastic.p: probability must lie in [0, 1], got %g", e.P)
	}
	for _, r := range []struct {
		name     string
		r        Range
		min, max float64 // allowed strength interval
	}{
		{"rotation", p.Rotation, -360, 360},
		{"scaling", p.Scaling, 1e-3, 100},
		{"noise", p.Noise, 0, math.MaxFloat32},
		{"blur", p.Blur, 1e-3, 50},
		{"brightness", p.Brightness, 0, math.MaxFloat32},
		{"contrast", p.Contrast, 0, math.MaxFloat32},
		{"low_res", p.LowRes, 1e-2, 1},
		{"gamma_inverted", p.GammaInverted, 1e-3, 100},
		{"gamma", p.Gamma, 1e-3, 100},
		{"elastic.alpha", e.alphaRange(), 0, 10000},
		// The smoothing kernel spans ±4σ: beyond 50 pixels it is slow
		// and flattens the field to a shift anyway.
		{"elastic.sigma", e.sigmaRange(), 0.5, 50},
	} {
		if !(r.r.P >= 0 && r.r.P <= 1) {
			return fmt.Errorf("%s.p: probability must lie in [0, 1], got %g", r.name, r.r.P)
		}
		if r.r.P == 0 {
			continue // off: the range is never used
		}
		if !(r.r.Min <= r.r.Max) {
			return fmt.Errorf("%s: min %g is above max %g", r.name, r.r.Min, r.r.Max)
		}
		if !(r.r.Min >= r.min && r.r.Max <= r.max) {
			return fmt.Errorf("%s: range [%g, %g] must lie within [%g, %g]", r.name, r.r.Min, r.r.Max, r.min, r.max)
		}
	}
	return nil
}

// SliceWeights weight a foreground slice by its position from the base
// (study.SlicePositions; the draw is data.Sampler's) and by the phase of its volume. Each volume's
// weights are normalised by its count of foreground slices, so that equal
// weights draw a volume uniformly and then one of its foreground slices
// uniformly, in expectation, as the unweighted sampler does. The zero
// value (all 0) means unweighted.
type SliceWeights struct {
	Basal  float64 `toml:"basal"`
	Mid    float64 `toml:"mid"`
	Apical float64 `toml:"apical"`
	// ES multiplies the weights of the end-systolic volumes' slices
	// (data.Set.EndSystolic); the others get 1.
	ES float64 `toml:"es"`
}

// Active says whether w changes the draw.
func (w SliceWeights) Active() bool { return w != SliceWeights{} }

// Validate checks that an active w has weights ≥ 0, not all positions 0,
// and ES > 0.
func (w SliceWeights) Validate() error {
	if !w.Active() {
		return nil
	}
	for _, x := range []float64{w.Basal, w.Mid, w.Apical, w.ES} {
		if !(x >= 0) || math.IsInf(x, 0) {
			return fmt.Errorf("slice weight %g must be a finite number ≥ 0", x)
		}
	}
	if w.Basal+w.Mid+w.Apical == 0 {
		return fmt.Errorf("slice weights: basal, mid and apical are all 0")
	}
	if w.ES == 0 {
		return fmt.Errorf("slice weights: es must be > 0 (1 leaves the phases alone)")
	}
	return nil
}

// alphaRange and sigmaRange are the draws of α and σ, applied with the
// deformation's probability.
func (e Elastic) alphaRange() Range { return Range{P: e.P, Min: e.Alpha[0], Max: e.Alpha[1]} }
func (e Elastic) sigmaRange() Range { return Range{P: e.P, Min: e.Sigma[0], Max: e.Sigma[1]} }
