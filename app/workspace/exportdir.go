package workspace

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Exports go to a folder of their own per study, under the reader's export
// folder, and never into the folder of the study's source files: a careless
// click once put DICOM SEG objects into the source series, where a PACS
// import would pick them up as if they were acquired images.

// ExportRoot is the reader's export folder: $CMRSEG_EXPORT_DIR, else
// ~/cmrseg-exports.
func ExportRoot() string {
	if d := os.Getenv("CMRSEG_EXPORT_DIR"); d != "" {
		return d
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, "cmrseg-exports")
	}
	return "cmrseg-exports"
}

// DefaultExportDir is the study's own folder under root, named after the
// patient ID (or "study") and the series description, e.g.
// root/PHANTOM_cine_SAX.
func (w *Workspace) DefaultExportDir(root string) string {
	name := w.ExportBaseName(-1)
	if s := w.exportSeries(); s != nil && strings.TrimSpace(s.Meta.SeriesDescription) != "" {
		name += "_" + safeName(s.Meta.SeriesDescription)
	}
	return filepath.Join(root, name)
}

// safeName keeps letters, digits, '-', '_' and '.'; the rest becomes '_'.
func safeName(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, strings.TrimSpace(s))
	return strings.Trim(s, "._")
}

// CheckExportDir refuses an export folder that holds any of the open
// study's source files, or lies inside such a folder; the error names the
// file found there.
func (w *Workspace) CheckExportDir(dir string) error {
	if strings.TrimSpace(dir) == "" {
		return fmt.Errorf("export: choose a folder")
	}
	target := canonical(dir)
	s := w.Series()
	if s == nil {
		return nil
	}
	for _, src := range s.Meta.SourcePaths {
		home := canonical(filepath.Dir(src))
		if target == home || strings.HasPrefix(target, home+string(filepath.Separator)) {
			return fmt.Errorf("export: %s holds the study's source files (e.g. %s); choose another folder, such as %s",
				dir, filepath.Base(src), w.DefaultExportDir(ExportRoot()))
		}
	}
	return nil
}

// canonical is the absolute path with symbolic links resolved as far as
// the folders exist.
func canonical(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	rest := ""
	for cur := abs; ; cur = filepath.Dir(cur) {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(r, rest)
		}
		if filepath.Dir(cur) == cur {
			return abs
		}
		rest = filepath.Join(filepath.Base(cur), rest)
	}
}
