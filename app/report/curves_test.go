package report

import (
	"math"
	"strings"
	"testing"

	"cmrseg/app/aha"
	"cmrseg/app/phantom"
	"cmrseg/app/study"
)

// cinePhase is phase t of the 1-ml-voxel cube with lv LV and rv RV voxels
// and one sample per entry of samples (LV voxel counts; RV as in labels).
func cinePhase(t, lv, rv int, samples ...int) Phase {
	n := cube.N()
	p := Phase{Index: t, Labels: labelMap(n, map[uint8]int{study.LV: lv, study.RV: rv})}
	for _, s := range samples {
		p.Samples = append(p.Samples, labelMap(n, map[uint8]int{study.LV: s, study.RV: rv}))
	}
	return p
}

// TestCurvesHandComputed: five phases 100 ms apart, ED 1 and ES 3 (1-based),
// LV 10, 6, 4, 7, 9 ml. By hand: peak ejection max(4, 2) ml / 0.1 s = 40 ml/s,
// peak filling max(3, 2) ml / 0.1 s = 30 ml/s; per sample the same rule,
// the interval the type-7 percentiles of the three samples' rates.
func TestCurvesHandComputed(t *testing.T) {
	lv := []int{10, 6, 4, 7, 9}
	// Three checkpoints: each LV curve is the labels' curve plus an offset
	// per phase chosen so the rates differ.
	off := [][]int{{0, 0, 0}, {1, 0, -1}, {0, 0, 0}, {-1, 1, 0}, {0, 0, 2}}
	var phases []Phase
	for t := range lv {
		phases = append(phases, cinePhase(t, lv[t], 3, lv[t]+off[t][0], lv[t]+off[t][1], lv[t]+off[t][2]))
	}
	in := Input{Geometry: cube, ED: phases[0], ES: phases[2], Phases: phases[1:], NT: 5,
		TriggerTimes: []float64{0, 100, 200, 300, 400}}
	r, err := Compute(in)
	if err != nil {
		t.Fatal(err)
	}
	c := r.Curves
	if c == nil || len(c.Points) != 5 || c.Timing != "" {
		t.Fatalf("curves %+v", c)
	}
	for i, p := range c.Points {
		s := []float64{float64(lv[i] + off[i][0]), float64(lv[i] + off[i][1]), float64(lv[i] + off[i][2])}
		lo, hi := minMax(s)
		// Type 7 on three values: 2.5 % lies 0.05 of the way from the
		// smallest to the middle one.
		mid := s[0] + s[1] + s[2] - lo - hi
		wantLo, wantHi := lo+0.05*(mid-lo), hi-0.05*(hi-mid)
		if p.Phase != i || !near(p.LV, float64(lv[i])) || !near(p.RV, 3) || !near(p.TimeMS, float64(100*i)) ||
			!near(p.LVLow, wantLo) || !near(p.LVHigh, wantHi) || !near(p.RVLow, 3) || p.Samples != 3 {
			t.Errorf("point %d: %+v, want LV %d [%g, %g]", i, p, lv[i], wantLo, wantHi)
		}
	}
	if !near(c.PeakEjection.Value, 40) || !near(c.PeakFilling.Value, 30) {
		t.Errorf("peak ejection %v, filling %v ml/s, want 40 and 30", c.PeakEjection.Value, c.PeakFilling.Value)
	}
	// Per sample (ml per 0.1 s): sample 0 curve 10,7,4,6,9 -> PER 30, PFR 30;
	// sample 1: 10,6,4,8,9 -> 40, 40; sample 2: 10,5,4,7,11 -> 50, 40.
	pers := []float64{30, 40, 50}
	if !near(c.PeakEjection.Low, Percentile(pers, 2.5)) || !near(c.PeakEjection.High, 49.5) ||
		!near(c.PeakFilling.Low, 30.5) || !near(c.PeakFilling.High, 40) {
		t.Errorf("intervals: ejection [%v, %v], filling [%v, %v]; want [30.5, 49.5], [30.5, 40]",
			c.PeakEjection.Low, c.PeakEjection.High, c.PeakFilling.Low, c.PeakFilling.High)
	}

	// A phase still missing: its point is absent and no rate is claimed.
	part := in
	part.Phases = []Phase{phases[1], phases[4]}
	r, err = Compute(part)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Curves.Point(3); ok || len(r.Curves.Points) != 4 {
		t.Errorf("unsegmented phase 4 appears: %+v", r.Curves.Points)
	}
	if !math.IsNaN(r.Curves.PeakEjection.Value) || !strings.Contains(r.Curves.Timing, "4 of 5 phases") {
		t.Errorf("partial curve: ejection %v, timing %q", r.Curves.PeakEjection.Value, r.Curves.Timing)
	}
	// No trigger times: the volumes stay, the rates are not invented.
	untimed := in
	untimed.TriggerTimes = nil
	r, _ = Compute(untimed)
	if len(r.Curves.Points) != 5 || !math.IsNaN(r.Curves.Points[0].TimeMS) ||
		!math.IsNaN(r.Curves.PeakFilling.Value) || !strings.Contains(r.Curves.Timing, "timing unknown") {
		t.Errorf("untimed curves: %+v", r.Curves)
	}
	// A sample map of the wrong size is an error, not a panic.
	bad := in
	bad.Phases = append([]Phase{}, phases[1:]...)
	bad.Phases[1].Samples = [][]uint8{{1, 2}}
	if _, err := Compute(bad); err == nil {
		t.Error("short sample accepted")
	}
}

