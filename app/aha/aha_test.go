package aha

import (
	"fmt"
	"math"
	"path/filepath"
	"testing"

	"cmrseg/app/dataset"
	"cmrseg/app/phantom"
	"cmrseg/app/shareddata"
	"cmrseg/app/study"
)

// thin is the regional defect of the tests: 4 mm thinner at ED in image
// angles 0°–60° of slices 5–7 (1-based), on the phantom's lateral wall.
var thin = phantom.Thinning{FromDeg: 0, ToDeg: 60, FirstSlice: 4, LastSlice: 6, MM: 4}

// truth is the analytic thickness of every segment at phase t, computed
// here by the rules the package documents but from the phantom's design
// (LV centre, mid-septum toward the RV centre, anterior = up, since the
// phantom's j axis points posterior): 10 slices all with cavity, base at
// slice 0, levels 0–3, 4–6, 7–9; rays every 0.25°.
func truth(opt phantom.Options, t int) [16]float64 {
	levels := [3][]int{{0, 1, 2, 3}, {4, 5, 6}, {7, 8, 9}}
	sept := phantom.MidSeptumDeg()
	var sum [16]float64
	var n [16]int
	for lv, ks := range levels {
		for _, k := range ks {
			for q := 0; q < 360*4; q++ {
				theta := float64(q) / 4
				// Anterior is image up (negative angle from the septum at
				// 193°), so θ toward the anterior insertion is +image angle.
				img := sept + theta
				seg := segment(lv, theta)
				sum[seg-1] += phantom.RadialWall(opt, k, t, img)
				n[seg-1]++
			}
		}
	}
	for s := range sum {
		sum[s] /= float64(n[s])
	}
	return sum
}

// TestPhantomThinningRecovered: on the phantom's exact labels, with and
// without a known thinned sector, the measured ED thickness of every
// segment is within 0.35 mm of the analytic truth, and the thinning shows
// up where it was put (mid inferolateral, segment 11) and nowhere else.
func TestPhantomThinningRecovered(t *testing.T) {
	var atED [2]*Result
	for n, opt := range []phantom.Options{{Seed: 1}, {Seed: 1, Thin: thin}} {
		s, labels, tr := phantom.Generate(opt)
		for _, ph := range []int{tr.ED, tr.ES} {
			r, err := Analyze(s.Geometry, labels[ph].Data)
			if err != nil {
				t.Fatal(err)
			}
			if ph == tr.ED {
				atED[n] = r
			}
			if !r.BaseFirst || r.CapSlices != 0 || len(r.Slices) != 10 {
				t.Fatalf("phase %d: base first %v, cap %d, %d slices", ph+1, r.BaseFirst, r.CapSlices, len(r.Slices))
			}
			for _, sl := range r.Slices {
				// The RV reaches slices 1–8; its insertions straddle the
				// septum symmetrically in the design.
				if sl.K < 8 != sl.Insertions {
					t.Errorf("slice %d: insertions found %v", sl.K+1, sl.Insertions)
				}
				if d := math.Abs(wrap180(sl.SeptumDeg - phantom.MidSeptumDeg())); d > 3 {
					t.Errorf("slice %d: mid-septum at %.1f°, design %.1f°", sl.K+1, sl.SeptumDeg, phantom.MidSeptumDeg())
				}
			}
			want := truth(opt, ph)
			worst := 0.0
			line := ""
			for seg := 0; seg < 16; seg++ {
				e := r.ThicknessMM[seg] - want[seg]
				worst = max(worst, math.Abs(e))
				line += fmt.Sprintf(" %d:%+.2f", seg+1, e)
			}
			if worst > 0.35 {
				t.Errorf("thinning %v, phase %d: worst segment error %.2f mm", opt.Thin.MM, ph+1, worst)
			}
			if !math.IsNaN(r.ThicknessMM[16]) {
				t.Errorf("segment 17 has a thickness %v without a cap", r.ThicknessMM[16])
			}
			t.Logf("thinning %g mm, phase %d: error per segment (mm, measured − design):%s", opt.Thin.MM, ph+1, line)
		}
	}
	// The difference thinned − intact is where the defect was put.
	r0, r1 := atED[0], atED[1]
	line := ""
	for seg := 0; seg < 16; seg++ {
		d := r0.ThicknessMM[seg] - r1.ThicknessMM[seg]
		line += fmt.Sprintf(" %d:%.2f", seg+1, d)
		switch {
		case seg+1 == 11 && d < 2.5:
			t.Errorf("mid inferolateral thinned by only %.2f mm", d)
		case seg+1 != 11 && seg+1 != 12 && math.Abs(d) > 0.05:
			t.Errorf("segment %d (%s) changed by %.2f mm though not thinned", seg+1, Names[seg], d)
		}
	}
	t.Logf("ED thickness intact − thinned per segment (mm):%s", line)
}

