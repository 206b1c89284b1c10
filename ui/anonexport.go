package ui

import (
	"image"
	"math"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/widget"

	"cmrseg/app/workspace"
)

// Anonymised export: a check box in the export dialog (and the state it
// sets in the workspace, which Ctrl+E then also uses).

// anonymiseCheck is the export dialog's "Anonymise" box. Toggling it moves
// a folder still at its default to the new default (named after the
// pseudonym while anonymising) and refreshes the file list.
func (v *Viewer) anonymiseCheck(folder *widget.Entry, update func(string)) fyne.CanvasObject {
	c := widget.NewCheck("Anonymise (DICOM PS3.15 Basic Profile: pseudonym, dates shifted, new UIDs; a DICOM SEG comes with its anonymised images)", nil)
	c.SetChecked(v.ws.Anonymising())
	c.OnChanged = func(on bool) {
		wasDefault := folder.Text == v.ws.DefaultExportDir(workspace.ExportRoot())
		if err := v.ws.SetAnonymise(on); err != nil {
			v.showError("Anonymise", err)
			return
		}
		if wasDefault {
			folder.SetText(v.ws.DefaultExportDir(workspace.ExportRoot()))
		}
		update(folder.Text)
	}
	v.exportAnon = c
	return c
}

// exportSnapshot is the view as exported: while anonymising, the corner
// that shows the patient's name and ID shows the pseudonym instead.
func (v *Viewer) exportSnapshot() image.Image {
	if !v.ws.Anonymising() {
		return v.Snapshot()
	}
	sz := v.view.Size()
	w := int(math.Round(float64(sz.Width) * v.view.ratio))
	h := int(math.Round(float64(sz.Height) * v.view.ratio))
	if w < 1 || h < 1 {
		return nil
	}
	img := workspace.Render(v.ws.Frame(), v.ws.Viewport(float64(w), float64(h)), w, h)
	corners := v.view.cornerText
	corners[0] = v.ws.ExportBaseName(-1)
	workspace.Annotate(img, corners, v.view.orientText)
	return img
}
