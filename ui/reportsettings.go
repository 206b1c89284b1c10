package ui

import (
	"fmt"
	"strconv"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"cmrseg/app/study"
	"cmrseg/app/workspace"
)

// settingsPanel lets the reader choose the ED and ES phases and enter the
// patient's height and weight under the report; every valid change updates
// the report at once and is saved with the session.
type settingsPanel struct {
	v       *Viewer
	box     *fyne.Container
	ed, es  *safeSelect
	height  *widget.Entry
	weight  *widget.Entry
	sex     *safeSelect
	age     *widget.Entry
	basal   *widget.Check
	reset   *widget.Button
	hint    *widget.Label
	syncing bool
	nt      int // phases the selects were built for
}

func (v *Viewer) newSettingsPanel() *settingsPanel {
	p := &settingsPanel{v: v}
	p.ed = newSafeSelect(v.win, nil, func(string) { p.changed() })
	p.es = newSafeSelect(v.win, nil, func(string) { p.changed() })
	p.height = widget.NewEntry()
	p.height.SetPlaceHolder("unknown")
	p.height.OnChanged = func(string) { p.changed() }
	p.weight = widget.NewEntry()
	p.weight.SetPlaceHolder("unknown")
	p.weight.OnChanged = func(string) { p.changed() }
	// Sex and age choose the reference ranges; the basal-slice rule is the
	// SCMR one (report.BasalRuleMin).
	p.sex = newSafeSelect(v.win, []string{"unknown", "M", "F"}, func(string) { p.changed() })
	p.age = widget.NewEntry()
	p.age.SetPlaceHolder("unknown")
	p.age.OnChanged = func(string) { p.changed() }
	p.basal = widget.NewCheck("Basal-slice rule (SCMR)", func(bool) { p.changed() })
	p.reset = widget.NewButtonWithIcon("Study values", theme.HistoryIcon(), func() {
		if err := v.ws.ResetReportSettings(); err != nil {
			v.showError("Report settings", err)
		}
		v.setMessage("Report uses the study's ED/ES, height and weight.")
		p.refresh()
		v.refreshView()
		v.refreshData()
	})
	p.hint = widget.NewLabel("")
	p.hint.Wrapping = fyne.TextWrapWord
	p.hint.Importance = widget.WarningImportance
	// Two compact rows: the right column is shared with overlays and QC.
	cell := func(name string, w fyne.CanvasObject, unit string) fyne.CanvasObject {
		var right fyne.CanvasObject
		if unit != "" {
			right = widget.NewLabel(unit)
		}
		return container.NewBorder(nil, nil, widget.NewLabel(name), right, w)
	}
	form := container.New(layout.NewGridLayoutWithColumns(2),
		cell("ED", p.ed, ""), cell("ES", p.es, ""),
		cell("Height", p.height, "cm"), cell("Weight", p.weight, "kg"),
		cell("Sex", p.sex, ""), cell("Age", p.age, "y"),
	)
	p.box = container.NewVBox(container.NewBorder(nil, nil, nil, p.reset), form, p.basal, p.hint)
	p.refresh()
	return p
}

// phaseOption names phase t (0-based) in the ED/ES selects.
func phaseOption(s *study.Series, t int) string {
	o := fmt.Sprintf("%d", t+1)
	if t < len(s.TriggerTimes) {
		o += fmt.Sprintf(" · %.0f ms", s.TriggerTimes[t])
	}
	return o
}

// parsePhase is the inverse of phaseOption.
func parsePhase(o string) (int, bool) {
	f := strings.Fields(o)
	if len(f) == 0 {
		return 0, false
	}
	n, err := strconv.Atoi(f[0])
	return n - 1, err == nil
}

// parseAmount reads a height or weight; empty means unknown (0). A decimal
// comma is accepted.
func parseAmount(s string) (float64, error) {
	s = strings.TrimSpace(strings.ReplaceAll(s, ",", "."))
	if s == "" {
		return 0, nil
	}
	return strconv.ParseFloat(s, 64)
}

