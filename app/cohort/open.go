package cohort

import (
	"fmt"
	"path/filepath"
	"strings"

	"cmrseg/app/dataset"
	"cmrseg/app/nifti"
	"cmrseg/app/study"
	"cmrseg/app/studyio"
)

// Input is a study opened for segmentation.
type Input struct {
	Series *study.Series
	// Names are the output base names of each phase of Series (e.g.
	// "patient001_frame01" for an ACDC frame file, "cine_phase05").
	Names []string
	// Base names outputs that hold every phase (4D files).
	Base string
	// PerPhase: each phase has its own source file (ACDC frame files), so
	// outputs are written per phase even when every phase is segmented.
	PerPhase bool
	// Note says which series was chosen when there were several.
	Note string
}

// Open reads a study for segmentation: an ACDC patient as its ED and ES
// frame files (its 4D cine when it has no frame files), a NIfTI file as
// is, a DICOM folder as its series with the most phases (the cine). ED
// and ES come from the source or are assumed (studyio.AssumePhases). A
// reader's panic on a malformed file becomes an error naming the study.
func Open(s Study) (in *Input, err error) {
	defer func() {
		if r := recover(); r != nil {
			in, err = nil, fmt.Errorf("%s: the file could not be read (reader failure: %v)", s.Path, r)
		}
	}()
	switch s.Kind {
	case KindACDC:
		in, err = openACDC(s.Path)
	case KindNIfTI:
		var ser *study.Series
		if ser, err = nifti.Read(s.Path); err == nil {
			in = &Input{Series: ser, Base: niftiBase(filepath.Base(s.Path))}
		}
	case KindDICOM:
		in, err = openDICOM(s.Path)
	default:
		return nil, fmt.Errorf("%s: unknown study kind %q", s.Path, s.Kind)
	}
	if err != nil {
		if !strings.Contains(err.Error(), s.Path) {
			err = fmt.Errorf("%s: %w", s.Path, err)
		}
		return nil, err
	}
	ser := in.Series
	studyio.AssumePhases(ser)
	if err := ser.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", s.Path, err)
	}
	if ser.ED >= ser.NT || ser.ES >= ser.NT {
		return nil, fmt.Errorf("%s: ED phase %d / ES phase %d beyond its %d phase(s)", s.Path, ser.ED+1, ser.ES+1, ser.NT)
	}
	if in.Names == nil {
		for t := 0; t < ser.NT; t++ {
			if ser.NT == 1 {
				in.Names = append(in.Names, in.Base)
			} else {
				in.Names = append(in.Names, fmt.Sprintf("%s_phase%02d", in.Base, t+1)) // 1-based, as people count phases
			}
		}
	}
	return in, nil
}

func openACDC(dir string) (*Input, error) {
	c, err := dataset.ReadPatient(dir)
	if err != nil {
		return nil, err
	}
	if len(c.ImagePaths) == 0 {
		smp, err := c.LoadCine()
		if err != nil {
			return nil, err
		}
		return &Input{Series: smp.Series, Base: niftiBase(filepath.Base(c.CinePath))}, nil
	}
	smp, err := c.Load()
	if err != nil {
		return nil, err
	}
	in := &Input{Series: smp.Series, Base: c.ID, PerPhase: true}
	for _, p := range c.ImagePaths {
		in.Names = append(in.Names, niftiBase(filepath.Base(p)))
	}
	if smp.Series.ED < 0 || smp.Series.ES < 0 {
		return nil, fmt.Errorf("%s: Info.cfg's ED frame %d or ES frame %d has no frame file", dir, c.ED, c.ES)
	}
	return in, nil
}

func openDICOM(dir string) (*Input, error) {
	st, err := studyio.Open(dir)
	if err != nil {
		return nil, err
	}
	if len(st.Series) == 0 {
		return nil, fmt.Errorf("%s: no image series found", dir)
	}
	best := 0
	for i, s := range st.Series {
		if s.NT*s.Dims[2] > st.Series[best].NT*st.Series[best].Dims[2] {
			best = i
		}
	}
	in := &Input{Series: st.Series[best], Base: "series"}
	if d := strings.Trim(safeName.Replace(st.Series[best].Meta.SeriesDescription), "_."); d != "" {
		in.Base = d
	}
	if len(st.Series) > 1 {
		in.Note = fmt.Sprintf("series %d of %d (%q, the most images)", best+1, len(st.Series), st.Series[best].Meta.SeriesDescription)
	}
	return in, nil
}

var safeName = strings.NewReplacer(" ", "_", "/", "_", "\\", "_", ":", "_", "*", "_", "?", "_", "\"", "_", "<", "_", ">", "_", "|", "_")
