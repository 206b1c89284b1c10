// Package ui is the review window of cmrseg: a Fyne viewer for cine
// short-axis studies with the ensemble's segmentation and uncertainty,
// one-click correction, brush and eraser, QC list and live report. It holds
// widgets and layout only; the state it shows and changes lives in
// app/workspace. It never imports fyne.io/fyne/v2/app, so it tests with
// Fyne's headless driver; ui/desktop creates the real application.
//
// Entry point: New(a, ws) builds the window for a workspace; Start opens
// the demo study (or keeps what ws has open) and segments it.
package ui

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"math"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"cmrseg/app/report"
	"cmrseg/app/session"
	"cmrseg/app/study"
	"cmrseg/app/workspace"
)

// ResearchNotice is shown in the status bar and the about box.
const ResearchNotice = "Research use only — not for clinical diagnosis"

// Viewer is the review window.
type Viewer struct {
	app fyne.App
	win fyne.Window
	ws  *workspace.Workspace

	// shownAt is when the current series was first drawn; the debug log
	// times the first contour and final ED/ES against it.
	shownAt      time.Time
	contourShown bool

	view *imageView

	// cohort is the open review queue (File ▸ Open cohort…), or nil.
	cohort *cohortQueue

	tool    workspace.Tool
	label   uint8
	brushMM float64

	// widgets updated by refresh
	toolRadio    *widget.RadioGroup
	labelSelect  *safeSelect
	brushSlider  *widget.Slider
	brushText    *widget.Label
	undoBtn      *widget.Button
	redoBtn      *widget.Button
	acceptBtn    *widget.Button
	finalBtn     *widget.Button
	fillBtn      *widget.Button
	presetSelect *safeSelect

	phaseSlider *widget.Slider
	phaseText   *widget.Label
	sliceSlider *widget.Slider
	sliceText   *widget.Label
	playBtn     *widget.Button
	syncing     bool

	labelsCheck  *widget.Check
	classChecks  [study.NumClasses]*widget.Check
	fillCheck    *widget.Check
	labelOpacity *widget.Slider
	uncCheck     *widget.Check
	uncRadio     *widget.RadioGroup
	scaleTop     *canvas.Text // the top of the uncertainty colour scale
	scaleMark    *canvas.Text // the one-click threshold, or the map's name
	uncOpacity   *widget.Slider

	thumbs   *thumbStrip
	qcList   *widget.List
	qcItems  []workspace.QCItem
	qcHeader *widget.Label
	report   *reportPanel
	settings *settingsPanel // ED/ES, height and weight under the report

	probeText    *widget.Label
	messageText  *widget.Label
	messageArea  *tapArea // the message, tappable: opens the history
	messages     []string // this session's status messages, oldest first
	progress     *widget.ProgressBar
	progressText *widget.Label
	cancelBtn    *widget.Button
	progressBox  *fyne.Container
	deviceText   *widget.Label

	cine        chan struct{} // closed to stop the cine loop; nil when stopped
	onClosed    []func(sessionErr error)
	closed      bool
	exportToDir string // the open study's last export folder

	// the last export dialog (tests)
	exportShown  *dialog.CustomDialog
	exportFolder *widget.Entry
	exportSave   *widget.Button
	exportAnon   *widget.Check

	inbox     *inboxState // the DICOM node's inbox (inbox.go)
	inboxList *widget.List

	qcAll bool // QC list over all phases, not only ED and ES

	// asyncDone, when set (tests), receives after each background
	// operation (open, segmentation) has been handed to the GUI.
	asyncDone chan struct{}

	// errorShown records the last error dialog's text (tests).
	errorShown string

	// crashNote is the previous run's crash, when Start offered to reopen
	// its study.
	crashNote *workspace.CrashNote

	lastControls string // the controls' places last printed (CMRSEG_DEBUG)

	// finalDialog is the last mark-final confirmation shown (tests).
	finalDialog *dialog.ConfirmDialog

	// panels are the folding sections above the QC list, which the split
	// sizes against it.
	panels     *widget.Accordion
	rightSplit *container.Split

	// tabs holds the review content and the training tab.
	tabs     *container.AppTabs
	training *trainingTab
}

