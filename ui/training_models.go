package ui

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"cmrseg/app/trainingjob"
)

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
				t.v.ws.SetEngine(seg)
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
