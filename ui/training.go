package ui

import (
	"context"
	"errors"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
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
// bundle as a Segmenter, which links torch and so is supplied by the
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
	LoadModel func(dir string) (workspace.Segmenter, error)
}

var (
	trainingEnvMu sync.Mutex
	trainingEnv   TrainingEnv
)

// SetTrainingEnv configures the training tab of windows built after it.
func SetTrainingEnv(e TrainingEnv) {
	trainingEnvMu.Lock()
	trainingEnv = e
	trainingEnvMu.Unlock()
}

func currentTrainingEnv() TrainingEnv {
	trainingEnvMu.Lock()
	defer trainingEnvMu.Unlock()
	e := trainingEnv
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

func newTrainingTab(v *Viewer) *trainingTab {
	env := currentTrainingEnv()
	t := &trainingTab{v: v, env: env, reg: &trainingjob.Registry{Dirs: env.Dirs, Bundled: env.Bundled},
		inputs: map[string]fyne.Disableable{}, errLabels: map[string]*widget.Label{}}
	t.content = t.build()
	t.refreshModels()
	t.attachLatest()
	return t
}

// do runs f on the GUI goroutine. Fyne's test driver runs fyne.Do
// functions on the calling goroutine instead, so the lock keeps the
// tab's own hand-offs (job events, scans, evaluations, the final-study
// watcher) from interleaving there as they cannot in the app.
func (t *trainingTab) do(f func()) {
	fyne.Do(func() {
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

// Configuration form.

func (t *trainingTab) loadForm(c config.Config) {
	t.loading = true
	defer func() { t.loading = false }()
	t.form.Reset(c)
	for _, f := range t.form.Fields {
		switch in := t.inputs[f.Key].(type) {
		case *widget.Entry:
			in.SetText(t.form.Text(f.Key))
		case *safeSelect:
			in.SetSelected(t.form.Text(f.Key))
		}
	}
	t.validate()
}

func (t *trainingTab) fieldChanged(key, text string) {
	if t.loading {
		return
	}
	t.form.Set(key, text)
	t.validate()
}

// validate shows the form's problems beside their fields and redraws the
// schedule plot when the form is valid.
func (t *trainingTab) validate() (config.Config, bool) {
	c, probs := t.form.Config()
	for key, l := range t.errLabels {
		if m, ok := probs[key]; ok {
			l.SetText(m)
			l.Show()
		} else {
			l.Hide()
		}
	}
	if m, ok := probs[""]; ok {
		t.formErr.SetText(m)
	} else {
		t.formErr.SetText("")
	}
	if len(probs) > 0 {
		return c, false
	}
	sp, err := trainingjob.Schedule(c)
	if err != nil {
		t.formErr.SetText(err.Error())
		return c, false
	}
	pts := make([]trainingjob.Point, len(sp.LR))
	for e, lr := range sp.LR {
		pts[e] = trainingjob.Point{X: float64(e), Y: lr}
	}
	marks := make([]float64, len(sp.Checkpoints))
	for i, e := range sp.Checkpoints {
		marks[i] = float64(e)
	}
	t.lrPlot.set(plotData{Series: []plotSeries{{Name: "η", Points: pts, Color: plotOrange}}, Marks: marks,
		XMin: 0, XMax: math.Max(1, float64(len(sp.LR)-1))})
	t.lrPlot.head.SetText(fmt.Sprintf("Learning-rate schedule: %d epochs, %d cycle(s); %d checkpoints at epochs %s",
		len(sp.LR), sp.Cycles, len(sp.Checkpoints), epochList(sp.Checkpoints)))
	return c, true
}

func epochList(es []int) string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = fmt.Sprint(e + 1)
	}
	if len(s) > 12 {
		s = append(s[:12], "…")
	}
	return strings.Join(s, ", ")
}

func (t *trainingTab) loadConfigFile(path string) error {
	c, err := config.Load(path)
	if err != nil {
		return err
	}
	t.loadForm(c)
	if len(c.Data.Paths) == 1 {
		t.source.SetSelected(sourceFolder)
		t.folder.SetText(c.Data.Paths[0])
	}
	return nil
}

func (t *trainingTab) saveConfigFile(path string) error {
	if t.dataDir != "" {
		t.form.Base.Data.Paths = []string{t.dataDir}
	}
	return t.form.Save(path)
}

// Data.

func (t *trainingTab) scan() {
	dir := strings.TrimSpace(t.folder.Text)
	if dir == "" || t.scanning {
		return
	}
	t.scanning = true
	t.scanBtn.Disable()
	t.dataText.SetText("Scanning " + dir + " …")
	go func() {
		sum, err := trainingjob.Scan(context.Background(), dir, trainingjob.ScanOptions{})
		t.do(func() {
			t.scanning = false
			t.scanBtn.Enable()
			t.showSummary(dir, sum, err)
			t.notify("scan")
		})
	}()
}

func (t *trainingTab) showSummary(dir string, s *trainingjob.Summary, err error) {
	t.previewGrid.RemoveAll()
	t.summary, t.dataDir = s, ""
	if err != nil {
		t.dataText.SetText("")
		t.problems.SetText(err.Error())
		t.refreshButtons()
		return
	}
	t.dataText.SetText(fmt.Sprintf("%s (%s): %d cases, %d labelled; %d labelled frames, %d slices.",
		s.Name, s.Layout, s.Cases, s.Labelled, s.Frames, s.Slices))
	for _, p := range s.Previews {
		img := canvas.NewImageFromImage(p.Image)
		img.FillMode = canvas.ImageFillContain
		img.SetMinSize(fyne.NewSize(96, 96))
		cap := widget.NewLabel(p.Case)
		cap.Truncation = fyne.TextTruncateEllipsis
		t.previewGrid.Add(container.NewBorder(nil, cap, nil, nil, img))
	}
	if len(s.Problems) > 0 {
		lines := make([]string, 0, len(s.Problems))
		for i, p := range s.Problems {
			if i == 30 {
				lines = append(lines, fmt.Sprintf("… and %d more", len(s.Problems)-30))
				break
			}
			lines = append(lines, "• "+p.String())
		}
		t.problems.SetText(fmt.Sprintf("%d problem(s); fix them before training:\n%s", len(s.Problems), strings.Join(lines, "\n")))
	} else {
		t.problems.SetText("")
	}
	if s.Usable() {
		t.dataDir = dir
	}
	t.refreshButtons()
}

// The open study joins the corrected-cases training set only when the
// reader says so (and only once marked final); it can be taken out again.

func (t *trainingTab) buildCaseBox() fyne.CanvasObject {
	t.caseText = widget.NewLabel("")
	t.caseText.Wrapping = fyne.TextWrapWord
	t.addCaseBtn = widget.NewButtonWithIcon("Add open study to training set", theme.ContentAddIcon(), t.addOpenStudy)
	t.removeCaseBtn = widget.NewButtonWithIcon("Remove it", theme.ContentRemoveIcon(), t.removeOpenStudy)
	t.refreshCase()
	return container.NewVBox(heading("Your corrected studies"), t.caseText, container.NewHBox(t.addCaseBtn, t.removeCaseBtn))
}

// refreshCase says whether the open study is in the training set and
// enables the buttons that apply.
func (t *trainingTab) refreshCase() {
	if t.caseText == nil {
		return
	}
	sess := t.v.ws.Session
	t.addCaseBtn.Disable()
	t.removeCaseBtn.Disable()
	if sess == nil {
		t.caseText.SetText("No segmented study is open.")
		return
	}
	cs, err := trainingjob.StudyCases(t.env.Dirs.Corrected(), trainingjob.StudyKey(sess))
	switch {
	case err != nil:
		t.caseText.SetText(err.Error())
	case len(cs) > 0:
		t.caseText.SetText(fmt.Sprintf("The open study is in the training set: %d frame(s), added %s.", len(cs), cs[0].Created.Local().Format("2 Jan 15:04")))
		t.removeCaseBtn.Enable()
		if sess.Final() {
			t.addCaseBtn.SetText("Update it in the training set")
			t.addCaseBtn.Enable()
		}
		return
	case !sess.Final():
		t.caseText.SetText("The open study is not in the training set. Mark it final in the review tab to add it.")
	default:
		t.caseText.SetText("The open study is final and not in the training set.")
		t.addCaseBtn.Enable()
	}
	t.addCaseBtn.SetText("Add open study to training set")
}

// addOpenStudy writes the open final study's corrected frames into the
// corrected-cases set (in the background), then rescans when that set is
// the one shown.
func (t *trainingTab) addOpenStudy() {
	snap, err := trainingjob.Snapshot(t.v.ws.Session)
	if err != nil {
		t.caseText.SetText(capitalise(err.Error()))
		return
	}
	t.addCaseBtn.Disable()
	root := t.env.Dirs.Corrected()
	go func() {
		cs, err := snap.Export(root)
		t.do(func() {
			if err != nil {
				t.message.SetText("Adding the study to the training set: " + err.Error())
			} else {
				t.exports++
				t.message.SetText(fmt.Sprintf("The study is now a training case (%d frame(s) in %s).", len(cs), root))
			}
			t.refreshCase()
			if t.source.Selected == sourceCorrected {
				t.scan()
			}
			t.notify("export")
		})
	}()
}

// removeOpenStudy takes the open study's frames out of the set.
func (t *trainingTab) removeOpenStudy() {
	sess := t.v.ws.Session
	if sess == nil {
		return
	}
	n, err := trainingjob.RemoveStudy(t.env.Dirs.Corrected(), trainingjob.StudyKey(sess))
	if err != nil {
		t.message.SetText(err.Error())
	} else {
		t.message.SetText(fmt.Sprintf("The study left the training set (%d frame(s) removed).", n))
	}
	t.refreshCase()
	if t.source.Selected == sourceCorrected {
		t.scan()
	}
}

// Job control.

func (t *trainingTab) start(fineTune bool) {
	if t.job != nil && t.state.Active() {
		return
	}
	c, ok := t.validate()
	if !ok {
		t.v.showError("Training", errors.New("the configuration has problems; see the messages beside the fields"))
		return
	}
	if t.dataDir == "" {
		t.v.showError("Training", errors.New("scan a data set without problems first"))
		return
	}
	c.Data.Paths = []string{t.dataDir}
	previous := t.reg.Active()
	init := ""
	if fineTune {
		if previous == "" {
			t.v.showError("Fine-tuning", errors.New("no model is active: train from scratch, or install a model first"))
			return
		}
		var err error
		if c, err = trainingjob.FineTuneConfig(c, previous); err != nil {
			t.v.showError("Fine-tuning", err)
			return
		}
		init = previous
		t.loadForm(c) // show the network the bundle imposes
	}
	ve := 1
	fmt.Sscanf(t.valEvery.Text, "%d", &ve)
	name := time.Now().Format("20060102-150405")
	if fineTune {
		name += "-finetune"
	}
	spec := trainingjob.Spec{Config: c, RunDir: filepath.Join(t.env.Dirs.Runs(), name), InitFrom: init, Previous: previous, ValEvery: ve}
	t.closeJob()
	job, err := trainingjob.Start(t.env.Exe, spec, t.onJobUpdate)
	if err != nil {
		t.v.showError("Training", err)
		return
	}
	if t.evaluating {
		t.stopEval() // the previous run's evaluation
	}
	t.job, t.eval, t.evalShown = job, nil, 0
	t.evalText.SetText("")
	t.evalBtn.Hide()
	t.message.SetText("Training runs as a separate process: it continues if this window closes, and the tab reattaches when cmrseg opens again.")
	t.showState(job.State())
}

func (t *trainingTab) onJobUpdate(st trainingjob.State) {
	t.do(func() { t.showState(st) })
}

func (t *trainingTab) closeJob() {
	if t.job != nil {
		t.job.Close()
		t.job = nil
	}
}

// attachLatest follows the newest run folder of an earlier session.
func (t *trainingTab) attachLatest() {
	runs := trainingjob.Runs(t.env.Dirs.Runs())
	if len(runs) == 0 {
		return
	}
	job, err := trainingjob.Attach(t.env.Exe, runs[0], t.onJobUpdate)
	if err != nil {
		t.message.SetText(err.Error())
		return
	}
	t.job = job
	if ev, err := trainingjob.ReadEvaluation(job.RunDir); err == nil && ev != nil {
		t.eval = ev
		t.showEval()
	}
	t.showState(job.State())
}

func (t *trainingTab) pause() {
	if t.job == nil {
		return
	}
	if err := t.job.Pause(); err != nil {
		t.v.showError("Pause", err)
		return
	}
	t.showState(t.job.State())
}

func (t *trainingTab) resume() {
	if t.job == nil {
		return
	}
	if err := t.job.Resume(); err != nil {
		t.v.showError("Resume", err)
		return
	}
	t.showState(t.job.State())
}

func (t *trainingTab) cancel() {
	if t.job == nil {
		return
	}
	if err := t.job.Cancel(); err != nil {
		t.v.showError("Cancel", err)
		return
	}
	t.showState(t.job.State())
}

func (t *trainingTab) refreshButtons() {
	active := t.job != nil && t.state.Active()
	setEnabled(t.startBtn, !active && t.dataDir != "")
	setEnabled(t.fineBtn, !active && t.dataDir != "" && t.reg.Active() != "")
	setEnabled(t.pauseBtn, t.job != nil && t.state.Phase == trainingjob.Running)
	setEnabled(t.resumeBtn, t.job != nil && (t.state.Phase == trainingjob.Paused || t.state.Phase == trainingjob.Failed))
	setEnabled(t.cancelBtn, t.job != nil && t.state.Phase != trainingjob.Done && t.state.Phase != trainingjob.Cancelled)
	setEnabled(t.useBtn, t.job != nil && t.state.Phase == trainingjob.Done && !t.evaluating)
}

func setEnabled(b *widget.Button, on bool) {
	if on {
		b.Enable()
	} else {
		b.Disable()
	}
}

// showState draws a job state: status, progress, plots, timeline.
func (t *trainingTab) showState(st trainingjob.State) {
	prev := t.state.Phase
	t.state = st
	t.updates++
	switch {
	case t.job == nil:
		t.status.SetText("No training run.")
	default:
		kind := "from scratch"
		if t.job.InitFrom() != "" {
			kind = "fine-tuning " + filepath.Base(t.job.InitFrom())
		}
		s := fmt.Sprintf("%s — %s (%s), run %s", strings.ToUpper(string(st.Phase[:1]))+string(st.Phase[1:]), phaseText(st), kind, filepath.Base(t.job.RunDir))
		if st.Message != "" {
			s += "\n" + st.Message
		}
		if st.Err != "" {
			s += "\nError: " + st.Err
		}
		t.status.SetText(s)
	}
	total := float64(max(1, st.Epochs) * max(1, st.Iters))
	done := float64(st.Epoch*max(1, st.Iters) + st.Iter)
	if st.Phase == trainingjob.Done {
		done = total
	}
	t.progress.SetValue(math.Min(1, done/total))
	if st.Active() && st.ETA > 0 {
		t.etaText.SetText("ETA " + st.ETA.Round(time.Second).String())
	} else {
		t.etaText.SetText("")
	}
	if st.Device != "" {
		t.devText.SetText("Device: " + st.Device)
	}
	xmax := math.Max(1, float64(st.Epochs))
	t.lossPlot.set(plotData{Series: []plotSeries{
		{Name: "iteration", Points: st.Loss, Color: plotBlue},
		{Name: "epoch mean", Points: st.EpochLoss, Color: plotOrange, Dots: true},
	}, XMin: 0, XMax: xmax})
	t.dicePlot.set(plotData{Series: []plotSeries{
		{Name: "RV", Points: st.Dice[0], Color: plotRed, Dots: true},
		{Name: "MYO", Points: st.Dice[1], Color: plotGreen, Dots: true},
		{Name: "LV", Points: st.Dice[2], Color: plotBlue, Dots: true},
	}, XMin: 0, XMax: xmax, YMin: 0, YMax: 1})
	var marks []float64
	filled := map[float64]bool{}
	for _, e := range st.CheckpointPlan {
		marks = append(marks, float64(e))
	}
	for _, c := range st.Checkpoints {
		filled[float64(c.Epoch)] = true
	}
	t.lrLive.set(plotData{Series: []plotSeries{{Name: "η", Points: st.LR, Color: plotOrange, Dots: true}}, XMin: 0, XMax: xmax,
		Marks: marks, Filled: filled})
	t.timeline.set(plotData{XMin: 0, XMax: math.Max(1, float64(st.Epochs-1)), YMin: 0, YMax: 1, Marks: marks, Filled: filled})
	if len(st.CheckpointPlan) > 0 {
		t.ckptText.SetText(fmt.Sprintf("%d of %d ensemble checkpoints written (epochs %s)", len(st.Checkpoints), len(st.CheckpointPlan), epochList(st.CheckpointPlan)))
	} else {
		t.ckptText.SetText("")
	}
	if st.Phase == trainingjob.Done && prev != trainingjob.Done && t.eval == nil && !t.evaluating {
		t.evaluate()
	}
	t.refreshButtons()
	t.notify("state")
}

func phaseText(st trainingjob.State) string {
	if st.Epochs == 0 {
		return "starting"
	}
	return fmt.Sprintf("epoch %d/%d, iteration %d/%d", min(st.Epoch+1, st.Epochs), st.Epochs, st.Iter, st.Iters)
}

// Results.

func (t *trainingTab) evaluate() {
	job := t.job
	if job == nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.evaluating, t.stopEval = true, cancel
	t.evalText.SetText("Evaluating the new model against the previous one …")
	t.evalBtn.SetText("Cancel evaluation")
	t.evalBtn.SetIcon(theme.CancelIcon())
	t.evalBtn.Show()
	t.refreshButtons()
	go func() {
		ev, err := trainingjob.Evaluate(ctx, t.env.Exe, job.RunDir, job.Previous(), func(p trainingjob.EvalProgress) {
			t.do(func() {
				if t.evaluating && t.job == job {
					t.evalText.SetText(evalProgressText(p))
					t.evalShown++
				}
			})
		})
		cancel()
		t.do(func() {
			t.evaluating = false
			switch {
			case t.job != job:
			case err != nil:
				if ctx.Err() != nil {
					t.evalText.SetText("Evaluation cancelled. The new model can still be used; Evaluate scores it again.")
				} else {
					t.evalText.SetText("Evaluation failed: " + err.Error())
				}
				t.evalBtn.SetText("Evaluate")
				t.evalBtn.SetIcon(theme.MediaPlayIcon())
			default:
				t.eval = ev
				t.showEval()
				t.evalBtn.Hide()
			}
			t.refreshButtons()
			t.notify("evaluation")
		})
	}()
}

// evalProgressText says which model and case the evaluation is at.
func evalProgressText(p trainingjob.EvalProgress) string {
	which := "the new model"
	if p.Model > 1 {
		which = "the previous model"
	}
	return fmt.Sprintf("Evaluating %s (%d of %d): case %d of %d, %s — %.0f %% done",
		which, p.Model, p.Models, p.Case, p.Cases, p.ID, 100*p.Fraction())
}

func (t *trainingTab) showEval() {
	ev := t.eval
	var b strings.Builder
	fmt.Fprintf(&b, "Evaluation on %s\n", ev.Note)
	fmt.Fprintf(&b, "%-9s %6s %6s %6s %6s %7s\n", "model", "RV", "MYO", "LV", "mean", "ECE %")
	for _, s := range ev.Scores {
		fmt.Fprintf(&b, "%-9s %6.3f %6.3f %6.3f %6.3f %7.2f\n", s.Name, s.Dice[0], s.Dice[1], s.Dice[2], s.MeanDice(), s.ECE)
	}
	t.evalText.SetText(strings.TrimRight(b.String(), "\n"))
}

// useResult installs the finished run's bundle and makes it active.
func (t *trainingTab) useResult() {
	if t.job == nil || t.state.Phase != trainingjob.Done {
		return
	}
	dir := t.job.Installed()
	if dir == "" {
		var err error
		if dir, err = t.reg.Install(t.job.Bundle(), filepath.Base(t.job.RunDir)); err != nil {
			t.v.showError("Installing the model", err)
			return
		}
		t.job.SetInstalled(dir)
	}
	t.useModel(dir)
}

// useModel makes dir the active model and the review tab's engine.
func (t *trainingTab) useModel(dir string) {
	if err := t.reg.SetActive(dir); err != nil {
		t.v.showError("Using the model", err)
		return
	}
	t.refreshModels()
	t.switchEngine(dir)
}

func (t *trainingTab) restoreBundled() {
	if err := t.reg.RestoreBundled(); err != nil {
		t.v.showError("Restoring the bundled model", err)
		return
	}
	t.refreshModels()
	if t.env.Bundled != "" {
		t.switchEngine(t.env.Bundled)
	} else {
		t.message.SetText("No bundled model ships with this build; the review tab keeps its current engine until restart.")
	}
}

func (t *trainingTab) switchEngine(dir string) {
	if t.env.LoadModel == nil {
		t.message.SetText("Model " + filepath.Base(dir) + " is active from the next start.")
		t.notify("model")
		return
	}
	t.message.SetText("Loading model " + filepath.Base(dir) + " …")
	go func() {
		seg, err := t.env.LoadModel(dir)
		t.do(func() {
			if err != nil {
				t.v.showError("Loading the model", err)
			} else {
				t.v.ws.SetSegmenter(seg)
				t.v.deviceText.SetText(seg.Device())
				t.message.SetText("The review tab now segments with " + filepath.Base(dir) + "; segment a study again to use it.")
			}
			t.refreshButtons()
			t.notify("model")
		})
	}()
}

func (t *trainingTab) refreshModels() {
	t.modelsBox.RemoveAll()
	models := t.reg.List()
	sort.SliceStable(models, func(i, j int) bool { return models[i].Bundled && !models[j].Bundled })
	if len(models) == 0 {
		t.modelsBox.Add(widget.NewLabel("No model installed yet."))
	}
	for _, m := range models {
		m := m
		name := m.Name
		if m.Bundled {
			name += " (bundled)"
		}
		if m.Active {
			name = "● " + name + " — active"
		}
		title := widget.NewLabelWithStyle(name, fyne.TextAlignLeading, fyne.TextStyle{Bold: m.Active})
		info := widget.NewLabel(m.Summary())
		info.Wrapping = fyne.TextWrapWord
		use := widget.NewButton("Use", func() { t.useModel(m.Dir) })
		if m.Active || m.Err != nil {
			use.Disable()
		}
		t.modelsBox.Add(container.NewBorder(nil, nil, nil, use, container.NewVBox(title, info)))
	}
	if t.restoreBtn != nil {
		setEnabled(t.restoreBtn, t.reg.Active() != t.env.Bundled)
	}
}

// previewImages are the preview thumbnails shown (tests).
func (t *trainingTab) previewImages() []image.Image {
	var out []image.Image
	for _, o := range t.previewGrid.Objects {
		if b, ok := o.(*fyne.Container); ok {
			for _, c := range b.Objects {
				if im, ok := c.(*canvas.Image); ok {
					out = append(out, im.Image)
				}
			}
		}
	}
	return out
}