// New builds the review window for ws on application a (the real one from
// ui/desktop, or fyne's test app). Call Start to open the demo study.
func New(a fyne.App, ws *workspace.Workspace) *Viewer {
	a.Settings().SetTheme(Theme())
	v := &Viewer{app: a, ws: ws, label: study.LV, brushMM: 4}
	v.win = a.NewWindow("cmrseg — cardiac cine MRI review")
	v.view = newImageView(v)
	v.win.SetContent(v.build())
	v.win.SetMainMenu(v.menu())
	// Fits a 1366×768 laptop screen with its panel and title bar; every
	// side panel scrolls or splits, so the window can also grow or shrink.
	v.win.Resize(fyne.NewSize(1280, 700))
	v.bindKeys()
	v.win.SetOnDropped(func(_ fyne.Position, uris []fyne.URI) {
		if len(uris) > 0 {
			v.openPath(uris[0].Path())
		}
	})
	v.win.SetCloseIntercept(v.closeWindow)
	v.refreshAll()
	return v
}

// OnClosed registers f to run when the reader closes the window (the
// window manager's close button or Quit), after the session was closed:
// every edit is on disk by then. sessionErr is what closing it returned.
func (v *Viewer) OnClosed(f func(sessionErr error)) {
	v.onClosed = append(v.onClosed, f)
}

// closeWindow closes the session (every edit is already journaled) and
// then the window, which ends the application.
func (v *Viewer) closeWindow() {
	if v.closed {
		return // Ctrl+Q reaches both the menu and the canvas shortcut
	}
	v.closed = true
	v.stopCine()
	err := v.ws.Close()
	if err != nil {
		fyne.LogError("closing the session", err)
	}
	debugf("quit")
	for _, f := range v.onClosed {
		f(err)
	}
	v.win.Close()
}

// Window is the review window.
func (v *Viewer) Window() fyne.Window { return v.win }

// Workspace is the state the window shows.
func (v *Viewer) Workspace() *workspace.Workspace { return v.ws }

// Start shows the demo study (unless ws already has a study) and starts
// segmenting it in the background.
func (v *Viewer) Start() { v.StartOn("") }

// StartOn is Start for a study given on the command line: the window opens
// on path (loaded in the background) and the demo study is never touched,
// let alone segmented. An empty path is Start.
func (v *Viewer) StartOn(path string) {
	v.startInbox()
	if path != "" {
		v.OpenPath(path)
		return
	}
	if v.ws.Study == nil {
		st, _ := workspace.Demo()
		if err := v.ws.SetStudy(st); err != nil {
			v.showError("Opening the demo study", err)
			return
		}
	}
	v.afterStudyChange()
	v.offerReopen()
}

