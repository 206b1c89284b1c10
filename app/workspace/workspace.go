// Package workspace is the headless state of the review application: the
// open study and chosen series, the background segmentation, the review
// session once results exist, the recent-studies list, the QC list, the
// exports, and the geometry of the viewer (screen ↔ voxel, orientation
// letters, the composed image). The GUI in package ui only draws it and
// forwards events; tests drive it without a window.
//
// A Workspace is not safe for concurrent use: the GUI calls it from its
// event goroutine. Only a Job's progress callback runs elsewhere.
package workspace

import (
	"cmrseg/app/anonymise"
	"fmt"

	"cmrseg/app/session"
	"cmrseg/app/study"
	"cmrseg/app/studyio"
)

// Config says where the workspace keeps its files and what segments.
type Config struct {
	// ConfigDir holds recent.json (e.g. $XDG_CONFIG_HOME/cmrseg); "" keeps
	// the recent list in memory.
	ConfigDir string
	// SessionRoot holds the review sessions' journals (e.g.
	// $XDG_DATA_HOME/cmrseg/sessions); "" keeps edits in memory.
	SessionRoot string
	// Engine runs the ensemble; nil means none is available.
	Engine Engine
	// OpenSeries chooses the series of the DICOM exam opened first
	// (`cmrseg gui --series`); see TakeOpenSeries.
	OpenSeries string
}

// Workspace is the application state.
type Workspace struct {
	cfg Config

	// Study is the open study (nil before the first open).
	Study *study.Study
	// SeriesIndex is the chosen series of Study (-1 when none).
	SeriesIndex int
	// Session is the review of the chosen series; nil until segmented.
	Session *session.Session
	// sessionKey is the segmentation key Session was opened with ("" when
	// the engine has none): a new job with the same key keeps the session.
	sessionKey string
	// Display holds the overlay choices that session.View lacks.
	Display Display

	view   session.View // used while there is no session
	recent *Recent
	job    *Job
	// provisional is the newest result of each phase not yet in the
	// session (a partial ensemble, or a phase waiting for ED and ES): it
	// is drawn but cannot be edited.
	provisional map[int]PhaseUpdate
	// esRefined is set when the window replaced a timing-based ES with
	// the phase of smallest LV volume.
	esRefined bool
	hover     *hoverState // the click preview under the pointer
	warning   []string
	reports   map[*study.Series]*seriesReport // report settings per series
	// anon is set while exports are anonymised (see anonymise.go);
	// anonImages is the folder its images were last written to.
	anon       *anonymise.Anonymiser
	anonImages string
}

// New makes an empty workspace; the recent list is loaded from
// cfg.ConfigDir (a damaged file is reported by Warnings and starts empty).
func New(cfg Config) *Workspace {
	w := &Workspace{cfg: cfg, SeriesIndex: -1}
	r, err := LoadRecent(cfg.ConfigDir)
	if err != nil {
		w.warning = append(w.warning, err.Error())
	}
	w.recent = r
	return w
}

// Engine returns the configured engine (nil when none).
func (w *Workspace) Engine() Engine { return w.cfg.Engine }

// SetEngine replaces the engine (the training tab's "Use this model").
// A running segmentation is cancelled; the open session keeps its results
// until the next segmentation.
func (w *Workspace) SetEngine(s Engine) {
	w.CancelSegmentation()
	w.cfg.Engine = s
}

// Device names where segmentation runs.
func (w *Workspace) Device() string {
	if w.cfg.Engine == nil {
		return "no segmentation engine"
	}
	return w.cfg.Engine.Device()
}

// Recent is the recent-studies list.
func (w *Workspace) Recent() *Recent { return w.recent }

// TakeWarnings returns and clears what the workspace and the session had
// to work around, for the GUI to show once.
func (w *Workspace) TakeWarnings() []string {
	out := w.warning
	w.warning = nil
	if w.Session != nil {
		out = append(out, w.Session.Warnings...)
		w.Session.Warnings = nil
	}
	return out
}

