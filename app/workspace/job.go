package workspace

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"cmrseg/app/resultcache"
	"cmrseg/app/session"
	"cmrseg/app/study"
	"cmrseg/inference/uncertainty"
)

// PhaseUpdate is one step of a phase's segmentation: Result rests on
// Samples of Total posterior samples (Samples == Total when final).
type PhaseUpdate struct {
	Phase          int
	Samples, Total int
	Result         *uncertainty.Result
}

// Final reports whether every sample is in.
func (u PhaseUpdate) Final() bool { return u.Samples >= u.Total }

// Streamer is an Engine that reports partial results: the first leading
// phases are refined sample by sample (an update after each sample), and
// every phase gets a final update as soon as it is complete. Updates come
// from another goroutine, in order for each phase.
type Streamer interface {
	Stream(ctx context.Context, s *study.Series, phases []int, leading int, update func(PhaseUpdate)) error
}

// Keyed is an Engine whose results may be cached: Key identifies the
// model and the inference options, so another model never reuses them.
type Keyed interface {
	Key() string
}

// Job is one background segmentation of a series: ED and ES first (the
// report, QC list and editing need only them), then the other phases.
// Phases found in the result cache are not computed again.
type Job struct {
	series   *study.Series
	phases   []int // ED, ES, then the rest
	leading  []int // ED and ES
	key      string
	cache    *resultcache.Cache
	cancel   context.CancelFunc
	done     chan struct{}
	onChange func(*Job)
	opened   bool // ED and ES have reached the session (Sync's goroutine only)
	ended    bool // Sync has reported the end (Sync's goroutine only)

	mu       sync.Mutex
	samples  map[int]int // per phase, of perPhase
	perPhase int
	fresh    map[int]PhaseUpdate // newest updates not yet taken by Sync
	finals   map[int]*uncertainty.Result
	cached   int
	warnings []string
	err      error
}

// Done is closed when the job has finished.
func (j *Job) Done() <-chan struct{} { return j.done }

// Cancel asks the job to stop; Done closes soon after.
func (j *Job) Cancel() { j.cancel() }

// Progress returns the posterior samples done and in total over all
// phases so far.
func (j *Job) Progress() (done, total int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, n := range j.samples {
		done += n
	}
	return done, j.perPhase * len(j.phases)
}

// Cached is the number of phases that came from the result cache.
func (j *Job) Cached() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.cached
}

// Err is the job's error after Done (context.Canceled when cancelled).
func (j *Job) Err() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}

// Running is the segmentation in progress, or nil.
func (w *Workspace) Running() *Job { return w.job }

// StartSegmentation segments every phase of the chosen series in the
// background, ED and ES first. onChange, when not nil, is called with the
// job from the job's goroutine whenever there is something new (a partial
// or final result, the end), possibly before StartSegmentation returns; the
// caller then calls Sync on its own goroutine (the GUI's, via fyne.Do). Phases already in the result cache (same study, same
// model) arrive at once, without a forward pass.
func (w *Workspace) StartSegmentation(onChange func(*Job)) (*Job, error) {
	s := w.Series()
	if s == nil {
		return nil, errors.New("no series open")
	}
	if w.cfg.Engine == nil {
		return nil, errors.New("no segmentation engine is installed")
	}
	w.CancelSegmentation()
	w.provisional = map[int]PhaseUpdate{}
	w.esRefined = false
	phases := phaseOrder(s)
	ctx, cancel := context.WithCancel(context.Background())
	j := &Job{series: s, phases: phases, cancel: cancel, done: make(chan struct{}), onChange: onChange,
		samples: map[int]int{}, fresh: map[int]PhaseUpdate{}, finals: map[int]*uncertainty.Result{}}
	for _, t := range phases[:min(2, len(phases))] {
		if t == s.ED || t == s.ES {
			j.leading = append(j.leading, t)
		}
	}
	seg := w.cfg.Engine
	if k, ok := seg.(Keyed); ok && w.cfg.SessionRoot != "" && k.Key() != "" {
		j.key = k.Key()
		j.cache = resultcache.New(session.StudyDir(w.cfg.SessionRoot, s), j.key)
	}
	w.job = j
	go j.run(ctx, seg)
	return j, nil
}