func (v *Viewer) build() fyne.CanvasObject {
	// Toolbar.
	v.toolRadio = widget.NewRadioGroup(workspace.ToolNames, func(s string) {
		for n, name := range workspace.ToolNames {
			if name == s {
				v.tool = workspace.Tool(n)
			}
		}
		v.view.cursor.Hide()
		v.refreshTools()
	})
	v.toolRadio.Horizontal = true
	v.toolRadio.Required = true
	v.toolRadio.SetSelected(workspace.ToolNames[0])
	v.labelSelect = newSafeSelect(v.win, []string{study.ClassNames[1], study.ClassNames[2], study.ClassNames[3]}, func(s string) {
		for c, n := range study.ClassNames {
			if n == s {
				v.label = uint8(c)
			}
		}
	})
	v.labelSelect.SetSelected(study.ClassNames[v.label])
	v.brushText = widget.NewLabel("")
	v.brushSlider = widget.NewSlider(1, 15)
	v.brushSlider.Step = 0.5
	v.brushSlider.OnChanged = func(f float64) {
		v.brushMM = f
		v.brushText.SetText(fmt.Sprintf("%.1f mm", f))
	}
	v.brushSlider.SetValue(v.brushMM)
	v.fillBtn = widget.NewButtonWithIcon("Fill holes", theme.ColorPaletteIcon(), v.fillHoles)
	// Undo and redo show their icons only (Ctrl+Z, Ctrl+Y; Edit menu):
	// the toolbar must fit a 1366-pixel screen.
	v.undoBtn = widget.NewButtonWithIcon("", theme.ContentUndoIcon(), v.undo)
	v.redoBtn = widget.NewButtonWithIcon("", theme.ContentRedoIcon(), v.redo)
	v.acceptBtn = widget.NewButtonWithIcon("Accept", theme.ConfirmIcon(), v.toggleAccept)
	v.finalBtn = widget.NewButtonWithIcon("Mark final", theme.DocumentSaveIcon(), v.toggleFinal)
	names := make([]string, len(workspace.WindowPresets))
	for n, p := range workspace.WindowPresets {
		names[n] = p.Name
	}
	v.presetSelect = newSafeSelect(v.win, names, func(s string) {
		for _, p := range workspace.WindowPresets {
			if p.Name == s {
				v.ws.ApplyPreset(p)
			}
		}
		v.refreshView()
	})
	v.presetSelect.PlaceHolder = "Window preset"
	fit := widget.NewButtonWithIcon("Fit", theme.ZoomFitIcon(), func() { v.ws.ResetView(); v.refreshView() })
	brushBox := container.NewBorder(nil, nil, nil, v.brushText, container.NewGridWrap(fyne.NewSize(90, 34), v.brushSlider))
	toolbar := container.NewHBox(
		v.toolRadio, v.labelSelect, brushBox, widget.NewSeparator(),
		v.fillBtn, v.undoBtn, v.redoBtn, widget.NewSeparator(),
		v.acceptBtn, v.finalBtn, layout.NewSpacer(),
	)
	toolbarRight := container.NewHBox(container.NewGridWrap(fyne.NewSize(170, 34), v.presetSelect), fit)

	// Sliders under the image.
	v.phaseSlider = widget.NewSlider(1, 1)
	v.phaseSlider.OnChanged = func(f float64) {
		if !v.syncing {
			v.ws.SetPhase(int(f)-1, false)
			v.refreshView()
		}
	}
	v.sliceSlider = widget.NewSlider(1, 1)
	v.sliceSlider.OnChanged = func(f float64) {
		if !v.syncing {
			v.ws.SetSlice(int(f) - 1)
			v.refreshView()
		}
	}
	v.phaseText = widget.NewLabel("")
	v.sliceText = widget.NewLabel("")
	v.playBtn = widget.NewButtonWithIcon("", theme.MediaPlayIcon(), v.toggleCine)
	sliders := container.NewVBox(
		container.NewBorder(nil, nil, container.NewHBox(v.playBtn, fixedLabel("Phase", 44)), container.NewGridWrap(fyne.NewSize(170, 30), v.phaseText), v.phaseSlider),
		container.NewBorder(nil, nil, container.NewHBox(fixedSpace(v.playBtn), fixedLabel("Slice", 44)), container.NewGridWrap(fyne.NewSize(170, 30), v.sliceText), v.sliceSlider),
	)
	imageFrame := container.NewStack(canvas.NewRectangle(color.Black), v.view)
	centre := container.NewBorder(nil, sliders, nil, nil, imageFrame)

	// Left: slice thumbnails.
	v.thumbs = newThumbStrip(v)
	left := container.NewBorder(heading("Slices"), v.thumbs.legend, nil, nil, v.thumbs.scroll)

	// Right: overlays, report, QC.
	// The panels above the QC list fold and scroll; the split gives the QC
	// list at least a third of the height whatever the screen.
	v.panels = widget.NewAccordion(
		// The report and the inputs behind it first: they matter most.
		widget.NewAccordionItem("Report (live, ED/ES)", v.reportPanel()),
		// The phases and body size the report rests on come right after
		// it, before the figures, so they stay in view.
		widget.NewAccordionItem("Phases and body size", v.settings.box),
		widget.NewAccordionItem("Volume curves and AHA segments", v.report.figures),
		widget.NewAccordionItem("Overlays", v.overlayPanel()),
	)
	v.panels.MultiOpen = true
	v.panels.OpenAll()
	v.rightSplit = container.NewVSplit(container.NewVScroll(v.panels), v.qcPanel())
	v.rightSplit.SetOffset(0.64)
	right := v.rightSplit

	// Status bar.
	v.probeText = widget.NewLabel("")
	v.probeText.TextStyle = fyne.TextStyle{Monospace: true}
	v.messageText = widget.NewLabel("")
	v.messageText.Truncation = fyne.TextTruncateEllipsis
	v.messageArea = newTapArea(v.messageText, v.showMessages)
	v.progress = widget.NewProgressBar()
	v.progressText = widget.NewLabel("")
	v.cancelBtn = widget.NewButtonWithIcon("Cancel", theme.CancelIcon(), func() {
		v.ws.CancelSegmentation()
		v.setMessage("Segmentation cancelled.")
		v.refreshProgress()
	})
	v.progressBox = container.NewHBox(v.progressText, container.NewGridWrap(fyne.NewSize(140, 28), v.progress), v.cancelBtn)
	v.progressBox.Hide()
	v.deviceText = widget.NewLabel("")
	notice := canvas.NewText(ResearchNotice, colAmber)
	notice.TextStyle = fyne.TextStyle{Bold: true}
	notice.TextSize = 12
	v.probeText.Truncation = fyne.TextTruncateEllipsis
	v.deviceText.Truncation = fyne.TextTruncateEllipsis
	status := container.NewBorder(nil, nil, container.NewGridWrap(fyne.NewSize(400, 30), v.probeText),
		container.NewHBox(v.progressBox, widget.NewSeparator(), container.NewGridWrap(fyne.NewSize(200, 30), v.deviceText), widget.NewSeparator(), container.NewCenter(notice), fixedSpace(nil)),
		v.messageArea)

	// The side panel keeps one width: sized by its content it widened
	// when the report filled with numbers and narrowed again, moving every
	// control under the reader's pointer.
	body := container.NewBorder(nil, nil, sized(left, 126), fixedWidth(right, sidePanelWidth), centre)
	// On a screen narrower than the toolbar it scrolls rather than
	// pushing the window off-screen.
	top := container.NewBorder(nil, nil, nil, toolbarRight, container.NewHScroll(toolbar))
	review := container.NewBorder(
		container.NewVBox(top, widget.NewSeparator()),
		container.NewVBox(widget.NewSeparator(), status),
		nil, nil, body)
	v.training = newTrainingTab(v)
	v.tabs = container.NewAppTabs(container.NewTabItem("Review", review), container.NewTabItem("Training", v.training.content))
	return v.tabs
}

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

