package ui

import (
	"fmt"
	"image"
	"math"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"cmrseg/app/report"
	"cmrseg/app/study"
	"cmrseg/app/workspace"
)

var reportRows = []struct{ key, name string }{
	{report.LVEDV, "LV EDV"}, {report.LVESV, "LV ESV"}, {report.LVSV, "LV SV"}, {report.LVEF, "LV EF"},
	{report.LVMass, "LV mass"},
	{report.RVEDV, "RV EDV"}, {report.RVESV, "RV ESV"}, {report.RVSV, "RV SV"}, {report.RVEF, "RV EF"},
}

type reportPanel struct {
	box     *fyne.Container // the table and its notes
	figures *fyne.Container // the volume–time plot and the bull's-eye
	cells   [][4]*widget.Label
	bsa     *widget.Label
	status  *widget.Label
	// The volume–time plot (drawn by workspace.RenderCurves) and its
	// caption with the peak rates.
	plot       *canvas.Raster
	plotData   *report.Curves
	ed, es     int
	plotLegend *widget.Label
	// The AHA bull's-eye of ED wall thickness and its caption.
	eye       *canvas.Raster
	eyeValues [17]float64
	eyeLegend *widget.Label
}

func newReportPanel() *reportPanel {
	p := &reportPanel{}
	grid := container.New(layout.NewGridLayoutWithColumns(4))
	for _, h := range []string{"", "Value", "95 % CI", "per m² BSA"} {
		l := widget.NewLabelWithStyle(h, fyne.TextAlignTrailing, fyne.TextStyle{Bold: true})
		grid.Add(l)
	}
	for _, r := range reportRows {
		var row [4]*widget.Label
		row[0] = widget.NewLabel(r.name)
		for c := 1; c < 4; c++ {
			row[c] = widget.NewLabelWithStyle("—", fyne.TextAlignTrailing, fyne.TextStyle{Monospace: true})
		}
		for _, l := range row {
			grid.Add(l)
		}
		p.cells = append(p.cells, row)
	}
	p.bsa = widget.NewLabel("")
	p.bsa.Wrapping = fyne.TextWrapWord
	p.status = widget.NewLabel("")
	p.status.Wrapping = fyne.TextWrapWord
	// The interval comes from the checkpoints' own values, so the value
	// (from the mean prediction) can sit at its edge.
	ci := widget.NewLabel("95 % CI: range of the ensemble's checkpoints (posterior samples); the value, from their mean prediction, may lie near an end.")
	ci.Wrapping = fyne.TextWrapWord
	ci.SizeName = theme.SizeNameCaptionText
	p.plot = canvas.NewRaster(func(w, h int) image.Image { return workspace.RenderCurves(p.plotData, p.ed, p.es, w, h) })
	p.plot.SetMinSize(fyne.NewSize(260, 110))
	p.plotLegend = widget.NewLabel("")
	p.plotLegend.Wrapping = fyne.TextWrapWord
	p.plotLegend.SizeName = theme.SizeNameCaptionText
	for n := range p.eyeValues {
		p.eyeValues[n] = math.NaN()
	}
	p.eye = canvas.NewRaster(func(w, h int) image.Image { return workspace.RenderBullseye(p.eyeValues, min(w, h)) })
	p.eye.SetMinSize(fyne.NewSize(110, 110))
	p.eyeLegend = widget.NewLabel("")
	p.eyeLegend.Wrapping = fyne.TextWrapWord
	p.eyeLegend.SizeName = theme.SizeNameCaptionText
	// Texts whose length follows the data get a fixed height (scrolling
	// when longer), so the controls below them stay where the reader's
	// pointer is as phases arrive and the report fills.
	p.box = container.NewVBox(grid, fixedHeight(p.bsa, 66), ci)
	p.figures = container.NewVBox(p.plot, fixedHeight(p.plotLegend, 76),
		container.NewBorder(nil, nil, p.eye, nil, fixedHeight(p.eyeLegend, 110)))
	return p
}

