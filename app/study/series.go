// Package study is the in-memory model of a CMR study: series of 4D image
// stacks with their patient geometry and the metadata a report needs.
package study

import (
	"fmt"
	"time"
)

// Geometry places a 3D voxel grid in patient space. Coordinates are DICOM
// LPS millimetres; readers of RAS formats (NIfTI) convert on the way in and out.
type Geometry struct {
	// Dims are the voxel counts along i (columns), j (rows) and k (slices).
	Dims [3]int
	// Spacing in mm along i, j, k (k is the distance between slice centres).
	Spacing [3]float64
	// Origin is the LPS position of the centre of voxel (0,0,0).
	Origin [3]float64
	// Direction holds the unit LPS vectors of the i, j and k axes:
	// Direction[0] is the row direction (i), Direction[1] the column
	// direction (j), Direction[2] the slice normal (k).
	Direction [3][3]float64
}

// N is the number of voxels in one 3D volume.
func (g Geometry) N() int { return g.Dims[0] * g.Dims[1] * g.Dims[2] }

// VoxelToWorld maps continuous voxel indices to LPS millimetres.
func (g Geometry) VoxelToWorld(i, j, k float64) [3]float64 {
	var p [3]float64
	for a := 0; a < 3; a++ {
		p[a] = g.Origin[a] +
			g.Direction[0][a]*g.Spacing[0]*i +
			g.Direction[1][a]*g.Spacing[1]*j +
			g.Direction[2][a]*g.Spacing[2]*k
	}
	return p
}

// VoxelVolumeML is the volume of one voxel in millilitres.
func (g Geometry) VoxelVolumeML() float64 {
	return g.Spacing[0] * g.Spacing[1] * g.Spacing[2] / 1000
}

// Metadata is what a report and an export need to name their source.
type Metadata struct {
	PatientID, PatientName string
	StudyInstanceUID       string
	SeriesInstanceUID      string
	StudyDate              time.Time // zero when unknown
	SeriesDescription      string
	Manufacturer, Model    string
	HeightM, WeightKg      float64 // 0 when unknown
	// Sex is "M" or "F" (DICOM PatientSex), "" when unknown or other;
	// AgeYears is the age at the study, 0 when unknown. They choose the
	// reference ranges of the report.
	Sex         string
	AgeYears    float64
	Group       string // ACDC pathology group when known
	SourcePaths []string
}

// Series is one 4D cine stack: NT phases of a 3D volume on one Geometry.
type Series struct {
	Geometry
	// NT is the number of cardiac phases (1 for a single 3D volume).
	NT int
	// Data holds the voxels, i fastest, then j, k and phase:
	// index = i + Dims[0]*(j + Dims[1]*(k + Dims[2]*t)).
	Data []float32
	// TriggerTimes in ms, one per phase; nil when unknown.
	TriggerTimes []float64
	// ED and ES are phase indices (0-based); -1 when unknown.
	ED, ES int
	// ESProvisional is true when the source did not say which phase is
	// ES and ES was estimated from timing (the phase nearest 35 % of the
	// RR interval); segmentation may refine it to the phase of smallest
	// blood-pool volume. ED then defaults to phase 0 (first after the R wave).
	ESProvisional bool
	// PhaseNumbers are the source's own frame numbers (ACDC frameMM,
	// 1-based) for each phase when the series was assembled from
	// separate files; nil otherwise.
	PhaseNumbers []int
	Meta         Metadata
	// Source describes how to write results back with the input's exact
	// geometry (a NIfTI header, the DICOM instances); set by the reader.
	Source any
}

// Phase returns the voxels of phase t as a slice aliasing Data.
func (s *Series) Phase(t int) []float32 {
	n := s.N()
	return s.Data[t*n : (t+1)*n]
}

// Validate checks that the sizes agree, so later stages can index freely.
func (s *Series) Validate() error {
	for a, d := range s.Dims {
		if d <= 0 {
			return fmt.Errorf("series %q: dimension %d is %d", s.Meta.SeriesDescription, a, d)
		}
		if !(s.Spacing[a] > 0) {
			return fmt.Errorf("series %q: spacing %d is %g mm", s.Meta.SeriesDescription, a, s.Spacing[a])
		}
	}
	if s.NT <= 0 {
		return fmt.Errorf("series %q: %d phases", s.Meta.SeriesDescription, s.NT)
	}
	if len(s.Data) != s.N()*s.NT {
		return fmt.Errorf("series %q: %d voxels for dims %v x %d phases", s.Meta.SeriesDescription, len(s.Data), s.Dims, s.NT)
	}
	if s.TriggerTimes != nil && len(s.TriggerTimes) != s.NT {
		return fmt.Errorf("series %q: %d trigger times for %d phases", s.Meta.SeriesDescription, len(s.TriggerTimes), s.NT)
	}
	return nil
}

// Study is everything opened from one input path.
type Study struct {
	// Path is what the user opened (file or folder).
	Path   string
	Series []*Series
	// Exam is the whole DICOM exam Series was chosen from (an *exam.Exam,
	// whose other series are read on demand); nil for other sources.
	Exam any
}

// Labels is a label map on a Geometry: 0 background, 1 RV cavity,
// 2 LV myocardium, 3 LV cavity (the ACDC convention), same layout as a
// 3D Series volume.
type Labels struct {
	Geometry
	Data []uint8
}

// Label values (ACDC convention).
const (
	Background uint8 = 0
	RV         uint8 = 1
	Myocardium uint8 = 2
	LV         uint8 = 3
	NumClasses       = 4
)

// ClassNames are the display names of the label values, index = value.
var ClassNames = [NumClasses]string{"background", "RV cavity", "LV myocardium", "LV cavity"}
