package workspace

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"cmrseg/app/atomicfile"
	"cmrseg/app/report"
	"cmrseg/app/study"
)

// ReportSettings are the reader's choices behind the report: which phases
// are end-diastole and end-systole, the patient's height and weight (for
// the body surface area the volumes are indexed to), sex and age (for the
// reference ranges), and whether the basal-slice rule applies.
type ReportSettings struct {
	// ED and ES are 0-based phase indices.
	ED int `json:"ed_phase"`
	ES int `json:"es_phase"`
	// HeightCm and WeightKg are 0 when unknown.
	HeightCm float64 `json:"height_cm"`
	WeightKg float64 `json:"weight_kg"`
	// Sex is "M", "F" or "" (unknown); AgeYears is 0 when unknown.
	Sex      string  `json:"sex,omitempty"`
	AgeYears float64 `json:"age_years,omitempty"`
	// BasalRuleOff turns the SCMR basal-slice rule off (it is on by
	// default, report.BasalRuleDefault).
	BasalRuleOff bool `json:"basal_rule_off,omitempty"`
}

// Plausible ranges for height and weight; outside them a value is far more
// likely a typo (metres for centimetres, pounds) than a patient.
const (
	MinHeightCm, MaxHeightCm = 40, 250
	MinWeightKg, MaxWeightKg = 2, 350
)

// ReportSettingsFile is the sidecar beside the session journal that keeps
// the reader's report settings: the journal records label edits only, and
// these belong to the study, not to one segmentation.
const ReportSettingsFile = "report-settings.json"

// seriesReport tracks one series' report settings.
type seriesReport struct {
	// defaults are the study's own values (after segmentation has refined
	// a provisional ES).
	defaults ReportSettings
	// applied is set while the reader's settings (edited, or read from the
	// sidecar) are on the series.
	applied bool
	// basalOff is the reader's basal-rule choice (the series has no place
	// for it).
	basalOff bool
}

func settingsOf(s *study.Series) ReportSettings {
	return ReportSettings{ED: s.ED, ES: s.ES, HeightCm: s.Meta.HeightM * 100, WeightKg: s.Meta.WeightKg, Sex: s.Meta.Sex, AgeYears: s.Meta.AgeYears}
}

// BasalRule reports whether the chosen series' report applies the
// basal-slice rule.
func (w *Workspace) BasalRule() bool {
	e := w.reportState()
	return report.BasalRuleDefault && (e == nil || !e.basalOff)
}

// reportState returns the tracking record of the chosen series, creating
// it from the series' current values the first time.
func (w *Workspace) reportState() *seriesReport {
	s := w.Series()
	if s == nil {
		return nil
	}
	if w.reports == nil {
		w.reports = map[*study.Series]*seriesReport{}
	}
	e := w.reports[s]
	if e == nil {
		e = &seriesReport{defaults: settingsOf(s)}
		w.reports[s] = e
	}
	return e
}

// ReportSettings are the settings in effect for the chosen series (zero
// when none is open).
func (w *Workspace) ReportSettings() ReportSettings {
	s := w.Series()
	if s == nil {
		return ReportSettings{}
	}
	rs := settingsOf(s)
	rs.BasalRuleOff = !w.BasalRule()
	return rs
}

// StudyReportSettings are the study's own values, before the reader's
// changes.
func (w *Workspace) StudyReportSettings() ReportSettings {
	if e := w.reportState(); e != nil {
		return e.defaults
	}
	return ReportSettings{}
}

// ReportSettingsEdited reports whether the reader's settings replace the
// study's.
func (w *Workspace) ReportSettingsEdited() bool {
	e := w.reportState()
	return e != nil && e.applied
}

// Validate checks rs against a series of nt phases; the error says which
// value is wrong and what is allowed.
func (rs ReportSettings) Validate(nt int) error {
	if rs.ED < 0 || rs.ED >= nt {
		return fmt.Errorf("ED phase %d is outside the series' phases 1–%d", rs.ED+1, nt)
	}
	if rs.ES < 0 || rs.ES >= nt {
		return fmt.Errorf("ES phase %d is outside the series' phases 1–%d", rs.ES+1, nt)
	}
	if rs.ED == rs.ES {
		return fmt.Errorf("ED and ES are both phase %d; they must differ", rs.ED+1)
	}
	if h := rs.HeightCm; math.IsNaN(h) || h != 0 && (h < MinHeightCm || h > MaxHeightCm) {
		return fmt.Errorf("height %g cm is outside %d–%d cm (0 or empty: unknown)", h, MinHeightCm, MaxHeightCm)
	}
	if m := rs.WeightKg; math.IsNaN(m) || m != 0 && (m < MinWeightKg || m > MaxWeightKg) {
		return fmt.Errorf("weight %g kg is outside %d–%d kg (0 or empty: unknown)", m, MinWeightKg, MaxWeightKg)
	}
	if rs.Sex != "" && rs.Sex != "M" && rs.Sex != "F" {
		return fmt.Errorf("sex %q: M, F or empty (unknown)", rs.Sex)
	}
	if a := rs.AgeYears; math.IsNaN(a) || a < 0 || a > 120 {
		return fmt.Errorf("age %g years is outside 0–120 (0 or empty: unknown)", a)
	}
	return nil
}

