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
	"errors"
	"fmt"
	"math"
	"slices"

	"cmrseg/app/phantom"
	"cmrseg/app/report"
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
	// Segmenter runs the ensemble; nil means none is available.
	Segmenter Segmenter
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

// Segmenter returns the configured engine (nil when none).
func (w *Workspace) Segmenter() Segmenter { return w.cfg.Segmenter }

// SetSegmenter replaces the engine (the training tab's "Use this model").
// A running segmentation is cancelled; the open session keeps its results
// until the next segmentation.
func (w *Workspace) SetSegmenter(s Segmenter) {
	w.CancelSegmentation()
	w.cfg.Segmenter = s
}

// Device names where segmentation runs.
func (w *Workspace) Device() string {
	if w.cfg.Segmenter == nil {
		return "no segmentation engine"
	}
	return w.cfg.Segmenter.Device()
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

// Demo returns the embedded demo study (the synthetic phantom) and a
// PhantomSegmenter that knows its labels.
func Demo() (*study.Study, *PhantomSegmenter) {
	s, labels, _ := phantom.Generate(phantom.Options{Seed: 1})
	return &study.Study{Path: "", Series: []*study.Series{s}}, &PhantomSegmenter{Labels: labels}
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

// Frame is the current rendering input.
func (w *Workspace) Frame() Frame {
	v := *w.View()
	f := Frame{Series: w.Series(), Phase: v.Phase, Slice: v.Slice, View: v, Display: w.Display}
	if w.Session != nil && w.Session.Segmented(v.Phase) {
		f.Labels = w.Session.Labels(v.Phase)
		f.Uncertainty = w.Session.UncertaintyMap(v.Phase)
		if h := w.hover; h != nil && h.key == w.hoverKey(h.i, h.j) {
			f.Preview = h.preview
		}
	} else if u, ok := w.provisional[v.Phase]; ok {
		f.Labels = u.Result.Labels
		f.Uncertainty = u.Result.Entropy
		if v.Overlay == session.OverlayMutualInfo {
			f.Uncertainty = u.Result.MutualInfo
		}
	}
	return f
}

// hoverState is the click preview under the pointer.
type hoverState struct {
	key     string
	i, j    int
	preview map[int]uint8
	note    string
}

// hoverKey names what a preview at (i, j) depends on: the session, the
// phase and slice shown and its edits so far.
func (w *Workspace) hoverKey(i, j int) string {
	if w.Session == nil {
		return ""
	}
	v := w.Session.View
	return fmt.Sprintf("%p/%d/%d/%d/%d/%d", w.Session, v.Phase, v.Slice, w.Session.JournalRecords(), i, j)
}

// Hover computes what a one-click correction at voxel (i, j) of the shown
// slice would change, for the window to outline before the click; ok false
// (the pointer left the image) clears it. It returns whether the preview
// changed (the view needs redrawing) and the click's note ("" when a
// click there would change nothing).
func (w *Workspace) Hover(i, j int, ok bool) (changed bool, note string) {
	if !ok || w.Session == nil || w.Session.Final() {
		changed = w.hover != nil
		w.hover = nil
		return changed, ""
	}
	key := w.hoverKey(i, j)
	if w.hover != nil && w.hover.key == key {
		return false, w.hover.note
	}
	had := w.hover != nil && len(w.hover.preview) > 0
	v := w.Session.View
	h := &hoverState{key: key, i: i, j: j}
	if c, err := w.Session.PreviewClick(v.Phase, v.Slice, i, j); err == nil && len(c.Voxels) > 0 {
		h.preview = make(map[int]uint8, len(c.Voxels))
		for _, x := range c.Voxels {
			h.preview[x.Index] = x.New
		}
		h.note = c.Note
	}
	w.hover = h
	return had || len(h.preview) > 0, h.note
}

// Viewport is the current view's mapping for a widget of w×h pixels.
func (w *Workspace) Viewport(width, height float64) Viewport {
	s := w.Series()
	v := w.View()
	if s == nil {
		return Viewport{W: width, H: height, Zoom: 1}
	}
	return Viewport{W: width, H: height, Cols: s.Dims[0], Rows: s.Dims[1], SpacingI: s.Spacing[0], SpacingJ: s.Spacing[1],
		Zoom: v.Zoom, PanX: v.PanX, PanY: v.PanY}
}

// SetViewport stores a viewport's zoom and pan in the view.
func (w *Workspace) SetViewport(vp Viewport) {
	v := w.View()
	v.Zoom, v.PanX, v.PanY = vp.Zoom, vp.PanX, vp.PanY
}

// ResetView fits the image and resets the window to the default.
func (w *Workspace) ResetView() {
	v := w.View()
	v.Zoom, v.PanX, v.PanY = 1, 0, 0
}

// SetSlice and SetPhase clamp and store the position.
func (w *Workspace) SetSlice(k int) {
	if s := w.Series(); s != nil {
		w.View().Slice = clampInt(k, 0, s.Dims[2]-1)
	}
}

// SetPhase clamps and stores the phase; with wrap it cycles (cine).
func (w *Workspace) SetPhase(t int, wrap bool) {
	s := w.Series()
	if s == nil {
		return
	}
	if wrap {
		t = ((t % s.NT) + s.NT) % s.NT
	}
	w.View().Phase = clampInt(t, 0, s.NT-1)
}

func clampInt(v, lo, hi int) int {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

// WindowPreset is a named window/level relative to the image's intensity
// distribution (MR has no absolute units).
type WindowPreset struct {
	Name string
	// Lo and Hi are percentiles of the current phase's intensities.
	Lo, Hi float64
}

// WindowPresets offered by the viewer.
var WindowPresets = []WindowPreset{
	{"Default (1–99 %)", 0.01, 0.99},
	{"Blood pool (bright)", 0.30, 0.999},
	{"Myocardium (contrast)", 0.05, 0.90},
	{"Full range", 0, 1},
}

// ApplyPreset sets window and level from preset p on the current phase.
func (w *Workspace) ApplyPreset(p WindowPreset) {
	s := w.Series()
	if s == nil {
		return
	}
	v := w.View()
	vals := slices.Clone(s.Phase(v.Phase))
	slices.Sort(vals)
	at := func(q float64) float64 { return float64(vals[int(q*float64(len(vals)-1)+0.5)]) }
	lo, hi := at(p.Lo), at(p.Hi)
	v.Window, v.Level = math.Max(hi-lo, 1e-6), (hi+lo)/2
}

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

// GoTo shows slice k of phase t.
func (w *Workspace) GoTo(t, k int) {
	w.SetPhase(t, false)
	w.SetSlice(k)
}
