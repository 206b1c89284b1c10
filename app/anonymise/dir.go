package anonymise

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"cmrseg/app/atomicfile"
	"cmrseg/app/study"
)

// DirResult says what Dir did.
type DirResult struct {
	Written []string // output files, in input order
	Skipped []string // input files that are not DICOM Part 10 files (or are DICOMDIRs), with why
	Refused []string // DICOM files refused (burned-in annotation, unreadable), with why
	Report  Report   // totals over the written files
}

// Dir de-identifies every DICOM file under in (a file or a folder, walked
// recursively, symbolic links not followed) into the folder out, which
// must not exist or be empty and must not lie inside in. Output files are
// named IM00001.dcm, IM00002.dcm, ... in the sorted order of the input
// paths: source file and folder names often carry the patient's name, so
// none is reused. A DICOMDIR is skipped (its file references would point
// at the old names). Each file is written atomically. Refused files do not
// stop the others; the error then names them.
func (a *Anonymiser) Dir(in, out string) (*DirResult, error) {
	st, err := os.Stat(in)
	if err != nil {
		return nil, fmt.Errorf("anonymise: %w", err)
	}
	if err := checkOut(in, out); err != nil {
		return nil, err
	}
	var files []string
	if st.IsDir() {
		err = filepath.WalkDir(in, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Type().IsRegular() {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("anonymise: %w", err)
		}
	} else {
		files = []string{in}
	}
	sort.Strings(files)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, fmt.Errorf("anonymise: output folder: %w", err)
	}
	res := &DirResult{}
	n := 0
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			res.Refused = append(res.Refused, fmt.Sprintf("%s: %v", p, err))
			continue
		}
		if !isDICOM(data) {
			res.Skipped = append(res.Skipped, p+": not a DICOM Part 10 file")
			continue
		}
		if strings.EqualFold(filepath.Base(p), "DICOMDIR") {
			res.Skipped = append(res.Skipped, p+": DICOMDIR (its file references would be stale); rebuild one with dcmmkdir")
			continue
		}
		anon, rep, err := a.File(data)
		if err != nil {
			res.Refused = append(res.Refused, fmt.Sprintf("%s: %v", p, err))
			continue
		}
		n++
		dst := filepath.Join(out, fmt.Sprintf("IM%05d.dcm", n))
		if err := atomicfile.Write(dst, anon); err != nil {
			return res, fmt.Errorf("anonymise: %w", err)
		}
		for _, w := range rep.Warnings {
			res.Report.Warnings = append(res.Report.Warnings, p+": "+w)
		}
		rep.Warnings = nil
		res.Report.add(rep)
		res.Written = append(res.Written, dst)
	}
	if len(res.Refused) > 0 {
		return res, fmt.Errorf("anonymise: %d file(s) refused: %s", len(res.Refused), strings.Join(res.Refused, "; "))
	}
	if len(res.Written) == 0 {
		return res, fmt.Errorf("anonymise: no DICOM files in %s", in)
	}
	return res, nil
}

// checkOut refuses an output folder that is the input, lies inside it, or
// already holds files (an earlier export with another key would mix in).
func checkOut(in, out string) error {
	ain, err1 := filepath.Abs(in)
	aout, err2 := filepath.Abs(out)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("anonymise: %w", err)
	}
	if r, _ := filepath.EvalSymlinks(ain); r != "" {
		ain = r
	}
	if aout == ain || strings.HasPrefix(aout, ain+string(filepath.Separator)) {
		return fmt.Errorf("anonymise: output folder %s lies inside the input %s; choose a folder elsewhere", out, in)
	}
	ents, err := os.ReadDir(out)
	if err == nil && len(ents) > 0 {
		return fmt.Errorf("anonymise: output folder %s is not empty; choose a new or empty folder", out)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("anonymise: output folder: %w", err)
	}
	return nil
}

// Series returns a copy of s whose patient, study and series identity is
// the anonymised one, for outputs written from the series itself (file
// names, reports, SEG objects): the pseudonym as patient name and ID, the
// replaced UIDs (the same ones Dir and File give the source files), the
// study date shifted, and no series description, height or weight (the
// Basic Profile removes Series Description, Patient's Size and Weight).
// The voxels are shared with s, not copied.
func (a *Anonymiser) Series(s *study.Series) *study.Series {
	c := *s
	patient := s.Meta.PatientID
	if patient == "" {
		patient = s.Meta.PatientName
	}
	shift := a.DayShift(patient)
	m := s.Meta
	m.PatientID = a.Pseudonym(patient)
	m.PatientName = m.PatientID
	m.StudyInstanceUID = a.UID(m.StudyInstanceUID)
	m.SeriesInstanceUID = a.UID(m.SeriesInstanceUID)
	if !m.StudyDate.IsZero() {
		m.StudyDate = m.StudyDate.AddDate(0, 0, shift)
	}
	m.SeriesDescription = ""
	m.HeightM, m.WeightKg = 0, 0
	c.Meta = m
	if src, ok := s.Source.(*study.DICOMSource); ok {
		d := *src
		d.StudyInstanceUID = a.UID(src.StudyInstanceUID)
		d.SeriesInstanceUID = a.UID(src.SeriesInstanceUID)
		d.FrameOfReferenceUID = a.UID(src.FrameOfReferenceUID)
		d.PatientName, d.PatientID = m.PatientID, m.PatientID
		d.PatientBirthDate, _ = ShiftDA(src.PatientBirthDate, shift)
		d.StudyDate, _ = ShiftDA(src.StudyDate, shift)
		d.PatientSex, d.StudyID, d.AccessionNumber = "", "", ""
		d.ReferringPhysicianName, d.StudyDescription = "", ""
		d.Frames = append([]study.DICOMFrame(nil), src.Frames...)
		for i := range d.Frames {
			d.Frames[i].SOPInstanceUID = a.UID(d.Frames[i].SOPInstanceUID)
		}
		c.Source = &d
	}
	return &c
}
