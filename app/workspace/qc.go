package workspace

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"cmrseg/app/report"
	"cmrseg/app/session"
)

// Probe is what lies under the cursor.
type Probe struct {
	I, J, K, Phase int
	Value          float32
	// World is the LPS position in mm.
	World [3]float64
	// Label is the current label (-1 when not segmented).
	Label int
	// Entropy and MutualInfo in nats (NaN when not segmented).
	Entropy, MutualInfo float64
}

// ProbeAt reports the voxel (i, j) of the current slice and phase; ok is
// false outside the image.
func (w *Workspace) ProbeAt(i, j int) (p Probe, ok bool) {
	s := w.Series()
	if s == nil || i < 0 || j < 0 || i >= s.Dims[0] || j >= s.Dims[1] {
		return p, false
	}
	v := w.View()
	k, t := v.Slice, v.Phase
	idx := i + s.Dims[0]*(j+s.Dims[1]*k)
	p = Probe{I: i, J: j, K: k, Phase: t, Value: s.Phase(t)[idx], Label: -1, Entropy: math.NaN(), MutualInfo: math.NaN()}
	p.World = s.VoxelToWorld(float64(i), float64(j), float64(k))
	if w.Session != nil {
		if l := w.Session.Labels(t); l != nil {
			p.Label = int(l[idx])
		}
		if r := w.Session.Result(t); r != nil {
			p.Entropy, p.MutualInfo = float64(r.Entropy[idx]), float64(r.MutualInfo[idx])
		}
	}
	return p, true
}

// Report computes the report from the session's current labels.
func (w *Workspace) Report() (*report.Report, error) {
	if w.Session == nil {
		return nil, errors.New("not segmented yet")
	}
	r, err := report.FromSessionWith(w.Session, report.Settings{Segments: report.SegmentsOnLabels, BasalRule: w.BasalRule()})
	if err != nil {
		return nil, err
	}
	r.Provisional = w.provisionalReason()
	return r, nil
}

// provisionalReason says why the report may still change: an end-systole
// guessed from timing (the source did not say; it becomes the phase of
// smallest LV volume once every phase is in). "" when the report is final.
func (w *Workspace) provisionalReason() string {
	s := w.Series()
	if s == nil || !s.ESProvisional {
		return ""
	}
	done := 0
	for t := 0; t < s.NT; t++ {
		if w.Session.Segmented(t) {
			done++
		}
	}
	why := fmt.Sprintf("end-systole (phase %d) is estimated from timing; %d of %d phases segmented", s.ES+1, done, s.NT)
	if w.job != nil {
		return why + ", the smallest LV volume replaces it when all are in"
	}
	return why + "; segment all phases or choose ES in the report"
}

// FullReport is Report with the AHA segment model, for exports.
func (w *Workspace) FullReport() (*report.Report, error) {
	if w.Session == nil {
		return nil, errors.New("not segmented yet")
	}
	return report.FromSessionWith(w.Session, report.Settings{Segments: report.SegmentsWithIntervals, BasalRule: w.BasalRule()})
}

// SliceScore is the QC score of slice k of the current phase (NaN when not
// segmented).
func (w *Workspace) SliceScore(t, k int) float64 {
	if w.Session == nil {
		return math.NaN()
	}
	r := w.Session.Result(t)
	if r == nil || k < 0 || k >= len(r.SliceScores) {
		return math.NaN()
	}
	return r.SliceScores[k]
}

// QCItem is one row of the QC list.
type QCItem struct {
	session.Flag
	// Text is the row as shown, e.g. "ED · slice 4 · 0.41 nats".
	Text string
}

// QC lists the flagged slices of the ED and ES phases (they drive the
// report) or, with all, of every phase, ED and ES first; accepted slices
// stay listed, marked.
func (w *Workspace) QC(all bool) []QCItem {
	if w.Session == nil {
		return nil
	}
	s := w.Series()
	var flags []session.Flag
	for _, f := range w.Session.Flags() {
		if all || f.Phase == s.ED || f.Phase == s.ES {
			flags = append(flags, f)
		}
	}
	rank := func(t int) int {
		switch t {
		case s.ED:
			return 0
		case s.ES:
			return 1
		}
		return 2
	}
	slices.SortStableFunc(flags, func(a, b session.Flag) int { return rank(a.Phase) - rank(b.Phase) })
	out := make([]QCItem, len(flags))
	for n, f := range flags {
		name := fmt.Sprintf("phase %d", f.Phase+1)
		switch f.Phase {
		case s.ED:
			name = "ED (phase " + fmt.Sprint(f.Phase+1) + ")"
		case s.ES:
			name = "ES (phase " + fmt.Sprint(f.Phase+1) + ")"
		}
		mark := ""
		if f.Accepted {
			mark = "  ✓ accepted"
		}
		out[n] = QCItem{Flag: f, Text: fmt.Sprintf("%s · slice %d · %.2f nats%s", name, f.Slice+1, f.Score, mark)}
	}
	return out
}
