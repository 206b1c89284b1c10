package ui

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"

	"cmrseg/app/report"
	"cmrseg/app/study"
	"cmrseg/app/workspace"
)

// The reader types height and weight and picks ED/ES in the report panel;
// the report follows keystroke by keystroke and the values are saved.
func TestReportSettingsPanel(t *testing.T) {
	v := newViewer(t)
	ws := v.ws
	s := ws.Series()
	p := v.settings
	def := ws.ReportSettings()
	if p.ed.Selected != phaseOption(s, s.ED) || p.es.Selected != phaseOption(s, s.ES) || len(p.ed.Options) != s.NT {
		t.Fatalf("selects show ED %q ES %q (%d options), series ED %d ES %d", p.ed.Selected, p.es.Selected, len(p.ed.Options), s.ED, s.ES)
	}
	if p.height.Text != amountText(def.HeightCm) || p.weight.Text != amountText(def.WeightKg) || !p.reset.Disabled() {
		t.Fatalf("height %q weight %q (study %+v), reset enabled %v", p.height.Text, p.weight.Text, def, !p.reset.Disabled())
	}

	// Typing 180 passes through 1 and 18, which are hinted at, not applied.
	p.height.SetText("")
	test.Type(p.height, "1")
	if !strings.Contains(p.hint.Text, "Height 1 cm is outside") {
		t.Fatalf("hint %q after typing 1", p.hint.Text)
	}
	test.Type(p.height, "80")
	p.weight.SetText("")
	test.Type(p.weight, "81")
	if p.hint.Text != "" {
		t.Fatalf("hint %q for valid values", p.hint.Text)
	}
	rs := ws.ReportSettings()
	if rs.HeightCm != 180 || rs.WeightKg != 81 {
		t.Fatalf("settings %+v after typing 180 cm, 81 kg", rs)
	}
	if got := v.report.bsa.Text; !strings.HasPrefix(got, "BSA 2.01 m² (180 cm, 81 kg)") {
		t.Fatalf("BSA line %q", got)
	}
	r, err := ws.Report()
	if err != nil {
		t.Fatal(err)
	}
	edv, _ := r.Index("lv_edv")
	if got, want := v.report.cells[0][3].Text, fmt.Sprintf("%.1f", edv.Value/2.0124611797498106); got != want {
		t.Fatalf("LV EDV/BSA cell %q, want %q", got, want)
	}
	if p.reset.Disabled() {
		t.Fatal("Study values button disabled after an edit")
	}

	// Another ED phase: the EDV cell is the hand count at that phase.
	ed := (s.ED + s.ES) / 2
	p.ed.SetSelected(phaseOption(s, ed))
	if s.ED != ed {
		t.Fatalf("series ED %d after choosing %d", s.ED, ed)
	}
	n := 0
	for _, l := range ws.Session.Labels(ed) {
		if l == study.LV {
			n++
		}
	}
	if got, want := v.report.cells[0][1].Text, fmt.Sprintf("%.1f ml", float64(n)*s.VoxelVolumeML()); got != want {
		t.Fatalf("LV EDV cell %q at ED phase %d, want %q", got, ed+1, want)
	}
	// ED equal to ES is refused, with the reason under the form.
	p.es.SetSelected(phaseOption(s, ed))
	if s.ES == ed || !strings.Contains(p.hint.Text, "must differ") {
		t.Fatalf("ES set to the ED phase: series ES %d, hint %q", s.ES, p.hint.Text)
	}

	disk, ok, err := workspace.LoadReportSettings(filepath.Join(ws.Session.Dir(), workspace.ReportSettingsFile))
	if err != nil || !ok || disk != ws.ReportSettings() {
		t.Fatalf("saved %+v (ok %v, %v), shown %+v", disk, ok, err, ws.ReportSettings())
	}

	test.Tap(p.reset)
	if ws.ReportSettings() != def || p.height.Text != amountText(def.HeightCm) || p.ed.Selected != phaseOption(s, def.ED) {
		t.Fatalf("after Study values: %+v, height %q, ED %q", ws.ReportSettings(), p.height.Text, p.ed.Selected)
	}
}

// A single-frame study has ED = ES: the panel says why ESV, SV and EF are
// missing instead of showing an ejection fraction of 0 %.
func TestReportPanelSinglePhase(t *testing.T) {
	v := newViewer(t)
	s := v.ws.Series()
	labels := v.ws.Labels(s.ED)
	r, err := report.Compute(report.Input{Geometry: s.Geometry,
		ED: report.Phase{Index: s.ED, Labels: labels},
		ES: report.Phase{Index: s.ED, Labels: labels}})
	if err != nil {
		t.Fatal(err)
	}
	v.report.show(r, nil, s)
	if !strings.Contains(v.report.bsa.Text, "need two phases") {
		t.Errorf("panel note %q does not explain the missing indices", v.report.bsa.Text)
	}
	for n, row := range reportRows {
		got := v.report.cells[n][1].Text
		switch row.key {
		case report.LVEF, report.RVEF, report.LVSV, report.RVSV, report.LVESV, report.RVESV:
			if got != "—" {
				t.Errorf("%s shows %q from one phase, want —", row.name, got)
			}
		default:
			if got == "—" {
				t.Errorf("%s is empty, want the ED value", row.name)
			}
		}
	}
}
