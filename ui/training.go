package ui

import (
	"context"
	"os"
	"sync"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"cmrseg/app/trainingjob"
	"cmrseg/app/workspace"
	"cmrseg/training/config"
)

// TrainingEnv configures the training tab. The tab trains by running the
// cmrseg binary as a child (`cmrseg train`, see package trainingjob for
// why), so it needs the binary's path; and it needs a way to load a model
// bundle as an Engine, which links torch and so is supplied by the
// main package (package ui never imports torch).
type TrainingEnv struct {
	// Exe is the cmrseg binary ("" : os.Executable()).
	Exe string
	// Dirs is where data, models and runs live (zero: the XDG defaults).
	Dirs trainingjob.Dirs
	// Bundled is the model that ships with the app ("" when none).
	Bundled string
	// LoadModel turns a bundle folder into the review tab's engine; nil
	// leaves "Use this model" able to persist the choice only.
	LoadModel func(dir string) (workspace.Engine, error)
}

// withDefaults fills in what e leaves empty.
func (e TrainingEnv) withDefaults() TrainingEnv {
	if e.Exe == "" {
		e.Exe, _ = os.Executable()
	}
	if e.Dirs.Data == "" {
		e.Dirs = trainingjob.DefaultDirs()
	}
	return e
}

// Data sources.
const (
	sourceFolder    = "Data set folder"
	sourceCorrected = "My corrected cases"
)

// trainingTab is the second tab of the window.
type trainingTab struct {
	v   *Viewer
	env TrainingEnv
	reg *trainingjob.Registry

	content fyne.CanvasObject

	// data
	source      *widget.RadioGroup
	folder      *widget.Entry
	browseBtn   *widget.Button
	scanBtn     *widget.Button
	dataText    *widget.Label
	previewGrid *fyne.Container
	problems    *widget.Label
	summary     *trainingjob.Summary
	dataDir     string // the folder the last successful scan approved
	scanning    bool

	// configuration
	form      *trainingjob.Form
	inputs    map[string]fyne.Disableable
	errLabels map[string]*widget.Label
	formErr   *widget.Label
	lrPlot    *plot
	valEvery  *widget.Entry
	loading   bool

	// job
	job       *trainingjob.Job
	state     trainingjob.State
	startBtn  *widget.Button
	fineBtn   *widget.Button
	pauseBtn  *widget.Button
	resumeBtn *widget.Button
	cancelBtn *widget.Button
	status    *widget.Label
	progress  *widget.ProgressBar
	etaText   *widget.Label
	devText   *widget.Label
	lossPlot  *plot
	dicePlot  *plot
	lrLive    *plot
	timeline  *plot
	ckptText  *widget.Label

	// results and models
	evalText   *widget.Label
	eval       *trainingjob.Evaluation
	evaluating bool
	stopEval   context.CancelFunc // cancels the running evaluation
	evalShown  int                // progress reports shown for this run's evaluations
	evalBtn    *widget.Button     // Cancel evaluation, or Evaluate again
	useBtn     *widget.Button
	modelsBox  *fyne.Container
	restoreBtn *widget.Button
	message    *widget.Label

	// the open study in the corrected-cases training set
	caseText      *widget.Label
	addCaseBtn    *widget.Button
	removeCaseBtn *widget.Button
	exports       int

	// mu serialises the tab's hand-offs from background goroutines (see
	// do); uncontended in the app, where they all run on the GUI thread.
	mu sync.Mutex

	// updates counts job states shown (tests).
	updates int
	// changed, when set (tests), receives after each state shown and
	// after each background step (scan, evaluation, model switch).
	changed chan string
}

func newTrainingTab(v *Viewer, env TrainingEnv) *trainingTab {
	env = env.withDefaults()
	t := &trainingTab{v: v, env: env, reg: &trainingjob.Registry{Dirs: env.Dirs, Bundled: env.Bundled},
		inputs: map[string]fyne.Disableable{}, errLabels: map[string]*widget.Label{}}
	t.content = t.build()
	t.refreshModels()
	t.attachLatest()
	return t
}

// do runs f on the GUI goroutine (see onUI). The lock also orders the
// hand-offs against tests that inspect the tab (locked in the tests).
func (t *trainingTab) do(f func()) {
	onUI(func() {
		t.mu.Lock()
		defer t.mu.Unlock()
		f()
	})
}

func (t *trainingTab) notify(what string) {
	if t.changed != nil {
		select {
		case t.changed <- what:
		default:
		}
	}
}

