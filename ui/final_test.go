package ui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"cmrseg/app/trainingjob"
)

// tapButton taps the button labelled text inside o (a dialog).
func tapButton(t *testing.T, o fyne.CanvasObject, text string) {
	t.Helper()
	var b *widget.Button
	walk(o, func(c fyne.CanvasObject) {
		if x, ok := c.(*widget.Button); ok && x.Text == text {
			b = x
		}
	})
	if b == nil {
		t.Fatalf("no %q button", text)
	}
	test.Tap(b)
}

// Mark final asks first, listing the unreviewed flagged slices; a final
// study locks the ED/ES and body-size fields; it does not join the
// training set until the reader adds it in the training tab, and can leave
// it again; reopening asks too.
func TestMarkFinalIsDeliberate(t *testing.T) {
	dirs := trainingjob.Dirs{Data: filepath.Join(t.TempDir(), "data"), Config: t.TempDir()}
	v := newViewerWith(t, TrainingEnv{Dirs: dirs})
	ws := v.ws
	un := ws.Unreviewed()
	if len(un) == 0 {
		t.Fatal("the demo has no flagged slice: the test would not test the list")
	}

	test.Tap(v.finalBtn)
	if ws.Final() || v.finalDialog == nil {
		t.Fatal("one tap finalised the study without asking")
	}
	top := v.win.Canvas().Overlays().Top()
	var texts []string
	walk(top, func(c fyne.CanvasObject) {
		if l, ok := c.(*widget.Label); ok {
			texts = append(texts, l.Text)
		}
	})
	all := strings.Join(texts, "\n")
	if !strings.Contains(all, un[0].Text) || !strings.Contains(all, "have not been reviewed") {
		t.Fatalf("the confirmation does not list the unreviewed slices:\n%s", all)
	}
	tapButton(t, top, "Mark final")
	if !ws.Final() {
		t.Fatal("confirming did not mark the study final")
	}
	if !v.settings.ed.Disabled() || !v.settings.height.Disabled() || !v.settings.es.Disabled() || !v.settings.weight.Disabled() {
		t.Fatal("ED/ES or body size still editable on a final study")
	}
	if _, err := os.Stat(dirs.Corrected()); !os.IsNotExist(err) {
		t.Fatalf("marking final wrote into the training set (%v)", err)
	}
	tab := v.training
	if tab.addCaseBtn.Disabled() || !tab.removeCaseBtn.Disabled() {
		t.Fatalf("training tab: add disabled %v, remove disabled %v; %q", tab.addCaseBtn.Disabled(), tab.removeCaseBtn.Disabled(), tab.caseText.Text)
	}
	tab.changed = make(chan string, 8)
	test.Tap(tab.addCaseBtn)
	for {
		what, ok := awaitUI(tab.changed, time.Minute)
		if !ok {
			t.Fatal("the case was not exported within a minute")
		}
		if what == "export" {
			break
		}
	}
	if cs, _ := trainingjob.ReadCorrected(dirs.Corrected()); len(cs) == 0 || !strings.Contains(tab.caseText.Text, "is in the training set") {
		t.Fatalf("after Add: %d cases, %q", len(cs), tab.caseText.Text)
	}
	test.Tap(tab.removeCaseBtn)
	if cs, _ := trainingjob.ReadCorrected(dirs.Corrected()); len(cs) != 0 || !strings.Contains(tab.caseText.Text, "not in the training set") {
		t.Fatalf("after Remove: %d cases, %q", len(cs), tab.caseText.Text)
	}

	test.Tap(v.finalBtn) // now "Reopen"
	if !ws.Final() {
		t.Fatal("reopened without asking")
	}
	tapButton(t, v.win.Canvas().Overlays().Top(), "Yes")
	if ws.Final() || v.settings.ed.Disabled() {
		t.Fatal("reopening did not unlock the study")
	}
}

// The export dialog proposes the study's own folder under the export
// folder, names every file, refuses the source files' folder, and writes.
func TestExportDialogFolderRule(t *testing.T) {
	v := newViewer(t)
	root := filepath.Join(t.TempDir(), "exports")
	t.Setenv("CMRSEG_EXPORT_DIR", root)
	src := filepath.Join(t.TempDir(), "series")
	os.MkdirAll(src, 0o755)
	v.ws.Series().Meta.SourcePaths = []string{filepath.Join(src, "IM1.dcm")}

	v.exportDialog(exportAll)
	want := v.ws.DefaultExportDir(root)
	if v.exportFolder.Text != want || v.exportSave.Disabled() {
		t.Fatalf("dialog proposes %q (save disabled %v), want %q", v.exportFolder.Text, v.exportSave.Disabled(), want)
	}
	top := v.win.Canvas().Overlays().Top()
	shown := ""
	walk(top, func(c fyne.CanvasObject) {
		if l, ok := c.(*widget.Label); ok {
			shown += l.Text + "\n"
		}
	})
	for _, name := range v.exportNames(exportAll) {
		if !strings.Contains(shown, filepath.Join(want, name)) {
			t.Errorf("the dialog does not name %s:\n%s", name, shown)
		}
	}
	v.exportFolder.SetText(src)
	if !v.exportSave.Disabled() {
		t.Fatal("Save enabled on the source folder")
	}
	v.exportFolder.SetText(want)
	test.Tap(v.exportSave)
	for _, name := range v.exportNames(exportAll) {
		if _, err := os.Stat(filepath.Join(want, name)); err != nil {
			t.Errorf("after Save: %v", err)
		}
	}
	if v.exportToDir != want {
		t.Fatalf("last export folder %q", v.exportToDir)
	}
}
