// Package session is the headless review of one study: the series, the
// ensemble's per-phase results, the reviewer's corrected labels with undo
// and redo, the view the GUI draws, and the QC flags. Every edit is
// journaled to disk before it shows, so reopening the same study with the
// same segmentation after a crash restores exactly what was on screen.
//
// A Session is not safe for concurrent use; the GUI drives it from its
// event goroutine.
package session

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"cmrseg/app/atomicfile"
	"cmrseg/app/study"
	"cmrseg/inference/uncertainty"
)

// Defaults for Options.
const (
	// DefaultUncertainThreshold in nats marks the voxels one click may
	// correct. A voxel whose runner-up class holds about 10 % of the mean
	// probability, (0.9, 0.1), has entropy 0.325 nats; 0.3 therefore catches
	// every voxel where the ensemble gives a second class real weight while
	// leaving the confident interior (entropy near 0) alone. The maximum for
	// four classes is ln 4 = 1.386.
	DefaultUncertainThreshold = 0.3
	// DefaultQCThreshold in nats flags a slice whose score (mean entropy
	// over the ensemble's foreground, see uncertainty.Result.SliceScores)
	// exceeds it. It is a placeholder until calibrated on validation data.
	DefaultQCThreshold = 0.25
)

// Options configure a session; zero values take the defaults.
type Options struct {
	// Root is the folder holding all sessions (the GUI passes e.g.
	// $XDG_DATA_HOME/cmrseg/sessions). "" keeps the session in memory only:
	// nothing is journaled.
	Root string
	// UncertainThreshold in nats: voxels above it form the regions that
	// ClickCorrect replaces.
	UncertainThreshold float64
	// QCThreshold in nats for slice flags.
	QCThreshold float64
	// Key names the segmentation the edits apply to; the workspace passes
	// the study's segmentation key (model fingerprint and inference
	// options), so results may arrive phase by phase (AddResult) under one
	// journal. "" names the journal after the results given to Open.
	Key string
}

// Session is the review state of one study.
type Session struct {
	Series *study.Series
	// View is what the GUI shows; it reads and writes the fields directly.
	View View
	// Warnings collects what opening had to work around (a torn journal
	// record, a journal of another segmentation set aside), for the GUI to
	// show once.
	Warnings []string

	opts     Options
	results  []*uncertainty.Result // per phase; nil where not segmented
	labels   [][]uint8             // per phase; nil where not segmented
	accepted [][]bool              // per phase, per slice
	final    bool
	undo     []Change
	redo     []Change

	dir     string
	journal *journal
	records int // journal records after the header
	// pending are journal records waiting for the result of a phase they
	// edit (AddResult replays them); no new record may be written before
	// them.
	pending []rawRecord
}

// Errors the GUI can tell apart with errors.Is; the wrapped messages say
// what to do.
var (
	ErrNotUncertain   = errors.New("not in an uncertain region")
	ErrNoSegmentation = errors.New("phase not segmented yet")
	ErrFinal          = errors.New("study is marked final")
	ErrNothingToUndo  = errors.New("nothing to undo")
	ErrNothingToRedo  = errors.New("nothing to redo")
	// ErrRestoring: journaled edits wait for a phase still being segmented;
	// nothing can change until they are replayed.
	ErrRestoring = errors.New("earlier edits are being restored")
)

// Open starts or resumes the review of series. results holds the ensemble
// output per phase (nil entries, or a short slice, for phases not yet
// segmented); only segmented phases can be edited. With opts.Root set, the
// session lives in Root/<study key>/, and its journal is named after the
// segmentation (opts.Key, else the results), so reopening the same study
// with the same segmentation replays every journaled edit, while a new
// segmentation starts a fresh journal and leaves the old one in place.
// Results that arrive later are added with AddResult; journaled edits of a
// phase not yet segmented wait for it.
func Open(series *study.Series, results []*uncertainty.Result, opts Options) (*Session, error) {
	if series == nil {
		return nil, errors.New("session: no series")
	}
	if err := series.Validate(); err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	if len(results) > series.NT {
		return nil, fmt.Errorf("session: %d results for %d phases", len(results), series.NT)
	}
	if opts.UncertainThreshold == 0 {
		opts.UncertainThreshold = DefaultUncertainThreshold
	}
	if opts.QCThreshold == 0 {
		opts.QCThreshold = DefaultQCThreshold
	}
	if !(opts.UncertainThreshold > 0) || !(opts.QCThreshold > 0) {
		return nil, fmt.Errorf("session: thresholds must be positive (uncertain %g, QC %g nats)", opts.UncertainThreshold, opts.QCThreshold)
	}
	s := &Session{
		Series:   series,
		opts:     opts,
		results:  make([]*uncertainty.Result, series.NT),
		labels:   make([][]uint8, series.NT),
		accepted: make([][]bool, series.NT),
	}
	for t, r := range results {
		if r == nil {
			continue
		}
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("session: phase %d: %w", t, err)
		}
		if r.Dims != series.Dims || r.Classes != study.NumClasses {
			return nil, fmt.Errorf("session: phase %d: result is %v with %d classes, series is %v with %d",
				t, r.Dims, r.Classes, series.Dims, study.NumClasses)
		}
		s.results[t] = r
		s.labels[t] = slices.Clone(r.Labels)
	}
	for t := range s.accepted {
		s.accepted[t] = make([]bool, series.Dims[2])
	}
	s.View = defaultView(series, s.results)

	if opts.Root == "" || !s.segmented() {
		return s, nil
	}
	if err := s.openJournal(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *Session) segmented() bool {
	for _, r := range s.results {
		if r != nil {
			return true
		}
	}
	return false
}

