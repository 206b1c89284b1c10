package ui

import (
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/test"
)

// A safeSelect opens its options whether or not Fyne knows its canvas. On
// the window it opens Fyne's own pop-up; taken out of every canvas (what a
// rebuilt part of the window looks like to Fyne 2.7, fyne-io/fyne#5965) a
// tap opens the fallback menu on the window's canvas instead of handing a
// nil canvas to NewPopUpMenu, and picking an option still selects it.
func TestSafeSelectNeverLosesItsCanvas(t *testing.T) {
	a := test.NewTempApp(t)
	w := a.NewWindow("select")
	var picked string
	s := newSafeSelect(w, []string{"one", "two"}, func(v string) { picked = v })
	w.SetContent(container.NewVBox(s))
	w.Resize(fyne.NewSize(300, 200))
	overlays := w.Canvas().Overlays()

	shown, fallback := popUpStats.shown.Load(), popUpStats.fallback.Load()
	test.Tap(s)
	if overlays.Top() == nil || popUpStats.shown.Load() != shown+1 {
		t.Fatal("an attached select opened no pop-up through Fyne")
	}
	overlays.Top().Hide()
	overlays.Remove(overlays.Top())

	// What Fyne 2.7's GLFW driver answers for a widget whose cache entry
	// went with a rebuilt part of the window.
	lookup := canvasForObject
	canvasForObject = func(fyne.CanvasObject) fyne.Canvas { return nil }
	defer func() { canvasForObject = lookup }()
	s.Tapped(&fyne.PointEvent{AbsolutePosition: fyne.NewPos(20, 20)})
	if popUpStats.fallback.Load() != fallback+1 || overlays.Top() == nil {
		t.Fatal("the detached select opened no fallback pop-up")
	}
	var two fyne.Tappable
	walk(overlays.Top(), func(o fyne.CanvasObject) {
		if tp, ok := o.(fyne.Tappable); ok && hasText(o, "two") { // the innermost wins
			two = tp
		}
	})
	if two == nil {
		t.Fatal("the fallback pop-up does not offer \"two\"")
	}
	two.Tapped(&fyne.PointEvent{})
	if picked != "two" || s.Selected != "two" {
		t.Fatalf("picking \"two\" in the fallback pop-up selected %q (callback %q)", s.Selected, picked)
	}
	// The keyboard path has no position to show a pop-up at: it does nothing.
	s.TypedKey(&fyne.KeyEvent{Name: fyne.KeySpace})
}

// walk visits o and everything under it, widgets through their renderers.
func walk(o fyne.CanvasObject, f func(fyne.CanvasObject)) {
	f(o)
	switch x := o.(type) {
	case *fyne.Container:
		for _, c := range x.Objects {
			walk(c, f)
		}
	case fyne.Widget:
		for _, c := range test.WidgetRenderer(x).Objects() {
			walk(c, f)
		}
	}
}

// hasText reports whether a text "s" is drawn somewhere under o.
func hasText(o fyne.CanvasObject, s string) bool {
	found := false
	walk(o, func(c fyne.CanvasObject) {
		if t, ok := c.(*canvas.Text); ok && t.Text == s {
			found = true
		}
	})
	return found
}