// Load reads a study from path (NIfTI file, ACDC patient folder or DICOM
// folder tree). It may be called from any goroutine. A reader that panics
// on a malformed file is turned into an error naming the path.
func Load(path string) (st *study.Study, err error) { return LoadSeries(path, "") }

// LoadSeries is Load with a series of a DICOM exam chosen (see
// studyio.OpenSeries; "" for the short-axis cine).
func LoadSeries(path, sel string) (st *study.Study, err error) {
	defer func() {
		if r := recover(); r != nil {
			st, err = nil, fmt.Errorf("open %s: the file could not be read (reader failure: %v)", path, r)
		}
	}()
	st, err = studyio.OpenSeries(path, sel)
	if err != nil {
		return nil, err
	}
	if len(st.Series) == 0 {
		return nil, fmt.Errorf("open %s: no image series found", path)
	}
	for _, s := range st.Series {
		if err := s.Validate(); err != nil {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
	}
	return st, nil
}

// SetStudy makes st the open study, closing the previous session and
// cancelling a running segmentation. With one series it is chosen at once;
// with several SeriesIndex stays -1 until SelectSeries. A study with a path
// goes to the top of the recent list.
func (w *Workspace) SetStudy(st *study.Study) error {
	w.CancelSegmentation()
	if err := w.closeSession(); err != nil {
		w.warning = append(w.warning, err.Error())
	}
	w.Study, w.SeriesIndex = st, -1
	if st != nil && st.Path != "" {
		desc := ""
		if len(st.Series) > 0 {
			desc = SeriesLabel(st.Series[0])
		}
		if err := w.recent.Add(st.Path, desc); err != nil {
			w.warning = append(w.warning, err.Error())
		}
	}
	if st != nil && len(st.Series) == 1 {
		return w.SelectSeries(0)
	}
	return nil
}

// SeriesLabel describes a series for pickers and titles.
func SeriesLabel(s *study.Series) string {
	d := s.Meta.SeriesDescription
	if d == "" {
		d = "(no description)"
	}
	return fmt.Sprintf("%s — %d×%d×%d, %d phase%s, %.2g×%.2g×%.2g mm", d, s.Dims[0], s.Dims[1], s.Dims[2], s.NT, plural(s.NT),
		s.Spacing[0], s.Spacing[1], s.Spacing[2])
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// SelectSeries chooses series n of the study; the view starts at its ED
// phase, mid-ventricular slice, with a window from the 1st–99th
// percentiles.
func (w *Workspace) SelectSeries(n int) error {
	if w.Study == nil || n < 0 || n >= len(w.Study.Series) {
		return fmt.Errorf("no series %d in this study", n+1)
	}
	w.CancelSegmentation()
	if err := w.closeSession(); err != nil {
		w.warning = append(w.warning, err.Error())
	}
	w.SeriesIndex = n
	// An unsegmented session gives the default view without a journal.
	s, err := session.Open(w.Study.Series[n], nil, session.Options{})
	if err != nil {
		w.SeriesIndex = -1
		return err
	}
	w.view = s.View
	return nil
}

// Series is the chosen series (nil when none).
func (w *Workspace) Series() *study.Series {
	if w.Study == nil || w.SeriesIndex < 0 || w.SeriesIndex >= len(w.Study.Series) {
		return nil
	}
	return w.Study.Series[w.SeriesIndex]
}

// View is the display state: the session's once there is one.
func (w *Workspace) View() *session.View {
	if w.Session != nil {
		return &w.Session.View
	}
	return &w.view
}

func (w *Workspace) closeSession() error {
	if w.Session == nil {
		return nil
	}
	err := w.Session.Close()
	w.Session, w.sessionKey = nil, ""
	return err
}

// Close cancels segmentation and closes the session.
func (w *Workspace) Close() error {
	w.CancelSegmentation()
	return w.closeSession()
}

// Labels are the labels of phase t to draw (nil when not segmented).
func (w *Workspace) Labels(t int) []uint8 {
	if w.Session == nil {
		return nil
	}
	return w.Session.Labels(t)
}