func (j *Job) run(ctx context.Context, seg Engine) {
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("segmentation failed: %v", r)
			}
		}()
		missing := j.fromCache()
		if len(missing) == 0 {
			return nil
		}
		lead := 0
		for _, t := range missing {
			if !slices.Contains(j.leading, t) {
				break
			}
			lead++
		}
		if st, ok := seg.(Streamer); ok {
			return st.Stream(ctx, j.series, missing, lead, j.deliver)
		}
		res, err := seg.Segment(ctx, j.series, missing, func(d, t int) {})
		if err != nil {
			return err
		}
		if len(res) != len(missing) {
			return fmt.Errorf("segmentation returned %d results for %d phases", len(res), len(missing))
		}
		for i, r := range res {
			j.deliver(PhaseUpdate{Phase: missing[i], Samples: r.Checkpoints, Total: r.Checkpoints, Result: r})
		}
		return nil
	}()
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	j.mu.Lock()
	j.err = err
	j.mu.Unlock()
	j.cancel()
	// Done first, so the last change notice finds the job finished.
	close(j.done)
	j.changed()
}

// fromCache delivers the cached phases and returns the others, in order.
func (j *Job) fromCache() []int {
	if j.cache == nil {
		return j.phases
	}
	var missing []int
	for _, t := range j.phases {
		r, err := j.cache.Get(t, j.series.Geometry)
		if err != nil {
			j.warn(err.Error() + "; segmenting that phase again")
		}
		if r == nil {
			missing = append(missing, t)
			continue
		}
		j.mu.Lock()
		j.cached++
		j.mu.Unlock()
		j.publish(PhaseUpdate{Phase: t, Samples: r.Checkpoints, Total: r.Checkpoints, Result: r})
	}
	return missing
}

// deliver takes an update from the engine: a final result goes through the
// cache first, so the window shows exactly what a reopening restores.
func (j *Job) deliver(u PhaseUpdate) {
	if u.Result == nil {
		return
	}
	if u.Final() && j.cache != nil {
		r, err := j.cache.Put(u.Phase, u.Result)
		if err != nil {
			j.warn(err.Error() + "; the study will be segmented again when reopened")
		} else {
			u.Result = r
		}
	}
	j.publish(u)
}

func (j *Job) publish(u PhaseUpdate) {
	j.mu.Lock()
	j.samples[u.Phase] = u.Samples
	j.perPhase = max(j.perPhase, u.Total)
	j.fresh[u.Phase] = u
	if u.Final() {
		j.finals[u.Phase] = u.Result
	}
	j.mu.Unlock()
	j.changed()
}

func (j *Job) warn(msg string) {
	j.mu.Lock()
	j.warnings = append(j.warnings, msg)
	j.mu.Unlock()
}

func (j *Job) changed() {
	if j.onChange != nil {
		j.onChange(j)
	}
}

// take returns the updates since the last take and the final results.
func (j *Job) take() (fresh map[int]PhaseUpdate, finals map[int]*uncertainty.Result, warnings []string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	fresh, j.fresh = j.fresh, map[int]PhaseUpdate{}
	warnings, j.warnings = j.warnings, nil
	return fresh, maps(j.finals), warnings
}

