package workspace

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cmrseg/app/report"
	"cmrseg/app/study"
)

// freshDemo opens its own copy of the demo study (report settings change the
// series, so the shared one must not be used) with sessions under root,
// segmented.
func freshDemo(t *testing.T, root string) *Workspace {
	t.Helper()
	demoOnce.Do(func() { demoSt, demoSeg = Demo() })
	st, _ := Demo()
	w := New(Config{Engine: demoSeg, SessionRoot: root})
	if err := w.SetStudy(st); err != nil {
		t.Fatal(err)
	}
	if err := w.Segment(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// lvVolume is the LV cavity volume of phase t in ml, counted by hand.
func lvVolume(w *Workspace, t int) float64 {
	n := 0
	for _, l := range w.Session.Labels(t) {
		if l == study.LV {
			n++
		}
	}
	return float64(n) * w.Series().VoxelVolumeML()
}

func index(t *testing.T, r *report.Report, key string) report.Index {
	t.Helper()
	ix, ok := r.Index(key)
	if !ok {
		t.Fatalf("report has no %s", key)
	}
	return ix
}

func TestReportSettingsLive(t *testing.T) {
	w := freshDemo(t, t.TempDir())
	s := w.Series()
	def := w.StudyReportSettings()
	if def.ED != s.ED || def.ES != s.ES || def != w.ReportSettings() || w.ReportSettingsEdited() {
		t.Fatalf("defaults %+v, current %+v, series ED %d ES %d", def, w.ReportSettings(), s.ED, s.ES)
	}
	r0, err := w.Report()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := index(t, r0, report.LVEDV).Value, lvVolume(w, s.ED); math.Abs(got-want) > 1e-9 {
		t.Fatalf("LV EDV %g, hand count %g", got, want)
	}

	// Height and weight: BSA (Mosteller) and the indexed values follow.
	rs := def
	rs.HeightCm, rs.WeightKg = 180, 81
	if err := w.SetReportSettings(rs); err != nil {
		t.Fatal(err)
	}
	r1, err := w.Report()
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(r1.BSA-2.0124611797498106) > 1e-12 {
		t.Fatalf("BSA %g, want sqrt(180·81/3600) = 2.0125", r1.BSA)
	}
	edv := index(t, r1, report.LVEDV)
	if math.Abs(edv.PerBSA-edv.Value/r1.BSA) > 1e-9 || math.Abs(edv.Value-lvVolume(w, s.ED)) > 1e-9 {
		t.Fatalf("LV EDV %+v with BSA %g", edv, r1.BSA)
	}
	if r0.BSA == 0 && !math.IsNaN(index(t, r0, report.LVEDV).PerBSA) {
		t.Fatalf("indexed without height/weight: %+v", index(t, r0, report.LVEDV))
	}

	// Choosing other phases: the ED volume is the hand count at the new ED.
	rs.ED, rs.ES = def.ES, def.ED
	if err := w.SetReportSettings(rs); err != nil {
		t.Fatal(err)
	}
	if s.ED != def.ES || s.ES != def.ED {
		t.Fatalf("series ED %d ES %d after swapping", s.ED, s.ES)
	}
	r2, err := w.Report()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := index(t, r2, report.LVEDV).Value, index(t, r1, report.LVESV).Value; math.Abs(got-want) > 1e-9 {
		t.Fatalf("swapped ED/ES: EDV %g, want the old ESV %g", got, want)
	}
	if ef := index(t, r2, report.LVEF).Value; !(ef < 0) {
		t.Fatalf("swapped ED/ES gives EF %g, want negative", ef)
	}
	if r2.EDPhase != def.ES || r2.ESPhase != def.ED {
		t.Fatalf("report phases %d/%d", r2.EDPhase, r2.ESPhase)
	}
	// The QC list and export names follow the reader's ED.
	if qc := w.QC(false); len(qc) == 0 || qc[0].Phase != def.ES || !strings.HasPrefix(qc[0].Text, "ED (phase") {
		t.Fatalf("QC list %v", qc)
	}
	if got := w.ExportBaseName(def.ES); !strings.HasSuffix(got, "_ED") {
		t.Fatalf("export name of the new ED phase: %s", got)
	}
	mid := (def.ED + def.ES) / 2
	rs.ED = mid
	if err := w.SetReportSettings(rs); err != nil {
		t.Fatal(err)
	}
	r3, _ := w.Report()
	if got, want := index(t, r3, report.LVEDV).Value, lvVolume(w, mid); math.Abs(got-want) > 1e-9 {
		t.Fatalf("ED %d: EDV %g, hand count %g", mid, got, want)
	}
}

func TestReportSettingsRejectsBadValues(t *testing.T) {
	w := freshDemo(t, t.TempDir())
	def := w.ReportSettings()
	nt := w.Series().NT
	for _, c := range []struct {
		rs   ReportSettings
		want string
	}{
		{ReportSettings{ED: def.ED, ES: def.ED}, "must differ"},
		{ReportSettings{ED: -1, ES: def.ES}, "ED phase 0"},
		{ReportSettings{ED: def.ED, ES: nt}, "outside the series' phases"},
		{ReportSettings{ED: def.ED, ES: def.ES, HeightCm: 1.8}, "height 1.8 cm"},
		{ReportSettings{ED: def.ED, ES: def.ES, WeightKg: 900}, "weight 900 kg"},
		{ReportSettings{ED: def.ED, ES: def.ES, HeightCm: math.NaN()}, "height"},
	} {
		err := w.SetReportSettings(c.rs)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: error %v, want one mentioning %q", c.rs, err, c.want)
		}
		if w.ReportSettings() != def || w.ReportSettingsEdited() {
			t.Fatalf("a rejected setting changed the series: %+v", w.ReportSettings())
		}
	}
	if err := (ReportSettings{ED: 0, ES: 1}).Validate(25); err != nil {
		t.Fatal(err)
	}
}

func TestReportSettingsPersist(t *testing.T) {
	root := t.TempDir()
	w := freshDemo(t, root)
	def := w.ReportSettings()
	rs := ReportSettings{ED: def.ED + 1, ES: def.ES - 1, HeightCm: 165.5, WeightKg: 58.2}
	if err := w.SetReportSettings(rs); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(w.Session.Dir(), ReportSettingsFile)
	var onDisk ReportSettings
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &onDisk); err != nil || onDisk != rs {
		t.Fatalf("sidecar %s: %+v (%v), want %+v", path, onDisk, err, rs)
	}
	want, _ := w.Report()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	// Reopening the study (fresh pixels, same study) restores them.
	w2 := freshDemo(t, root)
	if got := w2.ReportSettings(); got != rs || !w2.ReportSettingsEdited() {
		t.Fatalf("reopened with %+v (edited %v), want %+v", got, w2.ReportSettingsEdited(), rs)
	}
	if w2.StudyReportSettings() != def {
		t.Fatalf("study defaults after reopen %+v, want %+v", w2.StudyReportSettings(), def)
	}
	got, _ := w2.Report()
	if math.Abs(got.BSA-want.BSA) > 1e-12 || index(t, got, report.LVEDV).Value != index(t, want, report.LVEDV).Value {
		t.Fatalf("report after reopen BSA %g EDV %g, before BSA %g EDV %g", got.BSA, index(t, got, report.LVEDV).Value,
			want.BSA, index(t, want, report.LVEDV).Value)
	}

	// Reset: the study's values, and the sidecar is gone.
	if err := w2.ResetReportSettings(); err != nil {
		t.Fatal(err)
	}
	if w2.ReportSettings() != def || w2.ReportSettingsEdited() {
		t.Fatalf("after reset %+v", w2.ReportSettings())
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("sidecar still there after reset: %v", err)
	}
	w2.Close()
	if w3 := freshDemo(t, root); w3.ReportSettings() != def {
		t.Fatalf("reopened after reset with %+v", w3.ReportSettings())
	}
}