func (t *trainingTab) build() fyne.CanvasObject {
	// Data.
	t.folder = widget.NewEntry()
	t.folder.SetPlaceHolder("ACDC or nnU-Net raw folder")
	t.folder.OnSubmitted = func(string) { t.scan() }
	t.browseBtn = widget.NewButtonWithIcon("Browse…", theme.FolderOpenIcon(), func() {
		d := dialog.NewFolderOpen(func(u fyne.ListableURI, err error) {
			if err == nil && u != nil {
				t.folder.SetText(u.Path())
				t.scan()
			}
		}, t.v.win)
		d.Show()
	})
	t.scanBtn = widget.NewButtonWithIcon("Scan", theme.SearchIcon(), t.scan)
	t.source = widget.NewRadioGroup([]string{sourceFolder, sourceCorrected}, func(s string) {
		if s == sourceCorrected {
			t.folder.SetText(t.env.Dirs.Corrected())
			t.folder.Disable()
			t.browseBtn.Disable()
			t.scan()
		} else {
			t.folder.Enable()
			t.browseBtn.Enable()
		}
	})
	t.source.Horizontal = true
	t.source.Required = true
	t.source.SetSelected(sourceFolder)
	t.dataText = widget.NewLabel("Choose a data set folder, or your corrected cases, and scan it.")
	t.dataText.Wrapping = fyne.TextWrapWord
	t.previewGrid = container.NewGridWrap(fyne.NewSize(96, 110))
	t.problems = widget.NewLabel("")
	t.problems.Wrapping = fyne.TextWrapWord
	t.problems.Importance = widget.DangerImportance
	dataBox := container.NewVBox(heading("1  Data"), t.source,
		container.NewBorder(nil, nil, nil, container.NewHBox(t.browseBtn, t.scanBtn), t.folder),
		t.dataText, t.previewGrid, t.problems, t.buildCaseBox())

	// Configuration.
	t.form = trainingjob.NewForm(config.CPUPreset())
	presets := newSafeSelect(t.v.win, []string{"Paper (GPU)", "CPU preset", "Tiny (minutes)"}, func(s string) {
		switch s {
		case "Paper (GPU)":
			t.loadForm(config.Default())
		case "CPU preset":
			t.loadForm(config.CPUPreset())
		case "Tiny (minutes)":
			t.loadForm(trainingjob.TinyConfig())
		}
	})
	presets.PlaceHolder = "Preset"
	loadBtn := widget.NewButtonWithIcon("Load TOML…", theme.FolderOpenIcon(), func() {
		d := dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
			if err == nil && r != nil {
				r.Close()
				if err := t.loadConfigFile(r.URI().Path()); err != nil {
					t.v.showError("Loading the training config", err)
				}
			}
		}, t.v.win)
		d.SetFilter(storage.NewExtensionFileFilter([]string{".toml"}))
		d.Show()
	})
	saveBtn := widget.NewButtonWithIcon("Save TOML…", theme.DocumentSaveIcon(), func() {
		d := dialog.NewFileSave(func(w fyne.URIWriteCloser, err error) {
			if err == nil && w != nil {
				w.Close()
				if err := t.saveConfigFile(w.URI().Path()); err != nil {
					t.v.showError("Saving the training config", err)
				}
			}
		}, t.v.win)
		d.SetFileName("train.toml")
		d.Show()
	})
	grid := container.New(layout.NewFormLayout())
	for _, f := range t.form.Fields {
		f := f
		var in fyne.CanvasObject
		if len(f.Choices) > 0 {
			sel := newSafeSelect(t.v.win, f.Choices, func(s string) { t.fieldChanged(f.Key, s) })
			in, t.inputs[f.Key] = sel, sel
		} else {
			e := widget.NewEntry()
			e.OnChanged = func(s string) { t.fieldChanged(f.Key, s) }
			in, t.inputs[f.Key] = e, e
		}
		errl := widget.NewLabel("")
		errl.Importance = widget.DangerImportance
		errl.Wrapping = fyne.TextWrapWord
		errl.Hide()
		t.errLabels[f.Key] = errl
		box := container.NewVBox(in, errl)
		if f.Help != "" {
			help := widget.NewLabel(f.Help)
			help.Importance = widget.LowImportance
			help.Wrapping = fyne.TextWrapWord
			help.SizeName = theme.SizeNameCaptionText
			box.Add(help)
		}
		grid.Add(widget.NewLabel(f.Label))
		grid.Add(box)
	}
	t.valEvery = widget.NewEntry()
	t.valEvery.SetText("1")
	grid.Add(widget.NewLabel("Validate every N epochs"))
	grid.Add(t.valEvery)
	t.formErr = widget.NewLabel("")
	t.formErr.Importance = widget.DangerImportance
	t.formErr.Wrapping = fyne.TextWrapWord
	t.lrPlot = newPlot("Learning-rate schedule (Eq. 4), checkpoint epochs marked", 400, 140)
	cfgBox := container.NewVBox(heading("2  Configuration"),
		container.NewHBox(presets, loadBtn, saveBtn), t.lrPlot.object, t.formErr, grid)
	t.loadForm(t.form.Base)

	left := container.NewScroll(container.NewPadded(container.NewVBox(dataBox, widget.NewSeparator(), cfgBox)))

	// Job controls and live plots.
	t.startBtn = widget.NewButtonWithIcon("Train from scratch", theme.MediaPlayIcon(), func() { t.start(false) })
	t.startBtn.Importance = widget.HighImportance
	t.fineBtn = widget.NewButtonWithIcon("Fine-tune active model", theme.MediaReplayIcon(), func() { t.start(true) })
	t.pauseBtn = widget.NewButtonWithIcon("Pause", theme.MediaPauseIcon(), t.pause)
	t.resumeBtn = widget.NewButtonWithIcon("Resume", theme.MediaPlayIcon(), t.resume)
	t.cancelBtn = widget.NewButtonWithIcon("Cancel", theme.CancelIcon(), t.cancel)
	t.status = widget.NewLabel("No training run.")
	t.status.Wrapping = fyne.TextWrapWord
	t.progress = widget.NewProgressBar()
	t.etaText = widget.NewLabel("")
	t.devText = widget.NewLabel("")
	t.devText.Wrapping = fyne.TextWrapWord
	t.lossPlot = newPlot("Loss per iteration", 330, 130)
	t.dicePlot = newPlot("Validation Dice per epoch (RV red, MYO green, LV blue)", 330, 130)
	t.lrLive = newPlot("Learning rate per epoch", 330, 110)
	t.timeline = newPlot("Checkpoint timeline (hollow: planned, filled: written)", 330, 40)
	t.ckptText = widget.NewLabel("")
	t.ckptText.Wrapping = fyne.TextWrapWord
	runBox := container.NewVBox(heading("3  Run"),
		container.NewHBox(t.startBtn, t.fineBtn, t.pauseBtn, t.resumeBtn, t.cancelBtn),
		t.status, container.NewBorder(nil, nil, nil, t.etaText, t.progress), t.devText,
		container.NewGridWithColumns(2, t.lossPlot.object, t.dicePlot.object),
		container.NewGridWithColumns(2, t.lrLive.object, container.NewVBox(t.timeline.object, t.ckptText)))

	// Results and models.
	t.evalText = widget.NewLabel("")
	t.evalText.TextStyle = fyne.TextStyle{Monospace: true}
	t.useBtn = widget.NewButtonWithIcon("Use this model", theme.ConfirmIcon(), t.useResult)
	t.useBtn.Importance = widget.HighImportance
	t.useBtn.Disable()
	t.restoreBtn = widget.NewButtonWithIcon("Restore bundled model", theme.HistoryIcon(), t.restoreBundled)
	// One button: Cancel while the evaluation runs, Evaluate after a
	// cancelled or failed one (the model stays usable either way).
	t.evalBtn = widget.NewButtonWithIcon("Cancel evaluation", theme.CancelIcon(), func() {
		if t.evaluating {
			t.stopEval()
		} else {
			t.evaluate()
		}
	})
	t.evalBtn.Hide()
	t.modelsBox = container.NewVBox()
	t.message = widget.NewLabel("")
	t.message.Wrapping = fyne.TextWrapWord
	resBox := container.NewVBox(heading("4  Result"), t.evalText, container.NewHBox(t.useBtn, t.evalBtn, t.restoreBtn), t.message,
		heading("Models"), t.modelsBox)

	// Both halves scroll both ways, so the tab fits a 1366-pixel screen.
	right := container.NewScroll(container.NewPadded(container.NewVBox(runBox, widget.NewSeparator(), resBox)))
	split := container.NewHSplit(left, right)
	split.Offset = 0.42
	t.showState(trainingjob.State{})
	return split
}