func maps(m map[int]*uncertainty.Result) map[int]*uncertainty.Result {
	out := make(map[int]*uncertainty.Result, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// phaseOrder lists the phases ED and ES first, then the rest in order.
func phaseOrder(s *study.Series) []int {
	var out []int
	for _, t := range []int{s.ED, s.ES} {
		if t >= 0 && t < s.NT && !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	for t := 0; t < s.NT; t++ {
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// CancelSegmentation stops the running job, if any, and forgets it.
func (w *Workspace) CancelSegmentation() {
	if w.job != nil {
		w.job.Cancel()
		w.job = nil
	}
}

// SyncState says what a Sync changed.
type SyncState struct {
	// Opened: ED and ES are complete and the review session opened
	// (report, QC list and editing are available).
	Opened bool
	// Phases is the number of phases that became final.
	Phases int
	// Done: the job has finished (see its Err).
	Done bool
	// ESRefined: every phase is in and a timing-based ES was replaced by
	// the phase of smallest LV volume.
	ESRefined bool
}

// Sync brings the workspace up to date with job j: partial results are
// drawn, ED and ES complete open the review session, later phases join it.
// It runs on the caller's goroutine (the GUI's). A job for a series no
// longer shown changes nothing.
func (w *Workspace) Sync(j *Job) SyncState {
	if j.ended {
		// One onChange call per update may queue several Syncs after the
		// end; the window must hear of the end once.
		return SyncState{}
	}
	st := w.sync(j)
	j.ended = st.Done
	return st
}

func (w *Workspace) sync(j *Job) SyncState {
	var st SyncState
	select {
	case <-j.done:
		st.Done = true
	default:
	}
	s := w.Series()
	if s == nil || s != j.series || (w.job != nil && w.job != j) {
		// Replaced by another job or for another series: nothing of it
		// shows, not even its end (the window would report it as failed
		// over the one now running).
		return SyncState{}
	}
	if w.job != j {
		// Cancelled: only its end shows.
		return st
	}
	fresh, finals, warnings := j.take()
	w.warning = append(w.warning, warnings...)
	if w.provisional == nil {
		w.provisional = map[int]PhaseUpdate{}
	}
	for t, u := range fresh {
		w.provisional[t] = u
	}
	if !j.opened {
		ready := len(j.leading) > 0
		for _, t := range j.leading {
			ready = ready && finals[t] != nil
		}
		if !ready {
			if st.Done {
				w.job = nil
			}
			return st
		}
		// Segmenting again with the same engine (Ctrl+R, a reopened
		// window's cache) keeps the open session, its edits and undo
		// history; another engine's results open a new one.
		if w.Session == nil || j.key == "" || w.sessionKey != j.key {
			res := make([]*uncertainty.Result, s.NT)
			for t, r := range finals {
				res[t] = r
			}
			if err := w.openSession(res, j.key); err != nil {
				w.warning = append(w.warning, err.Error())
				if st.Done {
					w.job = nil
				}
				return st
			}
			st.Phases = len(finals)
		}
		j.opened, st.Opened = true, true
	}
	for t, r := range finals {
		if w.Session.Segmented(t) {
			delete(w.provisional, t)
			continue
		}
		if err := w.Session.AddResult(t, r); err != nil {
			w.warning = append(w.warning, err.Error())
			continue
		}
		delete(w.provisional, t)
		st.Phases++
	}
	if st.Done {
		w.job = nil
		if j.Err() == nil && w.Session != nil && len(finals) == s.NT {
			st.ESRefined = w.refineES()
		}
	}
	return st
}

func (w *Workspace) openSession(res []*uncertainty.Result, key string) error {
	view := *w.View()
	if err := w.closeSession(); err != nil {
		w.warning = append(w.warning, err.Error())
	}
	ses, err := session.Open(w.Series(), res, session.Options{Root: w.cfg.SessionRoot, QCThreshold: w.qcThreshold(), Key: key})
	if err != nil {
		return err
	}
	ses.View = view
	w.Session, w.sessionKey = ses, key
	w.attachReportSettings()
	return nil
}

// refineES replaces a provisional end-systole (the source did not say; it
// was guessed from timing) by the phase of smallest LV cavity, once every
// phase is segmented, as `cmrseg segment` does. A phase the reader chose is
// never provisional, so it always wins.
func (w *Workspace) refineES() bool {
	s := w.Series()
	if !s.ESProvisional {
		return false
	}
	best, bestN := -1, 0
	for t := 0; t < s.NT; t++ {
		n := 0
		for _, l := range w.Session.Labels(t) {
			if l == study.LV {
				n++
			}
		}
		if n > 0 && (best < 0 || n < bestN) {
			best, bestN = t, n
		}
	}
	if best < 0 {
		return false
	}
	s.ES, s.ESProvisional = best, false
	w.esRefined = true
	if e := w.reportState(); e != nil && !e.applied {
		e.defaults = settingsOf(s)
	}
	return true
}

// ESRefined reports whether ES was taken from the LV volume curve.
func (w *Workspace) ESRefined() bool { return w.esRefined }

// Provisional reports the samples behind the drawn result of phase t when
// it is still a partial ensemble (ok false when the phase is final or not
// started).
func (w *Workspace) Provisional(t int) (samples, total int, ok bool) {
	u, ok := w.provisional[t]
	if !ok || u.Final() {
		return 0, 0, false
	}
	return u.Samples, u.Total, true
}

// Attach waits for job j to finish and brings the workspace up to date
// with it, keeping the current view. A job that failed or was cancelled
// returns its error (what arrived before stays); one whose series is no
// longer shown returns ErrStale and changes nothing.
func (w *Workspace) Attach(j *Job) error {
	<-j.done
	s := w.Series()
	if s == nil || s != j.series || w.job != j {
		if err := j.Err(); err != nil {
			return err
		}
		return ErrStale
	}
	w.Sync(j)
	if err := j.Err(); err != nil {
		return err
	}
	if w.Session == nil {
		return errors.New("segmentation finished without ED and ES")
	}
	return nil
}

// ErrStale is returned by Attach for a job whose series is no longer open.
var ErrStale = errors.New("segmentation finished for a series that is no longer open")

// Segment runs segmentation synchronously and attaches it (tests, scripts).
func (w *Workspace) Segment() error {
	j, err := w.StartSegmentation(nil)
	if err != nil {
		return err
	}
	return w.Attach(j)
}
