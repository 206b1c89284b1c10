// Package report computes the cardiac indices a CMR report states (LV and RV
// volumes, ejection fractions, LV myocardial mass) from the ED and ES label
// maps, with 95 % credible intervals from the ensemble's posterior samples,
// and exports them as CSV and JSON.
package report

import (
	"fmt"
	"math"
	"slices"

	"cmrseg/app/study"
)

// MyocardialDensity in g/ml turns myocardial volume into mass.
const MyocardialDensity = 1.05

// Notice goes with every export: the models are trained on research data.
const Notice = "Research use only, not for clinical diagnosis. Segmentation models trained on ACDC (Bernard et al., IEEE TMI 2018)."

// Phase is the segmentation of one cardiac phase as the report sees it.
type Phase struct {
	// Index is the phase number in the series (0-based).
	Index int
	// Labels are the current labels, after the reviewer's corrections.
	Labels []uint8
	// Samples are the per-checkpoint labels of the ensemble; nil when the
	// labels did not come from an ensemble (then there is no interval).
	Samples [][]uint8
	// Ensemble is the ensemble's own prediction; where Labels differ from it
	// the reviewer has decided, so every sample takes the reviewer's label.
	// Nil means: no voxel was corrected.
	Ensemble []uint8
	// Accepted marks slices the reviewer accepted; their labels are taken
	// as known in every sample. Nil or short means none.
	Accepted []bool
	// excl marks the slices whose LV cavity the basal-slice rule leaves
	// out of the volumes (decided on Labels, applied to every sample).
	excl []bool
}

// Input is everything a report is computed from.
type Input struct {
	Geometry study.Geometry
	Meta     study.Metadata
	ED, ES   Phase
	// Phases are the other segmented phases, for the volume–time curves
	// (ED and ES need not be repeated); phases not segmented are absent.
	Phases []Phase
	// NT is the series' number of phases; TriggerTimes (ms, one per
	// phase, nil when unknown) give the curves their time axis.
	NT           int
	TriggerTimes []float64
	// Segments chooses how much of the AHA 17-segment model to compute.
	Segments SegmentMode
	// BasalRule applies the SCMR basal-slice rule to the LV volumes (see
	// BasalRuleMin); the report states its effect either way.
	BasalRule bool
}

// SegmentMode says how much of the AHA model a report computes: the
// intervals need one analysis per posterior sample and phase (tens of
// milliseconds each), too slow to repeat after every correction.
type SegmentMode int

const (
	NoSegments            SegmentMode = iota
	SegmentsOnLabels                  // thickness from the current labels, no intervals (the live panel)
	SegmentsWithIntervals             // and intervals from the posterior samples (exports)
)

// Index is one reported quantity. Undefined values (an ejection fraction of
// an empty ventricle, an interval without samples) are NaN.
type Index struct {
	Key   string // short machine name, e.g. "lv_edv"
	Name  string // display name, e.g. "LV end-diastolic volume"
	Unit  string // "ml", "%", "g"
	Value float64
	// Low and High bound the 95 % credible interval: the 2.5th and 97.5th
	// percentiles of the index computed per checkpoint. Value comes from the
	// current labels, so after corrections it need not lie inside.
	Low, High float64
	// PerBSA is Value divided by body surface area (unit per m²); NaN when
	// height or weight is unknown or the index is a ratio (EF).
	PerBSA, PerBSALow, PerBSAHigh float64
}

// Report is the set of cardiac indices of one study.
type Report struct {
	PatientID         string
	SeriesInstanceUID string
	EDPhase, ESPhase  int
	VoxelML           float64
	HeightM, WeightKg float64
	// BSA is the Mosteller body surface area in m²; 0 when unknown.
	BSA float64
	// Checkpoints is the number of posterior samples behind the intervals;
	// 0 when there are none.
	Checkpoints int
	// SinglePhase: ED and ES are the same phase (a single-frame study, or
	// the reader chose so), so ESV, SV and EF are undefined (NaN), not 0.
	SinglePhase bool
	// Provisional, when not empty, says why the numbers may still change
	// (e.g. an end-systole guessed from timing while phases are still
	// being segmented); exports carry it so an early export says so.
	Provisional string
	Indices     []Index
	// Curves are the LV and RV volume–time curves over the segmented
	// phases with the LV peak ejection and filling rates.
	Curves *Curves
	// AHA is the 17-segment wall thickness and thickening; nil when not
	// asked for (Input.Segments) or when the labels do not allow it (then
	// AHANote says why).
	AHA     *Segments
	AHANote string
	// Basal is the basal-slice rule's effect on the LV volumes.
	Basal BasalEffect
	// Sex ("M", "F" or "") and AgeYears (0: unknown) choose the
	// reference ranges; Ranges compares the indices with them.
	Sex      string
	AgeYears float64
	Ranges   *RangeCheck
}

