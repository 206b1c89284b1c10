package phantom

import (
	"math"
	"slices"
	"testing"

	"cmrseg/app/study"
)

func TestGenerate(t *testing.T) {
	s, labels, truth := Generate(Options{Seed: 1})
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if s.NT != 25 || s.Dims != [3]int{192, 192, 10} || s.Spacing != [3]float64{1.5, 1.5, 8} || len(labels) != s.NT {
		t.Fatalf("grid %v x %d spacing %v, %d label maps", s.Dims, s.NT, s.Spacing, len(labels))
	}
	if s.ED != 0 || s.ES != 9 || truth.ED != 0 || truth.ES != 9 || s.Meta.SeriesDescription != "cmrseg demo phantom (synthetic)" {
		t.Errorf("ED %d ES %d, truth %d/%d, %q", s.ED, s.ES, truth.ED, truth.ES, s.Meta.SeriesDescription)
	}
	// Directions are orthonormal (an oblique short-axis stack).
	for a := range 3 {
		for b := range 3 {
			d := 0.0
			for c := range 3 {
				d += s.Direction[a][c] * s.Direction[b][c]
			}
			if want := map[bool]float64{true: 1, false: 0}[a == b]; math.Abs(d-want) > 1e-12 {
				t.Errorf("direction %d·%d = %g", a, b, d)
			}
		}
	}

	// Volumes recounted here must equal Truth.Labels; ES is the smallest LV.
	vox := s.VoxelVolumeML()
	lv := make([]float64, s.NT)
	for ph := range s.NT {
		lv[ph] = float64(count(labels[ph].Data, study.LV)) * vox
	}
	if lv[0] != truth.Labels.LVEDV || lv[9] != truth.Labels.LVESV || slices.Index(lv, slices.Min(lv)) != s.ES || slices.Index(lv, slices.Max(lv)) != s.ED {
		t.Errorf("LV volumes per phase %v; truth %+v", lv, truth.Labels)
	}
	if rv := float64(count(labels[0].Data, study.RV)) * vox; rv != truth.Labels.RVEDV {
		t.Errorf("RV EDV %g, truth %g", rv, truth.Labels.RVEDV)
	}
	// Pixelisation error against the analytic design: EF within 1 point,
	// volumes within 2 %.
	d, l := truth.Design, truth.Labels
	t.Logf("labels %+v\ndesign %+v", l, d)
	if math.Abs(d.LVEF-60) > 1e-9 || math.Abs(l.LVEF-d.LVEF) > 1 || math.Abs(l.RVEF-d.RVEF) > 1 {
		t.Errorf("EF labels LV %.2f RV %.2f, design LV %.2f RV %.2f", l.LVEF, l.RVEF, d.LVEF, d.RVEF)
	}
	for _, p := range [][2]float64{{l.LVEDV, d.LVEDV}, {l.LVESV, d.LVESV}, {l.RVEDV, d.RVEDV}, {l.RVESV, d.RVESV}, {l.MyoVolume, d.MyoVolume}} {
		if math.Abs(p[0]-p[1]) > 0.02*p[1] {
			t.Errorf("label volume %.2f mL vs design %.2f mL", p[0], p[1])
		}
	}
	if d.LVEDV < 80 || d.LVEDV > 200 || d.RVEF < 45 || d.RVEF > 70 {
		t.Errorf("implausible design %+v", d)
	}

	for ph := 0; ph < s.NT; ph++ {
		checkAnatomy(t, ph, labels[ph])
	}
	checkContrast(t, s, labels)
}

// checkAnatomy: the myocardium surrounds the LV cavity (no cavity pixel
// touches background or RV), the RV lies on the image's left of the LV
// and touches the septum.
func checkAnatomy(t *testing.T, ph int, l study.Labels) {
	nx, ny := l.Dims[0], l.Dims[1]
	var lvI, rvI, nLV, nRV float64
	rvTouchesMyo := false
	for k := 0; k < l.Dims[2]; k++ {
		for j := 1; j < ny-1; j++ {
			for i := 1; i < nx-1; i++ {
				at := func(di, dj int) uint8 { return l.Data[i+di+nx*(j+dj+ny*k)] }
				switch at(0, 0) {
				case study.LV:
					lvI += float64(i)
					nLV++
					for _, n := range []uint8{at(1, 0), at(-1, 0), at(0, 1), at(0, -1)} {
						if n != study.LV && n != study.Myocardium {
							t.Fatalf("phase %d slice %d: LV cavity pixel (%d,%d) touches label %d", ph, k, i, j, n)
						}
					}
				case study.RV:
					rvI += float64(i)
					nRV++
					if at(1, 0) == study.Myocardium {
						rvTouchesMyo = true
					}
				}
			}
		}
	}
	if nLV == 0 || nRV == 0 || rvI/nRV >= lvI/nLV-10 || !rvTouchesMyo {
		t.Errorf("phase %d: LV centre i %.1f, RV centre i %.1f (%v voxels), RV meets septum %v", ph, lvI/nLV, rvI/nRV, nRV, rvTouchesMyo)
	}
}

// checkContrast: bright blood over mid-grey myocardium, Rician noise floor in air.
func checkContrast(t *testing.T, s *study.Series, labels []study.Labels) {
	mean := func(ph int, v uint8) float64 {
		sum, n := 0.0, 0
		for i, x := range labels[ph].Data {
			if x == v {
				sum += float64(s.Phase(ph)[i])
				n++
			}
		}
		return sum / float64(n)
	}
	for _, ph := range []int{0, 9} {
		lv, rv, myo := mean(ph, study.LV), mean(ph, study.RV), mean(ph, study.Myocardium)
		if !(lv > 2*myo && rv > 2*myo && myo > 100) {
			t.Errorf("phase %d: mean LV %.0f RV %.0f myocardium %.0f", ph, lv, rv, myo)
		}
	}
	// The corner is air: only noise, whose Rician mean is sigma*sqrt(pi/2).
	corner := 0.0
	for j := range 10 {
		for i := range 10 {
			corner += float64(s.Data[i+s.Dims[0]*j])
		}
	}
	corner /= 100
	if want := scale * noiseSigma * math.Sqrt(math.Pi/2); math.Abs(corner-want) > 0.25*want {
		t.Errorf("air mean %.1f, Rician floor %.1f", corner, want)
	}
}

func count(d []uint8, v uint8) int {
	n := 0
	for _, x := range d {
		if x == v {
			n++
		}
	}
	return n
}

func TestDeterministic(t *testing.T) {
	a, la, _ := Generate(Options{Seed: 7})
	b, lb, _ := Generate(Options{Seed: 7})
	c, lc, _ := Generate(Options{Seed: 8})
	if !slices.Equal(a.Data, b.Data) || !slices.Equal(la[5].Data, lb[5].Data) {
		t.Error("same seed, different study")
	}
	if slices.Equal(a.Data, c.Data) || !slices.Equal(la[5].Data, lc[5].Data) {
		t.Error("another seed should change the noise only")
	}
}

func BenchmarkGenerate(b *testing.B) {
	for b.Loop() {
		Generate(Options{Seed: 1})
	}
}
