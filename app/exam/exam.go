// Package exam reads a whole DICOM exam (a folder tree or a DICOMDIR) the
// way a hospital sends it: it lists every series from the headers alone,
// classifies each as short-axis cine, long-axis cine or other from its
// geometry and timing, chooses the short-axis cine for segmentation, and
// decodes the pixels of only the series that is asked for.
package exam

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"cmrseg/app/dicomio"
	"cmrseg/app/study"
)

// Class is what a series is for segmentation.
type Class int

const (
	Other Class = iota
	ShortAxisCine
	LongAxisCine
)

func (c Class) String() string {
	switch c {
	case ShortAxisCine:
		return "short-axis cine"
	case LongAxisCine:
		return "long-axis cine"
	}
	return "other"
}

// The classification rule (see Classify).
const (
	// MinCinePhases is the fewest phases of a cine: fewer are single
	// shots, inversion-time or mapping series.
	MinCinePhases = 6
	// MinStackSlices is the fewest parallel slices of a short-axis stack;
	// a cine of fewer slices is a long-axis (or single-plane) cine.
	MinStackSlices = 3
	// planesDeg: two long-axis planes at least this far apart define the
	// heart's long axis as their intersection.
	planesDeg = 20
	// toleranceDeg: a short-axis stack's normal lies within this of the
	// long axis from the exam's long-axis planes; a long-axis plane's
	// normal within this of perpendicular to it.
	toleranceDeg = 30
	// priorToleranceDeg is the same without long-axis planes, around the
	// typical axis: wide, yet it excludes the axial, coronal and sagittal
	// planes, which are all 54.7° from it.
	priorToleranceDeg = 45
	// hintToleranceDeg: with the typical axis only, a stack described as
	// short axis is accepted up to this angle, still short of the 54.7° of
	// an axial, coronal or sagittal stack.
	hintToleranceDeg = 50
)

// typicalAxis is the usual direction of the left ventricle's long axis,
// base to apex, in patient coordinates (LPS): leftward, anterior and
// inferior in roughly equal parts. Only its line matters, not its sign.
var typicalAxis = unit([3]float64{1, -1, -1})

// Entry is one series of the exam.
type Entry struct {
	SeriesNumber   int
	UID            string
	Description    string
	Class          Class
	Why            string // what the class rests on
	Slices, Phases int
	Files          int
	Lossy          bool // stored in a lossy transfer syntax
	// Series has the geometry, timing and sources but no pixels (see
	// Load); nil when the series cannot be assembled into one grid.
	Series *study.Series
	// Problem is why the series cannot be loaded (Series nil), or why its
	// pixels could not be decoded when that was tried.
	Problem error
	files   []string
}

// Loadable says whether the series can be decoded for viewing.
func (e *Entry) Loadable() bool { return e.Series != nil }

// Exam is everything found under one path.
type Exam struct {
	Path string
	// Entries are in the scanner's series order.
	Entries []*Entry
	// Chosen is the entry to segment: the short-axis cine (see Choose); -1
	// when no series can be loaded.
	Chosen int
	// Axis is the heart's long axis the classification used, and AxisFrom
	// where it came from.
	Axis     [3]float64
	AxisFrom string
	// Failed are DICOM files that could not be read; Ignored counts files
	// without images (DICOMDIR, non-DICOM files).
	Failed  []dicomio.FileError
	Ignored int
}

// Scan reads the headers under path (a file, a folder tree or a DICOMDIR
// file), classifies every series and chooses the one to segment. No pixel
// is decoded. It fails when path cannot be read or holds no DICOM image.
func Scan(path string) (*Exam, error) {
	r, err := dicomio.ScanHeaders(path)
	if err != nil {
		return nil, err
	}
	ex := &Exam{Path: path, Failed: r.Failed, Ignored: len(r.Ignored), Chosen: -1}
	for _, s := range r.Study.Series {
		src := s.Source.(*study.DICOMSource)
		ex.Entries = append(ex.Entries, &Entry{
			SeriesNumber: src.SeriesNumber, UID: src.SeriesInstanceUID, Description: s.Meta.SeriesDescription,
			Slices: s.Dims[2], Phases: s.NT, Files: len(s.Meta.SourcePaths), Lossy: dicomio.LossySyntax(src.TransferSyntaxUID),
			Series: s, files: s.Meta.SourcePaths,
		})
	}
	for _, sk := range r.Skipped {
		ex.Entries = append(ex.Entries, &Entry{
			SeriesNumber: sk.SeriesNumber, UID: sk.SeriesInstanceUID, Description: sk.Description,
			Files: len(sk.Files), Problem: sk.Reason, files: sk.Files,
		})
	}
	if len(ex.Entries) == 0 {
		if len(r.Failed) > 0 {
			return nil, fmt.Errorf("%s: no readable DICOM image: %v", path, r.Failed[0].Err)
		}
		return nil, fmt.Errorf("%s: no DICOM images found (%d files looked at)", path, len(r.Ignored))
	}
	sort.SliceStable(ex.Entries, func(a, b int) bool { return ex.Entries[a].SeriesNumber < ex.Entries[b].SeriesNumber })
	ex.Classify()
	ex.Chosen = ex.choose()
	return ex, nil
}

