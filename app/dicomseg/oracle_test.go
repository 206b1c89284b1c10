package dicomseg

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"cmrseg/app/shareddata"
)

// tool returns the path of an external checker (dicom3tools, dcmtk). Under
// CI=true a missing tool fails the test; elsewhere it skips.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed (dicom3tools/dcmtk are required under CI=true)", name)
		}
		t.Skipf("%s is not installed", name)
	}
	return p
}

// verify runs dciodvfy on path and returns its "Error" lines for which
// inherited reports false; it logs everything else it says.
func verify(t *testing.T, path string, inherited func(line string) bool) []string {
	t.Helper()
	out, _ := exec.Command(tool(t, "dciodvfy"), path).CombinedOutput()
	return errorLines(t, "dciodvfy", string(out), inherited)
}

// verifyEntities runs dcentvfy (patient, study, series and frame of
// reference consistency) over the SEG and its source files.
func verifyEntities(t *testing.T, files ...string) []string {
	t.Helper()
	out, _ := exec.Command(tool(t, "dcentvfy"), files...).CombinedOutput()
	return errorLines(t, "dcentvfy", string(out), nil)
}

func errorLines(t *testing.T, name, out string, inherited func(string) bool) []string {
	t.Helper()
	var bad []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		switch {
		case line == "":
		case strings.HasPrefix(line, "Error"):
			if inherited != nil && inherited(line) {
				t.Logf("%s (inherited from the source): %s", name, line)
				continue
			}
			bad = append(bad, line)
		default:
			t.Logf("%s: %s", name, line)
		}
	}
	return bad
}

// dump runs dcmdump and fails on anything it cannot parse.
func dump(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command(tool(t, "dcmdump"), "-q", path).CombinedOutput()
	if err != nil {
		t.Fatalf("dcmdump %s: %v\n%s", path, err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "E:") || strings.HasPrefix(line, "W:") {
			t.Fatalf("dcmdump %s: %s", path, line)
		}
	}
	return string(out)
}

// pyRead is pydicom's reading of a SEG (and of the source files it was
// given, for their own positions).
type pyRead struct {
	SOPClass       string    `json:"sop_class"`
	SOPInstance    string    `json:"sop_uid"`
	MediaSOP       string    `json:"media_sop_uid"`
	TransferSyntax string    `json:"transfer_syntax"`
	Modality       string    `json:"modality"`
	StudyUID       string    `json:"study_uid"`
	SeriesUID      string    `json:"series_uid"`
	FrameOfRef     string    `json:"for_uid"`
	PatientName    string    `json:"patient_name"`
	PatientID      string    `json:"patient_id"`
	Charset        string    `json:"charset"`
	Frames         int       `json:"frames"`
	Rows           int       `json:"rows"`
	Cols           int       `json:"cols"`
	Spacing        []float64 `json:"spacing"`
	Thickness      float64   `json:"thickness"`
	Orientation    []float64 `json:"orientation"`
	Segments       []struct {
		Number    int      `json:"number"`
		Label     string   `json:"label"`
		Algorithm string   `json:"algorithm"`
		Name      string   `json:"name"`
		Category  []string `json:"category"`
		Type      []string `json:"type"`
	} `json:"segments"`
	PerFrame []struct {
		Segment     int       `json:"segment"`
		SOPClass    string    `json:"sop_class"`
		SOP         string    `json:"sop"`
		FrameNumber int       `json:"frame_number"`
		IPP         []float64 `json:"ipp"`
		Dim         []int     `json:"dim"`
	} `json:"per_frame"`
	RefSeries []struct {
		UID       string   `json:"uid"`
		Instances []string `json:"instances"`
	} `json:"referenced_series"`
	Sources map[string][]float64 `json:"sources"` // SOPInstanceUID -> IPP
	pixels  []uint8              // frames × rows × cols, 0/1
}

