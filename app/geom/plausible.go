package geom

import (
	"errors"
	"fmt"
	"math"

	"cmrseg/app/membudget"
	"cmrseg/app/study"
)

// Physical ranges that cover every real CMR acquisition, clinical and
// preclinical, with a wide margin. Anything outside is a forged or broken
// header (a spacing in µm or m read as mm) and is refused before any
// voxel buffer or resampling grid is allocated.
const (
	MinPixelMM  = 0.01   // in-plane spacing
	MaxPixelMM  = 20.0   // ...
	MinSliceMM  = 0.01   // slice spacing
	MaxSliceMM  = 200.0  // ...
	MaxFOVMM    = 1000.0 // field of view along any axis
	MaxInPlane  = 4096   // pixels along a row or column
	MaxSlices   = 2048   // slices in one stack
	MaxPhases   = 4096   // volumes in one series
	MaxCoordMM  = 1e5    // no origin is 100 m from the scanner's isocentre
	float32Size = 4
)

// ErrImplausible is matched (errors.Is) by every *RangeError.
var ErrImplausible = errors.New("implausible geometry")

// RangeError is one geometry value outside its physical range.
type RangeError struct {
	What     string
	Value    float64
	Min, Max float64
	Unit     string
}

func (e *RangeError) Error() string {
	return fmt.Sprintf("implausible %s %g%s: real CMR acquisitions lie within %g–%g%s", e.What, e.Value, e.Unit, e.Min, e.Max, e.Unit)
}

func (e *RangeError) Is(target error) bool { return target == ErrImplausible }

func within(what string, v, lo, hi float64, unit string) error {
	if !(v >= lo && v <= hi) { // NaN fails too
		return &RangeError{What: what, Value: v, Min: lo, Max: hi, Unit: unit}
	}
	return nil
}

// Plausible checks a series grid of nt volumes against the physical ranges
// above (spacings, field of view, dims, origin). Readers call it on the
// header's geometry before allocating; segment and info both see it.
func Plausible(g study.Geometry, nt int) error {
	axis := [3]string{"column (i)", "row (j)", "slice (k)"}
	for a := 0; a < 3; a++ {
		lo, hi, maxN := MinPixelMM, MaxPixelMM, float64(MaxInPlane)
		if a == 2 {
			lo, hi, maxN = MinSliceMM, MaxSliceMM, MaxSlices
		}
		if err := within(axis[a]+" count", float64(g.Dims[a]), 1, maxN, ""); err != nil {
			return err
		}
		if err := within(axis[a]+" spacing", g.Spacing[a], lo, hi, " mm"); err != nil {
			return err
		}
		// A single slice's spacing is its thickness, not a field of view.
		if a < 2 || g.Dims[2] > 1 {
			if err := within(axis[a]+" field of view", float64(g.Dims[a])*g.Spacing[a], 0, MaxFOVMM, " mm"); err != nil {
				return err
			}
		}
		if err := within("origin coordinate", math.Abs(g.Origin[a]), 0, MaxCoordMM, " mm"); err != nil {
			return err
		}
	}
	return within("phase count", float64(nt), 1, MaxPhases, "")
}

// checkGrid refuses a resampling target that is implausible or whose
// buffer of nt volumes would not fit the memory budget.
func checkGrid(to study.Geometry, nt int) error {
	for a := 0; a < 3; a++ {
		lim := float64(MaxInPlane)
		if a == 2 {
			lim = MaxSlices
		}
		if err := within("resampled grid size", float64(to.Dims[a]), 1, lim, " pixels"); err != nil {
			return fmt.Errorf("geom: %w", err)
		}
	}
	if err := membudget.CheckElems(fmt.Sprintf("resampled grid %v × %d", to.Dims, nt), float32Size, to.Dims[0], to.Dims[1], to.Dims[2], nt); err != nil {
		return fmt.Errorf("geom: %w", err)
	}
	return nil
}
