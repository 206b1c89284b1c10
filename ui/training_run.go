package ui

import (
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"time"

	"fyne.io/fyne/v2/widget"

	"cmrseg/app/trainingjob"
)

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
