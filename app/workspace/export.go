package workspace

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/png"
	"path/filepath"
	"strings"

	"cmrseg/app/atomicfile"
	"cmrseg/app/nifti"
	"cmrseg/app/study"
)

// ExportMask writes the current labels of phase t as a uint8 NIfTI label
// map on the input's exact grid (its header copied when it was NIfTI).
func (w *Workspace) ExportMask(path string, t int) error {
	s := w.Series()
	if w.Session == nil || s == nil {
		return fmt.Errorf("export %s: %w", path, ErrNotSegmented)
	}
	lab := w.Session.Labels(t)
	if lab == nil {
		return fmt.Errorf("export %s: phase %d is not segmented", path, t+1)
	}
	if !strings.HasSuffix(path, ".nii") && !strings.HasSuffix(path, ".nii.gz") {
		return fmt.Errorf("export %s: a mask is written as NIfTI; name it .nii.gz or .nii", path)
	}
	return nifti.WriteLabels(path, w.exportSeries(), &study.Labels{Geometry: s.Geometry, Data: lab})
}

// ExportReport writes the report, with volume–time curves and AHA
// segments, as CSV or JSON, chosen by the extension.
func (w *Workspace) ExportReport(path string) error {
	r, err := w.FullReport()
	if err != nil {
		return fmt.Errorf("export %s: %w", path, err)
	}
	r = w.anonReport(r)
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		return r.WriteCSV(path)
	case ".json":
		return r.WriteJSON(path)
	}
	return fmt.Errorf("export %s: name the report .csv or .json", path)
}

// ExportPNG writes img (the composed view) as PNG, atomically.
func ExportPNG(path string, img image.Image) error {
	if img == nil {
		return errors.New("export: nothing is displayed")
	}
	if strings.ToLower(filepath.Ext(path)) != ".png" {
		return fmt.Errorf("export %s: name the snapshot .png", path)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return fmt.Errorf("export %s: %w", path, err)
	}
	return atomicfile.Write(path, buf.Bytes())
}

// ExportBaseName suggests a file name stem for exports of the current
// series and phase t, e.g. "PHANTOM_ED"; t < 0 gives the study's, "PHANTOM".
func (w *Workspace) ExportBaseName(t int) string {
	s := w.exportSeries()
	if s == nil {
		return "cmrseg"
	}
	id := s.Meta.PatientID
	if id == "" {
		id = "study"
	}
	id = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r == ' ' || r == ':' {
			return '_'
		}
		return r
	}, id)
	switch {
	case t < 0:
		return id
	case t == s.ED:
		return id + "_ED"
	case t == s.ES:
		return id + "_ES"
	}
	return fmt.Sprintf("%s_phase%02d", id, t+1)
}