const pyReadSEG = `
import sys, json, warnings
warnings.simplefilter('ignore')
import numpy as np, pydicom
seg, raw = sys.argv[1], sys.argv[2]
d = pydicom.dcmread(seg)
px = d.pixel_array
if px.ndim == 2:
    px = px[None]
px.astype(np.uint8).tofile(raw)
code = lambda c: [c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning]
sh = d.SharedFunctionalGroupsSequence[0]
out = {
  'sop_class': d.SOPClassUID, 'sop_uid': d.SOPInstanceUID,
  'media_sop_uid': d.file_meta.MediaStorageSOPInstanceUID,
  'transfer_syntax': d.file_meta.TransferSyntaxUID, 'modality': d.Modality,
  'study_uid': d.StudyInstanceUID, 'series_uid': d.SeriesInstanceUID,
  'for_uid': d.FrameOfReferenceUID, 'patient_name': str(d.PatientName),
  'patient_id': d.PatientID, 'charset': d.get('SpecificCharacterSet', ''),
  'frames': int(d.NumberOfFrames), 'rows': d.Rows, 'cols': d.Columns,
  'spacing': [float(v) for v in sh.PixelMeasuresSequence[0].PixelSpacing],
  'thickness': float(sh.PixelMeasuresSequence[0].SliceThickness),
  'orientation': [float(v) for v in sh.PlaneOrientationSequence[0].ImageOrientationPatient],
  'segments': [{'number': s.SegmentNumber, 'label': s.SegmentLabel,
                'algorithm': s.SegmentAlgorithmType, 'name': s.SegmentAlgorithmName,
                'category': code(s.SegmentedPropertyCategoryCodeSequence[0]),
                'type': code(s.SegmentedPropertyTypeCodeSequence[0])} for s in d.SegmentSequence],
  'per_frame': [],
  'referenced_series': [{'uid': s.SeriesInstanceUID,
                         'instances': [i.ReferencedSOPInstanceUID for i in s.ReferencedInstanceSequence]}
                        for s in d.ReferencedSeriesSequence],
  'sources': {},
}
for f in d.PerFrameFunctionalGroupsSequence:
    src = f.DerivationImageSequence[0].SourceImageSequence[0]
    out['per_frame'].append({
      'segment': f.SegmentIdentificationSequence[0].ReferencedSegmentNumber,
      'sop_class': src.ReferencedSOPClassUID, 'sop': src.ReferencedSOPInstanceUID,
      'frame_number': int(src.get('ReferencedFrameNumber', 0) or 0),
      'ipp': [float(v) for v in f.PlanePositionSequence[0].ImagePositionPatient],
      'dim': [int(v) for v in f.FrameContentSequence[0].DimensionIndexValues]})
for p in sys.argv[3:]:
    s = pydicom.dcmread(p, stop_before_pixels=True)
    out['sources'][s.SOPInstanceUID] = [float(v) for v in s.ImagePositionPatient]
print(json.dumps(out))
`

// readBack reads a SEG with pydicom; sources are source files whose
// ImagePositionPatient pydicom should report as well.
func readBack(t *testing.T, seg string, sources ...string) *pyRead {
	t.Helper()
	py := shareddata.Python(t, "pydicom", "numpy")
	raw := filepath.Join(t.TempDir(), "pixels.raw")
	out, err := exec.Command(py, append([]string{"-c", pyReadSEG, seg, raw}, sources...)...).Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("pydicom could not read %s: %v\n%s", seg, err, msg)
	}
	var r pyRead
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("pydicom output: %v\n%s", err, out)
	}
	if r.pixels, err = os.ReadFile(raw); err != nil {
		t.Fatal(err)
	}
	if len(r.pixels) != r.Frames*r.Rows*r.Cols {
		t.Fatalf("pydicom decoded %d pixels for %d frames of %d×%d", len(r.pixels), r.Frames, r.Cols, r.Rows)
	}
	return &r
}

// frame returns pydicom's decoded frame f (0-based).
func (r *pyRead) frame(f int) []uint8 {
	n := r.Rows * r.Cols
	return r.pixels[f*n : (f+1)*n]
}