// fixedHeight shows obj in a box of height h that scrolls when obj is
// taller.
func fixedHeight(obj fyne.CanvasObject, h float32) fyne.CanvasObject {
	sc := container.NewVScroll(obj)
	sc.SetMinSize(fyne.NewSize(0, h))
	return sc
}

// sidePanelWidth fits the report table with four-digit values and their
// intervals.
const sidePanelWidth = 400

// fixedWidth gives obj exactly width w inside a border layout, whatever
// its content asks for.
func fixedWidth(obj fyne.CanvasObject, w float32) fyne.CanvasObject {
	r := canvas.NewRectangle(colPanel)
	return container.New(fixedWidthLayout{w}, r, obj)
}

type fixedWidthLayout struct{ w float32 }

func (l fixedWidthLayout) MinSize(objs []fyne.CanvasObject) fyne.Size {
	h := float32(0)
	for _, o := range objs {
		h = max(h, o.MinSize().Height)
	}
	return fyne.NewSize(l.w, h)
}

func (l fixedWidthLayout) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	for _, o := range objs {
		o.Move(fyne.NewPos(0, 0))
		o.Resize(size)
	}
}

// sized gives obj a fixed minimum width inside a border layout.
func sized(obj fyne.CanvasObject, w float32) fyne.CanvasObject {
	r := canvas.NewRectangle(colPanel)
	r.SetMinSize(fyne.NewSize(w, 10))
	return container.NewStack(r, obj)
}

