package augment

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func randomSlice(rng *rand.Rand, w, h int) Slice {
	s := NewSlice(w, h)
	for i := range s.Image {
		s.Image[i] = float32(rng.NormFloat64())
		s.Labels[i] = uint8(rng.IntN(NumLabels))
	}
	return s
}

// heart makes a z-scored-looking slice with a disc of labels.
func heart(w, h int) Slice {
	s := NewSlice(w, h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			d := math.Hypot(float64(x-w/2), float64(y-h/2))
			i := x + w*y
			s.Image[i] = float32(math.Sin(float64(x)/7) + math.Cos(float64(y)/5))
			switch {
			case d < 15:
				s.Labels[i] = 3
			case d < 20:
				s.Labels[i] = 2
			case d < 30 && x < w/2-15:
				s.Labels[i] = 1
			}
		}
	}
	return s
}

func all(p float64) Params {
	d := DefaultParams()
	for _, r := range []*Range{&d.Rotation, &d.Scaling, &d.Noise, &d.Blur, &d.Brightness, &d.Contrast, &d.LowRes, &d.GammaInverted, &d.Gamma} {
		r.P = p
	}
	d.MirrorP = 0.5
	d.Elastic = Elastic{P: p, Alpha: [2]float64{0, 200}, Sigma: [2]float64{9, 13}}
	return d
}

func TestIdentitySettingsCopy(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	src := randomSlice(rng, 160, 160)
	a, err := New(Off(), 160, 160)
	if err != nil {
		t.Fatal(err)
	}
	var dst Slice
	if err := a.Sample(&dst, src, false, rng); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(dst.Image, src.Image) || !slices.Equal(dst.Labels, src.Labels) {
		t.Fatal("identity settings changed a same-size slice")
	}
	// Larger source: the patch is an exact window of it.
	big := randomSlice(rng, 200, 180)
	a, _ = New(Off(), 64, 48)
	for n := 0; n < 10; n++ {
		if err := a.Sample(&dst, big, false, rng); err != nil {
			t.Fatal(err)
		}
		if !isWindow(dst, big) {
			t.Fatal("identity patch is not a window of the source")
		}
	}
	// Smaller source: centred, zero padded.
	small := randomSlice(rng, 10, 6)
	a, _ = New(Off(), 16, 16)
	a.Sample(&dst, small, false, rng)
	if dst.Image[3+16*5] != small.Image[0] || dst.Labels[3+16*5] != small.Labels[0] || dst.Image[0] != 0 || dst.Labels[0] != 0 {
		t.Error("small slice not centred with zero padding")
	}
}

func isWindow(p, s Slice) bool {
	for y0 := 0; y0+p.H <= s.H; y0++ {
	next:
		for x0 := 0; x0+p.W <= s.W; x0++ {
			for v := 0; v < p.H; v++ {
				for u := 0; u < p.W; u++ {
					j := x0 + u + s.W*(y0+v)
					if p.Image[u+p.W*v] != s.Image[j] || p.Labels[u+p.W*v] != s.Labels[j] {
						continue next
					}
				}
			}
			return true
		}
	}
	return false
}

func clone(s Slice) Slice {
	return Slice{W: s.W, H: s.H, Image: slices.Clone(s.Image), Labels: slices.Clone(s.Labels)}
}

func equal(a, b Slice) bool {
	return a.W == b.W && a.H == b.H && slices.Equal(a.Image, b.Image) && slices.Equal(a.Labels, b.Labels)
}

func TestMirror(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	for _, wh := range [][2]int{{7, 5}, {8, 6}, {1, 3}} {
		s := randomSlice(rng, wh[0], wh[1])
		m := clone(s)
		MirrorX(m)
		if m.Image[0] != s.Image[s.W-1] || m.Labels[s.W*(s.H-1)] != s.Labels[s.W*s.H-1] {
			t.Errorf("%v: MirrorX did not flip left–right", wh)
		}
		MirrorX(m)
		if !equal(m, s) {
			t.Errorf("%v: MirrorX twice is not identity", wh)
		}
		MirrorY(m)
		if m.Image[0] != s.Image[s.W*(s.H-1)] {
			t.Errorf("%v: MirrorY did not flip top–bottom", wh)
		}
		MirrorY(m)
		if !equal(m, s) {
			t.Errorf("%v: MirrorY twice is not identity", wh)
		}
	}
	// The affine flip about an odd-size centre equals MirrorX / MirrorY.
	s := randomSlice(rng, 33, 33)
	for _, k := range []struct {
		sp     spatial
		mirror func(Slice)
	}{
		{spatial{CX: 16, CY: 16, Scale: 1, FlipX: true}, MirrorX},
		{spatial{CX: 16, CY: 16, Scale: 1, FlipY: true}, MirrorY},
		{spatial{CX: 16, CY: 16, Scale: 1, Angle: math.Pi}, func(s Slice) { MirrorX(s); MirrorY(s) }},
	} {
		dst := NewSlice(33, 33)
		resample(&dst, s, k.sp, nil, nil)
		want := clone(s)
		k.mirror(want)
		if !equal(dst, want) {
			t.Errorf("affine %+v differs from the mirror", k.sp)
		}
	}
}

