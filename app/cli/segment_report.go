package cli

import (
	"fmt"
	"math"
	"os"
	"path/filepath"

	"cmrseg/app/report"
	"cmrseg/app/study"
	"cmrseg/inference/uncertainty"
)

// segmentReport computes the report of a segmented series: ED and ES
// indices, the volume–time curves of every phase in rs (rs[t] for phase
// index[t]) and the AHA segments, with intervals from the checkpoints'
// samples. nt is the series' phase count (for ACDC frame files, NbFrame).
func segmentReport(g study.Geometry, meta study.Metadata, nt, ed, es int, index []int, rs []*uncertainty.Result, trigger []float64) (*report.Report, error) {
	in := report.Input{Geometry: g, Meta: meta, NT: nt, TriggerTimes: trigger, Segments: report.SegmentsWithIntervals, BasalRule: report.BasalRuleDefault}
	found := 0
	for n, r := range rs {
		p := report.Phase{Index: index[n], Labels: r.Labels, Samples: r.SampleLabels}
		switch index[n] {
		case ed:
			in.ED = p
			found++
			if ed == es {
				in.ES = p
				found++
			}
		case es:
			in.ES = p
			found++
		default:
			in.Phases = append(in.Phases, p)
		}
	}
	if found < 2 {
		return nil, fmt.Errorf("report: ED (phase %d) and ES (phase %d) are not both segmented", ed+1, es+1)
	}
	return report.Compute(in)
}

// writeReport writes NAME_report.json and NAME_report.csv (atomically) and
// returns their paths; existing ones are kept without --overwrite.
func (sg *segmentRun) writeReport(name string, r *report.Report) ([]string, error) {
	js, cs := filepath.Join(sg.out, name+"_report.json"), filepath.Join(sg.out, name+"_report.csv")
	if !sg.overwrite {
		for _, p := range []string{js, cs} {
			if _, err := os.Lstat(p); err == nil {
				sg.kept = append(sg.kept, p)
				return nil, nil
			}
		}
	}
	if err := r.WriteJSON(js); err != nil {
		return nil, err
	}
	if err := r.WriteCSV(cs); err != nil {
		return nil, err
	}
	return []string{js, cs}, nil
}

// reportLine summarises the report for the command's output.
func reportLine(r *report.Report) string {
	ci := func(ix report.Index, f string) string {
		if math.IsNaN(ix.Value) {
			return "n/a"
		}
		s := fmt.Sprintf(f, ix.Value)
		if !math.IsNaN(ix.Low) {
			s += fmt.Sprintf(" ["+f+", "+f+"]", ix.Low, ix.High)
		}
		return s
	}
	ef, _ := r.Index(report.LVEF)
	out := "LV EF " + ci(ef, "%.1f") + " %"
	if c := r.Curves; c != nil {
		out += fmt.Sprintf("; curves over %d of %d phases", len(c.Points), c.NT)
		if c.Timing != "" {
			out += " (" + c.Timing + ")"
		} else {
			out += "; peak ejection " + ci(c.PeakEjection, "%.0f") + " ml/s, peak filling " + ci(c.PeakFilling, "%.0f") + " ml/s"
		}
	}
	if r.AHA == nil {
		out += "; no AHA segments: " + r.AHANote
	} else {
		out += "; AHA segments measured"
		if r.AHA.ApexNote != "" {
			out += " (" + r.AHA.ApexNote + ")"
		}
	}
	return out
}
