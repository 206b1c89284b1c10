package report

import (
	"fmt"

	"cmrseg/app/session"
)

// FromSession computes the report of a review session from its current,
// corrected labels at the series' ED and ES phases; call it again after
// each correction. The volume–time curves take every phase segmented so
// far. Intervals come from the ensemble's posterior samples,
// with the reviewer's corrections and accepted slices taken as known.
// The AHA segments come from the current labels only, without intervals.
func FromSession(s *session.Session) (*Report, error) {
	return FromSessionWith(s, Settings{Segments: SegmentsOnLabels, BasalRule: BasalRuleDefault})
}

// FromSessionWithSegments is FromSession with intervals for the AHA
// segments, for exports: it analyses every posterior sample, which takes
// longer.
func FromSessionWithSegments(s *session.Session) (*Report, error) {
	return FromSessionWith(s, Settings{Segments: SegmentsWithIntervals, BasalRule: BasalRuleDefault})
}

// Settings are the report's choices.
type Settings struct {
	Segments  SegmentMode
	BasalRule bool // the SCMR basal-slice rule; BasalRuleDefault unless the reader chose
}

// FromSessionWith is FromSession with explicit settings.
func FromSessionWith(s *session.Session, set Settings) (*Report, error) {
	segments := set.Segments
	se := s.Series
	if se.ED < 0 || se.ES < 0 || se.ED >= se.NT || se.ES >= se.NT {
		return nil, fmt.Errorf("report: ED and ES phases unknown (ED %d, ES %d of %d phases); set them first", se.ED, se.ES, se.NT)
	}
	phase := func(name string, t int) (Phase, error) {
		r := s.Result(t)
		if r == nil {
			return Phase{}, fmt.Errorf("report: %s phase %d is not segmented yet", name, t+1)
		}
		return Phase{Index: t, Labels: s.Labels(t), Samples: r.SampleLabels, Ensemble: r.Labels, Accepted: s.AcceptedSlices(t)}, nil
	}
	ed, err := phase("ED", se.ED)
	if err != nil {
		return nil, err
	}
	es, err := phase("ES", se.ES)
	if err != nil {
		return nil, err
	}
	in := Input{Geometry: se.Geometry, Meta: se.Meta, ED: ed, ES: es, NT: se.NT, TriggerTimes: se.TriggerTimes, Segments: segments, BasalRule: set.BasalRule}
	for t := 0; t < se.NT; t++ {
		if t != se.ED && t != se.ES && s.Result(t) != nil {
			p, err := phase("", t)
			if err != nil {
				return nil, err
			}
			in.Phases = append(in.Phases, p)
		}
	}
	return Compute(in)
}