func TestRotation90IsTransposeFlip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	s := randomSlice(rng, 33, 33)
	dst := NewSlice(33, 33)
	resample(&dst, s, spatial{CX: 16, CY: 16, Scale: 1, Angle: math.Pi / 2}, nil, nil)
	// dst(u, v) = src(32 − v, u): transpose, then flip left–right.
	for v := 0; v < 33; v++ {
		for u := 0; u < 33; u++ {
			j := (32 - v) + 33*u
			if dst.Image[u+33*v] != s.Image[j] || dst.Labels[u+33*v] != s.Labels[j] {
				t.Fatalf("pixel (%d,%d): got %v/%d, want %v/%d", u, v, dst.Image[u+33*v], dst.Labels[u+33*v], s.Image[j], s.Labels[j])
			}
		}
	}
	// A quarter turn back gives the source again.
	back := NewSlice(33, 33)
	resample(&back, dst, spatial{CX: 16, CY: 16, Scale: 1, Angle: -math.Pi / 2}, nil, nil)
	if !equal(back, s) {
		t.Error("+90° then −90° is not identity")
	}
	// Scale 2 samples every second pixel.
	half := NewSlice(9, 9)
	resample(&half, s, spatial{CX: 16, CY: 16, Scale: 2}, nil, nil)
	if half.Image[4+9*4] != s.Image[16+33*16] || half.Image[5+9*4] != s.Image[18+33*16] || half.Labels[4+9*5] != s.Labels[16+33*18] {
		t.Error("scale 2 does not step two source pixels per patch pixel")
	}
	// Bilinear: half a pixel between two values is their mean.
	ramp := NewSlice(4, 1)
	copy(ramp.Image, []float32{0, 1, 2, 3})
	one := NewSlice(1, 1)
	resample(&one, ramp, spatial{CX: 1.5, CY: 0, Scale: 1, Angle: 1e-9}, nil, nil)
	if math.Abs(float64(one.Image[0])-1.5) > 1e-6 {
		t.Errorf("bilinear midpoint %v, want 1.5", one.Image[0])
	}
}

func TestDeterminismAndLabelRange(t *testing.T) {
	src := heart(216, 256)
	run := func(seed uint64) []Slice {
		a, err := New(all(1), 160, 160)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(seed, 7))
		var out []Slice
		for i := 0; i < 30; i++ {
			var d Slice
			if err := a.Sample(&d, src, i%3 == 0, rng); err != nil {
				t.Fatal(err)
			}
			out = append(out, d)
		}
		return out
	}
	a, b, c := run(11), run(11), run(12)
	for i := range a {
		if !equal(a[i], b[i]) {
			t.Fatalf("sample %d differs for the same seed", i)
		}
	}
	if equal(a[0], c[0]) && equal(a[1], c[1]) {
		t.Error("different seeds gave the same samples")
	}
	for i, s := range append(a, c...) {
		for _, l := range s.Labels {
			if l >= NumLabels {
				t.Fatalf("sample %d has label %d", i, l)
			}
		}
		for _, x := range s.Image {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				t.Fatalf("sample %d has a non-finite pixel", i)
			}
		}
	}
}