// TestMirroredStack: flipping the image left-right (and the row direction
// with it, so the anatomy is the same) leaves every segment's thickness
// unchanged: the anterior sense comes from the geometry, not the screen.
func TestMirroredStack(t *testing.T) {
	s, labels, _ := phantom.Generate(phantom.Options{Seed: 1, Thin: thin})
	g := s.Geometry
	nx, ny := g.Dims[0], g.Dims[1]
	mir := make([]uint8, len(labels[0].Data))
	for k := 0; k < g.Dims[2]; k++ {
		for j := 0; j < ny; j++ {
			for i := 0; i < nx; i++ {
				mir[(nx-1-i)+nx*(j+ny*k)] = labels[0].Data[i+nx*(j+ny*k)]
			}
		}
	}
	gm := g
	gm.Direction[0] = [3]float64{-g.Direction[0][0], -g.Direction[0][1], -g.Direction[0][2]}
	a, err := Analyze(g, labels[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Analyze(gm, mir)
	if err != nil {
		t.Fatal(err)
	}
	for seg := 0; seg < 16; seg++ {
		if math.Abs(a.ThicknessMM[seg]-b.ThicknessMM[seg]) > 0.1 {
			t.Errorf("segment %d: %.2f mm, mirrored %.2f mm", seg+1, a.ThicknessMM[seg], b.ThicknessMM[seg])
		}
	}
	// Reversing the slice order moves the base to the other end.
	nz := g.Dims[2]
	rev := make([]uint8, len(labels[0].Data))
	plane := nx * ny
	for k := 0; k < nz; k++ {
		copy(rev[(nz-1-k)*plane:], labels[0].Data[k*plane:(k+1)*plane])
	}
	c, err := Analyze(g, rev)
	if err != nil {
		t.Fatal(err)
	}
	if c.BaseFirst {
		t.Error("reversed stack still has its base first")
	}
	for seg := 0; seg < 16; seg++ {
		if math.Abs(a.ThicknessMM[seg]-c.ThicknessMM[seg]) > 1e-9 {
			t.Errorf("segment %d: %.2f mm, reversed stack %.2f mm", seg+1, a.ThicknessMM[seg], c.ThicknessMM[seg])
		}
	}
}

// TestApexCapAndBadInput: myocardium without cavity past the apex is
// segment 17; label maps without RV contact or of the wrong size are
// errors, not panics.
func TestApexCapAndBadInput(t *testing.T) {
	s, labels, _ := phantom.Generate(phantom.Options{Seed: 1})
	g := s.Geometry
	plane := g.Dims[0] * g.Dims[1]
	lab := append([]uint8(nil), labels[0].Data...)
	last := lab[(g.Dims[2]-1)*plane:]
	for i, l := range last {
		if l == study.LV {
			last[i] = study.Myocardium // the last slice becomes a solid cap
		}
	}
	r, err := Analyze(g, lab)
	if err != nil {
		t.Fatal(err)
	}
	if r.CapSlices != 1 || r.Slices[len(r.Slices)-1].Level != Apex || r.Chords[16] != 0 {
		t.Errorf("cap slices %d, last level %d", r.CapSlices, r.Slices[len(r.Slices)-1].Level)
	}
	// Segment 17 is the cap's extent along the stack: one slice.
	if r.ThicknessMM[16] != g.Spacing[2] {
		t.Errorf("segment 17: %v mm, want one slice spacing %v mm", r.ThicknessMM[16], g.Spacing[2])
	}
	// A sample measured on this layout has its own cap: with the cavity
	// back on the last slice it has none.
	s2, err := AnalyzeOn(g, labels[0].Data, r)
	if err != nil {
		t.Fatal(err)
	}
	if s2.CapSlices != 0 || !math.IsNaN(s2.ThicknessMM[16]) {
		t.Errorf("sample without a cap: %d cap slices, segment 17 %v mm", s2.CapSlices, s2.ThicknessMM[16])
	}
	s3, err := AnalyzeOn(g, lab, r)
	if err != nil || s3.ThicknessMM[16] != g.Spacing[2] {
		t.Errorf("sample with the cap: %v mm (%v)", s3.ThicknessMM[16], err)
	}
	noRV := append([]uint8(nil), labels[0].Data...)
	for i, l := range noRV {
		if l == study.RV {
			noRV[i] = 0
		}
	}
	if _, err := Analyze(g, noRV); err != ErrNoSeptum {
		t.Errorf("no RV: %v", err)
	}
	if _, err := Analyze(g, lab[:10]); err == nil {
		t.Error("short label map accepted")
	}
	if _, err := Analyze(g, make([]uint8, g.N())); err == nil {
		t.Error("empty label map accepted")
	}
}

// TestACDCPatient001GroundTruth: on the expert labels of a real patient
// (ACDC patient001, dilated cardiomyopathy, LV EF ≈ 30 %) the model gives
// plausible anatomy: base at slice 1, insertions on the slices with RV,
// the anterior insertion more anterior than the inferior one, ED wall
// 5–13 mm in every segment, low thickening (DCM). Independently of the
// chords, each slice's mean chord is checked against the thickness of the
// annulus with the slice's cavity and myocardium areas,
// A_myo / (π (R_epi + R_endo)).
func TestACDCPatient001GroundTruth(t *testing.T) {
	c, err := dataset.ReadPatient(filepath.Join(shareddata.Require(t, "acdc/training"), "patient001"))
	if err != nil {
		t.Fatal(err)
	}
	smp, err := c.Load()
	if err != nil {
		t.Fatal(err)
	}
	s := smp.Series
	g := s.Geometry
	ed, err := Analyze(g, smp.Labels[s.ED].Data)
	if err != nil {
		t.Fatal(err)
	}
	es, err := Analyze(g, smp.Labels[s.ES].Data)
	if err != nil {
		t.Fatal(err)
	}
	if !ed.BaseFirst || !es.BaseFirst {
		t.Errorf("base first: ED %v ES %v; ACDC stacks start at the base", ed.BaseFirst, es.BaseFirst)
	}
	ant := anterior(g)
	for _, sl := range ed.Slices {
		if !sl.Insertions {
			continue
		}
		dir := func(d float64) float64 {
			return math.Cos(d*math.Pi/180)*ant[0] + math.Sin(d*math.Pi/180)*ant[1]
		}
		if dir(sl.AnteriorDeg) < dir(sl.InferiorDeg) {
			t.Errorf("slice %d: anterior insertion %.0f° lies below the inferior %.0f°", sl.K+1, sl.AnteriorDeg, sl.InferiorDeg)
		}
	}
	// Per slice: mean chord against the equivalent annulus.
	nx, ny := g.Dims[0], g.Dims[1]
	plane := nx * ny
	lab := smp.Labels[s.ED].Data
	for _, sl := range ed.Slices {
		if sl.Level == Apex {
			continue
		}
		var cav, myo int
		for _, l := range lab[sl.K*plane : (sl.K+1)*plane] {
			switch l {
			case study.LV:
				cav++
			case study.Myocardium:
				myo++
			}
		}
		px := g.Spacing[0] * g.Spacing[1]
		ri, re := math.Sqrt(float64(cav)*px/math.Pi), math.Sqrt(float64(cav+myo)*px/math.Pi)
		annulus := float64(myo) * px / (math.Pi * (re + ri))
		var sum float64
		n := 0
		for deg := 0; deg < 360; deg++ {
			if ch := chord(lab[sl.K*plane:(sl.K+1)*plane], nx, ny, g.Spacing[0], g.Spacing[1], sl.Centroid, float64(deg)); ch > 0 {
				sum += ch
				n++
			}
		}
		mean := sum / float64(n)
		if math.Abs(mean-annulus) > 0.1*annulus {
			t.Errorf("slice %d: mean chord %.2f mm, annulus %.2f mm", sl.K+1, mean, annulus)
		}
		t.Logf("slice %d (level %d): mean chord %.2f mm over %d rays, equivalent annulus %.2f mm", sl.K+1, sl.Level, mean, n, annulus)
	}
	line := ""
	for n := 0; n < 16; n++ {
		e := ed.ThicknessMM[n]
		th := 100 * (es.ThicknessMM[n] - e) / e
		if !(e >= 5 && e <= 13) || !(th > -30 && th < 80) {
			t.Errorf("segment %d (%s): ED %.2f mm, thickening %.1f %%", n+1, Names[n], e, th)
		}
		line += fmt.Sprintf("\n  %2d %-20s ED %5.2f mm  ES %5.2f mm  thickening %5.1f %%", n+1, Names[n], e, es.ThicknessMM[n], th)
	}
	t.Logf("patient001 expert labels:%s", line)
}

// TestAnalyzeOnKeepsLayout: measuring a map on its own layout gives its
// own analysis; a sample that lost the cavity on the apical slice keeps the
// reference's levels on AnalyzeOn (that slice adds no chords), while its
// own analysis would move the thirds.
func TestAnalyzeOnKeepsLayout(t *testing.T) {
	s, labels, _ := phantom.Generate(phantom.Options{Seed: 1, Thin: thin})
	g := s.Geometry
	ref, err := Analyze(g, labels[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	same, err := AnalyzeOn(g, labels[0].Data, ref)
	if err != nil {
		t.Fatal(err)
	}
	for n := range ref.ThicknessMM {
		if a, b := ref.ThicknessMM[n], same.ThicknessMM[n]; a != b && !(math.IsNaN(a) && math.IsNaN(b)) || ref.Chords[n] != same.Chords[n] {
			t.Errorf("segment %d: own layout %.3f mm (%d chords), Analyze %.3f (%d)", n+1, b, same.Chords[n], a, ref.Chords[n])
		}
	}
	// Sample: slice 10's cavity becomes background.
	plane := g.Dims[0] * g.Dims[1]
	smp := append([]uint8(nil), labels[0].Data...)
	for i := 9 * plane; i < 10*plane; i++ {
		if smp[i] == study.LV {
			smp[i] = study.Background
		}
	}
	own, err := Analyze(g, smp)
	if err != nil {
		t.Fatal(err)
	}
	on, err := AnalyzeOn(g, smp, ref)
	if err != nil {
		t.Fatal(err)
	}
	if own.Slices[6].Level == ref.Slices[6].Level { // 9 cavity slices: slice 7 moves from mid to apical
		t.Errorf("own analysis kept slice 7 at level %d", own.Slices[6].Level)
	}
	for n, sl := range on.Slices {
		if sl.Level != ref.Slices[n].Level || sl.SeptumDeg != ref.Slices[n].SeptumDeg {
			t.Errorf("slice %d: level %d septum %.1f on the layout, reference %d %.1f", sl.K+1, sl.Level, sl.SeptumDeg, ref.Slices[n].Level, ref.Slices[n].SeptumDeg)
		}
	}
	// Apical segments lose slice 10's chords; mid segments are untouched.
	if on.Chords[12] >= ref.Chords[12] || on.ThicknessMM[8] != ref.ThicknessMM[8] {
		t.Errorf("apical anterior chords %d (reference %d); mid inferoseptal %.3f vs %.3f", on.Chords[12], ref.Chords[12], on.ThicknessMM[8], ref.ThicknessMM[8])
	}
	if _, err := AnalyzeOn(g, smp, nil); err == nil {
		t.Error("no layout accepted")
	}
	if _, err := AnalyzeOn(g, smp[:5], ref); err == nil {
		t.Error("short labels accepted")
	}
}
