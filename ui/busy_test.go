package ui

import (
	"testing"

	"fyne.io/fyne/v2"

	"fyne.io/fyne/v2/test"
)

// A hidden busy dialog must not keep animating: Fyne's infinite bar does
// when only its dialog is hidden, repainting the window for good.
func TestBusyDialogStopsItsAnimationWhenClosed(t *testing.T) {
	a := test.NewTempApp(t)
	w := a.NewWindow("busy")
	w.Resize(fyne.NewSize(400, 300))
	b := showBusy("Opening study", "/data/study", w)
	if !b.bar.Running() {
		t.Fatal("the bar does not run while the dialog is shown")
	}
	b.Close()
	if b.bar.Running() {
		t.Fatal("the progress bar still animates after the dialog was closed")
	}
}