// SetReportSettings makes rs the settings of the chosen series: the report,
// the QC list's ED/ES and the ED/ES exports follow at once. With a journaled
// session they are saved (atomically) beside its journal; set before
// segmentation has finished, they are saved when it has.
func (w *Workspace) SetReportSettings(rs ReportSettings) error {
	if err := w.finalLock("report settings"); err != nil {
		return err
	}
	s := w.Series()
	if s == nil {
		return errors.New("report settings: no series open")
	}
	if err := rs.Validate(s.NT); err != nil {
		return fmt.Errorf("report settings: %w", err)
	}
	e := w.reportState()
	apply(s, rs)
	e.basalOff = rs.BasalRuleOff
	// The reader decided, even when the choice equals the timing guess:
	// segmentation must not refine it away.
	s.ESProvisional = false
	e.applied = true
	return w.saveReportSettings()
}

// ResetReportSettings goes back to the study's own values and deletes the
// saved settings.
func (w *Workspace) ResetReportSettings() error {
	if err := w.finalLock("report settings"); err != nil {
		return err
	}
	s := w.Series()
	if s == nil {
		return errors.New("report settings: no series open")
	}
	e := w.reportState()
	apply(s, e.defaults)
	e.applied, e.basalOff = false, false
	if p := w.reportSettingsPath(); p != "" {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("report settings: %w", err)
		}
	}
	return nil
}

// apply puts rs on the series. A phase the reader chose is not provisional:
// segmentation must not refine it away.
func apply(s *study.Series, rs ReportSettings) {
	if s.ES != rs.ES || s.ED != rs.ED {
		s.ESProvisional = false
	}
	s.ED, s.ES = rs.ED, rs.ES
	s.Meta.HeightM, s.Meta.WeightKg = rs.HeightCm/100, rs.WeightKg
	s.Meta.Sex, s.Meta.AgeYears = rs.Sex, rs.AgeYears
}

func (w *Workspace) reportSettingsPath() string {
	if w.Session == nil || w.Session.Dir() == "" {
		return ""
	}
	return filepath.Join(w.Session.Dir(), ReportSettingsFile)
}

func (w *Workspace) saveReportSettings() error {
	p := w.reportSettingsPath()
	if p == "" {
		return nil
	}
	b, err := json.MarshalIndent(w.ReportSettings(), "", "  ")
	if err != nil {
		return fmt.Errorf("report settings: %w", err)
	}
	if err := atomicfile.Write(p, append(b, '\n')); err != nil {
		return fmt.Errorf("report settings: %w", err)
	}
	return nil
}

// LoadReportSettings reads a settings sidecar; ok is false when there is
// none.
func LoadReportSettings(path string) (rs ReportSettings, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return rs, false, nil
	}
	if err != nil {
		return rs, false, fmt.Errorf("report settings %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &rs); err != nil {
		return rs, false, fmt.Errorf("report settings %s: %w", path, err)
	}
	return rs, true, nil
}

// attachReportSettings runs when a session opens: settings the reader made
// while segmentation ran are saved; otherwise saved ones are restored. A
// damaged or unfitting file is reported and ignored (the study's values
// stay).
func (w *Workspace) attachReportSettings() {
	e := w.reportState()
	p := w.reportSettingsPath()
	if e == nil || p == "" {
		return
	}
	if e.applied {
		if err := w.saveReportSettings(); err != nil {
			w.warning = append(w.warning, err.Error())
		}
		return
	}
	// Segmentation may have refined a provisional ES: that is the study's.
	e.defaults = settingsOf(w.Series())
	rs, ok, err := LoadReportSettings(p)
	if err != nil {
		w.warning = append(w.warning, err.Error()+"; using the study's ED/ES, height and weight")
		return
	}
	if !ok {
		return
	}
	if err := rs.Validate(w.Series().NT); err != nil {
		w.warning = append(w.warning, fmt.Sprintf("report settings %s: %v; using the study's values", p, err))
		return
	}
	apply(w.Series(), rs)
	e.basalOff = rs.BasalRuleOff
	e.applied = true
}
