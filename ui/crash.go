package ui

import (
	"fmt"
	"runtime/debug"

	"fyne.io/fyne/v2/dialog"
)

// Guard runs the window's event loop (run, e.g. ShowAndRun) as the
// last-resort handler: a panic on the GUI thread (where Fyne calls every
// widget callback) closes the session, so the journal holds every edit,
// and writes a crash report beside the session folders. It returns the
// report's path and the panic's value, or "" and nil when run returned
// normally. The event loop cannot be resumed after a panic: the caller
// exits.
func (v *Viewer) Guard(run func()) (report string, panicValue any) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		panicValue = r
		stack := debug.Stack()
		v.stopCine()
		p, err := v.ws.RecordCrash(r, stack)
		if err != nil {
			report = "(no report: " + err.Error() + ")"
			return
		}
		report = p
	}()
	run()
	return "", nil
}

// offerReopen asks, after a crash in the previous run, whether to reopen
// the study that was open then.
func (v *Viewer) offerReopen() {
	note, err := v.ws.TakeCrashNote()
	if err != nil {
		v.setMessage(err.Error())
		return
	}
	if note == nil {
		return
	}
	v.crashNote = note
	what := "the demo study"
	if note.Study != "" {
		what = note.Study
	}
	msg := fmt.Sprintf("cmrseg stopped unexpectedly on %s.\nEvery edit made before then was saved.\nA crash report is in\n%s\n\nReopen %s?",
		note.Time.Local().Format("2 Jan 15:04"), note.Report, wrap(what, 70))
	dialog.ShowConfirm("Reopen the last study?", msg, func(yes bool) {
		if yes && note.Study != "" {
			v.openPath(note.Study)
		}
	}, v.win)
}