// Classify sets every entry's class from geometry and timing, with the
// SeriesDescription only as a hint:
//   - the heart's long axis is where two long-axis planes of the exam
//     cross (single-slice cines at least 20° apart), else the typical
//     orientation;
//   - a cine (≥ MinCinePhases phases, several trigger times) of
//     ≥ MinStackSlices parallel slices whose normal lies within 30° of
//     that axis (45° of the typical one, 50° when described as short
//     axis) is a short-axis cine;
//   - a cine of one or two parallel slices whose plane contains the axis
//     (normal within 30°, resp. 45°, of perpendicular) is a long-axis cine;
//   - everything else (localisers, single-phase stacks such as late
//     enhancement, maps, cines across other planes) is other.
func (ex *Exam) Classify() {
	var la []*Entry
	for _, e := range ex.Entries {
		// Planes without patient geometry (identity assumed) say nothing
		// about the heart.
		if e.isCine() && e.Slices < MinStackSlices && e.Series.Source.(*study.DICOMSource).GeometryKnown {
			la = append(la, e)
		}
	}
	ex.Axis, ex.AxisFrom = typicalAxis, "the typical heart orientation (no two long-axis planes in the exam)"
	fromPlanes := false
	best := math.Sin(planesDeg * math.Pi / 180)
	for i := range la {
		for j := i + 1; j < len(la); j++ {
			c := cross(la[i].normal(), la[j].normal())
			if s := norm(c); s >= best {
				best, fromPlanes = s, true
				ex.Axis = unit(c)
				ex.AxisFrom = fmt.Sprintf("where the planes of series %s and %s cross", la[i].name(), la[j].name())
			}
		}
	}
	tol := float64(toleranceDeg)
	if !fromPlanes {
		tol = priorToleranceDeg
	}
	for _, e := range ex.Entries {
		e.Class, e.Why = Other, ""
		hint := hintOf(e.Description)
		switch {
		case e.Series == nil:
			e.Why = "cannot be assembled: " + e.Problem.Error()
			if strings.Contains(e.Problem.Error(), "not parallel") {
				e.Why = "localiser: planes in several orientations"
			}
		case !e.Series.Source.(*study.DICOMSource).GeometryKnown:
			e.Why = "no patient geometry (position, orientation, spacing)"
		case !e.isCine():
			e.Why = fmt.Sprintf("not a cine: %d phase%s", e.Phases, plural(e.Phases))
			if e.Phases >= MinCinePhases {
				e.Why = fmt.Sprintf("not a cine: %d frames per slice without distinct trigger times", e.Phases)
			}
		default:
			ang := angleDeg(e.normal(), ex.Axis)
			if e.Slices >= MinStackSlices {
				switch {
				case ang <= tol:
					e.Class, e.Why = ShortAxisCine, fmt.Sprintf("stack normal %.0f° from the long axis", ang)
				case !fromPlanes && hint == ShortAxisCine && ang <= hintToleranceDeg:
					e.Class, e.Why = ShortAxisCine, fmt.Sprintf("stack normal %.0f° from the typical long axis; described as short axis", ang)
				default:
					e.Why = fmt.Sprintf("cine stack across another plane: normal %.0f° from the long axis", ang)
				}
			} else {
				if 90-ang <= tol {
					e.Class, e.Why = LongAxisCine, fmt.Sprintf("plane contains the long axis (normal %.0f° from it)", ang)
				} else {
					e.Why = fmt.Sprintf("single-plane cine across the long axis (normal %.0f° from it)", ang)
				}
			}
		}
		if e.Class == Other && e.Series != nil && hint != Other && e.Why != "" {
			e.Why += fmt.Sprintf(" (described as %s)", hint)
		}
	}
}

// hintOf reads what a SeriesDescription says the series is.
func hintOf(desc string) Class {
	d := " " + strings.ToLower(desc) + " "
	for _, w := range []string{"sax", " sa ", "short", "_sa", "sa_", "sa cine", "cine sa"} {
		if strings.Contains(d, w) {
			return ShortAxisCine
		}
	}
	for _, w := range []string{"2ch", "3ch", "4ch", "lax", "long", "lvot", "chamber"} {
		if strings.Contains(d, w) {
			return LongAxisCine
		}
	}
	return Other
}

