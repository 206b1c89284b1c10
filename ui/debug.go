package ui

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"
	"time"

	"cmrseg/app/workspace"
)

// CMRSEG_DEBUG=1 makes the window report on stderr, one "cmrseg-debug:"
// line per event, what a script driving it from outside (xdotool under
// Xvfb in the real-window test) cannot see: where the image lies in the
// window and how it maps to voxels, the voxel under the pointer, and the
// outcome of segmentation, edits and exports.
var debugOn = os.Getenv("CMRSEG_DEBUG") == "1"

var debugMu sync.Mutex

func debugf(format string, args ...any) {
	if !debugOn {
		return
	}
	debugMu.Lock()
	defer debugMu.Unlock()
	fmt.Fprintf(os.Stderr, "cmrseg-debug: "+format+"\n", args...)
}

// ViewGeometry is the image view's place in the window, in window pixels
// (what xdotool addresses), and its voxel mapping, printed under
// CMRSEG_DEBUG=1 as "cmrseg-debug: view {json}".
type ViewGeometry struct {
	// X and Y are the view's top-left corner relative to the window's.
	X, Y     float64
	Viewport workspace.Viewport
	Phase    int
	Slice    int
}

// debugGeometry prints the view geometry when it has changed.
func (iv *imageView) debugGeometry(vp workspace.Viewport) {
	if !debugOn {
		return
	}
	iv.v.debugControls()
	c := iv.v.win.Canvas()
	if c == nil {
		return
	}
	pos := iv.v.app.Driver().AbsolutePositionForObject(iv)
	sc := float64(c.Scale())
	vw := iv.v.ws.View()
	g := ViewGeometry{X: float64(pos.X) * sc, Y: float64(pos.Y) * sc, Viewport: vp, Phase: vw.Phase, Slice: vw.Slice}
	if g == iv.lastGeom {
		return
	}
	iv.lastGeom = g
	b, _ := json.Marshal(g)
	debugf("view %s", b)
}

// ControlRect is a control's place in the window, in window pixels, as
// printed under CMRSEG_DEBUG=1 in "cmrseg-debug: controls {json}" (the
// real-window stress test taps them).
type ControlRect struct {
	X, Y, W, H float64
	Enabled    bool
}

// debugControls prints where the dropdowns are when that has changed.
func (v *Viewer) debugControls() {
	if !debugOn {
		return
	}
	c := v.win.Canvas()
	if c == nil {
		return
	}
	sc := float64(c.Scale())
	d := v.app.Driver()
	out := map[string]ControlRect{}
	for name, s := range map[string]*safeSelect{"preset": v.presetSelect, "label": v.labelSelect, "ed": v.settings.ed, "es": v.settings.es} {
		if !s.Visible() || v.tabs.SelectedIndex() != 0 {
			continue
		}
		p, z := d.AbsolutePositionForObject(s), s.Size()
		out[name] = ControlRect{X: float64(p.X) * sc, Y: float64(p.Y) * sc, W: float64(z.Width) * sc, H: float64(z.Height) * sc, Enabled: !s.Disabled()}
	}
	b, _ := json.Marshal(out)
	if string(b) == v.lastControls {
		return
	}
	v.lastControls = string(b)
	debugf("controls %s", b)
}

// debugPopUp reports a dropdown's pop-up (the stress test counts them).
func debugPopUp(how string) {
	debugf("popup %s shown %d fallback %d", how, popUpStats.shown.Load(), popUpStats.fallback.Load())
}

// debugWatchWindow prints "cmrseg-debug: window {json}" whenever the
// canvas size or the content's minimum size changes (checked 20 times a
// second on the GUI goroutine): Fyne sizes a window back when its minimum
// changes while a resize is under way, and the real-window test needs to
// see that.
func (v *Viewer) debugWatchWindow() {
	if !debugOn || underTestDriver() {
		return
	}
	done := make(chan struct{})
	v.OnClosed(func(error) { close(done) })
	var last [4]float32
	go func() {
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			onUI(func() {
				c := v.win.Canvas()
				if c == nil || v.win.Content() == nil {
					return
				}
				s, m, sc := c.Size(), v.win.Content().MinSize(), c.Scale()
				now := [4]float32{s.Width * sc, s.Height * sc, m.Width * sc, m.Height * sc}
				if now != last {
					last = now
					debugf("window {\"Size\":[%g,%g],\"Min\":[%g,%g]}", now[0], now[1], now[2], now[3])
				}
			})
		}
	}()
}