func (s *Session) openJournal() error {
	sk, gk := studyKey(s.Series), segmentationKey(s.results)
	if s.opts.Key != "" {
		k := sha256.Sum256([]byte("cmrseg-seg-key-v1\x00" + s.opts.Key))
		gk = hex.EncodeToString(k[:])
	}
	s.dir = filepath.Join(s.opts.Root, sk)
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return fmt.Errorf("session: creating session folder: %w", err)
	}
	s.writeInfo()
	path := filepath.Join(s.dir, "edits-"+gk[:16]+".journal")
	j, records, warnings, err := openJournal(path, header{studyKey: sk, segKey: gk})
	if err != nil {
		return err
	}
	s.journal = j
	s.Warnings = append(s.Warnings, warnings...)
	for n, rec := range records {
		if err := s.replay(rec.payload); err != nil {
			if errors.Is(err, errMissingPhase) && s.opts.Key != "" {
				// The phase is still being segmented: replay the rest
				// when it arrives (AddResult).
				s.pending = records[n:]
				break
			}
			// A record that checks out but does not fit is corruption the
			// CRC missed; keep what came before and set the rest aside.
			s.Warnings = append(s.Warnings, fmt.Sprintf("journal %s: record %d of %d does not apply (%v); ignored it and the %d after it",
				path, n+1, len(records), err, len(records)-n-1))
			if err := j.cut(rec.off); err != nil {
				j.close()
				return err
			}
			break
		}
		s.records++
	}
	return nil
}

// writeInfo leaves a human-readable note of what the folder belongs to.
func (s *Session) writeInfo() {
	path := filepath.Join(s.dir, "study.json")
	if _, err := os.Stat(path); err == nil {
		return
	}
	m := s.Series.Meta
	b, err := json.MarshalIndent(map[string]any{
		"patient_id":          m.PatientID,
		"study_instance_uid":  m.StudyInstanceUID,
		"series_instance_uid": m.SeriesInstanceUID,
		"series_description":  m.SeriesDescription,
		"source_paths":        m.SourcePaths,
		"created":             time.Now().UTC().Format(time.RFC3339),
	}, "", "  ")
	if err == nil {
		if err := atomicfile.Write(path, append(b, '\n')); err != nil {
			s.Warnings = append(s.Warnings, err.Error())
		}
	}
}

// studyKey names the session folder: the SeriesInstanceUID when known
// (stable when files move), else the source paths, else the pixels.
func studyKey(s *study.Series) string {
	h := sha256.New()
	fmt.Fprintf(h, "cmrseg-study-v1\x00%v\x00%d\x00", s.Dims, s.NT)
	switch {
	case s.Meta.SeriesInstanceUID != "":
		fmt.Fprintf(h, "uid\x00%s", s.Meta.SeriesInstanceUID)
	case len(s.Meta.SourcePaths) > 0:
		h.Write([]byte("paths"))
		for _, p := range s.Meta.SourcePaths {
			if abs, err := filepath.Abs(p); err == nil {
				p = abs
			}
			fmt.Fprintf(h, "\x00%s", p)
		}
	default:
		h.Write([]byte("pixels"))
		binary.Write(h, binary.LittleEndian, s.Data)
	}
	return hex.EncodeToString(h.Sum(nil))[:24]
}

