package study

// DICOMSource is what a DICOM reader keeps in Series.Source so that a
// writer (a DICOM SEG, a report) can refer back to the exact source
// instances and repeat the patient and study modules.
type DICOMSource struct {
	StudyInstanceUID    string
	SeriesInstanceUID   string
	FrameOfReferenceUID string
	SeriesNumber        int
	Modality            string
	TransferSyntaxUID   string // of the first instance

	// Patient and general study modules, as stored (DICOM VR formats).
	PatientName, PatientID, PatientBirthDate, PatientSex string
	StudyID, StudyDate, StudyTime, AccessionNumber       string
	ReferringPhysicianName, StudyDescription             string

	// SliceThickness in mm as the first frame states it; 0 when absent.
	SliceThickness float64

	// Cine is true when every slice position has several trigger times.
	Cine bool
	// GeometryKnown is false when the files lack ImagePositionPatient,
	// ImageOrientationPatient or PixelSpacing and defaults were assumed.
	GeometryKnown bool
	// Notes say what the reader assumed or worked around.
	Notes []string

	// Slices is the series' slice count (Dims[2]); Frames holds one entry per
	// (slice k, phase t) at index k + Slices*t, the Series.Data order.
	Slices int
	Frames []DICOMFrame
}

// DICOMFrame names the source of one 2D image of a series.
type DICOMFrame struct {
	Path           string
	SOPClassUID    string
	SOPInstanceUID string
	// InstanceNumber is 0 when the instance has none.
	InstanceNumber int
	// Frame is the 1-based frame number within a multi-frame instance
	// (1 for single-frame instances).
	Frame int
	// Position is the frame's own ImagePositionPatient (LPS mm, centre of
	// its first pixel), so a derived object can repeat it exactly; zero
	// when GeometryKnown is false.
	Position [3]float64
	// TriggerTime in ms when HasTriggerTime.
	TriggerTime    float64
	HasTriggerTime bool
}

// At returns the source of slice k, phase t.
func (d *DICOMSource) At(k, t int) *DICOMFrame { return &d.Frames[k+d.Slices*t] }

// ByInstance finds the (slice, phase) of the single-frame instance with
// InstanceNumber n.
func (d *DICOMSource) ByInstance(n int) (k, t int, ok bool) {
	for i := range d.Frames {
		if d.Frames[i].InstanceNumber == n && d.Frames[i].Frame == 1 {
			return i % d.Slices, i / d.Slices, true
		}
	}
	return 0, 0, false
}
