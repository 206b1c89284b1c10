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
	"fmt"
	"image"
	"image/color"
	"math"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

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
// ui/desktop, or fyne's test app), its training tab on the default
// folders with no model loader. Call Start to open the demo study.
func New(a fyne.App, ws *workspace.Workspace) *Viewer {
	return NewWithTraining(a, ws, TrainingEnv{})
}

// NewWithTraining is New with the training tab configured by env.
func NewWithTraining(a fyne.App, ws *workspace.Workspace, env TrainingEnv) *Viewer {
	a.Settings().SetTheme(Theme())
	v := &Viewer{app: a, ws: ws, label: study.LV, brushMM: 4}
	v.win = a.NewWindow("cmrseg — cardiac cine MRI review")
	v.view = newImageView(v)
	v.win.SetContent(v.build(env))
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
	v.debugWatchWindow()
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

func (v *Viewer) build(env TrainingEnv) fyne.CanvasObject {
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
	v.progressText = widget.NewLabel("Segmenting")
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
	// The progress box's place is kept while it is hidden, so the window's
	// minimum size is the same whether work runs or not: the bar keeps one
	// height (the image does not move under the reader's pointer when
	// background phases finish), and one width (it jumped 921 → 1234 px;
	// a changed minimum makes Fyne 2.7.1 re-fit the window on its next
	// frame tick with the size it last knew, undoing a resize by the
	// reader or the window manager that lands in between: loop.go's
	// shouldExpand).
	slot := canvas.NewRectangle(nil)
	slot.SetMinSize(v.progressBox.MinSize())
	status := container.NewBorder(nil, nil, container.NewGridWrap(fyne.NewSize(400, 30), v.probeText),
		container.NewHBox(container.NewStack(slot, v.progressBox), widget.NewSeparator(), container.NewGridWrap(fyne.NewSize(200, 30), v.deviceText), widget.NewSeparator(), container.NewCenter(notice), fixedSpace(nil)),
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
	v.training = newTrainingTab(v, env)
	v.tabs = container.NewAppTabs(container.NewTabItem("Review", review), container.NewTabItem("Training", v.training.content))
	return v.tabs
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

// OpenPath opens a study file or folder (as File ▸ Open does).
func (v *Viewer) OpenPath(path string) { v.openPath(path) }