func TestForegroundOversampling(t *testing.T) {
	src := NewSlice(400, 400)
	for y := 350; y < 354; y++ {
		for x := 20; x < 24; x++ {
			src.Labels[x+400*y] = 2
		}
	}
	src.Labels[390+400*10] = 1 // a single RV pixel in the far corner
	a, _ := New(DefaultParams(), 160, 160)
	rng := rand.New(rand.NewPCG(5, 5))
	var d Slice
	seen := map[uint8]int{}
	for i := 0; i < 200; i++ {
		if err := a.Sample(&d, src, true, rng); err != nil {
			t.Fatal(err)
		}
		c := d.Labels[80+160*80] // the patch centre lands on the chosen pixel
		if c == 0 {
			t.Fatalf("sample %d: foreground-centred patch has background at its centre", i)
		}
		seen[c]++
	}
	if seen[1] < 60 || seen[2] < 60 { // class drawn first: about half each
		t.Errorf("classes at the centre %v, want both about 100", seen)
	}
	hits := 0
	for i := 0; i < 200; i++ {
		a.Sample(&d, src, false, rng)
		if slices.ContainsFunc(d.Labels, func(l uint8) bool { return l > 0 }) {
			hits++
		}
	}
	if hits > 100 {
		t.Errorf("random patches hit foreground %d/200 times; oversampling test is not discriminating", hits)
	}
	// No foreground: falls back to a random patch without error.
	empty := NewSlice(50, 50)
	if err := a.Sample(&d, empty, true, rng); err != nil {
		t.Error(err)
	}

	n := 0
	for i := 0; i < 16; i++ {
		if Oversample(i, 16, 0.33) {
			n++
			if i < 11 {
				t.Errorf("sample %d of 16 oversampled", i)
			}
		}
	}
	if n != 5 {
		t.Errorf("%d of 16 oversampled, want 5 (nnU-Net: round(16·0.67) = 11 random)", n)
	}
	if !Oversample(1, 2, 0.33) || Oversample(0, 2, 0.33) || Oversample(15, 16, 0) {
		t.Error("Oversample edge cases wrong")
	}
}

func TestIntensity(t *testing.T) {
	img := []float32{1, 2, 3, 4}
	Brightness(img, 0.5)
	if !slices.Equal(img, []float32{0.5, 1, 1.5, 2}) {
		t.Errorf("brightness %v", img)
	}
	img = []float32{0, 1, 2, 5} // mean 2
	Contrast(img, 2)            // (x−2)·2+2 = −2, 0, 2, 8 → clipped to [0, 5]
	if !slices.Equal(img, []float32{0, 0, 2, 5}) {
		t.Errorf("contrast %v", img)
	}
	rng := rand.New(rand.NewPCG(9, 9))
	base := make([]float32, 400)
	for i := range base {
		base[i] = float32(rng.NormFloat64())
	}
	m0, s0 := meanStd(base, 1)
	for _, inv := range []bool{false, true} {
		g := slices.Clone(base)
		Gamma(g, 1.5, inv)
		m1, s1 := meanStd(g, 1)
		if math.Abs(m1-m0) > 1e-5 || math.Abs(s1-s0) > 1e-5 {
			t.Errorf("gamma (invert %v) changed stats %v/%v → %v/%v", inv, m0, s0, m1, s1)
		}
		if slices.Equal(g, base) {
			t.Error("gamma 1.5 did nothing")
		}
		one := slices.Clone(base)
		Gamma(one, 1, inv)
		for i := range one {
			if math.Abs(float64(one[i]-base[i])) > 1e-4 {
				t.Fatalf("gamma 1 moved pixel %d: %v → %v", i, base[i], one[i])
			}
		}
	}
	// Gamma < 1 brightens the middle grey of the [0, 1] range before the
	// stats are restored: ordering is kept (monotone map).
	g := slices.Clone(base)
	Gamma(g, 0.7, false)
	for i := range base {
		for j := range base {
			if base[i] < base[j] && g[i] > g[j] {
				t.Fatal("gamma is not monotone")
			}
		}
	}

	a, _ := New(Off(), 9, 9)
	imp := make([]float32, 81)
	imp[40] = 1
	a.blur(imp, 9, 9, 0.5) // radius 2, weights ∝ exp(−i²/0.5)
	k := []float64{math.Exp(-8), math.Exp(-2), 1, math.Exp(-2), math.Exp(-8)}
	sum := 0.0
	for _, x := range k {
		sum += x
	}
	for dy := -2; dy <= 2; dy++ {
		for dx := -2; dx <= 2; dx++ {
			want := k[dx+2] * k[dy+2] / (sum * sum)
			if got := imp[40+dx+9*dy]; math.Abs(float64(got)-want) > 1e-7 {
				t.Errorf("blur impulse at %d,%d = %v, want %v", dx, dy, got, want)
			}
		}
	}
	if imp[0] != 0 {
		t.Error("blur spread beyond its radius")
	}
	flat := slices.Repeat([]float32{3}, 81)
	a.blur(flat, 9, 9, 1)
	a.lowRes(flat, 9, 9, 0.5)
	for _, x := range flat {
		if math.Abs(float64(x)-3) > 1e-5 {
			t.Fatalf("blur/low-res of a constant image gave %v", x)
		}
	}
	// Low resolution at zoom 0.5 on a ramp: nearest keeps pixels 1,3,5,7;
	// bilinear back with centres aligned gives 1, 1.5, 2.5 … 6.5, 7.
	ramp := []float32{0, 1, 2, 3, 4, 5, 6, 7}
	a.lowRes(ramp, 8, 1, 0.5)
	if want := []float32{1, 1.5, 2.5, 3.5, 4.5, 5.5, 6.5, 7}; !slices.Equal(ramp, want) {
		t.Errorf("low-res ramp %v, want %v", ramp, want)
	}
	if reflect(-1, 5) != 0 || reflect(-3, 5) != 2 || reflect(5, 5) != 4 || reflect(7, 5) != 2 || reflect(-1, 1) != 0 {
		t.Error("reflect border wrong")
	}
}