// Keys of the indices, in report order.
const (
	LVEDV  = "lv_edv"
	LVESV  = "lv_esv"
	LVSV   = "lv_sv"
	LVEF   = "lv_ef"
	RVEDV  = "rv_edv"
	RVESV  = "rv_esv"
	RVSV   = "rv_sv"
	RVEF   = "rv_ef"
	LVMass = "lv_mass"
)

// BSA is the Mosteller body surface area in m²: sqrt(height_cm·weight_kg/3600).
// It returns 0 when either is unknown (not positive).
func BSA(heightM, weightKg float64) float64 {
	if !(heightM > 0) || !(weightKg > 0) {
		return 0
	}
	return math.Sqrt(heightM * 100 * weightKg / 3600)
}

// Compute derives the report from ED and ES labels. Intervals need samples
// at both phases from the same number of checkpoints (the ED and ES values
// of checkpoint k are paired, so SV and EF intervals keep the correlation).
func Compute(in Input) (*Report, error) {
	g := in.Geometry
	n := g.N()
	if n <= 0 || !(g.VoxelVolumeML() > 0) {
		return nil, fmt.Errorf("report: bad geometry: dims %v spacing %v", g.Dims, g.Spacing)
	}
	for _, p := range []struct {
		name string
		ph   Phase
	}{{"ED", in.ED}, {"ES", in.ES}} {
		if len(p.ph.Labels) != n {
			return nil, fmt.Errorf("report: %s phase %d has %d labels, want %d", p.name, p.ph.Index+1, len(p.ph.Labels), n)
		}
		if p.ph.Ensemble != nil && len(p.ph.Ensemble) != n {
			return nil, fmt.Errorf("report: %s ensemble labels have %d voxels, want %d", p.name, len(p.ph.Ensemble), n)
		}
		for k, s := range p.ph.Samples {
			if len(s) != n {
				return nil, fmt.Errorf("report: %s sample %d has %d voxels, want %d", p.name, k, len(s), n)
			}
		}
	}
	r := &Report{
		PatientID:         in.Meta.PatientID,
		SeriesInstanceUID: in.Meta.SeriesInstanceUID,
		EDPhase:           in.ED.Index,
		ESPhase:           in.ES.Index,
		VoxelML:           g.VoxelVolumeML(),
		HeightM:           in.Meta.HeightM,
		WeightKg:          in.Meta.WeightKg,
		BSA:               BSA(in.Meta.HeightM, in.Meta.WeightKg),
		Sex:               in.Meta.Sex,
		AgeYears:          in.Meta.AgeYears,
	}
	r.SinglePhase = in.ED.Index == in.ES.Index
	plane := g.Dims[0] * g.Dims[1]
	// The basal-slice rule: its effect is computed both ways, applied
	// when asked.
	r.Basal = BasalEffect{Applied: in.BasalRule, EDSlices: BasalExcluded(g, in.ED.Labels), ESSlices: BasalExcluded(g, in.ES.Labels)}
	edExcl, esExcl := sliceMask(r.Basal.EDSlices, g.Dims[2]), sliceMask(r.Basal.ESSlices, g.Dims[2])
	without := r.indices(study.CountLabels(in.ED.Labels), study.CountLabels(in.ES.Labels))
	with := r.indices(countSample(in.ED.Labels, nil, nil, edExcl, plane), countSample(in.ES.Labels, nil, nil, esExcl, plane))
	r.Basal.Without = [3]float64{without[0], without[1], without[3]}
	r.Basal.With = [3]float64{with[0], with[1], with[3]}
	point := without
	if in.BasalRule {
		point = with
		in.Phases = slices.Clone(in.Phases) // excl is set on the report's own copy
		in.ED.excl, in.ES.excl = edExcl, esExcl
		for n := range in.Phases {
			in.Phases[n].excl = sliceMask(BasalExcluded(g, in.Phases[n].Labels), g.Dims[2])
		}
	}

	k := len(in.ED.Samples)
	var perSample [][]float64
	if k > 0 && k == len(in.ES.Samples) {
		r.Checkpoints = k
		edKnown := known(in.ED, plane)
		esKnown := known(in.ES, plane)
		for s := 0; s < k; s++ {
			ed := countSample(in.ED.Samples[s], in.ED.Labels, edKnown, in.ED.excl, plane)
			es := countSample(in.ES.Samples[s], in.ES.Labels, esKnown, in.ES.excl, plane)
			perSample = append(perSample, r.indices(ed, es))
		}
	}

	for m, d := range definitions {
		ix := Index{Key: d.key, Name: d.name, Unit: d.unit, Value: point[m],
			Low: math.NaN(), High: math.NaN(), PerBSA: math.NaN(), PerBSALow: math.NaN(), PerBSAHigh: math.NaN()}
		if perSample != nil {
			vals := make([]float64, 0, len(perSample))
			for _, ps := range perSample {
				if !math.IsNaN(ps[m]) {
					vals = append(vals, ps[m])
				}
			}
			ix.Low, ix.High = Percentile(vals, 2.5), Percentile(vals, 97.5)
		}
		if d.indexable && r.BSA > 0 {
			ix.PerBSA, ix.PerBSALow, ix.PerBSAHigh = ix.Value/r.BSA, ix.Low/r.BSA, ix.High/r.BSA
		}
		r.Indices = append(r.Indices, ix)
	}
	if t, err := BundledReferences(); err != nil {
		return nil, err // the embedded table is checked by its test
	} else {
		r.Ranges = CheckRanges(r, t)
	}
	c, err := curves(in, r.VoxelML, r.SinglePhase)
	if err != nil {
		return nil, err
	}
	r.Curves = c
	if in.Segments != NoSegments {
		if a, err := segments(in, r.SinglePhase, in.Segments == SegmentsWithIntervals); err != nil {
			r.AHANote = err.Error()
		} else {
			r.AHA = a
		}
	}
	return r, nil
}