// TestCurvesWrapAround: a series that starts after the R wave (ED is the
// last phase) still finds systole from ED to ES across the series' end;
// the step from the last phase to the first has no known duration, so only
// steps inside the series count.
func TestCurvesWrapAround(t *testing.T) {
	lv := []int{8, 5, 4, 6, 10} // ED phase 5, ES phase 3 (1-based)
	var phases []Phase
	for t := range lv {
		phases = append(phases, cinePhase(t, lv[t], 0))
	}
	r, err := Compute(Input{Geometry: cube, ED: phases[4], ES: phases[2], Phases: phases, NT: 5,
		TriggerTimes: []float64{0, 50, 100, 150, 200}})
	if err != nil {
		t.Fatal(err)
	}
	// Systole within the series: 8->5->4, steps of 3 and 1 ml in 50 ms.
	// Diastole: 4->6->10, steps of 2 and 4 ml.
	if !near(r.Curves.PeakEjection.Value, 60) || !near(r.Curves.PeakFilling.Value, 80) {
		t.Errorf("peak ejection %v, filling %v, want 60 and 80 ml/s", r.Curves.PeakEjection.Value, r.Curves.PeakFilling.Value)
	}
}

// TestPhantomCurves: on the phantom's exact labels the LV curve follows the
// design (V = EDV·(1 − 0.6·c(t)), c the raised-cosine contraction with ES at
// phase 10 of 25, 40 ms apart), and the peak rates match the design's
// finite differences within what the volumes' pixelisation error allows.
func TestPhantomCurves(t *testing.T) {
	s, labels, truth := phantom.Generate(phantom.Options{Seed: 1})
	in := Input{Geometry: s.Geometry, Meta: s.Meta, NT: s.NT, TriggerTimes: s.TriggerTimes,
		ED: Phase{Index: truth.ED, Labels: labels[truth.ED].Data}, ES: Phase{Index: truth.ES, Labels: labels[truth.ES].Data}}
	for ph := range labels {
		in.Phases = append(in.Phases, Phase{Index: ph, Labels: labels[ph].Data})
	}
	r, err := Compute(in)
	if err != nil {
		t.Fatal(err)
	}
	cyc := func(t int) float64 {
		if t <= 9 {
			return 0.5 * (1 - math.Cos(math.Pi*float64(t)/9))
		}
		return 0.5 * (1 + math.Cos(math.Pi*float64(t-9)/16))
	}
	edv := truth.Design.LVEDV
	design := func(t int) float64 { return edv * (1 - 0.6*cyc(t)) }
	worst := 0.0 // largest pixelisation error of a phase's volume, ml
	for _, p := range r.Curves.Points {
		worst = max(worst, math.Abs(p.LV-design(p.Phase)))
		if math.Abs(p.LV-design(p.Phase)) > 0.03*edv {
			t.Errorf("phase %d: LV %.2f ml, design %.2f", p.Phase+1, p.LV, design(p.Phase))
		}
	}
	per, pfr := 0.0, 0.0
	for t := 0; t+1 < 25; t++ {
		d := (design(t+1) - design(t)) / 0.040
		if t < 9 {
			per = max(per, -d)
		} else {
			pfr = max(pfr, d)
		}
	}
	gotPER, gotPFR := r.Curves.PeakEjection.Value, r.Curves.PeakFilling.Value
	// A finite difference of two volumes off by at most worst each is off
	// by at most 2·worst per 40 ms.
	tol := 2 * worst / 0.040
	if math.Abs(gotPER-per) > tol || math.Abs(gotPFR-pfr) > tol || len(r.Curves.Points) != 25 {
		t.Errorf("phantom peak ejection %.1f ml/s (design %.1f), filling %.1f (design %.1f)", gotPER, per, gotPFR, pfr)
	}
	t.Logf("phantom: peak ejection %.1f ml/s (design %.1f), peak filling %.1f ml/s (design %.1f); volumes within %.2f ml of the design, so rates within %.0f ml/s",
		gotPER, per, gotPFR, pfr, worst, tol)
}

