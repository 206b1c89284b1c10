package workspace

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The export folder defaults to a per-study folder under the export root
// and refuses the folder of the study's source files, any folder inside
// it, and the same folder reached through a symbolic link.
func TestExportDirRule(t *testing.T) {
	st, seg := Demo()
	w := New(Config{Engine: seg})
	if err := w.SetStudy(st); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	series := filepath.Join(tmp, "dicom", "study1", "series3")
	if err := os.MkdirAll(series, 0o755); err != nil {
		t.Fatal(err)
	}
	s := w.Series()
	s.Meta.SeriesDescription = "cine SAX/retro"
	s.Meta.SourcePaths = []string{filepath.Join(series, "IM0001.dcm"), filepath.Join(series, "IM0002.dcm")}
	link := filepath.Join(tmp, "shortcut")
	if err := os.Symlink(series, link); err != nil {
		t.Fatal(err)
	}

	root := filepath.Join(tmp, "exports")
	t.Setenv("CMRSEG_EXPORT_DIR", root)
	def := w.DefaultExportDir(ExportRoot())
	if def != filepath.Join(root, "PHANTOM_cine_SAX_retro") {
		t.Fatalf("default export folder %s", def)
	}
	if err := w.CheckExportDir(def); err != nil {
		t.Fatalf("default folder refused: %v", err)
	}
	if err := w.CheckExportDir(filepath.Join(tmp, "dicom")); err != nil {
		t.Fatalf("the folder above the series refused: %v", err)
	}
	for _, bad := range []string{series, series + "/", filepath.Join(series, "seg"), link, filepath.Join(link, "new", "deeper"), ""} {
		err := w.CheckExportDir(bad)
		if err == nil {
			t.Errorf("export into %q accepted", bad)
			continue
		}
		if bad != "" && !strings.Contains(err.Error(), "IM0001.dcm") {
			t.Errorf("refusal of %q does not name the source file: %v", bad, err)
		}
	}
}
