package ui

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"
)

// Ticking "Anonymise" in the export dialog moves the proposed folder and
// every file name to the pseudonym, and the written report carries it.
func TestExportDialogAnonymise(t *testing.T) {
	v := newViewer(t)
	root := filepath.Join(t.TempDir(), "exports")
	t.Setenv("CMRSEG_EXPORT_DIR", root)
	plain := v.ws.DefaultExportDir(root)
	v.exportDialog(exportAll)
	test.Tap(v.exportAnon)
	if !v.ws.Anonymising() {
		t.Fatal("the check box did not turn anonymising on")
	}
	want := v.ws.DefaultExportDir(root)
	if v.exportFolder.Text != want || want == plain || !strings.HasPrefix(filepath.Base(want), "ANON") {
		t.Fatalf("folder %q after ticking (plain %q)", v.exportFolder.Text, plain)
	}
	test.Tap(v.exportSave)
	names := v.exportNames(exportAll)
	for _, name := range names {
		if !strings.HasPrefix(name, "ANON") {
			t.Errorf("export name %s", name)
		}
		if _, err := os.Stat(filepath.Join(want, name)); err != nil {
			t.Errorf("after Save: %v", err)
		}
	}
	b, err := os.ReadFile(filepath.Join(want, v.ws.ExportBaseName(-1)+"_report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		PatientID string   `json:"patient_id"`
		Weight    *float64 `json:"weight_kg"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.PatientID != v.ws.ExportBaseName(-1) || rep.Weight != nil {
		t.Errorf("report patient_id %q, weight %v", rep.PatientID, rep.Weight)
	}
}
