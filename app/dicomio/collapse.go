package dicomio

import (
	"errors"
	"fmt"
	"strings"
)

// ErrGeometry is matched (errors.Is) by every *GeometryError: a series
// whose frames cannot be placed into slices and phases without guessing.
var ErrGeometry = errors.New("DICOM geometry is inconsistent")

// GeometryError names the files behind a geometry that would otherwise
// collapse two anatomical slices into one.
type GeometryError struct {
	Reason string
	Files  []string
}

func (e *GeometryError) Error() string        { return e.Reason }
func (e *GeometryError) Is(target error) bool { return target == ErrGeometry }

func geometryError(refs []frameRef, format string, args ...any) error {
	e := &GeometryError{Reason: fmt.Sprintf(format, args...)}
	for _, r := range refs {
		e.Files = append(e.Files, r.in.path)
	}
	return e
}

// timeKey is what tells one slice's phases apart: the trigger time when
// every frame of the slice has one, else TemporalPositionIndex when every
// frame has one; ok is false when the frames carry no time at all.
func timeKey(sl []frameRef) (key func(frameRef) float64, unit string, ok bool) {
	allTrig, allTemporal := true, true
	for _, r := range sl {
		allTrig = allTrig && r.info().hasTrigger
		allTemporal = allTemporal && r.info().temporal > 0
	}
	switch {
	case allTrig:
		return func(r frameRef) float64 { return r.info().trigger }, "trigger time %g ms", true
	case allTemporal:
		return func(r frameRef) float64 { return float64(r.info().temporal) }, "temporal position %g", true
	}
	return nil, "", false
}

// checkCollapse refuses slice groups that hide more than one anatomical
// slice: frames that share a position but disagree in SliceLocation,
// frames that share position and time, and, when no file has a position,
// frames that nothing tells apart. Equal ImagePositionPatient in every
// file would otherwise read as one slice with slices × phases phases.
func checkCollapse(slices [][]frameRef, known bool) error {
	for _, sl := range slices {
		var loc []frameRef
		for _, r := range sl {
			if r.info().hasSliceLoc {
				loc = append(loc, r)
			}
		}
		for _, r := range loc[min(1, len(loc)):] {
			if d := r.info().sliceLoc - loc[0].info().sliceLoc; d > samePlaneMM || d < -samePlaneMM {
				return geometryError([]frameRef{loc[0], r},
					"%s and %s share one position but have SliceLocation %g and %g mm: two slices would collapse into one (ImagePositionPatient missing or copied?)",
					loc[0].name(), r.name(), loc[0].info().sliceLoc, r.info().sliceLoc)
			}
		}
		key, unit, ok := timeKey(sl)
		if !ok {
			if !known && len(sl) > 1 {
				return geometryError(sl, "no file has ImagePositionPatient/ImageOrientationPatient and %s carry no trigger time or temporal position: cannot tell slices from phases", namesN(sl, 4))
			}
			continue
		}
		first := map[float64]frameRef{}
		var dups []string
		var files []frameRef
		for _, r := range sl {
			k := key(r)
			if f, seen := first[k]; seen {
				files = append(files, f, r)
				if len(dups) < 4 {
					dups = append(dups, fmt.Sprintf("%s and %s (%s)", f.name(), r.name(), fmt.Sprintf(unit, k)))
				}
				continue
			}
			first[k] = r
		}
		if len(dups) > 0 {
			where := "the same position"
			if !known {
				where = "no position"
			}
			more := ""
			if n := len(files) / 2; n > len(dups) {
				more = fmt.Sprintf(" and %d more", n-len(dups))
			}
			return geometryError(files, "duplicate position and time: %s%s have %s and the same time (two slices with one ImagePositionPatient, or a file twice?)",
				strings.Join(dups, ", "), more, where)
		}
	}
	return nil
}

// checkDeclaredPhases compares the phases found per slice with the count
// the files declare (CardiacNumberOfImages, else NumberOfTemporalPositions):
// slices × phases must be the number of frames.
func checkDeclaredPhases(g []*instance, refs []frameRef, nk, nt int) error {
	declared := func(get func(*instance) int) int {
		c := get(g[0])
		for _, in := range g {
			if in.nFrames != 1 || get(in) != c {
				return 0 // multi-frame or inconsistent: count not usable
			}
		}
		return c
	}
	for _, d := range []struct {
		name string
		get  func(*instance) int
	}{
		{"CardiacNumberOfImages", func(in *instance) int { return in.cardiacImages }},
		{"NumberOfTemporalPositions", func(in *instance) int { return in.temporalPositions }},
	} {
		c := declared(d.get)
		if c <= 1 || c == nt {
			continue
		}
		if nk*c == len(refs) {
			return geometryError(refs, "%d frames read as %d slices × %d phases, but every file declares %s %d, i.e. %d slices: slices collapsed (equal ImagePositionPatient?)",
				len(refs), nk, nt, d.name, c, len(refs)/c)
		}
		return geometryError(refs, "%d slices × %d phases found (%d frames), but every file declares %s %d", nk, nt, len(refs), d.name, c)
	}
	return nil
}
