package contour

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cmrseg/app/dicomio"
	"cmrseg/app/shareddata"
	"cmrseg/app/study"
)

func count(m []bool) int {
	n := 0
	for _, v := range m {
		if v {
			n++
		}
	}
	return n
}

// TestPixelCentreConvention: a rectangle with corners on half-integers
// contains exactly the pixel centres inside it, x along columns.
func TestPixelCentreConvention(t *testing.T) {
	const cols, rows = 8, 6
	p := Polygon{{1.5, 1.5}, {4.5, 1.5}, {4.5, 3.5}, {1.5, 3.5}}
	m := make([]bool, cols*rows)
	p.Rasterize(m, cols, rows)
	for j := 0; j < rows; j++ {
		for i := 0; i < cols; i++ {
			want := i >= 2 && i <= 4 && j >= 2 && j <= 3
			if m[i+cols*j] != want {
				t.Errorf("pixel (i=%d, j=%d): %v, want %v", i, j, m[i+cols*j], want)
			}
		}
	}
}

// TestSharedEdge: centres on an edge shared by two polygons belong to
// exactly one of them.
func TestSharedEdge(t *testing.T) {
	const n = 10
	left := Polygon{{1, 1}, {5, 1}, {5, 8}, {1, 8}}
	right := Polygon{{5, 1}, {9, 1}, {9, 8}, {5, 8}}
	a, b := make([]bool, n*n), make([]bool, n*n)
	left.Rasterize(a, n, n)
	right.Rasterize(b, n, n)
	for j := 2; j < 8; j++ {
		if a[5+n*j] == b[5+n*j] {
			t.Errorf("centre (5, %d) on the shared edge: left %v, right %v", j, a[5+n*j], b[5+n*j])
		}
	}
}

// TestAnalyticAreas compares rasterised areas with the analytic ones:
// the pixel count of a shape with a smooth edge differs from its area by
// at most about its perimeter (here well under that).
func TestAnalyticAreas(t *testing.T) {
	const n = 256
	for _, r := range []float64{5, 20.3, 60, 100.7} {
		var p Polygon
		for a := 0; a < 720; a++ {
			th := 2 * math.Pi * float64(a) / 720
			p = append(p, Point{128.3 + r*math.Cos(th), 127.6 + r*math.Sin(th)})
		}
		m := make([]bool, n*n)
		p.Rasterize(m, n, n)
		got, want := float64(count(m)), math.Pi*r*r
		if d := math.Abs(got - want); d > 0.25*2*math.Pi*r {
			t.Errorf("circle r=%g: %g pixels, area %.1f", r, got, want)
		}
		t.Logf("circle r=%5.1f: %6.0f pixels vs %8.1f (%.2f%%)", r, got, want, 100*(got-want)/want)
	}
	// A right triangle with legs of 100 and integer vertices: pixel count
	// is the area plus half the boundary points on the half-open sides.
	tri := Polygon{{10, 10}, {110, 10}, {10, 110}}
	m := make([]bool, n*n)
	tri.Rasterize(m, n, n)
	if got := count(m); math.Abs(float64(got)-5000) > 150 {
		t.Errorf("triangle: %d pixels, area 5000", got)
	}
	// Clipping: a polygon larger than the image fills it.
	big := Polygon{{-1, -1}, {n, -1}, {n, n}, {-1, n}}
	m = make([]bool, n*n)
	big.Rasterize(m, n, n)
	if count(m) != n*n {
		t.Errorf("covering polygon: %d pixels", count(m))
	}
}