// showSegments colours the bull's-eye by r's ED wall thickness and names
// the thinnest segment and the mean thickening in its caption.
func (p *reportPanel) showSegments(r *report.Report) {
	for n := range p.eyeValues {
		p.eyeValues[n] = math.NaN()
	}
	switch {
	case r == nil || r.AHA == nil && r.AHANote == "":
		p.eyeLegend.SetText("")
	case r.AHA == nil:
		p.eyeLegend.SetText("AHA segments: " + r.AHANote)
	default:
		thin, sum, n := -1, 0.0, 0
		for i, s := range r.AHA.Segments {
			p.eyeValues[i] = s.EDThickness.Value
			if !math.IsNaN(s.EDThickness.Value) && (thin < 0 || s.EDThickness.Value < p.eyeValues[thin]) {
				thin = i
			}
			if !math.IsNaN(s.Thickening.Value) {
				sum += s.Thickening.Value
				n++
			}
		}
		text := "ED wall thickness per AHA segment (anterior up, septum left): red 2 mm, yellow 8, green 14+."
		if thin >= 0 {
			text += fmt.Sprintf(" Thinnest: %d %s, %.1f mm.", thin+1, r.AHA.Segments[thin].Name, p.eyeValues[thin])
		}
		if n > 0 {
			text += fmt.Sprintf(" Mean systolic thickening %.0f %%.", sum/float64(n))
		}
		p.eyeLegend.SetText(text + " Intervals in the exported report.")
	}
	p.eye.Refresh()
}

// showCurves puts r's volume–time curves in the plot and the rates (or
// why there are none) in its caption.
func (p *reportPanel) showCurves(r *report.Report) {
	p.plotData = nil
	p.plotLegend.SetText("")
	if r != nil && r.Curves != nil {
		c := r.Curves
		p.plotData, p.ed, p.es = c, r.EDPhase, r.ESPhase
		rate := func(ix report.Index) string {
			if math.IsNaN(ix.Value) {
				return "—"
			}
			s := fmt.Sprintf("%.0f ml/s", ix.Value)
			if !math.IsNaN(ix.Low) {
				s += fmt.Sprintf(" (%.0f–%.0f)", ix.Low, ix.High)
			}
			return s
		}
		text := fmt.Sprintf("Volume per phase (0–%.0f ml): LV red, RV blue, 95 %% CI shaded, ED and ES dashed; %d of %d phases.",
			workspace.NewCurveLayout(c, 1, 1).YMax, len(c.Points), c.NT)
		if c.Timing != "" {
			text += " " + c.Timing + "."
		} else {
			text += fmt.Sprintf(" LV peak ejection %s, peak filling %s.", rate(c.PeakEjection), rate(c.PeakFilling))
		}
		p.plotLegend.SetText(text)
	}
	p.plot.Refresh()
}

func (p *reportPanel) show(r *report.Report, err error, s *study.Series) {
	p.showCurves(r)
	p.showSegments(r)
	for _, row := range p.cells {
		for c := 1; c < 4; c++ {
			row[c].SetText("—")
		}
	}
	if r == nil {
		if err != nil {
			p.bsa.SetText(err.Error())
		} else {
			p.bsa.SetText("Available after segmentation.")
		}
		return
	}
	for n, rr := range reportRows {
		ix, ok := r.Index(rr.key)
		if !ok {
			continue
		}
		row := p.cells[n]
		if math.IsNaN(ix.Value) {
			row[1].SetText("—")
		} else {
			row[1].SetText(fmt.Sprintf("%s %s", fmtVal(ix.Value), ix.Unit))
		}
		if !math.IsNaN(ix.Low) {
			row[2].SetText(fmt.Sprintf("%s–%s", fmtVal(ix.Low), fmtVal(ix.High)))
		}
		if !math.IsNaN(ix.PerBSA) {
			row[3].SetText(fmtVal(ix.PerBSA))
		}
	}
	var text string
	if r.BSA > 0 {
		text = fmt.Sprintf("BSA %.2f m² (%.0f cm, %.0f kg) · %d checkpoints", r.BSA, r.HeightM*100, r.WeightKg, r.Checkpoints)
	} else {
		text = fmt.Sprintf("Height/weight unknown: not indexed · %d checkpoints", r.Checkpoints)
	}
	if r.SinglePhase {
		text = "ED and ES are the same phase: ESV, SV and EF need two phases.\n" + text
	}
	if r.Provisional != "" {
		text = "Provisional: " + r.Provisional + ".\n" + text
	}
	if w := workspace.SourceWarning(s); w != "" {
		text = w + "\n" + text
	}
	p.bsa.SetText(text)
}

func fmtVal(f float64) string {
	if math.IsNaN(f) {
		return "—"
	}
	return fmt.Sprintf("%.1f", f)
}
