package ui

import (
	"fmt"
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"cmrseg/app/session"
	"cmrseg/app/study"
	"cmrseg/app/workspace"
)

// refreshScale labels the colour scale of the chosen uncertainty map; the
// one-click threshold is an entropy, so it is marked on that scale only.
func (v *Viewer) refreshScale() {
	if v.scaleTop == nil {
		return
	}
	o := v.ws.View().Overlay
	v.scaleTop.Text = fmt.Sprintf("≥ %.2f", workspace.ScaleMax(o))
	v.scaleMark.Text = fmt.Sprintf("│ %.2f", session.DefaultUncertainThreshold)
	if o == session.OverlayMutualInfo {
		v.scaleMark.Text = "mutual information"
	}
	v.scaleTop.Refresh()
	v.scaleMark.Refresh()
}

func (v *Viewer) overlayPanel() fyne.CanvasObject {
	v.labelsCheck = widget.NewCheck("Labels (L)", func(b bool) { v.ws.View().ShowLabels = b; v.refreshView() })
	keys := [study.NumClasses]string{"", "1", "2", "3"}
	row := []fyne.CanvasObject{}
	for c := 1; c < study.NumClasses; c++ {
		c := c
		sw := canvas.NewRectangle(workspace.LabelColors[c])
		sw.SetMinSize(fyne.NewSize(10, 10))
		sw.CornerRadius = 2
		chk := widget.NewCheck(shortClass(c)+" ("+keys[c]+")", func(b bool) { v.ws.Display.Hidden[c] = !b; v.refreshView() })
		v.classChecks[c] = chk
		row = append(row, container.NewHBox(container.NewCenter(sw), chk))
	}
	v.fillCheck = widget.NewCheck("Fill (C)", func(b bool) { v.ws.Display.Fill = b; v.refreshView() })
	v.labelOpacity = widget.NewSlider(0, 1)
	v.labelOpacity.Step = 0.05
	v.labelOpacity.OnChanged = func(f float64) {
		if !v.syncing {
			v.ws.View().LabelOpacity = f
			v.refreshView()
		}
	}
	v.uncCheck = widget.NewCheck("Uncertainty (U)", func(b bool) { v.ws.View().ShowUncertainty = b; v.refreshView() })
	v.uncRadio = widget.NewRadioGroup([]string{"Entropy", "Mutual info"}, func(s string) {
		if s == "Mutual info" {
			v.ws.View().Overlay = session.OverlayMutualInfo
		} else {
			v.ws.View().Overlay = session.OverlayEntropy
		}
		v.refreshScale()
		v.refreshView()
	})
	v.uncRadio.Horizontal = true
	v.uncRadio.Required = true
	v.uncOpacity = widget.NewSlider(0, 1)
	v.uncOpacity.Step = 0.05
	v.uncOpacity.OnChanged = func(f float64) {
		if !v.syncing {
			v.ws.View().UncertaintyOpacity = f
			v.refreshView()
		}
	}
	bar := canvas.NewRasterWithPixels(func(x, y, w, h int) color.Color {
		return workspace.Heat((float64(x) + 0.5) / float64(w))
	})
	bar.SetMinSize(fyne.NewSize(200, 12))
	thr := session.DefaultUncertainThreshold
	// The scale's top and the click threshold follow the chosen map.
	v.scaleTop, v.scaleMark = caption(""), caption("")
	scale := container.NewBorder(nil, nil, caption("0 nats"), v.scaleTop, container.NewCenter(v.scaleMark))
	thrNote := caption(fmt.Sprintf("One click corrects regions above %.2f nats", thr))
	return container.NewVBox(
		container.NewHBox(v.labelsCheck, v.fillCheck),
		container.NewHBox(row...),
		container.NewBorder(nil, nil, caption("Opacity"), nil, v.labelOpacity),
		container.NewHBox(v.uncCheck),
		v.uncRadio,
		container.NewBorder(nil, nil, caption("Opacity"), nil, v.uncOpacity),
		bar, scale, thrNote,
	)
}

func shortClass(c int) string {
	return [...]string{"BG", "RV", "MYO", "LV"}[c%study.NumClasses]
}

func (v *Viewer) qcPanel() fyne.CanvasObject {
	v.qcHeader = heading("Quality control")
	v.qcList = widget.NewList(
		func() int { return len(v.qcItems) },
		func() fyne.CanvasObject {
			dot := canvas.NewCircle(colAmber)
			return container.NewBorder(nil, nil, container.NewGridWrap(fyne.NewSize(10, 10), dot), nil, widget.NewLabel(""))
		},
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id >= len(v.qcItems) {
				return
			}
			it := v.qcItems[id]
			c := o.(*fyne.Container)
			c.Objects[0].(*widget.Label).SetText(it.Text)
			dot := c.Objects[1].(*fyne.Container).Objects[0].(*canvas.Circle)
			if it.Accepted {
				dot.FillColor = colGood
			} else {
				dot.FillColor = colAmber
			}
			dot.Refresh()
		})
	v.qcList.OnSelected = func(id widget.ListItemID) {
		if id < len(v.qcItems) {
			v.goTo(v.qcItems[id].Phase, v.qcItems[id].Slice)
		}
		v.qcList.UnselectAll()
	}
	all := widget.NewCheck("All phases", func(b bool) { v.qcAll = b; v.refreshData() })
	return container.NewBorder(container.NewBorder(nil, nil, nil, all, v.qcHeader), nil, nil, nil, v.qcList)
}

func (v *Viewer) reportPanel() fyne.CanvasObject {
	v.report = newReportPanel()
	v.settings = v.newSettingsPanel()
	return v.report.box
}