func TestReadPointsErrors(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"words.txt":   "1 2\nx y\n3 4\n",
		"few.txt":     "1 2\n3 4\n",
		"outside.txt": "1 2\n3 4\n900 5\n",
		"three.txt":   "1 2 3\n",
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		if _, err := readPoints(p, 256, 256); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestSunnybrookContours(t *testing.T) {
	dcm := shareddata.Require(t, "sunnybrook/SCD0000101")
	dir := shareddata.Require(t, "sunnybrook/contours/SC-HF-I-1")
	st, err := dicomio.Open(dcm)
	if err != nil {
		t.Fatal(err)
	}
	s := st.Series[0]
	ref, err := LoadSunnybrook(dir, s)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*-contours", "*.txt"))
	if len(ref.Contours) != len(files) || len(files) != 27 {
		t.Fatalf("%d contours loaded from %d files, want 27", len(ref.Contours), len(files))
	}
	src := s.Source.(*study.DICOMSource)
	nk := s.Dims[2]
	n := s.Dims[0] * s.Dims[1]
	pixelMM2 := s.Spacing[0] * s.Spacing[1]
	cavities, myos := 0, 0
	for _, c := range ref.Contours {
		// Each contour maps to the image with its InstanceNumber.
		if got := src.At(c.Slice, c.Phase).InstanceNumber; got != c.Instance {
			t.Errorf("%s: mapped to slice %d phase %d, which is instance %d", c.Path, c.Slice, c.Phase, got)
		}
	}
	for tt := 0; tt < s.NT; tt++ {
		for k := 0; k < nk; k++ {
			cav, myo := ref.Contoured(k, tt)
			lab := ref.Phases[tt].Data[k*n : (k+1)*n]
			img := s.Data[(k+nk*tt)*n : (k+nk*tt+1)*n]
			var sumLV, sumMyo float64
			var nLV, nMyo int
			for i, l := range lab {
				switch l {
				case study.LV:
					sumLV += float64(img[i])
					nLV++
				case study.Myocardium:
					sumMyo += float64(img[i])
					nMyo++
				}
			}
			if !cav {
				if nLV+nMyo != 0 {
					t.Errorf("slice %d phase %d: labels on an image without contours", k, tt)
				}
				continue
			}
			cavities++
			area := float64(nLV) * pixelMM2
			// LV cavity cross-sections: a few cm² near the apex up to
			// ~60 cm² in a dilated failing heart.
			if area < 100 || area > 6000 {
				t.Errorf("slice %d phase %d: LV cavity %.0f mm²", k, tt, area)
			}
			if !myo {
				if nMyo != 0 {
					t.Errorf("slice %d phase %d: myocardium without an o-contour", k, tt)
				}
				t.Logf("slice %2d phase %2d: cavity %5.0f mm², mean %5.0f", k, tt, area, sumLV/float64(nLV))
				continue
			}
			myos++
			// Blood pool is bright in cine SSFP; the myocardium is dark.
			mLV, mMyo := sumLV/float64(nLV), sumMyo/float64(nMyo)
			if !(mLV > 1.5*mMyo) {
				t.Errorf("slice %d phase %d: mean inside i-contour %.0f, in the ring %.0f", k, tt, mLV, mMyo)
			}
			myoArea := float64(nMyo) * pixelMM2
			if myoArea < 100 || myoArea > 5000 {
				t.Errorf("slice %d phase %d: myocardium %.0f mm²", k, tt, myoArea)
			}
			t.Logf("slice %2d phase %2d: cavity %5.0f mm², mean %5.0f; myocardium %5.0f mm², mean %5.0f", k, tt, area, mLV, myoArea, mMyo)
		}
	}
	if cavities != 18 || myos != 9 {
		t.Errorf("%d images with a cavity, %d with myocardium; want 18 and 9", cavities, myos)
	}
	// Sunnybrook draws both contours at end-diastole and only the
	// endocardium at end-systole: per slice the ED cavity (the image that
	// also has an o-contour) must be the larger, and the volumes give the
	// low ejection fraction of this heart-failure (SC-HF-I) case.
	var edv, esv float64
	for k := 0; k < nk; k++ {
		var ed, es float64
		for tt := 0; tt < s.NT; tt++ {
			cav, myo := ref.Contoured(k, tt)
			if !cav {
				continue
			}
			c := 0
			for _, l := range ref.Phases[tt].Data[k*n : (k+1)*n] {
				if l == study.LV {
					c++
				}
			}
			if myo {
				ed = float64(c)
			} else {
				es = float64(c)
			}
		}
		if ed > 0 && es > 0 && !(ed > es) {
			t.Errorf("slice %d: ED cavity %g px not larger than ES %g px", k, ed, es)
		}
		edv += ed * pixelMM2 * s.Spacing[2] / 1000
		esv += es * pixelMM2 * s.Spacing[2] / 1000
	}
	ef := (edv - esv) / edv
	t.Logf("LV volumes over contoured slices: EDV %.0f mL, ESV %.0f mL, EF %.0f%%", edv, esv, 100*ef)
	if edv < 50 || edv > 400 || ef < 0.1 || ef > 0.5 {
		t.Errorf("EDV %.0f mL, EF %.0f%%: implausible for a failing heart", edv, 100*ef)
	}
}

func TestUnknownInstance(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "i-contours"), 0o755)
	os.WriteFile(filepath.Join(dir, "i-contours", "IM-0001-0999-icontour-manual.txt"), []byte("1 1\n5 1\n5 5\n"), 0o644)
	s := &study.Series{Geometry: study.Geometry{Dims: [3]int{8, 8, 1}}, NT: 1,
		Source: &study.DICOMSource{Slices: 1, Frames: []study.DICOMFrame{{InstanceNumber: 1, Frame: 1}}}}
	if _, err := LoadSunnybrook(dir, s); err == nil || !strings.Contains(err.Error(), "InstanceNumber 999") {
		t.Errorf("err %v", err)
	}
	if _, err := LoadSunnybrook(dir, &study.Series{}); err == nil {
		t.Error("no error for a series without DICOM source")
	}
}
