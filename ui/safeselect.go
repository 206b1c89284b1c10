package ui

import (
	"sync/atomic"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/widget"
)

// safeSelect is a widget.Select whose pop-up cannot crash the window.
//
// Fyne v2.7.1 builds a Select's pop-up on the canvas that its object cache
// names for the widget (fyne-io/fyne#5965). When that entry is missing,
// because the part of the tree holding the widget was rebuilt or its cache
// entry expired between drawing and tapping, the pop-up gets a nil canvas
// and the process dies with SIGSEGV in overlayRenderer.MinSize. Upstream
// fixed it in Fyne 2.8 (PR #6305), which the module proxy here does not
// serve. So every dropdown of the window is a safeSelect: it checks the
// canvas first and, without one, shows the same options itself on the
// window's canvas at the tap (which the driver delivered, so the widget is
// on screen).
type safeSelect struct {
	widget.Select
	// canvas is the window's canvas, the fallback for the pop-up.
	canvas func() fyne.Canvas
}

// popUpStats counts dropdown pop-ups for the stress test: shown the normal
// way, and shown by the fallback because Fyne had no canvas for the widget.
var popUpStats struct{ shown, fallback atomic.Int64 }

func newSafeSelect(win fyne.Window, options []string, changed func(string)) *safeSelect {
	s := &safeSelect{canvas: win.Canvas}
	s.Options = options
	s.OnChanged = changed
	s.ExtendBaseWidget(s)
	return s
}

// canvasForObject is the driver's lookup; tests replace it, because Fyne's
// test driver answers with the last window's canvas for any object.
var canvasForObject = func(o fyne.CanvasObject) fyne.Canvas {
	a := fyne.CurrentApp()
	if a == nil {
		return nil
	}
	return a.Driver().CanvasForObject(o)
}

// attached reports whether Fyne can find the canvas this widget is on; a
// Select's own pop-up needs it.
func (s *safeSelect) attached() bool { return canvasForObject(s) != nil }

// Tapped opens the options, through Fyne when it knows the widget's canvas
// and through our own pop-up menu otherwise.
func (s *safeSelect) Tapped(ev *fyne.PointEvent) {
	if s.Disabled() {
		return
	}
	if s.attached() {
		popUpStats.shown.Add(1)
		s.Select.Tapped(ev)
		debugPopUp("select")
		return
	}
	c := s.canvas()
	if c == nil || ev == nil {
		return
	}
	popUpStats.fallback.Add(1)
	items := make([]*fyne.MenuItem, len(s.Options))
	for n, o := range s.Options {
		o := o
		items[n] = fyne.NewMenuItem(o, func() { s.SetSelected(o) })
	}
	widget.ShowPopUpMenuAtPosition(fyne.NewMenu("", items...), c, ev.AbsolutePosition)
	debugPopUp("fallback")
}

// TypedKey opens the pop-up from the keyboard only when Fyne can place it.
func (s *safeSelect) TypedKey(ev *fyne.KeyEvent) {
	switch ev.Name {
	case fyne.KeySpace, fyne.KeyUp, fyne.KeyDown:
		if !s.attached() {
			return
		}
		popUpStats.shown.Add(1)
	}
	s.Select.TypedKey(ev)
}
