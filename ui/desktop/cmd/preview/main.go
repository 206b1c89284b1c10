// Command preview opens the review window on the demo study with the demo
// segmenter (no model needed): for trying the GUI and for screenshots.
//
//	go run ./ui/desktop/cmd/preview [-open PATH] [-slice K] [-fill]
package main

import (
	"flag"
	"time"

	"fyne.io/fyne/v2"

	"cmrseg/app/workspace"
	"cmrseg/ui"
	"cmrseg/ui/desktop"
)

func main() {
	open := flag.String("open", "", "open this study instead of the demo")
	slice := flag.Int("slice", 0, "show this slice (1-based) once segmented")
	fill := flag.Bool("fill", false, "draw labels as fills")
	delay := flag.Duration("step", 10*time.Millisecond, "demo segmenter delay per step")
	flag.Parse()

	st, seg := workspace.Demo()
	seg.StepDelay = *delay
	cfg := desktop.DefaultConfig()
	cfg.Engine = seg
	ws := workspace.New(cfg)
	if *open == "" {
		ws.SetStudy(st)
	}
	desktop.RunWith(ws, func(v *ui.Viewer) {
		if *open != "" {
			v.OpenPath(*open)
		}
		ws.Display.Fill = *fill
		if *slice > 0 {
			go func() {
				for {
					time.Sleep(200 * time.Millisecond)
					done := false
					fyne.DoAndWait(func() {
						if ws.Session != nil {
							v.GoTo(ws.View().Phase, *slice-1)
							done = true
						}
					})
					if done {
						return
					}
				}
			}()
		}
	})
}
