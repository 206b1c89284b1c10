package cohort

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"cmrseg/app/study"
)

// ReviewDir is the folder in a study's output folder that holds its
// segmentation as the window's result cache (app/resultcache), so the
// review queue opens it without a forward pass.
const ReviewDir = "review"

// Review states of a study in the cohort table.
const (
	ReviewReviewed  = "reviewed"  // a reader looked at it and left the labels as they were
	ReviewCorrected = "corrected" // a reader changed the labels
)

// Review is what a reader did with a study in the window's review queue.
type Review struct {
	State string    `json:"state"` // ReviewReviewed or ReviewCorrected
	Final bool      `json:"final"` // marked final in the window
	At    time.Time `json:"at"`
}

// Filter selects the studies the review queue lists.
type Filter struct {
	FlaggedOnly bool   // only studies with QC-flagged slices
	Group       string // only this group ("" for all)
	Unreviewed  bool   // only studies no reader has reviewed
}

// Queue returns the done studies that pass f, most uncertain first (the
// highest QC score; ties by id). Failed and interrupted studies have no
// segmentation to review and are left out.
func Queue(sts []*Status, f Filter) []*Status {
	var out []*Status
	for _, s := range sts {
		if s.State != StateDone || s.Results == nil {
			continue
		}
		if f.FlaggedOnly && s.Results.QC.FlaggedSlices == 0 {
			continue
		}
		if f.Group != "" && s.Group != f.Group {
			continue
		}
		if f.Unreviewed && s.Review != nil {
			continue
		}
		out = append(out, s)
	}
	score := func(s *Status) float64 {
		if v := float64(s.Results.QC.Score); !math.IsNaN(v) {
			return v
		}
		return math.Inf(-1)
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := score(out[i]), score(out[j])
		if a != b {
			return a > b
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Groups are the distinct non-empty groups of the studies, sorted.
func Groups(sts []*Status) []string {
	var gs []string
	for _, s := range sts {
		if s.Group != "" && !slices.Contains(gs, s.Group) {
			gs = append(gs, s.Group)
		}
	}
	sort.Strings(gs)
	return gs
}

// SetReview records a reader's review of study id in its status file and
// rewrites the cohort table of out, both atomically.
func SetReview(out, id string, r Review) (*Status, error) {
	if r.State != ReviewReviewed && r.State != ReviewCorrected {
		return nil, fmt.Errorf("review state %q: %s or %s", r.State, ReviewReviewed, ReviewCorrected)
	}
	dir, err := StudyDir(out, id)
	if err != nil {
		return nil, err
	}
	st, err := ReadStatus(dir)
	if err != nil {
		return nil, err
	}
	if st == nil || st.State != StateDone {
		return nil, fmt.Errorf("%s: study %s has no finished segmentation to review", dir, id)
	}
	st.Review = &r
	if err := WriteStatus(dir, st); err != nil {
		return nil, err
	}
	all, err := Collect(out)
	if err != nil {
		return nil, err
	}
	if _, err := WriteTable(out, all); err != nil {
		return nil, err
	}
	return st, nil
}

// ReviewSeries is the series the review queue shows for a study that was
// segmented at phases (0-based, of ser): ser itself when every phase was
// segmented, otherwise a series of just those phases, so that the window
// finds every phase in the saved results and runs no forward pass. It
// returns the series and, for each of phases, its index there.
func ReviewSeries(ser *study.Series, phases []int) (*study.Series, []int) {
	if len(phases) == ser.NT {
		return ser, phases
	}
	n := ser.N()
	r := &study.Series{Geometry: ser.Geometry, NT: len(phases), Data: make([]float32, 0, n*len(phases)),
		ED: -1, ES: -1, ESProvisional: ser.ESProvisional, Meta: ser.Meta, Source: ser.Source}
	idx := make([]int, len(phases))
	for i, t := range phases {
		r.Data = append(r.Data, ser.Phase(t)...)
		if ser.TriggerTimes != nil {
			r.TriggerTimes = append(r.TriggerTimes, ser.TriggerTimes[t])
		}
		if ser.PhaseNumbers != nil {
			r.PhaseNumbers = append(r.PhaseNumbers, ser.PhaseNumbers[t])
		}
		if t == ser.ED {
			r.ED = i
		}
		if t == ser.ES {
			r.ES = i
		}
		idx[i] = i
	}
	return r, idx
}
