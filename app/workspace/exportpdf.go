package workspace

import (
	"fmt"
	"path/filepath"
	"strings"

	"cmrseg/app/dicomseg"
	"cmrseg/app/reportpdf"
)

// Named is an Engine that can name its model and version for reports.
type Named interface {
	ModelName() string
}

func (w *Workspace) modelName() string {
	if n, ok := w.cfg.Engine.(Named); ok {
		return n.ModelName()
	}
	name := w.Device()
	if k, ok := w.cfg.Engine.(Keyed); ok && k.Key() != "" {
		name += fmt.Sprintf(" (key %.12s)", k.Key())
	}
	return name
}

// reportPDF lays out the full report (with AHA intervals) of the open
// study as PDF.
func (w *Workspace) reportPDF() ([]byte, *reportpdf.Input, error) {
	r, err := w.FullReport()
	if err != nil {
		return nil, nil, err
	}
	r.Provisional = w.provisionalReason()
	src := ""
	if w.Study != nil {
		src = w.Study.Path
	}
	in := reportpdf.FromSession(w.Session, r, w.modelName(), src)
	b, err := reportpdf.Build(in)
	return b, &in, err
}

// ExportPDF writes the printable report (two A4 pages) atomically; a
// name ending in .dcm writes it as a DICOM Encapsulated PDF of the study.
func (w *Workspace) ExportPDF(path string) error {
	b, in, err := w.reportPDF()
	if err != nil {
		return fmt.Errorf("export %s: %w", path, err)
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".pdf":
		return reportpdf.WriteBytes(path, b)
	case ".dcm":
		s := w.Series()
		k := -1
		if in.Key != nil {
			k = reportpdf.KeySlice(s.Geometry, w.Session.Labels(s.ED))
		}
		_, err := dicomseg.WritePDF(path, s, b, dicomseg.PDFOptions{KeySlice: k, KeyPhase: s.ED})
		return err
	}
	return fmt.Errorf("export %s: name the report .pdf or .dcm", path)
}
