package ui

import (
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/theme"
)

// modifiers are the keyboard modifiers held now (none under the test
// driver).
func (v *Viewer) modifiers() fyne.KeyModifier {
	if d, ok := v.app.Driver().(desktop.Driver); ok {
		return d.CurrentKeyModifiers()
	}
	return 0
}

func (v *Viewer) focusImage() {
	if c := v.win.Canvas(); c != nil {
		c.Focus(v.view)
	}
}

func (v *Viewer) stepSlice(d int) {
	v.ws.SetSlice(v.ws.View().Slice + d)
	v.refreshView()
	v.refreshTools()
}

func (v *Viewer) stepPhase(d int) {
	v.ws.SetPhase(v.ws.View().Phase+d, true)
	v.refreshView()
	v.refreshTools()
}

func (v *Viewer) goTo(t, k int) {
	v.ws.GoTo(t, k)
	v.refreshView()
	v.refreshTools()
}

// toggleCine plays the phases in a loop at the acquisition's frame rate
// (clamped to 10–30 frames per second).
func (v *Viewer) toggleCine() {
	if v.cine != nil {
		v.stopCine()
		return
	}
	s := v.ws.Series()
	if s == nil || s.NT < 2 {
		return
	}
	dt := 40 * time.Millisecond
	if tt := s.TriggerTimes; len(tt) > 1 && tt[1] > tt[0] {
		dt = time.Duration((tt[1] - tt[0]) * float64(time.Millisecond))
	}
	dt = min(max(dt, 33*time.Millisecond), 100*time.Millisecond)
	stop := make(chan struct{})
	v.cine = stop
	v.playBtn.SetIcon(theme.MediaPauseIcon())
	go func() {
		tick := time.NewTicker(dt)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				onUIAndWait(func() {
					select {
					case <-stop:
					default:
						v.stepPhase(1)
					}
				})
			}
		}
	}()
}

func (v *Viewer) stopCine() {
	if v.cine != nil {
		close(v.cine)
		v.cine = nil
		v.playBtn.SetIcon(theme.MediaPlayIcon())
	}
}

// GoTo shows slice k of phase t.
func (v *Viewer) GoTo(t, k int) { v.goTo(t, k) }
