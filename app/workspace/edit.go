package workspace

import (
	"errors"

	"cmrseg/app/session"
	"cmrseg/app/study"
)

// ErrNotSegmented is returned by the edit tools before segmentation.
var ErrNotSegmented = errors.New("nothing to edit yet: the study is not segmented")

// Tool is the active editing tool of the viewer.
type Tool int

// Tools.
const (
	ToolCorrect Tool = iota // one-click correction (default)
	ToolBrush
	ToolEraser
	ToolPan
)

// ToolNames are the display names of the tools, index = Tool.
var ToolNames = []string{"Correct", "Brush", "Eraser", "Pan"}

// Click applies the one-click correction at voxel (i, j) of the current
// slice and phase.
func (w *Workspace) Click(i, j int) (session.Change, error) {
	if w.Session == nil {
		return session.Change{}, ErrNotSegmented
	}
	v := w.View()
	return w.Session.ClickCorrect(v.Phase, v.Slice, i, j)
}

// Paint paints label along a stroke on the current slice.
func (w *Workspace) Paint(stroke []session.Point, radiusMM float64, label uint8) (session.Change, error) {
	if w.Session == nil {
		return session.Change{}, ErrNotSegmented
	}
	v := w.View()
	return w.Session.Paint(v.Phase, v.Slice, stroke, radiusMM, label)
}

// Erase erases label (Background: any label) along a stroke.
func (w *Workspace) Erase(stroke []session.Point, radiusMM float64, label uint8) (session.Change, error) {
	if w.Session == nil {
		return session.Change{}, ErrNotSegmented
	}
	v := w.View()
	return w.Session.Erase(v.Phase, v.Slice, stroke, radiusMM, label)
}

// FillHoles fills enclosed holes of every label on the current slice.
func (w *Workspace) FillHoles() (session.Change, error) {
	if w.Session == nil {
		return session.Change{}, ErrNotSegmented
	}
	v := w.View()
	return w.Session.FillHoles(v.Phase, v.Slice, study.Background)
}

// Undo reverts the last edit and shows where it happened.
func (w *Workspace) Undo() (session.Change, error) {
	if w.Session == nil {
		return session.Change{}, session.ErrNothingToUndo
	}
	c, err := w.Session.Undo()
	if err == nil {
		w.GoTo(c.Phase, c.Slice)
	}
	return c, err
}

// Redo reapplies the last undone edit and shows where it happened.
func (w *Workspace) Redo() (session.Change, error) {
	if w.Session == nil {
		return session.Change{}, session.ErrNothingToRedo
	}
	c, err := w.Session.Redo()
	if err == nil {
		w.GoTo(c.Phase, c.Slice)
	}
	return c, err
}

// ToggleAccept accepts the current slice (or withdraws the acceptance) and
// returns the new state.
func (w *Workspace) ToggleAccept() (bool, error) {
	if w.Session == nil {
		return false, ErrNotSegmented
	}
	v := w.View()
	acc := !w.Session.Accepted(v.Phase, v.Slice)
	return acc, w.Session.Accept(v.Phase, v.Slice, acc)
}

// ToggleFinal marks the study final (or reopens it) and returns the new
// state.
func (w *Workspace) ToggleFinal() (bool, error) {
	if w.Session == nil {
		return false, ErrNotSegmented
	}
	f := !w.Session.Final()
	return f, w.Session.MarkFinal(f)
}