// segmentationKey identifies the ensemble output the edits apply to.
func segmentationKey(results []*uncertainty.Result) string {
	h := sha256.New()
	h.Write([]byte("cmrseg-seg-v1"))
	for t, r := range results {
		if r == nil {
			continue
		}
		fmt.Fprintf(h, "\x00phase %d classes %d checkpoints %d dims %v\x00", t, r.Classes, r.Checkpoints, r.Dims)
		h.Write(r.Labels)
		binary.Write(h, binary.LittleEndian, r.Prob)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Close releases the journal. Every edit is already on disk.
func (s *Session) Close() error {
	if s.journal == nil {
		return nil
	}
	err := s.journal.close()
	s.journal = nil
	if err != nil {
		return fmt.Errorf("session: closing journal: %w", err)
	}
	return nil
}

// Dir is the session folder ("" for an in-memory session).
func (s *Session) Dir() string { return s.dir }

// JournalRecords is the number of journal records behind the current state
// (replayed at open plus appended since).
func (s *Session) JournalRecords() int { return s.records }

// Result is the ensemble output of phase t, or nil.
func (s *Session) Result(t int) *uncertainty.Result {
	if t < 0 || t >= len(s.results) {
		return nil
	}
	return s.results[t]
}

// Labels are the current labels of phase t (nil when not segmented). The
// slice is the session's own: read it, do not modify it.
func (s *Session) Labels(t int) []uint8 {
	if t < 0 || t >= len(s.labels) {
		return nil
	}
	return s.labels[t]
}

// Accepted reports whether the reviewer accepted slice k of phase t.
func (s *Session) Accepted(t, k int) bool {
	return t >= 0 && t < len(s.accepted) && k >= 0 && k < len(s.accepted[t]) && s.accepted[t][k]
}

// AcceptedSlices returns a copy of the accepted flags of phase t.
func (s *Session) AcceptedSlices(t int) []bool {
	if t < 0 || t >= len(s.accepted) {
		return nil
	}
	return slices.Clone(s.accepted[t])
}

// Final reports whether the study is marked final.
func (s *Session) Final() bool { return s.final }

// CanUndo and CanRedo say whether Undo and Redo have something to do.
func (s *Session) CanUndo() bool { return len(s.undo) > 0 && !s.final }

// CanRedo reports whether Redo has something to do.
func (s *Session) CanRedo() bool { return len(s.redo) > 0 && !s.final }

// Options returns the effective options (defaults filled in).
func (s *Session) Options() Options { return s.opts }

// Flag is a slice whose uncertainty score exceeds the QC threshold.
type Flag struct {
	Phase, Slice int
	Score        float64 // nats
	Accepted     bool    // the reviewer has accepted the slice since
}

// Flags lists the flagged slices of all segmented phases, by phase then
// slice.
func (s *Session) Flags() []Flag {
	var out []Flag
	for t, r := range s.results {
		if r == nil {
			continue
		}
		for k, sc := range r.SliceScores {
			if sc > s.opts.QCThreshold {
				out = append(out, Flag{Phase: t, Slice: k, Score: sc, Accepted: s.accepted[t][k]})
			}
		}
	}
	return out
}

// SliceFlagged reports whether slice k of phase t exceeds the QC threshold.
func (s *Session) SliceFlagged(t, k int) bool {
	r := s.Result(t)
	return r != nil && k >= 0 && k < len(r.SliceScores) && r.SliceScores[k] > s.opts.QCThreshold
}

// StudyFlagged reports whether any segmented phase has a volume score (its
// worst slice) above the QC threshold.
func (s *Session) StudyFlagged() bool {
	for _, r := range s.results {
		if r != nil && r.VolumeScore > s.opts.QCThreshold {
			return true
		}
	}
	return false
}

// Overlay picks the uncertainty map drawn over the image.
type Overlay int

// Overlays.
const (
	OverlayEntropy    Overlay = iota // predictive entropy of the mean (Eq. 3)
	OverlayMutualInfo                // epistemic part
)

// View is the display state of the review workspace.
type View struct {
	Phase, Slice int
	// Window and Level map intensities to grey: Level-Window/2 is black,
	// Level+Window/2 white.
	Window, Level float64
	// Zoom is screen pixels per image pixel relative to fit (1 = fit);
	// PanX and PanY shift the image centre, in image pixels.
	Zoom, PanX, PanY                 float64
	ShowLabels, ShowUncertainty      bool
	LabelOpacity, UncertaintyOpacity float64 // 0..1
	Overlay                          Overlay
}

// UncertaintyMap is the per-voxel map the view's overlay shows for phase t
// (nil when not segmented).
func (s *Session) UncertaintyMap(t int) []float32 {
	r := s.Result(t)
	if r == nil {
		return nil
	}
	if s.View.Overlay == OverlayMutualInfo {
		return r.MutualInfo
	}
	return r.Entropy
}

func defaultView(series *study.Series, results []*uncertainty.Result) View {
	v := View{
		Slice: series.Dims[2] / 2, Zoom: 1,
		ShowLabels: true, ShowUncertainty: true,
		LabelOpacity: 0.4, UncertaintyOpacity: 0.5,
	}
	if series.ED >= 0 && series.ED < series.NT {
		v.Phase = series.ED
	}
	if v.Phase < len(results) && results[v.Phase] == nil {
		for t, r := range results {
			if r != nil {
				v.Phase = t
				break
			}
		}
	}
	lo, hi := percentiles(series.Phase(v.Phase), 0.01, 0.99)
	v.Window, v.Level = math.Max(hi-lo, 1e-6), (hi+lo)/2
	return v
}

// percentiles of the finite values of data, nearest rank.
func percentiles(data []float32, p, q float64) (lo, hi float64) {
	v := make([]float32, 0, len(data))
	for _, x := range data {
		if !math.IsNaN(float64(x)) && !math.IsInf(float64(x), 0) {
			v = append(v, x)
		}
	}
	if len(v) == 0 {
		return 0, 1
	}
	slices.Sort(v)
	at := func(f float64) float64 { return float64(v[int(f*float64(len(v)-1)+0.5)]) }
	return at(p), at(q)
}
