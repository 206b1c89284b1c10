package workspace

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"cmrseg/app/phantom"
	"cmrseg/app/study"
)

// countingEngine records which series and phases reach the engine.
type countingEngine struct {
	*DemoEngine
	mu     sync.Mutex
	calls  int
	phases []int
	series []string
}

func (c *countingEngine) Stream(ctx context.Context, s *study.Series, phases []int, leading int, update func(PhaseUpdate)) error {
	c.mu.Lock()
	c.calls++
	c.phases = append(c.phases, phases...)
	c.series = append(c.series, s.Meta.SeriesDescription)
	c.mu.Unlock()
	return c.DemoEngine.Stream(ctx, s, phases, leading, update)
}

func newCounting() *countingEngine {
	_, seg := Demo()
	return &countingEngine{DemoEngine: seg}
}

// TestReopenRunsNoForwardPass: a study segmented once is shown from the
// result cache when reopened (same model): the engine is not called, and
// the session holds the same labels, edits included.
func TestReopenRunsNoForwardPass(t *testing.T) {
	root := t.TempDir()
	eng := newCounting()
	st, _ := Demo()
	w := New(Config{Engine: eng, SessionRoot: root})
	if err := w.SetStudy(st); err != nil {
		t.Fatal(err)
	}
	if err := w.Segment(); err != nil {
		t.Fatal(err)
	}
	s := w.Series()
	if len(eng.phases) != s.NT || eng.phases[0] != s.ED || eng.phases[1] != s.ES {
		t.Fatalf("first run segmented phases %v, want ED %d and ES %d first, all %d", eng.phases, s.ED, s.ES, s.NT)
	}
	if err := w.Session.Accept(s.ES, 2, true); err != nil {
		t.Fatal(err)
	}
	want := map[int][]uint8{}
	for ph := 0; ph < s.NT; ph++ {
		want[ph] = slices.Clone(w.Session.Labels(ph))
	}
	w.Close()

	eng2 := newCounting()
	st2, _ := Demo()
	w2 := New(Config{Engine: eng2, SessionRoot: root})
	if err := w2.SetStudy(st2); err != nil {
		t.Fatal(err)
	}
	j, err := w2.StartSegmentation(nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w2.Attach(j); err != nil {
		t.Fatal(err)
	}
	defer w2.Close()
	if eng2.calls != 0 {
		t.Fatalf("reopening called the engine %d time(s) for phases %v", eng2.calls, eng2.phases)
	}
	if j.Cached() != s.NT {
		t.Fatalf("%d of %d phases came from the cache", j.Cached(), s.NT)
	}
	for ph := 0; ph < s.NT; ph++ {
		if !slices.Equal(w2.Session.Labels(ph), want[ph]) {
			t.Fatalf("phase %d: reopened labels differ", ph+1)
		}
	}
	if !w2.Session.Accepted(s.ES, 2) {
		t.Fatal("the journaled accept was not restored")
	}
}

// TestESRefinedInWindow: a study whose ES was guessed from timing gets the
// phase of smallest LV volume once every phase is in, and says so; a phase
// the reader chose is never replaced.
func TestESRefinedInWindow(t *testing.T) {
	_, _, truth := phantom.Generate(phantom.Options{Seed: 1})
	for _, chosen := range []bool{false, true} {
		st, seg := Demo()
		s := st.Series[0]
		w := New(Config{Engine: seg, SessionRoot: t.TempDir()})
		if err := w.SetStudy(st); err != nil {
			t.Fatal(err)
		}
		guess := (truth.ES + 5) % s.NT
		s.ES, s.ESProvisional = guess, true
		if chosen {
			rs := w.ReportSettings()
			rs.ES = guess
			if err := w.SetReportSettings(rs); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Segment(); err != nil {
			t.Fatal(err)
		}
		if chosen {
			if s.ES != guess || w.ESRefined() {
				t.Fatalf("the reader's ES %d was replaced by %d", guess+1, s.ES+1)
			}
		} else if s.ES != truth.ES || s.ESProvisional || !w.ESRefined() {
			t.Fatalf("ES %d (provisional %v, refined %v), want the phantom's end-systole %d", s.ES+1, s.ESProvisional, w.ESRefined(), truth.ES+1)
		}
		w.Close()
	}
}

// TestSegmentAgainKeepsSession: segmenting the open series again with the
// same engine (Ctrl+R) reports ED and ES as opened, keeps the session, its
// edits and undo history, and runs no forward pass; another engine opens a
// new session.
func TestSegmentAgainKeepsSession(t *testing.T) {
	eng := newCounting()
	st, _ := Demo()
	w := New(Config{Engine: eng, SessionRoot: t.TempDir()})
	if err := w.SetStudy(st); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.Segment(); err != nil {
		t.Fatal(err)
	}
	s := w.Series()
	if err := w.Session.Accept(s.ED, 3, true); err != nil {
		t.Fatal(err)
	}
	first, calls, undo := w.Session, eng.calls, w.Session.CanUndo()
	var opened bool
	j, err := w.StartSegmentation(nil)
	if err != nil {
		t.Fatal(err)
	}
	<-j.Done()
	opened = w.Sync(j).Opened
	if !opened || w.Session != first || !w.Session.Accepted(s.ED, 3) || w.Session.CanUndo() != undo {
		t.Fatalf("segmenting again: opened %v, same session %v, accept kept %v, undo %v", opened, w.Session == first, w.Session.Accepted(s.ED, 3), w.Session.CanUndo())
	}
	if eng.calls != calls {
		t.Fatalf("segmenting again ran the engine (%d calls, want %d): the cache should answer", eng.calls, calls)
	}

	// Another engine (another key): a new session for its results.
	other := newCounting()
	other.Checkpoints = 7
	w.SetEngine(other)
	if err := w.Segment(); err != nil {
		t.Fatal(err)
	}
	if w.Session == first || other.calls == 0 {
		t.Fatalf("another model: same session %v, engine calls %d", w.Session == first, other.calls)
	}
}

// gatedEngine delivers the leading phases (ED, ES), then waits for open
// before the others, so a test sees the window between the two.
type gatedEngine struct {
	*DemoEngine
	open chan struct{}
}

func (g *gatedEngine) Stream(ctx context.Context, s *study.Series, phases []int, leading int, update func(PhaseUpdate)) error {
	if err := g.DemoEngine.Stream(ctx, s, phases[:leading], leading, update); err != nil {
		return err
	}
	select {
	case <-g.open:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.DemoEngine.Stream(ctx, s, phases[leading:], 0, update)
}

// TestReportProvisionalUntilESRefined: while an ES guessed from timing
// waits for the other phases, the report and its exports say they are
// provisional; once ES is refined they no longer do.
func TestReportProvisionalUntilESRefined(t *testing.T) {
	st, seg := Demo()
	s := st.Series[0]
	eng := &gatedEngine{DemoEngine: seg, open: make(chan struct{})}
	w := New(Config{Engine: eng, SessionRoot: t.TempDir()})
	if err := w.SetStudy(st); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	s.ESProvisional = true
	changed := make(chan struct{}, 100)
	j, err := w.StartSegmentation(func(*Job) { changed <- struct{}{} })
	if err != nil {
		t.Fatal(err)
	}
	for w.Session == nil {
		<-changed
		w.Sync(j)
	}
	r, err := w.Report()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := r.JSON()
	if !strings.Contains(r.Provisional, "estimated from timing") || !strings.Contains(string(b), `"provisional"`) || !strings.Contains(string(r.CSV()), "estimated from timing") {
		t.Fatalf("report before the other phases: provisional %q\n%s", r.Provisional, b)
	}
	close(eng.open)
	<-j.Done()
	if st := w.Sync(j); !st.ESRefined {
		t.Fatalf("ES not refined: %+v", st)
	}
	if r, _ = w.Report(); r.Provisional != "" {
		t.Fatalf("report after ES was refined still provisional: %q", r.Provisional)
	}
}

// Each update of a job may queue a Sync on the GUI goroutine, so several
// can run after the end: the end is reported by one of them only.
func TestSyncReportsTheEndOnce(t *testing.T) {
	st, _ := Demo()
	w := New(Config{Engine: newCounting(), SessionRoot: t.TempDir()})
	defer w.Close()
	if err := w.SetStudy(st); err != nil {
		t.Fatal(err)
	}
	j, err := w.StartSegmentation(nil)
	if err != nil {
		t.Fatal(err)
	}
	<-j.Done()
	ends := 0
	for range 4 {
		if w.Sync(j).Done {
			ends++
		}
	}
	if ends != 1 || w.Session == nil {
		t.Fatalf("the end was reported %d times (session open: %v), want once", ends, w.Session != nil)
	}
}
