package report

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"

	"cmrseg/app/study"
)

// Keys of the rates derived from the LV volume–time curve.
const (
	LVPeakEjection = "lv_peak_ejection_rate"
	LVPeakFilling  = "lv_peak_filling_rate"
)

// CurvePoint is the LV and RV cavity volume of one segmented phase with
// its 95 % credible band (percentiles over the phase's posterior samples,
// as for the indices; NaN without samples).
type CurvePoint struct {
	Phase int // 0-based phase of the series
	// TimeMS is the phase's trigger time; NaN when the series has none.
	TimeMS            float64
	LV, LVLow, LVHigh float64 // ml
	RV, RVLow, RVHigh float64 // ml
	Samples           int     // posterior samples behind the band
}

// Curves are the volume–time curves of the segmented phases and the LV
// peak ejection and filling rates.
type Curves struct {
	// Points holds one entry per segmented phase, in phase order; phases
	// not segmented yet are absent.
	Points []CurvePoint
	// NT is the series' number of phases.
	NT int
	// Timing says where the time axis comes from, or why rates are
	// missing; empty when the rates are defined.
	Timing string
	// PeakEjection and PeakFilling are in ml/s (NaN when the timing is
	// unknown or phases are still missing; Timing then says why).
	PeakEjection, PeakFilling Index
}