func TestErrors(t *testing.T) {
	bad := DefaultParams()
	bad.Gamma.Min = 2
	if _, err := New(bad, 16, 16); err == nil || !strings.Contains(err.Error(), "augment.gamma: min 2 is above max 1.5") {
		t.Errorf("bad params: %v", err)
	}
	bad = DefaultParams()
	bad.Rotation.P = 1.5
	if _, err := New(bad, 16, 16); err == nil || !strings.Contains(err.Error(), "augment.rotation.p") {
		t.Errorf("bad probability: %v", err)
	}
	if _, err := New(DefaultParams(), 0, 16); err == nil {
		t.Error("zero patch accepted")
	}
	a, _ := New(DefaultParams(), 16, 16)
	rng := rand.New(rand.NewPCG(1, 1))
	s := NewSlice(20, 20)
	s.Labels[3+20*2] = 9
	var d Slice
	if err := a.Sample(&d, s, true, rng); err == nil || !strings.Contains(err.Error(), "label 9 at pixel (3,2)") {
		t.Errorf("label 9: %v", err)
	}
	if err := a.Sample(&d, Slice{W: 4, H: 4, Image: make([]float32, 16), Labels: make([]uint8, 15)}, true, rng); err == nil {
		t.Error("short labels accepted")
	}
	if err := a.Sample(&d, Slice{}, true, rng); err == nil {
		t.Error("empty slice accepted")
	}
	// Off params with P 0 may carry any range.
	off := Off()
	off.Gamma = Range{P: 0, Min: 5, Max: 1}
	if err := off.Validate(); err != nil {
		t.Errorf("disabled transform's range rejected: %v", err)
	}
}

func BenchmarkAugment(b *testing.B) {
	for _, k := range []struct {
		name string
		p    Params
	}{{"defaults", DefaultParams()}, {"everything", all(1)}} {
		b.Run(k.name, func(b *testing.B) {
			a, _ := New(k.p, 160, 160)
			src := heart(216, 256)
			rng := rand.New(rand.NewPCG(1, 2))
			var d Slice
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				if err := a.Sample(&d, src, i%3 == 0, rng); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestPowTable(t *testing.T) {
	for _, g := range []float64{0.5, 0.7, 1, 1.2, 1.5, 2} {
		p := newPowTable(g)
		if p.table == nil {
			t.Fatalf("g %v not tabulated", g)
		}
		worst := 0.0
		for i := 0; i <= 100000; i++ {
			x := float64(i) / 100000
			worst = math.Max(worst, math.Abs(p.at(x)-math.Pow(x, g)))
		}
		if worst > 2e-6 {
			t.Errorf("g %v: table error %g", g, worst)
		}
	}
	if p := newPowTable(0.3); p.table != nil || p.at(0.5) != math.Pow(0.5, 0.3) || newPowTable(3).table != nil {
		t.Error("g 0.3 should use exact Pow")
	}
}
