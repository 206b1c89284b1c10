package workspace

import (
	"fmt"

	"cmrseg/app/session"
)

// Marking a study final is a deliberate act: the window first lists the
// flagged slices nobody has accepted (Unreviewed), and once final the
// study's labels, its ED/ES and the body size behind the report are locked
// until the reader reopens it for editing. Both acts are journaled (the
// session's final record), so a restart keeps the lock.

// Unreviewed lists the QC-flagged ED/ES slices that are not accepted: what
// the reader is asked about before marking the study final.
func (w *Workspace) Unreviewed() []QCItem {
	var out []QCItem
	for _, it := range w.QC(false) {
		if !it.Accepted {
			out = append(out, it)
		}
	}
	return out
}

// MarkFinal marks the study final. The caller has shown Unreviewed and the
// reader has confirmed.
func (w *Workspace) MarkFinal() error {
	if w.Session == nil {
		return ErrNotSegmented
	}
	return w.Session.MarkFinal(true)
}

// Reopen unlocks a final study for editing (journaled).
func (w *Workspace) Reopen() error {
	if w.Session == nil {
		return ErrNotSegmented
	}
	return w.Session.MarkFinal(false)
}

// Final reports whether the open study is marked final.
func (w *Workspace) Final() bool { return w.Session != nil && w.Session.Final() }

// finalLock refuses a change to what a final study's report rests on.
func (w *Workspace) finalLock(what string) error {
	if w.Final() {
		return fmt.Errorf("%s: %w; reopen it for editing first", what, session.ErrFinal)
	}
	return nil
}
