package workspace

import (
	"fmt"
	"math"
	"os"
	"path/filepath"

	"cmrseg/app/anonymise"
	"cmrseg/app/atomicfile"
	"cmrseg/app/dicomseg"
	"cmrseg/app/report"
	"cmrseg/app/study"
)

// SetAnonymise turns anonymised export on or off. Turning it on draws a
// new random key (kept in memory only): every export until it is turned
// off again uses the same pseudonym, date shift and UIDs, so the ED and ES
// SEG objects and the images written with them agree.
func (w *Workspace) SetAnonymise(on bool) error {
	if !on {
		w.anon, w.anonImages = nil, ""
		return nil
	}
	if w.anon != nil {
		return nil
	}
	a, err := anonymise.New(nil)
	if err != nil {
		return err
	}
	w.anon = a
	return nil
}

// Anonymising reports whether exports are anonymised.
func (w *Workspace) Anonymising() bool { return w.anon != nil }

// exportSeries is the series as exports describe it: the anonymised copy
// while anonymising, else the open series.
func (w *Workspace) exportSeries() *study.Series {
	s := w.Series()
	if s == nil || w.anon == nil {
		return s
	}
	if s.Meta.PatientID == "" && s.Meta.PatientName == "" && len(s.Meta.SourcePaths) > 0 {
		c := *s
		c.Meta.PatientID = s.Meta.SourcePaths[0] // no patient: the file keys the pseudonym
		s = &c
	}
	return w.anon.Series(s)
}

// anonReport replaces the report's identity by the anonymised one and
// drops height, weight and the BSA-indexed values (the Basic Profile
// removes Patient's Size and Weight).
func (w *Workspace) anonReport(r *report.Report) *report.Report {
	if w.anon == nil || r == nil {
		return r
	}
	c := *r
	a := w.exportSeries()
	c.PatientID, c.SeriesInstanceUID = a.Meta.PatientID, a.Meta.SeriesInstanceUID
	c.HeightM, c.WeightKg, c.BSA = 0, 0, 0
	c.Indices = append([]report.Index(nil), r.Indices...)
	for i := range c.Indices {
		c.Indices[i].PerBSA, c.Indices[i].PerBSALow, c.Indices[i].PerBSAHigh = math.NaN(), math.NaN(), math.NaN()
	}
	return &c
}

// writeAnonSEG encodes the SEG from the source series, runs it through the
// anonymiser (the same UID map as the images) and writes it atomically,
// then writes the anonymised source images beside it, once per folder, so
// the SEG's references resolve.
func (w *Workspace) writeAnonSEG(path string, s *study.Series, lab []uint8, t int, opts dicomseg.Options) error {
	data, _, err := dicomseg.Encode(s, lab, t, opts)
	if err != nil {
		return fmt.Errorf("export %s: %w", path, err)
	}
	anon, _, err := w.anon.File(data)
	if err != nil {
		return fmt.Errorf("export %s: anonymising: %w", path, err)
	}
	if err := atomicfile.Write(path, anon); err != nil {
		return err
	}
	dir := filepath.Join(filepath.Dir(path), w.ExportBaseName(-1)+"_images")
	if w.anonImages == dir {
		return nil
	}
	if err := w.ExportAnonymisedImages(dir); err != nil {
		return err
	}
	w.anonImages = dir
	return nil
}

// ExportAnonymisedImages writes the open series' source DICOM files,
// anonymised with the export key, into dir as IM00001.dcm, ... (files of
// an earlier export of this key are replaced).
func (w *Workspace) ExportAnonymisedImages(dir string) error {
	s := w.Series()
	src, ok := s.Source.(*study.DICOMSource)
	if !ok || w.anon == nil {
		return fmt.Errorf("export %s: anonymised images need a DICOM study and anonymising on", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	seen := map[string]bool{}
	n := 0
	for _, f := range src.Frames {
		if seen[f.Path] {
			continue // multi-frame files hold several frames
		}
		seen[f.Path] = true
		data, err := os.ReadFile(f.Path)
		if err != nil {
			return fmt.Errorf("export %s: %w", dir, err)
		}
		anon, _, err := w.anon.File(data)
		if err != nil {
			return fmt.Errorf("export %s: %s: %w", dir, f.Path, err)
		}
		n++
		if err := atomicfile.Write(filepath.Join(dir, fmt.Sprintf("IM%05d.dcm", n)), anon); err != nil {
			return err
		}
	}
	return nil
}
