package ui

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestExportPDF: the window's "Export PDF report" writes the study's PDF
// (no DICOM Encapsulated PDF for the non-DICOM demo), whose text holds the
// window's report values and the model the window used.
func TestExportPDF(t *testing.T) {
	v := newViewer(t)
	p, err := v.exportTo(t.TempDir(), exportPDF)
	if err != nil {
		t.Fatal(err)
	}
	if len(p) != 1 || filepath.Base(p[0]) != "PHANTOM_report.pdf" {
		t.Fatalf("exported %v", p)
	}
	b, err := os.ReadFile(p[0])
	if err != nil || !bytes.HasPrefix(b, []byte("%PDF-")) {
		t.Fatalf("not a PDF: %v", err)
	}
	tool, err := exec.LookPath("pdftotext")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("pdftotext not installed (poppler-utils)")
		}
		t.Skip("pdftotext not installed")
	}
	out, err := exec.Command(tool, p[0], "-").CombinedOutput()
	if err != nil {
		t.Fatal(err)
	}
	r, err := v.ws.Report()
	if err != nil {
		t.Fatal(err)
	}
	ef, _ := r.Index("lv_ef")
	for _, w := range []string{"Patient ID: PHANTOM", "Research use only, not for diagnosis.", "demo segmenter", strconv.FormatFloat(ef.Value, 'f', 1, 64)} {
		if !strings.Contains(string(out), w) {
			t.Errorf("PDF text lacks %q:\n%s", w, out)
		}
	}
}
