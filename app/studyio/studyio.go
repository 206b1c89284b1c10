// Package studyio opens whatever the user points at (a NIfTI file, an
// ACDC patient folder or DICOM) as a study.Study, and describes it for
// `cmrseg info`.
package studyio

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"cmrseg/app/dataset"
	"cmrseg/app/dicomio"
	"cmrseg/app/exam"
	"cmrseg/app/nifti"
	"cmrseg/app/study"
)

// openDICOM is the DICOM reader; a variable so tests can check the
// dispatch without DICOM files.
var openDICOM = func(path string) (*study.Study, error) { return openExam(path, "") }

// esFraction is where in the RR interval end-systole is assumed to fall
// until segmentation finds the phase of smallest blood pool.
const esFraction = 0.35

// Open dispatches on what path is: a .nii or .nii.gz file is read as
// NIfTI; a folder with Info.cfg as an ACDC patient (its full 4D cine when
// present, else the ED and ES frames); a folder with dataset.json is
// refused with advice to open one case; anything else goes to the DICOM
// reader, which reads a whole exam (folder tree or DICOMDIR) from the
// headers and decodes only its short-axis cine (see OpenSeries). Every
// series gets ED and ES (see AssumePhases).
func Open(path string) (*study.Study, error) { return OpenSeries(path, "") }

// OpenSeries is Open with the series of a DICOM exam chosen by sel (its
// number in `cmrseg info`, #SeriesNumber or SeriesInstanceUID; "" for the
// short-axis cine the classification chooses).
func OpenSeries(path, sel string) (*study.Study, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, unwrapPath(err))
	}
	var s *study.Study
	dicom := !(!st.IsDir() && isNIfTI(path)) && !(st.IsDir() && (exists(filepath.Join(path, "dataset.json")) || exists(filepath.Join(path, "Info.cfg"))))
	if sel != "" && !dicom {
		return nil, fmt.Errorf("open %s: a series can be chosen only in a DICOM exam; this holds one series", path)
	}
	switch {
	case !st.IsDir() && isNIfTI(path):
		ser, err := nifti.Read(path)
		if err != nil {
			return nil, err
		}
		s = &study.Study{Path: path, Series: []*study.Series{ser}}
	case st.IsDir() && exists(filepath.Join(path, "dataset.json")):
		return nil, fmt.Errorf("open %s: this is an nnU-Net dataset folder, not a study; open one case instead (e.g. a file in %s)",
			path, filepath.Join(path, "imagesTr"))
	case st.IsDir() && exists(filepath.Join(path, "Info.cfg")):
		if s, err = openACDC(path); err != nil {
			return nil, err
		}
	default:
		if st.IsDir() {
			if m, _ := filepath.Glob(filepath.Join(path, "*", "Info.cfg")); len(m) > 0 {
				return nil, fmt.Errorf("open %s: this is an ACDC data set folder with %d patients; open one patient folder instead (e.g. %s)",
					path, len(m), filepath.Dir(m[0]))
			}
		}
		open := openDICOM
		if sel != "" {
			open = func(p string) (*study.Study, error) { return openExam(p, sel) }
		}
		if s, err = open(path); err != nil {
			if !strings.Contains(err.Error(), path) {
				err = fmt.Errorf("open %s: %w", path, err)
			}
			return nil, err
		}
	}
	for _, ser := range s.Series {
		AssumePhases(ser)
	}
	return s, nil
}

// openExam scans a DICOM exam's headers and decodes one series: sel, or
// else the chosen short-axis cine (the next best when its pixels cannot be
// decoded). The study keeps the exam for browsing its other series.
func openExam(path, sel string) (*study.Study, error) {
	ex, err := exam.Scan(path)
	if err != nil {
		return nil, dicomReason(path, err)
	}
	var s *study.Series
	if sel != "" {
		i, err := ex.Find(sel)
		if err != nil {
			return nil, err
		}
		if s, err = ex.Load(i); err != nil {
			return nil, err
		}
		ex.Chosen = i
	} else if _, s, err = ex.LoadBest(); err != nil {
		return nil, dicomReason(path, err)
	}
	return &study.Study{Path: path, Series: []*study.Series{s}, Exam: ex}, nil
}

// OpenExamSeries decodes series i of an exam that Open returned (the
// window's exam browser) as a study of its own, keeping the exam.
func OpenExamSeries(ex *exam.Exam, i int) (*study.Study, error) {
	s, err := ex.Load(i)
	if err != nil {
		return nil, err
	}
	AssumePhases(s)
	return &study.Study{Path: ex.Path, Series: []*study.Series{s}, Exam: ex}, nil
}

// dicomReason is the error for an exam where nothing can be loaded: the
// series reader's, which says why for each series and file (up to five)
// and keeps every reason for errors.Is; err when it finds nothing more.
func dicomReason(path string, err error) error {
	if _, derr := dicomio.Open(path); derr != nil {
		return derr
	}
	return err
}