func minMax(v []float64) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, x := range v {
		lo, hi = math.Min(lo, x), math.Max(hi, x)
	}
	return lo, hi
}

// TestPhantomSegmentIntervals: the AHA thickness interval of a segment
// spans what the posterior samples say. ED labels are the intact phantom;
// three "checkpoints" see the wall intact, 2 mm thinner and 4 mm thinner
// in the mid inferolateral sector, each paired with its own ES. The
// interval of segment 11 must be the type-7 percentiles of the three
// samples' thicknesses, each measured here on the labels' layout, and the untouched
// segments' intervals collapse onto their value.
func TestPhantomSegmentIntervals(t *testing.T) {
	th := phantom.Thinning{FromDeg: 0, ToDeg: 60, FirstSlice: 4, LastSlice: 6}
	var ed, es [][]uint8
	var s *study.Series
	var truth phantom.Truth
	for _, mm := range []float64{0, 2, 4} {
		th.MM = mm
		ser, labels, tr := phantom.Generate(phantom.Options{Seed: 1, Thin: th})
		ed, es = append(ed, labels[tr.ED].Data), append(es, labels[tr.ES].Data)
		s, truth = ser, tr
	}
	r, err := Compute(Input{Geometry: s.Geometry, Meta: s.Meta,
		ED: Phase{Index: truth.ED, Labels: ed[0], Samples: ed},
		ES: Phase{Index: truth.ES, Labels: es[0], Samples: es}, Segments: SegmentsWithIntervals})
	if err != nil {
		t.Fatal(err)
	}
	if r.AHA == nil || r.AHA.Samples != 3 {
		t.Fatalf("AHA %+v (%s)", r.AHA, r.AHANote)
	}
	var edT, thick []float64
	edRef, errA := aha.Analyze(s.Geometry, ed[0])
	esRef, errB := aha.Analyze(s.Geometry, es[0])
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	for k := range ed {
		a, errA := aha.AnalyzeOn(s.Geometry, ed[k], edRef)
		b, errB := aha.AnalyzeOn(s.Geometry, es[k], esRef)
		if errA != nil || errB != nil {
			t.Fatal(errA, errB)
		}
		edT = append(edT, a.ThicknessMM[10])
		thick = append(thick, 100*(b.ThicknessMM[10]-a.ThicknessMM[10])/a.ThicknessMM[10])
	}
	seg := r.AHA.Segments[10]
	if seg.Number != 11 || !near(seg.EDThickness.Value, edT[0]) ||
		!near(seg.EDThickness.Low, Percentile(edT, 2.5)) || !near(seg.EDThickness.High, Percentile(edT, 97.5)) ||
		!near(seg.Thickening.Low, Percentile(thick, 2.5)) || !near(seg.Thickening.High, Percentile(thick, 97.5)) {
		t.Errorf("segment 11: %+v; samples ED %v, thickening %v", seg, edT, thick)
	}
	if seg.EDThickness.High-seg.EDThickness.Low < 2.5 {
		t.Errorf("segment 11 ED interval [%.2f, %.2f] does not show the 4 mm spread", seg.EDThickness.Low, seg.EDThickness.High)
	}
	for _, n := range []int{1, 7, 9, 14} {
		sg := r.AHA.Segments[n-1]
		if !near(sg.EDThickness.Low, sg.EDThickness.Value) || !near(sg.EDThickness.High, sg.EDThickness.Value) ||
			!(sg.Thickening.Value > 20) {
			t.Errorf("segment %d untouched by the samples: %+v", n, sg)
		}
	}
	t.Logf("segment 11 ED %.2f mm [%.2f, %.2f], thickening %.1f %% [%.1f, %.1f]", seg.EDThickness.Value,
		seg.EDThickness.Low, seg.EDThickness.High, seg.Thickening.Value, seg.Thickening.Low, seg.Thickening.High)
}
