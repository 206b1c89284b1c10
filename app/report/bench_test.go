package report

import (
	"testing"

	"cmrseg/app/phantom"
)

// benchInput is the demo's full cine: 25 phases, 5 samples each (the demo
// segmenter's count), as the live panel sees it after every correction.
func benchInput(b *testing.B, mode SegmentMode) Input {
	s, labels, truth := phantom.Generate(phantom.Options{Seed: 1})
	in := Input{Geometry: s.Geometry, NT: s.NT, TriggerTimes: s.TriggerTimes, Segments: mode}
	for t := range labels {
		p := Phase{Index: t, Labels: labels[t].Data}
		for range 5 {
			p.Samples = append(p.Samples, labels[t].Data)
		}
		switch t {
		case truth.ED:
			in.ED = p
		case truth.ES:
			in.ES = p
		default:
			in.Phases = append(in.Phases, p)
		}
	}
	b.ResetTimer()
	return in
}

func BenchmarkLiveReport(b *testing.B) {
	in := benchInput(b, SegmentsOnLabels)
	for i := 0; i < b.N; i++ {
		if _, err := Compute(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkExportReport(b *testing.B) {
	in := benchInput(b, SegmentsWithIntervals)
	for i := 0; i < b.N; i++ {
		if _, err := Compute(in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEDESOnly(b *testing.B) {
	in := benchInput(b, NoSegments)
	in.Phases, in.NT, in.TriggerTimes = nil, 0, nil
	for i := 0; i < b.N; i++ {
		if _, err := Compute(in); err != nil {
			b.Fatal(err)
		}
	}
}
