package ui

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"cmrseg/app/shareddata"
	"cmrseg/app/trainingjob"
	"cmrseg/app/workspace"
)

// trainingBinary is build/cmrseg, the `cmrseg train` child of the tab.
func trainingBinary(t *testing.T) string {
	t.Helper()
	exe, _ := filepath.Abs(filepath.Join("..", "build", "cmrseg"))
	if _, err := os.Stat(exe); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s missing: run make build first", exe)
		}
		t.Skipf("%s missing: run make build first", exe)
	}
	out, _ := exec.Command(exe, "train", "--help").CombinedOutput()
	if !strings.Contains(string(out), "-events") {
		t.Fatalf("%s has no train --events: rebuild it with make build", exe)
	}
	return exe
}

// locked runs f as the tab's own hand-offs run (see trainingTab.do).
func locked(tab *trainingTab, f func()) {
	onTestUI(func() {
		tab.mu.Lock()
		defer tab.mu.Unlock()
		f()
	})
}

// until polls cond under the tab's lock.
func until(t *testing.T, tab *trainingTab, what string, d time.Duration, cond func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for {
		ok := false
		locked(tab, func() { ok = cond() })
		if ok {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func plotPoints(p *plot) int {
	n := 0
	for _, s := range p.data.Series {
		n += len(s.Points)
	}
	return n
}

// TestTrainingTab drives the tab as a reader would: pick a small ACDC
// set, scan it, take the tiny preset, mistype a field and fix it, start a
// real `cmrseg train` child, watch its events reach the plots, pause and
// resume it, let it finish, read the evaluation, use the new model, and
// segment a study with it in the review tab. A second window then
// reattaches to the finished run.
func TestTrainingTab(t *testing.T) {
	exe := trainingBinary(t)
	const iters = 20
	t0 := time.Now()
	src := shareddata.Require(t, "acdc/training")
	tmp := t.TempDir()
	dataDir := filepath.Join(tmp, "acdc")
	os.Mkdir(dataDir, 0o755)
	for _, id := range []string{"patient001", "patient021", "patient061"} {
		os.Symlink(filepath.Join(src, id), filepath.Join(dataDir, id))
	}
	dirs := trainingjob.Dirs{Data: filepath.Join(tmp, "data"), Config: filepath.Join(tmp, "config")}
	var loaded []string
	env := TrainingEnv{Exe: exe, Dirs: dirs, LoadModel: func(dir string) (workspace.Engine, error) {
		loaded = append(loaded, dir)
		return &trainingjob.ProcessEngine{Exe: exe, Model: dir, Threads: 1}, nil
	}}

	_, demo := workspace.Demo()
	a := test.NewTempApp(t)
	ws := workspace.New(workspace.Config{Engine: demo, ConfigDir: t.TempDir(), SessionRoot: filepath.Join(dirs.Data, "sessions")})
	t.Cleanup(func() { ws.Close() })
	v := NewWithTraining(a, ws, env)
	tab := v.training
	t.Cleanup(func() {
		if tab.job != nil && tab.job.State().Active() {
			tab.job.Cancel() // never leave a training child behind a failed test
		}
	})
	v.tabs.SelectIndex(1)
	if v.tabs.Selected().Text != "Training" {
		t.Fatalf("selected tab %q", v.tabs.Selected().Text)
	}

	// Data: scan, counts, previews.
	locked(tab, func() {
		test.Type(tab.folder, dataDir)
		test.Tap(tab.scanBtn)
	})
	until(t, tab, "the scan", time.Minute, func() bool { return tab.dataDir != "" || tab.problems.Text != "" })
	locked(tab, func() {
		if !strings.Contains(tab.dataText.Text, "3 cases, 3 labelled; 6 labelled frames") || len(tab.previewImages()) != 3 || tab.problems.Text != "" {
			t.Fatalf("scan shows %q, %d previews, problems %q", tab.dataText.Text, len(tab.previewImages()), tab.problems.Text)
		}
	})

	t.Logf("%5.1f s", time.Since(t0).Seconds())
	// Config: tiny preset, a mistake shown beside its field, then fixed.
	locked(tab, func() {
		tab.loadForm(trainingjob.TinyConfig())
		cycles := tab.inputs["schedule.cycles"].(*widget.Entry)
		cycles.SetText("3")
		if l := tab.errLabels["schedule.cycles"]; !l.Visible() || !strings.Contains(l.Text, "not divisible") {
			t.Fatalf("cycles 3 of 4 epochs: message %q visible %v", l.Text, l.Visible())
		}
		cycles.SetText("2")
		if tab.errLabels["schedule.cycles"].Visible() {
			t.Fatal("message stays after the fix")
		}
		tab.inputs["train.iterations_per_epoch"].(*widget.Entry).SetText(fmt.Sprint(iters))
		tab.inputs["train.patch"].(*widget.Entry).SetText("64x64")
		if n := plotPoints(tab.lrPlot); n != 4 || len(tab.lrPlot.data.Marks) != 4 {
			t.Fatalf("schedule plot: %d points, %d checkpoint marks", n, len(tab.lrPlot.data.Marks))
		}
		if tab.startBtn.Disabled() {
			t.Fatal("start disabled with a valid form and data")
		}
		test.Tap(tab.startBtn)
	})

	t.Logf("%5.1f s", time.Since(t0).Seconds())
	// Progress events reach the plots; pause, resume, finish.
	until(t, tab, "loss points in the plot", 2*time.Minute, func() bool { return plotPoints(tab.lossPlot) >= 3 })
	locked(tab, func() {
		if tab.devText.Text == "" || tab.state.Phase != trainingjob.Running {
			t.Fatalf("device %q, phase %s", tab.devText.Text, tab.state.Phase)
		}
		test.Tap(tab.pauseBtn)
	})
	until(t, tab, "the pause", time.Minute, func() bool { return tab.state.Phase == trainingjob.Paused && !tab.resumeBtn.Disabled() })
	var pausedAt int
	locked(tab, func() {
		pausedAt = len(tab.state.Loss)
		if tab.resumeBtn.Disabled() || !tab.pauseBtn.Disabled() {
			t.Fatal("buttons after pause")
		}
		t.Logf("paused: %s", tab.status.Text)
		test.Tap(tab.resumeBtn)
	})
	until(t, tab, "the end of the run", 8*time.Minute, func() bool { return tab.state.Phase == trainingjob.Done })
	locked(tab, func() {
		st := tab.state
		if len(st.Loss) != 4*iters || len(st.Checkpoints) != 4 || plotPoints(tab.dicePlot) != 3*4 || len(tab.timeline.data.Filled) != 4 || tab.progress.Value != 1 {
			t.Fatalf("finished: %d loss points (paused at %d), %d checkpoints, %d Dice points, %d filled marks, progress %g",
				len(st.Loss), pausedAt, len(st.Checkpoints), plotPoints(tab.dicePlot), len(tab.timeline.data.Filled), tab.progress.Value)
		}
	})

	t.Logf("%5.1f s", time.Since(t0).Seconds())
	// The evaluation starts by itself; Cancel stops it, Evaluate runs it
	// again; then "Use this model".
	until(t, tab, "the evaluation to start", time.Minute, func() bool { return tab.evaluating && tab.evalBtn.Visible() })
	locked(tab, func() { test.Tap(tab.evalBtn) })
	until(t, tab, "the evaluation to stop", time.Minute, func() bool { return !tab.evaluating })
	locked(tab, func() {
		if tab.eval != nil || !strings.HasPrefix(tab.evalText.Text, "Evaluation cancelled") || tab.evalBtn.Text != "Evaluate" || tab.useBtn.Disabled() {
			t.Fatalf("after Cancel: %q, button %q, use disabled %v", tab.evalText.Text, tab.evalBtn.Text, tab.useBtn.Disabled())
		}
		tab.evalShown = 0
		test.Tap(tab.evalBtn)
	})
	until(t, tab, "the evaluation", 8*time.Minute, func() bool { return tab.eval != nil || strings.HasPrefix(tab.evalText.Text, "Evaluation failed") })
	locked(tab, func() {
		if tab.eval == nil || !strings.Contains(tab.evalText.Text, "new") || tab.useBtn.Disabled() {
			t.Fatalf("evaluation: %q", tab.evalText.Text)
		}
		// Each case of each model was announced while it ran.
		if want := len(tab.eval.Cases) * len(tab.eval.Scores); tab.evalShown != want || tab.evalBtn.Visible() {
			t.Fatalf("evaluation showed %d progress reports (want %d), its button visible %v", tab.evalShown, want, tab.evalBtn.Visible())
		}
		t.Logf("%s", tab.evalText.Text)
		test.Tap(tab.useBtn)
	})
	until(t, tab, "the model switch", time.Minute, func() bool {
		c, ok := ws.Engine().(*trainingjob.ProcessEngine)
		return ok && strings.HasPrefix(c.Model, dirs.Models())
	})
	reg := &trainingjob.Registry{Dirs: dirs}
	active := reg.Active()
	if !strings.HasPrefix(active, dirs.Models()) || len(loaded) != 1 || loaded[0] != active {
		t.Fatalf("active model %q, loaded %v", active, loaded)
	}

	t.Logf("%5.1f s", time.Since(t0).Seconds())
	// The review tab segments with it.
	var segErr error
	locked(tab, func() {
		// One frame: each phase is a `cmrseg segment` child under test.
		st, err := workspace.Load(filepath.Join(dataDir, "patient001", "patient001_frame01.nii.gz"))
		if err != nil {
			segErr = err
			return
		}
		if err := ws.SetStudy(st); err != nil {
			segErr = err
			return
		}
	})
	if segErr != nil {
		t.Fatal(segErr)
	}
	locked(tab, func() { segErr = ws.Segment() }) // the final-study watcher reads ws too
	if segErr != nil {
		t.Fatal(segErr)
	}
	if ws.Session == nil || ws.Session.Result(0) == nil || ws.Session.Result(0).Checkpoints != 1 {
		t.Fatal("patient001 not segmented by the new model")
	}
	if !strings.Contains(ws.Device(), filepath.Base(active)) {
		t.Fatalf("device %q does not name the model", ws.Device())
	}

	t.Logf("%5.1f s", time.Since(t0).Seconds())
	// Another window (the app restarted) reattaches to the finished run.
	ws2 := workspace.New(workspace.Config{Engine: demo, ConfigDir: t.TempDir()})
	v2 := NewWithTraining(a, ws2, env)
	onTestUI(func() {
		t2 := v2.training
		if t2.job == nil || t2.state.Phase != trainingjob.Done || t2.eval == nil || len(t2.state.Loss) != 4*iters || plotPoints(t2.lossPlot) != 4*iters+4 {
			t.Fatalf("reattached: job %v, phase %s, eval %v, %d loss points, %d plotted", t2.job != nil, t2.state.Phase, t2.eval != nil, len(t2.state.Loss), plotPoints(t2.lossPlot))
		}
		if !strings.Contains(t2.modelsBox.Objects[0].(*fyne.Container).Objects[0].(*fyne.Container).Objects[0].(*widget.Label).Text, "active") {
			t.Fatal("the models list does not mark the active model")
		}
	})
}