// curves builds the volume–time curves of in's phases (ED and ES always,
// in.Phases besides) and the peak rates. Rates use finite differences
// between consecutive phases with known trigger times: the peak ejection
// rate is the largest volume decrease per second between consecutive
// phases from ED to ES, the peak filling rate the largest increase from ES
// to the last phase (the step from the last phase back to the first is not
// used: the RR interval, and so its duration, is unknown). They are given
// only when every phase is segmented, so a partial curve never reports a
// peak that a missing phase would have changed.
func curves(in Input, voxelML float64, singlePhase bool) (*Curves, error) {
	g := in.Geometry
	plane := g.Dims[0] * g.Dims[1]
	byPhase := map[int]Phase{}
	for _, p := range append([]Phase{in.ED, in.ES}, in.Phases...) {
		if len(p.Labels) != g.N() {
			return nil, fmt.Errorf("report: phase %d has %d labels, want %d", p.Index+1, len(p.Labels), g.N())
		}
		for k, s := range p.Samples {
			if len(s) != g.N() {
				return nil, fmt.Errorf("report: phase %d sample %d has %d voxels, want %d", p.Index+1, k, len(s), g.N())
			}
		}
		if p.Ensemble != nil && len(p.Ensemble) != g.N() {
			return nil, fmt.Errorf("report: phase %d ensemble labels have %d voxels, want %d", p.Index+1, len(p.Ensemble), g.N())
		}
		if _, dup := byPhase[p.Index]; !dup {
			byPhase[p.Index] = p
		}
	}
	nt := max(in.NT, in.ED.Index+1, in.ES.Index+1)
	c := &Curves{NT: nt}
	// sampleLV[t][k] is checkpoint k's LV volume at phase t. The phases are
	// counted on all cores: the live panel recounts every segmented phase
	// after each correction.
	sampleLV := make([][]float64, nt)
	points := make([]*CurvePoint, nt)
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for t := 0; t < nt; t++ {
		p, ok := byPhase[t]
		if !ok {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			cnt := countSample(p.Labels, nil, nil, p.excl, plane)
			pt := CurvePoint{Phase: t, TimeMS: math.NaN(),
				LV: float64(cnt[study.LV]) * voxelML, RV: float64(cnt[study.RV]) * voxelML,
				LVLow: math.NaN(), LVHigh: math.NaN(), RVLow: math.NaN(), RVHigh: math.NaN(), Samples: len(p.Samples)}
			if t < len(in.TriggerTimes) {
				pt.TimeMS = in.TriggerTimes[t]
			}
			if len(p.Samples) > 0 {
				kn := known(p, plane)
				lv := make([]float64, len(p.Samples))
				rv := make([]float64, len(p.Samples))
				for k, s := range p.Samples {
					n := countSample(s, p.Labels, kn, p.excl, plane)
					lv[k], rv[k] = float64(n[study.LV])*voxelML, float64(n[study.RV])*voxelML
				}
				pt.LVLow, pt.LVHigh = Percentile(lv, 2.5), Percentile(lv, 97.5)
				pt.RVLow, pt.RVHigh = Percentile(rv, 2.5), Percentile(rv, 97.5)
				sampleLV[t] = lv
			}
			points[t] = &pt
		}()
	}
	wg.Wait()
	for _, pt := range points {
		if pt != nil {
			c.Points = append(c.Points, *pt)
		}
	}

	nan := math.NaN()
	c.PeakEjection = Index{Key: LVPeakEjection, Name: "LV peak ejection rate", Unit: "ml/s", Value: nan, Low: nan, High: nan, PerBSA: nan, PerBSALow: nan, PerBSAHigh: nan}
	c.PeakFilling = Index{Key: LVPeakFilling, Name: "LV peak filling rate", Unit: "ml/s", Value: nan, Low: nan, High: nan, PerBSA: nan, PerBSALow: nan, PerBSAHigh: nan}
	tt := in.TriggerTimes
	switch {
	case singlePhase:
		c.Timing = "ED and ES are the same phase: no ejection or filling"
		return c, nil
	case len(tt) != nt || nt < 3:
		c.Timing = "phase timing unknown (the series has no trigger times): rates not computed"
		return c, nil
	case len(c.Points) < nt:
		c.Timing = fmt.Sprintf("%d of %d phases segmented: rates follow when all are in", len(c.Points), nt)
		return c, nil
	}
	for t := 1; t < nt; t++ {
		if !(tt[t] > tt[t-1]) {
			c.Timing = fmt.Sprintf("trigger times do not increase (phase %d at %g ms, phase %d at %g ms): rates not computed", t, tt[t-1], t+1, tt[t])
			return c, nil
		}
	}
	ed, es := in.ED.Index, in.ES.Index
	// systolic reports whether the step from phase t to t+1 lies between
	// ED and ES in cycle order (ED may come after ES in the series when
	// the series does not start at the R wave).
	systolic := func(t int) bool {
		if ed < es {
			return t >= ed && t < es
		}
		return t >= ed || t < es
	}
	rates := func(lv func(t int) float64) (per, pfr float64) {
		per, pfr = nan, nan
		for t := 0; t+1 < nt; t++ {
			rate := (lv(t+1) - lv(t)) / (tt[t+1] - tt[t]) * 1000 // ml/s
			if systolic(t) {
				if math.IsNaN(per) || -rate > per {
					per = -rate
				}
			} else if math.IsNaN(pfr) || rate > pfr {
				pfr = rate
			}
		}
		return per, pfr
	}
	vol := make([]float64, nt)
	for _, p := range c.Points {
		vol[p.Phase] = p.LV
	}
	c.PeakEjection.Value, c.PeakFilling.Value = rates(func(t int) float64 { return vol[t] })

	// Intervals pair checkpoint k across all phases, so every phase needs
	// the same number of samples.
	k := len(sampleLV[c.Points[0].Phase])
	for t := 0; t < nt; t++ {
		if len(sampleLV[t]) != k {
			k = 0
		}
	}
	if k > 0 {
		var pers, pfrs []float64
		for s := 0; s < k; s++ {
			per, pfr := rates(func(t int) float64 { return sampleLV[t][s] })
			if !math.IsNaN(per) {
				pers = append(pers, per)
			}
			if !math.IsNaN(pfr) {
				pfrs = append(pfrs, pfr)
			}
		}
		c.PeakEjection.Low, c.PeakEjection.High = Percentile(pers, 2.5), Percentile(pers, 97.5)
		c.PeakFilling.Low, c.PeakFilling.High = Percentile(pfrs, 2.5), Percentile(pfrs, 97.5)
	}
	return c, nil
}

// Point returns the curve point of phase t.
func (c *Curves) Point(t int) (CurvePoint, bool) {
	i, ok := slices.BinarySearchFunc(c.Points, t, func(p CurvePoint, t int) int { return p.Phase - t })
	if !ok {
		return CurvePoint{}, false
	}
	return c.Points[i], true
}