func amountText(f float64) string {
	if f == 0 {
		return ""
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// changed applies the widgets' values (when complete and valid).
func (p *settingsPanel) changed() {
	if p.syncing {
		return
	}
	ws := p.v.ws
	if ws.Series() == nil {
		return
	}
	rs := ws.ReportSettings()
	var ok bool
	if rs.ED, ok = parsePhase(p.ed.Selected); !ok {
		return
	}
	if rs.ES, ok = parsePhase(p.es.Selected); !ok {
		return
	}
	var err error
	if rs.HeightCm, err = parseAmount(p.height.Text); err != nil {
		p.hint.SetText(fmt.Sprintf("Height %q is not a number.", p.height.Text))
		return
	}
	if rs.WeightKg, err = parseAmount(p.weight.Text); err != nil {
		p.hint.SetText(fmt.Sprintf("Weight %q is not a number.", p.weight.Text))
		return
	}
	if rs.AgeYears, err = parseAmount(p.age.Text); err != nil {
		p.hint.SetText(fmt.Sprintf("Age %q is not a number.", p.age.Text))
		return
	}
	rs.Sex = strings.TrimPrefix(p.sex.Selected, "unknown")
	rs.BasalRuleOff = !p.basal.Checked
	if rs == ws.ReportSettings() {
		p.hint.SetText("")
		return
	}
	// While typing, an incomplete value is only hinted at, not applied.
	if err := ws.SetReportSettings(rs); err != nil {
		p.hint.SetText(capitalise(strings.TrimPrefix(err.Error(), "report settings: ")) + ".")
		return
	}
	p.hint.SetText("")
	p.v.refreshView()
	p.v.refreshData()
}

// refresh shows the workspace's settings.
func (p *settingsPanel) refresh() {
	p.syncing = true
	defer func() { p.syncing = false }()
	ws := p.v.ws
	s := ws.Series()
	if s == nil {
		for _, w := range []fyne.Disableable{p.ed, p.es, p.height, p.weight, p.sex, p.age, p.basal, p.reset} {
			w.Disable()
		}
		return
	}
	if p.nt != s.NT || len(p.ed.Options) != s.NT {
		opts := make([]string, s.NT)
		for t := range opts {
			opts[t] = phaseOption(s, t)
		}
		p.ed.Options, p.es.Options, p.nt = opts, opts, s.NT
	}
	rs := ws.ReportSettings()
	if rs.ED >= 0 && rs.ED < s.NT {
		p.ed.SetSelected(phaseOption(s, rs.ED))
	} else {
		p.ed.ClearSelected()
	}
	if rs.ES >= 0 && rs.ES < s.NT {
		p.es.SetSelected(phaseOption(s, rs.ES))
	} else {
		p.es.ClearSelected()
	}
	// Keep what the reader is typing when it means the same value.
	if h, err := parseAmount(p.height.Text); err != nil || h != rs.HeightCm {
		p.height.SetText(amountText(rs.HeightCm))
	}
	if m, err := parseAmount(p.weight.Text); err != nil || m != rs.WeightKg {
		p.weight.SetText(amountText(rs.WeightKg))
	}
	if a, err := parseAmount(p.age.Text); err != nil || a != rs.AgeYears {
		p.age.SetText(amountText(rs.AgeYears))
	}
	if rs.Sex == "" {
		p.sex.SetSelected("unknown")
	} else {
		p.sex.SetSelected(rs.Sex)
	}
	p.basal.SetChecked(!rs.BasalRuleOff)
	if ws.Final() {
		// A final study's report is locked with its labels.
		for _, w := range []fyne.Disableable{p.ed, p.es, p.height, p.weight, p.sex, p.age, p.basal, p.reset} {
			w.Disable()
		}
		p.hint.SetText("Final study: reopen it for editing to change phases or body size.")
		return
	}
	if strings.HasPrefix(p.hint.Text, "Final study") {
		p.hint.SetText("")
	}
	for _, w := range []fyne.Disableable{p.ed, p.es, p.height, p.weight, p.sex, p.age, p.basal} {
		w.Enable()
	}
	if ws.ReportSettingsEdited() {
		p.reset.Enable()
	} else {
		p.reset.Disable()
	}
}

// SetReportSettings applies settings as the panel does (scripts, tests).
func (v *Viewer) SetReportSettings(rs workspace.ReportSettings) error {
	if err := v.ws.SetReportSettings(rs); err != nil {
		return err
	}
	v.settings.refresh()
	v.refreshView()
	v.refreshData()
	return nil
}
