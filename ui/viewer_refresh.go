package ui

import (
	"fmt"
	"math"
	"strings"

	"fyne.io/fyne/v2/widget"

	"cmrseg/app/session"
	"cmrseg/app/study"
	"cmrseg/app/workspace"
)

// refreshAll updates every widget from the workspace.
func (v *Viewer) refreshAll() {
	v.refreshView()
	v.refreshData()
	v.refreshTools()
	v.refreshProgress()
}

// refreshView redraws the image, annotations, sliders and overlay controls.
func (v *Viewer) refreshView() {
	ws := v.ws
	s := ws.Series()
	vw := ws.View()
	v.syncing = true
	defer func() { v.syncing = false }()
	if s == nil {
		v.view.setAnnotations([4]string{}, [4]string{"No study open — File ▸ Open, or drop a file here", "", "", ""})
		v.view.Refresh()
		v.win.SetTitle("cmrseg")
		return
	}
	v.phaseSlider.Min, v.phaseSlider.Max = 1, math.Max(float64(s.NT), 1.0001)
	v.phaseSlider.SetValue(float64(vw.Phase + 1))
	v.sliceSlider.Min, v.sliceSlider.Max = 1, math.Max(float64(s.Dims[2]), 1.0001)
	v.sliceSlider.SetValue(float64(vw.Slice + 1))
	v.phaseText.SetText(phaseName(s, vw.Phase))
	v.sliceText.SetText(fmt.Sprintf("%d / %d", vw.Slice+1, s.Dims[2]))

	d := s.Direction
	orient := [4]string{workspace.Orientation(workspace.Neg(d[1])), workspace.Orientation(d[1]),
		workspace.Orientation(workspace.Neg(d[0])), workspace.Orientation(d[0])}
	m := s.Meta
	name := strings.ReplaceAll(m.PatientName, "^", " ")
	tl := fmt.Sprintf("%s\nID %s\n%s", orDash(name), orDash(m.PatientID), orDash(m.SeriesDescription))
	tr := fmt.Sprintf("Phase %s\nSlice %d / %d  (%.1f mm)", phaseName(s, vw.Phase), vw.Slice+1, s.Dims[2], s.Spacing[2])
	bl := fmt.Sprintf("W %s  L %s\nZoom %.0f %%", num(vw.Window), num(vw.Level), vw.Zoom*100)
	br := ""
	if k, n, ok := ws.Provisional(vw.Phase); ok {
		// A partial ensemble: drawn, but not final and not editable yet.
		br = fmt.Sprintf("%d of %d checkpoints (provisional)", k, n)
	} else if ses := ws.Session; ses != nil && !ses.Segmented(vw.Phase) {
		br = "Phase segmenting in the background…"
	} else if ses != nil {
		if sc := ws.SliceScore(vw.Phase, vw.Slice); !math.IsNaN(sc) {
			br = fmt.Sprintf("Slice uncertainty %.2f nats", sc)
			if ses.SliceFlagged(vw.Phase, vw.Slice) {
				br += "  ⚑ QC"
			}
		}
		if ses.Accepted(vw.Phase, vw.Slice) {
			br += "\nSlice accepted ✓"
		}
		if ses.Final() {
			br += "\nSTUDY FINAL"
		}
	} else if ws.Running() != nil {
		br = "Segmenting…"
	} else {
		br = "Not segmented"
	}
	v.view.setAnnotations(orient, [4]string{tl, tr, bl, br})
	v.view.Refresh()

	v.labelsCheck.SetChecked(vw.ShowLabels)
	for c := 1; c < study.NumClasses; c++ {
		v.classChecks[c].SetChecked(!ws.Display.Hidden[c])
	}
	v.fillCheck.SetChecked(ws.Display.Fill)
	v.labelOpacity.SetValue(vw.LabelOpacity)
	v.uncCheck.SetChecked(vw.ShowUncertainty)
	if vw.Overlay == session.OverlayMutualInfo {
		v.uncRadio.SetSelected("Mutual info")
	} else {
		v.uncRadio.SetSelected("Entropy")
	}
	v.refreshScale()
	v.uncOpacity.SetValue(vw.UncertaintyOpacity)
	v.thumbs.refresh()
	v.win.SetTitle(fmt.Sprintf("cmrseg — %s — %s", orDash(m.PatientID), orDash(m.SeriesDescription)))
}

func orDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "—"
	}
	return s
}

func num(f float64) string {
	if math.Abs(f) >= 100 {
		return fmt.Sprintf("%.0f", f)
	}
	return fmt.Sprintf("%.3g", f)
}

func phaseName(s *study.Series, t int) string {
	out := fmt.Sprintf("%d / %d", t+1, s.NT)
	switch t {
	case s.ED:
		out += " ED"
	case s.ES:
		out += " ES"
	}
	if t < len(s.TriggerTimes) {
		out += fmt.Sprintf(" · %.0f ms", s.TriggerTimes[t])
	}
	return out
}

// refreshData updates what depends on the labels: report, QC, thumbnails.
func (v *Viewer) refreshData() {
	v.qcItems = v.ws.QC(v.qcAll)
	n := 0
	for _, it := range v.qcItems {
		if !it.Accepted {
			n++
		}
	}
	switch {
	case v.ws.Session == nil:
		v.qcHeader.SetText("Quality control")
	case len(v.qcItems) == 0:
		v.qcHeader.SetText("QC — no slice flagged")
	default:
		v.qcHeader.SetText(fmt.Sprintf("QC — %d flagged, %d to review", len(v.qcItems), n))
	}
	v.qcList.Refresh()
	if v.ws.Session == nil {
		v.report.show(nil, nil, v.ws.Series())
	} else {
		r, err := v.ws.Report()
		v.report.show(r, err, v.ws.Series())
	}
	v.settings.refresh()
	v.thumbs.refresh()
	v.refreshTools()
}

// refreshTools enables the buttons that can act now.
func (v *Viewer) refreshTools() {
	if v.undoBtn == nil || v.labelSelect == nil {
		return // still building
	}
	ses := v.ws.Session
	enable := func(b *widget.Button, on bool) {
		if on {
			b.Enable()
		} else {
			b.Disable()
		}
	}
	editable := ses != nil && !ses.Final()
	enable(v.undoBtn, ses != nil && ses.CanUndo())
	enable(v.redoBtn, ses != nil && ses.CanRedo())
	enable(v.fillBtn, editable)
	enable(v.acceptBtn, editable)
	enable(v.finalBtn, ses != nil)
	if ses != nil {
		vw := ses.View
		if ses.Accepted(vw.Phase, vw.Slice) {
			v.acceptBtn.SetText("Unaccept")
		} else {
			v.acceptBtn.SetText("Accept")
		}
		if ses.Final() {
			v.finalBtn.SetText("Reopen")
		} else {
			v.finalBtn.SetText("Mark final")
		}
	}
	if v.tool == workspace.ToolBrush || v.tool == workspace.ToolEraser {
		v.labelSelect.Enable()
		v.brushSlider.Enable()
	} else {
		v.labelSelect.Disable()
		v.brushSlider.Disable()
	}
}

// refreshProgress shows or hides the segmentation progress.
func (v *Viewer) refreshProgress() {
	v.deviceText.SetText(v.ws.Device())
	j := v.ws.Running()
	if j == nil {
		v.progressBox.Hide()
		return
	}
	d, t := j.Progress()
	if t > 0 {
		v.progress.SetValue(float64(d) / float64(t))
	} else {
		v.progress.SetValue(0)
	}
	v.progressText.SetText("Segmenting")
	v.progressBox.Show()
}