// Index returns the index with the given key.
func (r *Report) Index(key string) (Index, bool) {
	for _, ix := range r.Indices {
		if ix.Key == key {
			return ix, true
		}
	}
	return Index{}, false
}

var definitions = []struct {
	key, name, unit string
	indexable       bool
}{
	{LVEDV, "LV end-diastolic volume", "ml", true},
	{LVESV, "LV end-systolic volume", "ml", true},
	{LVSV, "LV stroke volume", "ml", true},
	{LVEF, "LV ejection fraction", "%", false},
	{RVEDV, "RV end-diastolic volume", "ml", true},
	{RVESV, "RV end-systolic volume", "ml", true},
	{RVSV, "RV stroke volume", "ml", true},
	{RVEF, "RV ejection fraction", "%", false},
	{LVMass, "LV myocardial mass", "g", true},
}

// indices returns the values in the order of definitions from voxel counts
// per label at ED and ES.
func (r *Report) indices(ed, es [study.NumClasses]int) []float64 {
	voxelML := r.VoxelML
	lvEDV, lvESV := float64(ed[study.LV])*voxelML, float64(es[study.LV])*voxelML
	rvEDV, rvESV := float64(ed[study.RV])*voxelML, float64(es[study.RV])*voxelML
	v := []float64{
		lvEDV, lvESV, lvEDV - lvESV, ejection(lvEDV, lvESV),
		rvEDV, rvESV, rvEDV - rvESV, ejection(rvEDV, rvESV),
		float64(ed[study.Myocardium]) * voxelML * MyocardialDensity,
	}
	if r.SinglePhase {
		nan := math.NaN()
		v[1], v[2], v[3] = nan, nan, nan
		v[5], v[6], v[7] = nan, nan, nan
	}
	return v
}

func ejection(edv, esv float64) float64 {
	if edv <= 0 {
		return math.NaN()
	}
	return 100 * (edv - esv) / edv
}

// known marks the voxels whose label the reviewer has settled.
func known(p Phase, plane int) []bool {
	if p.Ensemble == nil && len(p.Accepted) == 0 {
		return nil
	}
	k := make([]bool, len(p.Labels))
	for i := range k {
		k[i] = (p.Ensemble != nil && p.Labels[i] != p.Ensemble[i]) ||
			(plane > 0 && i/plane < len(p.Accepted) && p.Accepted[i/plane])
	}
	return k
}

// countSample counts the labels of a sample, taking the known voxels from
// current and leaving out the LV cavity of the slices marked in excl.
func countSample(sample, current []uint8, known, excl []bool, plane int) [study.NumClasses]int {
	if known == nil && excl == nil {
		return study.CountLabels(sample)
	}
	var c [study.NumClasses]int
	for i, l := range sample {
		if known != nil && known[i] {
			l = current[i]
		}
		if l == study.LV && excl != nil && excl[i/plane] {
			l = study.Background
		}
		if int(l) < len(c) {
			c[l]++
		}
	}
	return c
}

// Percentile is numpy's default (linear interpolation between closest
// ranks, Hyndman–Fan type 7): position h = (n-1)·q/100 in the sorted
// values. With the handful of checkpoints of an ensemble (5–15) the 2.5th and
// 97.5th percentiles lie close to the minimum and maximum, so the interval
// is coarse: it shows the spread of the posterior samples, not a calibrated
// 95 % probability. NaN for no values.
func Percentile(values []float64, q float64) float64 {
	if len(values) == 0 {
		return math.NaN()
	}
	q = math.Min(100, math.Max(0, q))
	v := slices.Clone(values)
	slices.Sort(v)
	h := float64(len(v)-1) * q / 100
	lo := int(math.Floor(h))
	if lo >= len(v)-1 {
		return v[len(v)-1]
	}
	return v[lo] + (h-float64(lo))*(v[lo+1]-v[lo])
}
