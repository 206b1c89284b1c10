package report

import (
	"fmt"
	"math"
	"runtime"
	"sync"

	"cmrseg/app/aha"
)

// Segment is one segment of the AHA 17-segment model with its wall
// thickness at ED and ES and the systolic thickening, each with the 95 %
// credible interval over the posterior samples (same percentiles as the
// indices). Segment 17 (the apical cap) is measured along the stack: cap
// slices × slice spacing; NaN when the stack shows no cap (ApexNote says
// why).
type Segment struct {
	Number      int // AHA number, 1–17
	Name        string
	EDThickness Index // mm
	ESThickness Index // mm
	// Thickening is 100·(ES − ED)/ED thickness, %.
	Thickening Index
}

// Segments is the AHA model of the study.
type Segments struct {
	Segments [17]Segment
	// ED and ES are the analyses of the current labels (levels, insertion
	// points, chords per segment); ES is nil for a single phase.
	ED, ES *aha.Result
	// Samples is the number of posterior samples whose analysis succeeded
	// at ED (those behind the ED intervals).
	Samples int
	// ApexNote says why segment 17 is not measured at ED; empty when it is.
	ApexNote string
}

// segments runs the AHA analysis on the current labels and measures every
// posterior sample (reviewer-settled voxels taken as known, as for the
// volumes) on the current labels' segment layout of its phase, so the
// intervals show the uncertainty of the wall. Checkpoint k's ED and ES are
// paired for the thickening.
func segments(in Input, singlePhase, intervals bool) (*Segments, error) {
	g := in.Geometry
	plane := g.Dims[0] * g.Dims[1]
	ed, err := aha.Analyze(g, in.ED.Labels)
	if err != nil {
		return nil, fmt.Errorf("ED: %w", err)
	}
	out := &Segments{ED: ed}
	if ed.CapSlices == 0 {
		if ed.ApexInStack {
			out.ApexNote = "segment 17 not measured: no slice beyond the most apical LV cavity slice shows myocardium (no apical cap in the labels)"
		} else {
			out.ApexNote = "segment 17 not measured: the stack does not reach the apex (its most apical slice still holds LV cavity)"
		}
	}
	var es *aha.Result
	if !singlePhase {
		if es, err = aha.Analyze(g, in.ES.Labels); err != nil {
			return nil, fmt.Errorf("ES: %w", err)
		}
		out.ES = es
	}
	// The samples are independent: analyse them on all cores, since the
	// window recomputes the report after every correction.
	sampleRuns := func(p Phase, ref *aha.Result) []*aha.Result {
		kn := known(p, plane)
		res := make([]*aha.Result, len(p.Samples))
		var wg sync.WaitGroup
		sem := make(chan struct{}, runtime.GOMAXPROCS(0))
		for k, s := range p.Samples {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer func() { <-sem; wg.Done() }()
				if r, err := aha.AnalyzeOn(g, merged(s, p.Labels, kn), ref); err == nil {
					res[k] = r // a sample that cannot be analysed is left out
				}
			}()
		}
		wg.Wait()
		return res
	}
	var edS, esS []*aha.Result
	if intervals {
		edS = sampleRuns(in.ED, ed)
		if !singlePhase {
			esS = sampleRuns(in.ES, es)
		}
	}
	for _, r := range edS {
		if r != nil {
			out.Samples++
		}
	}
	paired := len(edS) > 0 && len(edS) == len(esS)
	nan := math.NaN()
	mk := func(key, name, unit string, v float64) Index {
		return Index{Key: key, Name: name, Unit: unit, Value: v, Low: nan, High: nan, PerBSA: nan, PerBSALow: nan, PerBSAHigh: nan}
	}
	thickening := func(e, s float64) float64 {
		if !(e > 0) {
			return nan
		}
		return 100 * (s - e) / e
	}
	for n := range out.Segments {
		num := n + 1
		seg := Segment{Number: num, Name: aha.Names[n]}
		esV, thV := nan, nan
		if es != nil {
			esV, thV = es.ThicknessMM[n], thickening(ed.ThicknessMM[n], es.ThicknessMM[n])
		}
		seg.EDThickness = mk(fmt.Sprintf("aha_ed_thickness_%02d", num), fmt.Sprintf("ED wall thickness, segment %d (%s)", num, aha.Names[n]), "mm", ed.ThicknessMM[n])
		seg.ESThickness = mk(fmt.Sprintf("aha_es_thickness_%02d", num), fmt.Sprintf("ES wall thickness, segment %d (%s)", num, aha.Names[n]), "mm", esV)
		seg.Thickening = mk(fmt.Sprintf("aha_thickening_%02d", num), fmt.Sprintf("systolic wall thickening, segment %d (%s)", num, aha.Names[n]), "%", thV)
		var edv, esv, thv []float64
		for k, r := range edS {
			if r != nil && !math.IsNaN(r.ThicknessMM[n]) {
				edv = append(edv, r.ThicknessMM[n])
				if paired && esS[k] != nil {
					if t := thickening(r.ThicknessMM[n], esS[k].ThicknessMM[n]); !math.IsNaN(t) {
						thv = append(thv, t)
					}
				}
			}
		}
		for _, r := range esS {
			if r != nil && !math.IsNaN(r.ThicknessMM[n]) {
				esv = append(esv, r.ThicknessMM[n])
			}
		}
		setCI(&seg.EDThickness, edv)
		setCI(&seg.ESThickness, esv)
		setCI(&seg.Thickening, thv)
		out.Segments[n] = seg
	}
	return out, nil
}

func setCI(ix *Index, v []float64) {
	if len(v) > 0 {
		ix.Low, ix.High = Percentile(v, 2.5), Percentile(v, 97.5)
	}
}

// merged is a sample's label map with the reviewer-settled voxels (known)
// taken from the current labels.
func merged(sample, current []uint8, known []bool) []uint8 {
	if known == nil {
		return sample
	}
	m := make([]uint8, len(sample))
	for i, l := range sample {
		if known[i] {
			l = current[i]
		}
		m[i] = l
	}
	return m
}