func (e *Entry) isCine() bool {
	return e.Series != nil && e.Phases >= MinCinePhases && e.Series.Source.(*study.DICOMSource).Cine
}

func (e *Entry) normal() [3]float64 { return e.Series.Direction[2] }

func (e *Entry) name() string {
	if e.Description != "" {
		return fmt.Sprintf("%d (%s)", e.SeriesNumber, e.Description)
	}
	return strconv.Itoa(e.SeriesNumber)
}

// choose picks the entry to segment: a short-axis cine with the scanner's
// own pixel values before a lossy one, then the one with most slices ×
// phases, then the earliest; without one, the cine stack with most slices,
// then any loadable series.
func (ex *Exam) choose() int {
	best := -1
	rank := func(e *Entry) [4]int {
		r := [4]int{}
		if e.Class == ShortAxisCine {
			r[0] = 2
		} else if e.isCine() && e.Slices >= MinStackSlices {
			r[0] = 1
		}
		if !e.Lossy {
			r[1] = 1
		}
		r[2] = e.Slices * e.Phases
		r[3] = e.Slices
		return r
	}
	less := func(a, b [4]int) bool {
		for i := range a {
			if a[i] != b[i] {
				return a[i] < b[i]
			}
		}
		return false
	}
	for i, e := range ex.Entries {
		if !e.Loadable() {
			continue
		}
		if best < 0 || less(rank(ex.Entries[best]), rank(e)) {
			best = i
		}
	}
	return best
}

// Find returns the entry that sel names: its number in the listing
// (1-based, as `cmrseg info` prints it), its SeriesInstanceUID, or
// "#N" for SeriesNumber N.
func (ex *Exam) Find(sel string) (int, error) {
	sel = strings.TrimSpace(sel)
	if n, err := strconv.Atoi(sel); err == nil {
		if n < 1 || n > len(ex.Entries) {
			return -1, fmt.Errorf("%s: no series %d (the exam has %d; see `cmrseg info %s`)", ex.Path, n, len(ex.Entries), ex.Path)
		}
		return n - 1, nil
	}
	if num, ok := strings.CutPrefix(sel, "#"); ok {
		if n, err := strconv.Atoi(num); err == nil {
			for i, e := range ex.Entries {
				if e.SeriesNumber == n {
					return i, nil
				}
			}
		}
		return -1, fmt.Errorf("%s: no series with SeriesNumber %s (see `cmrseg info %s`)", ex.Path, num, ex.Path)
	}
	for i, e := range ex.Entries {
		if e.UID == sel {
			return i, nil
		}
	}
	return -1, fmt.Errorf("%s: no series %q: give its number in `cmrseg info %s`, #SeriesNumber or its SeriesInstanceUID", ex.Path, sel, ex.Path)
}

// Load decodes the pixels of entry i and returns the series with them; the
// entry itself keeps only the headers, so browsing an exam holds one
// decoded series at a time.
func (ex *Exam) Load(i int) (*study.Series, error) {
	if i < 0 || i >= len(ex.Entries) {
		return nil, fmt.Errorf("%s: no series %d", ex.Path, i+1)
	}
	e := ex.Entries[i]
	if e.Series == nil {
		return nil, fmt.Errorf("%s: series %s cannot be loaded: %w", ex.Path, e.name(), e.Problem)
	}
	s := *e.Series
	src := *e.Series.Source.(*study.DICOMSource)
	src.Notes = append([]string(nil), src.Notes...)
	s.Source = &src
	if err := dicomio.LoadSeries(&s); err != nil {
		return nil, err
	}
	return &s, nil
}

// LoadBest decodes the chosen series; when its pixels cannot be decoded,
// it notes why on the entry and tries the next best. Chosen ends on the
// series returned.
func (ex *Exam) LoadBest() (int, *study.Series, error) {
	var errs []error
	for {
		i := ex.choose()
		if i < 0 {
			if len(errs) == 0 {
				return -1, nil, fmt.Errorf("%s: no series can be loaded", ex.Path)
			}
			return -1, nil, errors.Join(errs...)
		}
		s, err := ex.Load(i)
		if err == nil {
			ex.Chosen = i
			return i, s, nil
		}
		e := ex.Entries[i]
		e.Problem, e.Series = err, nil
		e.Class, e.Why = Other, "cannot be decoded: "+err.Error()
		errs = append(errs, err)
	}
}

func angleDeg(n, axis [3]float64) float64 {
	c := math.Abs(dot(unit(n), axis))
	return math.Acos(math.Min(1, c)) * 180 / math.Pi
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
