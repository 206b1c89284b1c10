package ui

import (
	"errors"
	"fmt"
	"strings"

	"fyne.io/fyne/v2/dialog"

	"cmrseg/app/session"
	"cmrseg/app/workspace"
)

func (v *Viewer) clickCorrect(i, j int) {
	c, err := v.ws.Click(i, j)
	v.afterEdit(c, err)
}

func (v *Viewer) stroke(points []session.Point) {
	var c session.Change
	var err error
	if v.tool == workspace.ToolEraser {
		c, err = v.ws.Erase(points, v.brushMM, v.label)
	} else {
		c, err = v.ws.Paint(points, v.brushMM, v.label)
	}
	v.afterEdit(c, err)
}

func (v *Viewer) fillHoles() {
	c, err := v.ws.FillHoles()
	if err == nil && c.Empty() {
		v.setMessage("No enclosed holes on this slice.")
		return
	}
	v.afterEdit(c, err)
}

func (v *Viewer) undo() {
	c, err := v.ws.Undo()
	if err == nil {
		c.Note = "Undone: " + c.Op.String()
	}
	v.afterEdit(c, err)
}

func (v *Viewer) redo() {
	c, err := v.ws.Redo()
	if err == nil {
		c.Note = "Redone: " + c.Op.String()
	}
	v.afterEdit(c, err)
}

// afterEdit reports an edit in the status bar and refreshes. Expected
// refusals (not uncertain, nothing to undo) go to the status bar; others
// to a dialog.
func (v *Viewer) afterEdit(c session.Change, err error) {
	if err != nil {
		switch {
		case errors.Is(err, session.ErrNotUncertain), errors.Is(err, session.ErrNoSafeHypothesis), errors.Is(err, session.ErrNothingToUndo),
			errors.Is(err, session.ErrNothingToRedo), errors.Is(err, workspace.ErrNotSegmented),
			errors.Is(err, session.ErrFinal):
			v.setMessage(capitalise(err.Error()))
		default:
			v.showError("Edit failed", err)
		}
		return
	}
	if c.Note != "" {
		v.setMessage(fmt.Sprintf("%s (%d voxels).", capitalise(c.Note), len(c.Voxels)))
	} else if !c.Empty() {
		v.setMessage(fmt.Sprintf("%s: %d voxels changed.", capitalise(c.Op.String()), len(c.Voxels)))
	}
	v.refreshView()
	v.refreshData()
}

func capitalise(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

func (v *Viewer) toggleAccept() {
	acc, err := v.ws.ToggleAccept()
	if err != nil {
		v.afterEdit(session.Change{}, err)
		return
	}
	vw := v.ws.View()
	if acc {
		v.setMessage(fmt.Sprintf("Slice %d of phase %d accepted.", vw.Slice+1, vw.Phase+1))
	} else {
		v.setMessage(fmt.Sprintf("Acceptance of slice %d withdrawn.", vw.Slice+1))
	}
	v.refreshView()
	v.refreshData()
}

// toggleFinal asks before marking the study final, listing the flagged
// slices nobody accepted, and before reopening a final study for editing.
func (v *Viewer) toggleFinal() {
	if v.ws.Session == nil {
		v.afterEdit(session.Change{}, workspace.ErrNotSegmented)
		return
	}
	if v.ws.Final() {
		dialog.ShowConfirm("Reopen for editing?",
			"The labels, ED/ES and body size of this study become editable again,\nand the study is no longer final until you mark it final again.",
			func(ok bool) {
				if ok {
					v.finalChanged(false, v.ws.Reopen())
				}
			}, v.win)
		return
	}
	msg := "All flagged ED/ES slices have been reviewed."
	if un := v.ws.Unreviewed(); len(un) > 0 {
		lines := make([]string, 0, 12)
		for n, it := range un {
			if n == 10 {
				lines = append(lines, fmt.Sprintf("… and %d more", len(un)-10))
				break
			}
			lines = append(lines, "  "+it.Text)
		}
		msg = fmt.Sprintf("%d flagged slice(s) have not been reviewed (accepted):\n%s", len(un), strings.Join(lines, "\n"))
	}
	msg += "\n\nA final study's labels, ED/ES and body size are locked until you reopen it.\nAdding it to the training set is a separate choice, in the Training tab."
	d := dialog.NewConfirm("Mark the study final?", msg, func(ok bool) {
		if ok {
			v.finalChanged(true, v.ws.MarkFinal())
		}
	}, v.win)
	d.SetConfirmText("Mark final")
	d.Show()
	v.finalDialog = d
}

// finalChanged reports a finished mark-final or reopen.
func (v *Viewer) finalChanged(final bool, err error) {
	if err != nil {
		v.afterEdit(session.Change{}, err)
		return
	}
	if final {
		v.setMessage("Study marked final: labels, ED/ES and body size are locked until reopened.")
	} else {
		v.setMessage("Study reopened for editing.")
	}
	v.refreshView()
	v.refreshData()
	if v.training != nil {
		v.training.refreshCase()
	}
}