// DescribePath prints what `cmrseg info` shows for path: for a DICOM exam
// its series list with classes (from the headers alone, nothing decoded)
// and then the series that segmentation would use (or sel); for anything
// else the study as Open reads it.
func DescribePath(w io.Writer, path, sel string) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, unwrapPath(err))
	}
	if (!st.IsDir() && isNIfTI(path)) || (st.IsDir() && (exists(filepath.Join(path, "Info.cfg")) || exists(filepath.Join(path, "dataset.json")))) {
		s, err := OpenSeries(path, sel)
		if err != nil {
			return err
		}
		return Describe(w, s)
	}
	ex, err := exam.Scan(path)
	if err != nil {
		if err = dicomReason(path, err); !strings.Contains(err.Error(), path) {
			err = fmt.Errorf("open %s: %w", path, err)
		}
		return err
	}
	if err := exam.Describe(w, ex); err != nil {
		return err
	}
	i := ex.Chosen
	if sel != "" {
		if i, err = ex.Find(sel); err != nil {
			return err
		}
	}
	if i < 0 {
		return dicomReason(path, fmt.Errorf("open %s: no series can be loaded", path))
	}
	if e := ex.Entries[i]; !e.Loadable() {
		return fmt.Errorf("open %s: series no. %d (%q) cannot be loaded: %w", path, i+1, e.Description, e.Problem)
	}
	s := *ex.Entries[i].Series
	AssumePhases(&s)
	return Describe(w, &study.Study{Path: fmt.Sprintf("%s, series no. %d", path, i+1), Series: []*study.Series{&s}})
}

func openACDC(dir string) (*study.Study, error) {
	c, err := dataset.ReadPatient(dir)
	if err != nil {
		return nil, err
	}
	var smp *dataset.Sample
	if c.CinePath != "" {
		smp, err = c.LoadCine()
	} else {
		smp, err = c.Load()
	}
	if err != nil {
		return nil, err
	}
	return &study.Study{Path: dir, Series: []*study.Series{smp.Series}}, nil
}

// AssumePhases fills in ED and ES when the source did not give them: ED
// is phase 0 (the first after the R wave) and ES the phase whose trigger
// time is nearest 35 % of the RR interval (without trigger times, the
// phase at 35 % of the phase count). Such an ES is marked provisional: the
// segmentation later refines it to the phase of smallest blood pool.
func AssumePhases(s *study.Series) {
	if s.ED < 0 {
		s.ED = 0
	}
	if s.ES >= 0 {
		return
	}
	s.ES, s.ESProvisional = provisionalES(s), true
}

func provisionalES(s *study.Series) int {
	if s.NT < 2 {
		return 0
	}
	tt := s.TriggerTimes
	if len(tt) != s.NT || !(tt[s.NT-1] > tt[0]) {
		return int(math.Round(esFraction * float64(s.NT)))
	}
	// The phases tile one cycle: RR spans the first to the last trigger
	// time plus one mean phase step.
	step := (tt[s.NT-1] - tt[0]) / float64(s.NT-1)
	target := tt[0] + esFraction*(tt[s.NT-1]-tt[0]+step)
	best := 0
	for t := range tt {
		if math.Abs(tt[t]-target) < math.Abs(tt[best]-target) {
			best = t
		}
	}
	return best
}

// Describe prints what `cmrseg info` shows: per series its grid, spacing,
// phases with ED and ES, description, vendor and patient details.
func Describe(w io.Writer, st *study.Study) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d series\n", st.Path, len(st.Series))
	for i, s := range st.Series {
		m := s.Meta
		fmt.Fprintf(&b, "series %d: %s\n", i+1, orUnknown(m.SeriesDescription))
		fmt.Fprintf(&b, "  dims       %d x %d x %d, %d phase%s\n", s.Dims[0], s.Dims[1], s.Dims[2], s.NT, plural(s.NT))
		fmt.Fprintf(&b, "  spacing    %.3g x %.3g x %.3g mm\n", s.Spacing[0], s.Spacing[1], s.Spacing[2])
		fmt.Fprintf(&b, "  ED / ES    %s / %s", phaseName(s, s.ED), phaseName(s, s.ES))
		if s.ESProvisional {
			fmt.Fprintf(&b, " (ES provisional: nearest %.0f %% of RR)", 100*esFraction)
		}
		b.WriteByte('\n')
		if n := len(s.TriggerTimes); n > 0 {
			fmt.Fprintf(&b, "  trigger    %.0f to %.0f ms\n", s.TriggerTimes[0], s.TriggerTimes[n-1])
		}
		fmt.Fprintf(&b, "  vendor     %s\n", orUnknown(strings.TrimSpace(m.Manufacturer+" "+m.Model)))
		if m.PatientID != "" || m.Group != "" {
			fmt.Fprintf(&b, "  patient    %s", orUnknown(m.PatientID))
			if m.Group != "" {
				fmt.Fprintf(&b, ", group %s", m.Group)
			}
			if m.HeightM > 0 {
				fmt.Fprintf(&b, ", %.2f m", m.HeightM)
			}
			if m.WeightKg > 0 {
				fmt.Fprintf(&b, ", %.0f kg", m.WeightKg)
			}
			b.WriteByte('\n')
		}
		if !m.StudyDate.IsZero() {
			fmt.Fprintf(&b, "  date       %s\n", m.StudyDate.Format("2006-01-02"))
		}
		fmt.Fprintf(&b, "  source     %d file%s\n", len(m.SourcePaths), plural(len(m.SourcePaths)))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func phaseName(s *study.Series, t int) string {
	if t < 0 || t >= s.NT {
		return "unknown"
	}
	if len(s.PhaseNumbers) == s.NT {
		return fmt.Sprintf("phase %d (frame %d)", t+1, s.PhaseNumbers[t])
	}
	return fmt.Sprintf("phase %d", t+1)
}

func isNIfTI(path string) bool {
	p := strings.ToLower(path)
	return strings.HasSuffix(p, ".nii") || strings.HasSuffix(p, ".nii.gz")
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// unwrapPath drops the *PathError wrapper, whose path we already print.
func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
