package ui

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"

	"cmrseg/app/nifti"
)

// The desktop driver delivers Ctrl+Z and Ctrl+Y as fyne.ShortcutUndo and
// ShortcutRedo, not as key chords; both must reach undo and redo. Ctrl+E
// exports everything to the study's folder under $CMRSEG_EXPORT_DIR
// without a dialog.
func TestStandardShortcutsAndExportAll(t *testing.T) {
	v := newViewer(t)
	ws := v.ws
	s := ws.Series()
	vw := ws.View()
	original := slices.Clone(ws.Session.Labels(vw.Phase))
	i, j := uncertainWrong(t, v, vw.Phase, 0)
	ws.GoTo(vw.Phase, 0)
	v.clickCorrect(i, j)
	corrected := slices.Clone(ws.Session.Labels(vw.Phase))
	if slices.Equal(corrected, original) {
		t.Fatal("the click changed nothing")
	}
	typed := v.win.Canvas().(interface{ TypedShortcut(fyne.Shortcut) })
	typed.TypedShortcut(&fyne.ShortcutUndo{})
	if !slices.Equal(ws.Session.Labels(vw.Phase), original) {
		t.Fatal("ShortcutUndo (Ctrl+Z on the desktop) did not undo")
	}
	typed.TypedShortcut(&fyne.ShortcutRedo{})
	if !slices.Equal(ws.Session.Labels(vw.Phase), corrected) {
		t.Fatal("ShortcutRedo (Ctrl+Y on the desktop) did not redo")
	}

	dir := filepath.Join(t.TempDir(), "new", "exports")
	t.Setenv("CMRSEG_EXPORT_DIR", dir)
	typed.TypedShortcut(&desktop.CustomShortcut{KeyName: fyne.KeyE, Modifier: fyne.KeyModifierShortcutDefault})
	dir = ws.DefaultExportDir(dir) // the study's own folder under it
	for _, name := range []string{"PHANTOM_ED_mask.nii.gz", "PHANTOM_ES_mask.nii.gz", "PHANTOM_report.csv", "PHANTOM_report.json"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Fatalf("Ctrl+E: %v (status %q)", err, v.messageText.Text)
		}
	}
	l, err := nifti.ReadLabels(filepath.Join(dir, ws.ExportBaseName(vw.Phase)+"_mask.nii.gz"))
	if err != nil || l.Dims != s.Dims || !slices.Equal(l.Data, corrected) {
		t.Fatalf("exported mask of the shown phase: %v, dims %v, equal to the labels %v", err, l.Dims, err == nil && slices.Equal(l.Data, corrected))
	}
}
