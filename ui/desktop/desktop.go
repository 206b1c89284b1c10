// Package desktop starts the real cmrseg window (the GLFW driver). It is
// the only package that imports fyne.io/fyne/v2/app, so package ui stays
// testable headless. main calls:
//
//	cfg := desktop.DefaultConfig()
//	cfg.Engine = engine // the libtorch ensemble (a workspace.Engine)
//	desktop.Run(workspace.New(cfg))
package desktop

import (
	"fmt"
	"os"
	"path/filepath"

	"fyne.io/fyne/v2/app"

	"cmrseg/app/workspace"
	"cmrseg/ui"
)

// AppID is the application identifier (preferences, desktop integration).
const AppID = "org.cmrseg.cmrseg"

// DefaultConfig puts the recent list in $XDG_CONFIG_HOME/cmrseg and the
// review sessions in $XDG_DATA_HOME/cmrseg/sessions (the usual fallbacks
// under $HOME when unset). The Engine is left nil for the caller.
func DefaultConfig() workspace.Config {
	cfg := workspace.Config{}
	if d, err := os.UserConfigDir(); err == nil {
		cfg.ConfigDir = filepath.Join(d, "cmrseg")
	}
	data := os.Getenv("XDG_DATA_HOME")
	if data == "" {
		if h, err := os.UserHomeDir(); err == nil {
			data = filepath.Join(h, ".local", "share")
		}
	}
	if data != "" {
		cfg.SessionRoot = filepath.Join(data, "cmrseg", "sessions")
	}
	return cfg
}

// Run opens the review window on ws, starting on the demo study segmented
// with ws's Engine (unless ws already holds a study), and blocks until
// the window closes.
func Run(ws *workspace.Workspace) {
	RunWith(ws, nil)
}

// RunWith is Run with a hook called once the window is built (on the GUI
// goroutine), e.g. to open a path given on the command line.
func RunWith(ws *workspace.Workspace, ready func(v *ui.Viewer)) {
	RunOn(ws, ui.TrainingEnv{}, "", ready)
}

// RunOn is RunWith on the study at path (the command line's), with the
// training tab configured by env: the demo study is not opened.
func RunOn(ws *workspace.Workspace, env ui.TrainingEnv, path string, ready func(v *ui.Viewer)) {
	run(ws, env, func(v *ui.Viewer) { v.StartOn(path) }, ready)
}

// RunOnCohort is RunOn for `cmrseg gui --cohort DIR`: the window opens on
// the review queue of a batch output folder instead of a study.
func RunOnCohort(ws *workspace.Workspace, env ui.TrainingEnv, dir string, ready func(v *ui.Viewer)) {
	run(ws, env, func(v *ui.Viewer) { v.StartOnCohort(dir) }, ready)
}

func run(ws *workspace.Workspace, env ui.TrainingEnv, start func(v *ui.Viewer), ready func(v *ui.Viewer)) {
	a := app.NewWithID(AppID)
	v := ui.NewWithTraining(a, ws, env)
	v.OnClosed(exitIfStuck)
	start(v)
	if ready != nil {
		ready(v)
	}
	report, crash := v.Guard(v.Window().ShowAndRun)
	if crash != nil {
		fmt.Fprintf(os.Stderr, "cmrseg: the window stopped on an internal error (%v); the session was saved; crash report: %s\n", crash, report)
		os.Exit(3)
	}
}
