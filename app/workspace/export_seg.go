package workspace

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"

	"cmrseg/app/dicomseg"
	"cmrseg/app/study"
)

// ExportSEG writes the current labels of phase t as a DICOM Segmentation
// object referring to the source images, for a study opened from DICOM.
// The segments are AUTOMATIC while the labels are the ensemble's and
// SEMIAUTOMATIC once the reader has changed any voxel of the phase.
func (w *Workspace) ExportSEG(path string, t int) error {
	s := w.Series()
	if s == nil {
		return fmt.Errorf("export %s: no series is open", path)
	}
	if _, ok := s.Source.(*study.DICOMSource); !ok {
		from := "not read from DICOM"
		if len(s.Meta.SourcePaths) > 0 {
			from = "read from " + filepath.Base(s.Meta.SourcePaths[0]) + ", not from DICOM"
		}
		return fmt.Errorf("export %s: a DICOM SEG refers to the DICOM images it segments, and this study was %s; export the mask as NIfTI instead", path, from)
	}
	if w.Session == nil {
		return fmt.Errorf("export %s: %w", path, ErrNotSegmented)
	}
	lab := w.Session.Labels(t)
	if lab == nil {
		return fmt.Errorf("export %s: phase %d is not segmented", path, t+1)
	}
	if strings.ToLower(filepath.Ext(path)) != ".dcm" {
		return fmt.Errorf("export %s: a DICOM SEG is written as a DICOM file; name it .dcm", path)
	}
	edited := true
	if r := w.Session.Result(t); r != nil {
		edited = !bytes.Equal(lab, r.Labels)
	}
	if w.anon != nil {
		return w.writeAnonSEG(path, s, lab, t, dicomseg.Options{Edited: edited})
	}
	_, err := dicomseg.Write(path, s, lab, t, dicomseg.Options{Edited: edited})
	return err
}
