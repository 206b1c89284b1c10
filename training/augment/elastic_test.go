package augment

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// The field is white uniform noise (variance 1/3) through a unit-sum 2D
// Gaussian of σ, times α: its standard deviation is α·√(1/3)/(2√π·σ), and
// neighbouring pixels move almost together.
func TestElasticFieldStatistics(t *testing.T) {
	a, err := New(Off(), 256, 256)
	if err != nil {
		t.Fatal(err)
	}
	const alpha, sigma = 100.0, 10.0
	dx, dy := a.elasticField(alpha, sigma, rand.New(rand.NewPCG(3, 4)))
	want := alpha * math.Sqrt(1.0/3) / (2 * math.Sqrt(math.Pi) * sigma)
	for name, f := range map[string][]float32{"dx": dx, "dy": dy} {
		var sum, sq, step float64
		for y := 0; y < 256; y++ {
			for x := 0; x < 256; x++ {
				v := float64(f[x+256*y])
				sum += v
				sq += v * v
				if x > 0 {
					step += math.Abs(v - float64(f[x-1+256*y]))
				}
			}
		}
		n := 256.0 * 256
		mean := sum / n
		std := math.Sqrt(sq/n - mean*mean)
		if math.Abs(std-want) > 0.2*want {
			t.Errorf("%s: std %.3f px, want %.3f ± 20%%", name, std, want)
		}
		if math.Abs(mean) > 0.3*want {
			t.Errorf("%s: mean %.3f px, want about 0 (std %.3f)", name, mean, want)
		}
		if meanStep := step / (255 * 256); meanStep > 0.2*std {
			t.Errorf("%s: neighbours differ by %.3f px on average against std %.3f: not smooth", name, meanStep, std)
		}
	}
	if dx[0] == dy[0] && dx[1000] == dy[1000] {
		t.Error("the two axes drew the same field")
	}
}

// A zero field is the affine map itself, on the fast identity path too.
func TestElasticZeroFieldIsAffine(t *testing.T) {
	src := heart(96, 96)
	zero := make([]float32, 64*64)
	for _, sp := range []spatial{
		{CX: 48, CY: 48, Scale: 1},
		{CX: 40, CY: 50, Scale: 1.2, Angle: 0.3, FlipX: true},
	} {
		want, got := NewSlice(64, 64), NewSlice(64, 64)
		resample(&want, src, sp, nil, nil)
		resample(&got, src, sp, zero, zero)
		if !equal(want, got) {
			t.Errorf("%+v: zero displacement differs from the affine resample", sp)
		}
	}
}

// A constant field is a shift in patch pixels, which the affine map then
// rotates and scales like any other patch offset.
func TestElasticConstantFieldShifts(t *testing.T) {
	src := heart(96, 96)
	dx, dy := make([]float32, 64*64), make([]float32, 64*64)
	for i := range dx {
		dx[i], dy[i] = 3, -2
	}
	got, want := NewSlice(64, 64), NewSlice(64, 64)
	resample(&got, src, spatial{CX: 48, CY: 48, Scale: 1}, dx, dy)
	resample(&want, src, spatial{CX: 51, CY: 46, Scale: 1}, nil, nil)
	if !equal(want, got) {
		t.Error("a (3, -2) field is not the patch centred 3 right and 2 up")
	}
	// Scaled by 2: the same field moves the source position by (6, -4).
	resample(&got, src, spatial{CX: 48, CY: 48, Scale: 2}, dx, dy)
	resample(&want, src, spatial{CX: 54, CY: 44, Scale: 2}, nil, nil)
	if !equal(want, got) {
		t.Error("the field is not scaled with the patch")
	}
}

// Image and labels bend together: on a source whose image equals its
// labels, the deformed image disagrees with the deformed labels only on a
// thin band of boundary pixels, and every class keeps its area within 40 % (a 3-pixel field on a 14-pixel disc).
func TestElasticMovesImageWithLabels(t *testing.T) {
	src := heart(128, 128)
	for i, l := range src.Labels {
		src.Image[i] = float32(l)
	}
	a, err := New(Off(), 96, 96)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 8))
	still, moved := NewSlice(96, 96), NewSlice(96, 96)
	sp := spatial{CX: 64, CY: 64, Scale: 1.1, Angle: 0.5}
	resample(&still, src, sp, nil, nil)
	var ref [NumLabels]int
	for _, l := range still.Labels {
		ref[l]++
	}
	for trial := 0; trial < 5; trial++ {
		dx, dy := a.elasticField(150+10*float64(trial), 9, rng)
		resample(&moved, src, sp, dx, dy)
		bad, changed := 0, 0
		var area [NumLabels]int
		for i, l := range moved.Labels {
			area[l]++
			if math.Abs(float64(moved.Image[i])-float64(l)) > 0.5 {
				bad++
			}
			if l != still.Labels[i] {
				changed++
			}
		}
		if bad > len(moved.Labels)/50 {
			t.Errorf("trial %d: %d of %d pixels have image and label apart", trial, bad, len(moved.Labels))
		}
		if changed < 20 {
			t.Errorf("trial %d: α ≥ 150 moved only %d labels", trial, changed)
		}
		for c := 1; c < NumLabels; c++ {
			if math.Abs(float64(area[c]-ref[c])) > 0.4*float64(ref[c]) {
				t.Errorf("trial %d: class %d area %d against %d unbent", trial, c, area[c], ref[c])
			}
		}
	}
}

// Sample draws the deformation from its generator: the same seed gives the
// same patch, and switching elastic on changes it.
func TestElasticSampleDeterministic(t *testing.T) {
	src := heart(128, 128)
	p := Off()
	p.Elastic = Elastic{P: 1, Alpha: [2]float64{0, 200}, Sigma: [2]float64{9, 13}}
	on, err := New(p, 96, 96)
	if err != nil {
		t.Fatal(err)
	}
	off, _ := New(Off(), 96, 96)
	var x, y, z Slice
	for _, c := range []struct {
		a   *Augmenter
		dst *Slice
	}{{on, &x}, {on, &y}, {off, &z}} {
		if err := c.a.Sample(c.dst, src, true, rand.New(rand.NewPCG(11, 12))); err != nil {
			t.Fatal(err)
		}
	}
	if !equal(x, y) {
		t.Error("one seed gave two different deformed patches")
	}
	if equal(x, z) {
		t.Error("elastic p 1 left the patch as it was")
	}
}

func TestElasticValidate(t *testing.T) {
	for _, c := range []struct {
		e    Elastic
		want string
	}{
		{Elastic{P: 1.5}, "elastic.p"},
		{Elastic{P: 0.2, Alpha: [2]float64{200, 0}, Sigma: [2]float64{9, 13}}, "elastic.alpha"},
		{Elastic{P: 0.2, Alpha: [2]float64{0, 200}, Sigma: [2]float64{0, 13}}, "elastic.sigma"},
		{Elastic{P: 0.2, Alpha: [2]float64{0, 200}, Sigma: [2]float64{9, 80}}, "elastic.sigma"},
	} {
		p := DefaultParams()
		p.Elastic = c.e
		err := p.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one naming %s", c.e, err, c.want)
		}
	}
	p := DefaultParams()
	p.Elastic = Elastic{P: 0.2, Alpha: [2]float64{0, 200}, Sigma: [2]float64{9, 13}}
	if err := p.Validate(); err != nil {
		t.Errorf("nnU-Net v1's ranges: %v", err)
	}
	p.Elastic = Elastic{Alpha: [2]float64{5, 1}} // off: ranges unused
	if err := p.Validate(); err != nil {
		t.Errorf("off with a bad range: %v", err)
	}
}
