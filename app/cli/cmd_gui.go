package cli

import (
	"fmt"
	"io"
	"os"
	"time"

	"fyne.io/fyne/v2"

	"cmrseg/app/modelpath"
	"cmrseg/app/study"
	"cmrseg/app/workspace"
	"cmrseg/ui"
	"cmrseg/ui/desktop"
)

func init() {
	register("gui", "open the review window (the default): cmrseg gui [--model DIR] [--cohort DIR] [--series N] [PATH]", runGUI)
}

// runGUI opens the review window, on PATH when given, else on the embedded
// demo study. CMRSEG_QUIT_AFTER (a duration) closes it by itself, for
// scripted smoke tests of the installed app. CMRSEG_MODEL=demo uses the
// demo segmenter (which knows only the demo study) even where a model is
// installed.
func runGUI(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("gui", stderr)
	model := fs.String("model", "", "model bundle folder (default: $CMRSEG_MODEL, the active model, the bundled model)")
	cohortDir := fs.String("cohort", "", "open the review queue of this cmrseg batch output folder")
	series := fs.String("series", "", "series of the DICOM exam PATH to show: its number in `cmrseg info`, #SeriesNumber or SeriesInstanceUID (default: the short-axis cine)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		return fmt.Errorf("no display (DISPLAY and WAYLAND_DISPLAY are unset); 'cmrseg demo' runs the headless demo")
	}
	var quitAfter time.Duration
	if s := os.Getenv("CMRSEG_QUIT_AFTER"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("CMRSEG_QUIT_AFTER=%q: %v", s, err)
		}
		quitAfter = d
	}
	var demo *study.Study
	var seg workspace.Engine
	var env ui.TrainingEnv // the demo segmenter's window: default folders, no loader
	if *model == "" && os.Getenv(modelpath.EnvVar) == modelpath.Demo {
		// The demo segmenter even where a model is installed: scripted
		// checks of the window need its fast, known result.
		demo, seg = workspace.Demo()
	} else {
		var err error
		if demo, seg, env, err = engineForGUI(*model, stderr); err != nil {
			return err
		}
	}
	cfg := desktop.DefaultConfig()
	cfg.Engine = seg
	cfg.OpenSeries = *series
	ws := workspace.New(cfg)
	if fs.NArg() == 0 && *cohortDir == "" {
		ws.SetStudy(demo)
	}
	run := func(v *ui.Viewer) {
		if quitAfter > 0 {
			time.AfterFunc(quitAfter, func() { fyne.Do(func() { v.Window().Close() }) })
		}
	}
	if *cohortDir != "" {
		if fs.NArg() > 0 {
			return fmt.Errorf("gui: give a study or --cohort, not both")
		}
		desktop.RunOnCohort(ws, env, *cohortDir, run)
		return nil
	}
	desktop.RunOn(ws, env, fs.Arg(0), run)
	return nil
}
