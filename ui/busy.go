package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"
)

// busyDialog is a modal "working on it" dialog with an infinite progress
// bar. Close hides it and stops the bar: Fyne's bar keeps its animation
// running when only the dialog is hidden, and that animation repaints the
// whole window at the frame rate for the rest of the session (both cores
// of a software-rendered display, measured: it tripled the time to the
// first contour).
type busyDialog struct {
	d   dialog.Dialog
	bar *widget.ProgressBarInfinite
}

func showBusy(title, text string, parent fyne.Window) *busyDialog {
	b := &busyDialog{bar: widget.NewProgressBarInfinite()}
	b.d = dialog.NewCustomWithoutButtons(title, container.NewVBox(widget.NewLabel(text), b.bar), parent)
	b.d.Show()
	return b
}

// Close hides the dialog and stops its animation.
func (b *busyDialog) Close() {
	b.bar.Stop()
	b.d.Hide()
}