func fixedLabel(s string, w float32) fyne.CanvasObject {
	return container.NewGridWrap(fyne.NewSize(w, 30), widget.NewLabel(s))
}

func fixedSpace(like fyne.CanvasObject) fyne.CanvasObject {
	r := canvas.NewRectangle(nil)
	if like != nil {
		r.SetMinSize(like.MinSize())
	} else {
		r.SetMinSize(fyne.NewSize(4, 4))
	}
	return r
}

func heading(s string) *widget.Label {
	l := widget.NewLabelWithStyle(s, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	return l
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

func caption(s string) *canvas.Text {
	t := canvas.NewText(s, colMuted)
	t.TextSize = 11
	return t
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

func (v *Viewer) setMessage(s string) {
	v.messageText.SetText(s)
	if s == "" {
		return
	}
	v.messages = append(v.messages, time.Now().Format("15:04:05")+"  "+s)
	if n := len(v.messages); n > maxMessages {
		v.messages = v.messages[n-maxMessages:]
	}
}

// maxMessages is how many status messages the history keeps.
const maxMessages = 50

// showMessages lists the status messages of this session, newest first,
// unabridged: the status bar cuts long ones with "…".
func (v *Viewer) showMessages() {
	var b strings.Builder
	for i := len(v.messages) - 1; i >= 0; i-- {
		b.WriteString(v.messages[i] + "\n")
	}
	if b.Len() == 0 {
		b.WriteString("No messages yet.")
	}
	l := widget.NewLabel(strings.TrimRight(b.String(), "\n"))
	l.Wrapping = fyne.TextWrapWord
	sc := container.NewVScroll(l)
	sc.SetMinSize(fyne.NewSize(720, 360))
	dialog.ShowCustom("Messages", "Close", sc, v.win)
}

// tapArea makes obj tappable (the status message opens the history).
type tapArea struct {
	widget.BaseWidget
	obj   fyne.CanvasObject
	onTap func()
}

func newTapArea(obj fyne.CanvasObject, onTap func()) *tapArea {
	t := &tapArea{obj: obj, onTap: onTap}
	t.ExtendBaseWidget(t)
	return t
}

func (t *tapArea) Tapped(*fyne.PointEvent) { t.onTap() }

func (t *tapArea) CreateRenderer() fyne.WidgetRenderer { return widget.NewSimpleRenderer(t.obj) }

// signal tells a waiting test that a background operation has finished.
func (v *Viewer) signal() {
	if v.asyncDone != nil {
		v.asyncDone <- struct{}{}
	}
}

// showProbe writes the pixel under the cursor into the status bar.
func (v *Viewer) showProbe(i, j int, ok bool) {
	if !ok {
		v.probeText.SetText("")
		return
	}
	p, ok := v.ws.ProbeAt(i, j)
	if !ok {
		v.probeText.SetText("")
		return
	}
	s := fmt.Sprintf("(%d,%d,%d) %s · LPS %.1f %.1f %.1f mm", p.I, p.J, p.K, num(float64(p.Value)), p.World[0], p.World[1], p.World[2])
	if p.Label >= 0 {
		s += " · " + shortClass(p.Label)
	}
	if !math.IsNaN(p.Entropy) {
		s += fmt.Sprintf("  H %.2f  MI %.2f", p.Entropy, p.MutualInfo)
	}
	v.probeText.SetText(s)
}

// modifiers are the keyboard modifiers held now (none under the test
// driver).
func (v *Viewer) modifiers() fyne.KeyModifier {
	if d, ok := v.app.Driver().(desktop.Driver); ok {
		return d.CurrentKeyModifiers()
	}
	return 0
}

func (v *Viewer) focusImage() {
	if c := v.win.Canvas(); c != nil {
		c.Focus(v.view)
	}
}

// showError reports a failure in a dialog; the message names the file
// when the error does.
func (v *Viewer) showError(what string, err error) {
	v.errorShown = what + ": " + err.Error()
	v.setMessage(v.errorShown)
	d := dialog.NewError(fmt.Errorf("%s\n\n%s", what, wrap(err.Error(), 80)), v.win)
	d.Show()
}

// wrap breaks long messages (paths) for the dialog.
func wrap(s string, n int) string {
	var b strings.Builder
	col := 0
	for _, w := range strings.Fields(s) {
		if col > 0 && col+len(w) > n {
			b.WriteString("\n")
			col = 0
		} else if col > 0 {
			b.WriteString(" ")
			col++
		}
		b.WriteString(w)
		col += len(w)
	}
	return b.String()
}

// Editing.

func (v *Viewer) clickCorrect(i, j int) {
	c, err := v.ws.Click(i, j)
	v.afterEdit(c, err)
}

func (v *Viewer) stroke(points []session.Point) {
	var c session.Change
	var err error
	if v.tool == workspace.ToolEraser {
		c, err = v.ws.Erase(points, v.brushMM, v.label)
	} else {
		c, err = v.ws.Paint(points, v.brushMM, v.label)
	}
	v.afterEdit(c, err)
}

func (v *Viewer) fillHoles() {
	c, err := v.ws.FillHoles()
	if err == nil && c.Empty() {
		v.setMessage("No enclosed holes on this slice.")
		return
	}
	v.afterEdit(c, err)
}

func (v *Viewer) undo() {
	c, err := v.ws.Undo()
	if err == nil {
		c.Note = "Undone: " + c.Op.String()
	}
	v.afterEdit(c, err)
}

func (v *Viewer) redo() {
	c, err := v.ws.Redo()
	if err == nil {
		c.Note = "Redone: " + c.Op.String()
	}
	v.afterEdit(c, err)
}

// afterEdit reports an edit in the status bar and refreshes. Expected
// refusals (not uncertain, nothing to undo) go to the status bar; others
// to a dialog.
func (v *Viewer) afterEdit(c session.Change, err error) {
	if err != nil {
		switch {
		case errors.Is(err, session.ErrNotUncertain), errors.Is(err, session.ErrNoSafeHypothesis), errors.Is(err, session.ErrNothingToUndo),
			errors.Is(err, session.ErrNothingToRedo), errors.Is(err, workspace.ErrNotSegmented),
			errors.Is(err, session.ErrFinal):
			v.setMessage(capitalise(err.Error()))
		default:
			v.showError("Edit failed", err)
		}
		return
	}
	if c.Note != "" {
		v.setMessage(fmt.Sprintf("%s (%d voxels).", capitalise(c.Note), len(c.Voxels)))
	} else if !c.Empty() {
		v.setMessage(fmt.Sprintf("%s: %d voxels changed.", capitalise(c.Op.String()), len(c.Voxels)))
	}
	v.refreshView()
	v.refreshData()
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func (v *Viewer) toggleAccept() {
	acc, err := v.ws.ToggleAccept()
	if err != nil {
		v.afterEdit(session.Change{}, err)
		return
	}
	vw := v.ws.View()
	if acc {
		v.setMessage(fmt.Sprintf("Slice %d of phase %d accepted.", vw.Slice+1, vw.Phase+1))
	} else {
		v.setMessage(fmt.Sprintf("Acceptance of slice %d withdrawn.", vw.Slice+1))
	}
	v.refreshView()
	v.refreshData()
}

// toggleFinal asks before marking the study final, listing the flagged
// slices nobody accepted, and before reopening a final study for editing.
func (v *Viewer) toggleFinal() {
	if v.ws.Session == nil {
		v.afterEdit(session.Change{}, workspace.ErrNotSegmented)
		return
	}
	if v.ws.Final() {
		dialog.ShowConfirm("Reopen for editing?",
			"The labels, ED/ES and body size of this study become editable again,\nand the study is no longer final until you mark it final again.",
			func(ok bool) {
				if ok {
					v.finalChanged(false, v.ws.Reopen())
				}
			}, v.win)
		return
	}
	msg := "All flagged ED/ES slices have been reviewed."
	if un := v.ws.Unreviewed(); len(un) > 0 {
		lines := make([]string, 0, 12)
		for n, it := range un {
			if n == 10 {
				lines = append(lines, fmt.Sprintf("… and %d more", len(un)-10))
				break
			}
			lines = append(lines, "  "+it.Text)
		}
		msg = fmt.Sprintf("%d flagged slice(s) have not been reviewed (accepted):\n%s", len(un), strings.Join(lines, "\n"))
	}
	msg += "\n\nA final study's labels, ED/ES and body size are locked until you reopen it.\nAdding it to the training set is a separate choice, in the Training tab."
	d := dialog.NewConfirm("Mark the study final?", msg, func(ok bool) {
		if ok {
			v.finalChanged(true, v.ws.MarkFinal())
		}
	}, v.win)
	d.SetConfirmText("Mark final")
	d.Show()
	v.finalDialog = d
}

// finalChanged reports a finished mark-final or reopen.
func (v *Viewer) finalChanged(final bool, err error) {
	if err != nil {
		v.afterEdit(session.Change{}, err)
		return
	}
	if final {
		v.setMessage("Study marked final: labels, ED/ES and body size are locked until reopened.")
	} else {
		v.setMessage("Study reopened for editing.")
	}
	v.refreshView()
	v.refreshData()
	if v.training != nil {
		v.training.refreshCase()
	}
}

// Navigation.

func (v *Viewer) stepSlice(d int) {
	v.ws.SetSlice(v.ws.View().Slice + d)
	v.refreshView()
	v.refreshTools()
}

func (v *Viewer) stepPhase(d int) {
	v.ws.SetPhase(v.ws.View().Phase+d, true)
	v.refreshView()
	v.refreshTools()
}

func (v *Viewer) goTo(t, k int) {
	v.ws.GoTo(t, k)
	v.refreshView()
	v.refreshTools()
}

// toggleCine plays the phases in a loop at the acquisition's frame rate
// (clamped to 10–30 frames per second).
func (v *Viewer) toggleCine() {
	if v.cine != nil {
		v.stopCine()
		return
	}
	s := v.ws.Series()
	if s == nil || s.NT < 2 {
		return
	}
	dt := 40 * time.Millisecond
	if tt := s.TriggerTimes; len(tt) > 1 && tt[1] > tt[0] {
		dt = time.Duration((tt[1] - tt[0]) * float64(time.Millisecond))
	}
	dt = min(max(dt, 33*time.Millisecond), 100*time.Millisecond)
	stop := make(chan struct{})
	v.cine = stop
	v.playBtn.SetIcon(theme.MediaPauseIcon())
	go func() {
		tick := time.NewTicker(dt)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				fyne.DoAndWait(func() {
					select {
					case <-stop:
					default:
						v.stepPhase(1)
					}
				})
			}
		}
	}()
}

func (v *Viewer) stopCine() {
	if v.cine != nil {
		close(v.cine)
		v.cine = nil
		v.playBtn.SetIcon(theme.MediaPlayIcon())
	}
}

// Snapshot is the composed image currently shown (nil before the first
// draw).
func (v *Viewer) Snapshot() image.Image {
	sz := v.view.Size()
	if sz.Width < 1 || sz.Height < 1 {
		return v.view.last
	}
	w := int(math.Round(float64(sz.Width) * v.view.ratio))
	h := int(math.Round(float64(sz.Height) * v.view.ratio))
	img := workspace.Render(v.ws.Frame(), v.ws.Viewport(float64(w), float64(h)), w, h)
	workspace.Annotate(img, v.view.cornerText, v.view.orientText)
	return img
}

// report panel

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

// OpenPath opens a study file or folder (as File ▸ Open does).
func (v *Viewer) OpenPath(path string) { v.openPath(path) }

// GoTo shows slice k of phase t.
func (v *Viewer) GoTo(t, k int) { v.goTo(t, k) }