// Settings made while segmentation runs are saved once the session opens,
// and are not replaced by an older sidecar.
func TestReportSettingsBeforeSegmentation(t *testing.T) {
	root := t.TempDir()
	old := freshDemo(t, root)
	if err := old.SetReportSettings(ReportSettings{ED: old.Series().ED, ES: old.Series().ES, HeightCm: 150, WeightKg: 50}); err != nil {
		t.Fatal(err)
	}
	old.Close()

	st, _ := Demo()
	w := New(Config{Engine: demoSeg, SessionRoot: root})
	t.Cleanup(func() { w.Close() })
	if err := w.SetStudy(st); err != nil {
		t.Fatal(err)
	}
	rs := w.ReportSettings()
	rs.HeightCm, rs.WeightKg = 190, 95
	if err := w.SetReportSettings(rs); err != nil {
		t.Fatal(err)
	}
	if err := w.Segment(); err != nil {
		t.Fatal(err)
	}
	if got := w.ReportSettings(); got != rs {
		t.Fatalf("after segmentation %+v, want the reader's %+v", got, rs)
	}
	disk, ok, err := LoadReportSettings(filepath.Join(w.Session.Dir(), ReportSettingsFile))
	if err != nil || !ok || disk != rs {
		t.Fatalf("sidecar %+v ok %v err %v, want %+v", disk, ok, err, rs)
	}
}

func TestReportSettingsDamagedSidecar(t *testing.T) {
	root := t.TempDir()
	w := freshDemo(t, root)
	def := w.ReportSettings()
	dir := w.Session.Dir()
	w.Close()
	for _, bad := range []string{"{not json", `{"ed_phase": 3, "es_phase": 3, "height_cm": 170, "weight_kg": 70}`} {
		if err := os.WriteFile(filepath.Join(dir, ReportSettingsFile), []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		w2 := freshDemo(t, root)
		warn := strings.Join(w2.TakeWarnings(), "\n")
		if w2.ReportSettings() != def || !strings.Contains(warn, ReportSettingsFile) {
			t.Fatalf("sidecar %q: settings %+v, warnings %q", bad, w2.ReportSettings(), warn)
		}
		w2.Close()
	}
}
