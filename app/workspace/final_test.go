package workspace

import (
	"errors"
	"testing"

	"cmrseg/app/session"
)

// A final study locks its labels, slice review, ED/ES and body size; the
// lock survives a restart (journaled), and only an explicit reopen, also
// journaled, lifts it.
func TestFinalLocksLabelsPhasesAndBodySize(t *testing.T) {
	root := t.TempDir()
	st, seg := Demo()
	open := func() *Workspace {
		w := New(Config{Engine: seg, SessionRoot: root})
		if err := w.SetStudy(st); err != nil {
			t.Fatal(err)
		}
		if err := w.Segment(); err != nil {
			t.Fatal(err)
		}
		return w
	}
	w := open()
	unrev := w.Unreviewed()
	if len(unrev) == 0 || len(unrev) != len(w.QC(false)) {
		t.Fatalf("%d unreviewed of %d flagged before any review", len(unrev), len(w.QC(false)))
	}
	w.GoTo(unrev[0].Phase, unrev[0].Slice)
	if _, err := w.ToggleAccept(); err != nil {
		t.Fatal(err)
	}
	if got := w.Unreviewed(); len(got) != len(unrev)-1 {
		t.Fatalf("after accepting one: %d unreviewed, want %d", len(got), len(unrev)-1)
	}
	rs := w.ReportSettings()
	if err := w.MarkFinal(); err != nil {
		t.Fatal(err)
	}

	locked := func(w *Workspace, when string) {
		t.Helper()
		changed := rs
		changed.HeightCm, changed.WeightKg = 180, 80
		changed.ES = (rs.ES + 1) % w.Series().NT
		checks := map[string]error{}
		checks["report settings"] = w.SetReportSettings(changed)
		checks["study values"] = w.ResetReportSettings()
		_, checks["brush"] = w.Paint([]session.Point{{I: 40, J: 40}}, 3, 1)
		_, checks["accept"] = w.ToggleAccept()
		_, checks["fill"] = w.FillHoles()
		for what, err := range checks {
			if !errors.Is(err, session.ErrFinal) {
				t.Errorf("%s: %s on a final study gave %v, want ErrFinal", when, what, err)
			}
		}
		if w.ReportSettings() != rs {
			t.Errorf("%s: report settings changed on a final study: %+v, was %+v", when, w.ReportSettings(), rs)
		}
	}
	locked(w, "final")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	w = open()
	if !w.Final() {
		t.Fatal("the final mark was lost on restart")
	}
	locked(w, "after restart")
	if err := w.Reopen(); err != nil {
		t.Fatal(err)
	}
	changed := rs
	changed.HeightCm = 172
	if err := w.SetReportSettings(changed); err != nil {
		t.Fatalf("reopened study: %v", err)
	}
	if _, err := w.Paint([]session.Point{{I: 40, J: 40}}, 3, 1); err != nil {
		t.Fatalf("reopened study: brush %v", err)
	}
	w.Close()
	if w = open(); w.Final() {
		t.Fatal("the reopening was not journaled")
	}
	w.Close()
}
