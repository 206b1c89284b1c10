package studyio

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"cmrseg/app/nifti"
	"cmrseg/app/shareddata"
	"cmrseg/app/study"
)

func TestOpenACDCPatient(t *testing.T) {
	root := shareddata.Require(t, "acdc/training")
	st, err := Open(filepath.Join(root, "patient001"))
	if err != nil {
		t.Fatal(err)
	}
	s := st.Series[0]
	// patient001: Info.cfg ED 1, ES 12, DCM, no 4D cine.
	if len(st.Series) != 1 || s.NT != 2 || s.ED != 0 || s.ES != 1 || s.ESProvisional || s.PhaseNumbers[1] != 12 || s.Meta.Group != "DCM" {
		t.Errorf("patient001: NT %d ED %d ES %d (provisional %v) phases %v group %q", s.NT, s.ED, s.ES, s.ESProvisional, s.PhaseNumbers, s.Meta.Group)
	}
	var out strings.Builder
	if err := Describe(&out, st); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"216 x 256 x 10, 2 phases", "1.56 x 1.56 x 10 mm", "phase 1 (frame 1) / phase 2 (frame 12)", "group DCM", "1.84 m", "95 kg"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("Describe lacks %q:\n%s", want, out.String())
		}
	}

	// patient090 has a full cine: all 12 phases, ED 4 and ES 11 as frames.
	st, err = Open(filepath.Join(root, "patient090"))
	if err != nil {
		t.Fatal(err)
	}
	if s := st.Series[0]; s.NT != 12 || s.ED != 3 || s.ES != 10 || s.ESProvisional {
		t.Errorf("patient090: NT %d ED %d ES %d", s.NT, s.ED, s.ES)
	}
}

func TestOpenNIfTIFile(t *testing.T) {
	root := shareddata.Require(t, "acdc/training")
	p := filepath.Join(root, "patient090", "patient090_4d.nii.gz")
	st, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	// No timing in the header: ED = 0 and ES at 35 % of 12 phases, provisional.
	if s := st.Series[0]; s.NT != 12 || s.ED != 0 || s.ES != 4 || !s.ESProvisional {
		t.Errorf("NT %d ED %d ES %d provisional %v", s.NT, s.ED, s.ES, s.ESProvisional)
	}
	var out strings.Builder
	Describe(&out, st)
	if !strings.Contains(out.String(), "ES provisional") || !strings.Contains(out.String(), "patient090_4d.nii.gz") {
		t.Errorf("Describe:\n%s", out.String())
	}
}

func TestProvisionalESFromTriggerTimes(t *testing.T) {
	// 25 phases 40 ms apart: RR 1000 ms, 35 % is 350 ms, nearest phase 9 (360 ms).
	s := &study.Series{NT: 25, ED: -1, ES: -1, TriggerTimes: make([]float64, 25)}
	for i := range s.TriggerTimes {
		s.TriggerTimes[i] = 40 * float64(i)
	}
	AssumePhases(s)
	if s.ED != 0 || s.ES != 9 || !s.ESProvisional {
		t.Errorf("ED %d ES %d provisional %v", s.ED, s.ES, s.ESProvisional)
	}
	// Given phases are kept and not marked.
	s = &study.Series{NT: 25, ED: 2, ES: 12}
	AssumePhases(s)
	if s.ED != 2 || s.ES != 12 || s.ESProvisional {
		t.Errorf("given phases changed: ED %d ES %d", s.ED, s.ES)
	}
}

func TestOpenSunnybrookDICOM(t *testing.T) {
	dir := shareddata.Require(t, "sunnybrook/SCD0000101")
	st, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := st.Series[0]
	if s.Dims != [3]int{256, 256, 12} || s.NT != 20 || s.ED != 0 || !s.ESProvisional || s.ES < 5 || s.ES > 9 {
		t.Errorf("dims %v NT %d ED %d ES %d provisional %v", s.Dims, s.NT, s.ED, s.ES, s.ESProvisional)
	}
	var out strings.Builder
	Describe(&out, st)
	if !strings.Contains(out.String(), "256 x 256 x 12, 20 phases") || !strings.Contains(out.String(), "GE") {
		t.Errorf("Describe:\n%s", out.String())
	}

	// A mask written for the DICOM series lands where the scanner says:
	// nibabel's affine applied to (0, 0, k) must be slice k's
	// ImagePositionPatient (LPS -> RAS) as pydicom reads it, and its
	// columns the ImageOrientationPatient directions times the spacing.
	src, ok := s.Source.(*study.DICOMSource)
	if !ok {
		t.Fatalf("DICOM series source is %T", s.Source)
	}
	mask := filepath.Join(t.TempDir(), "mask.nii.gz")
	if err := nifti.WriteLabels(mask, s, &study.Labels{Geometry: s.Geometry, Data: make([]uint8, s.N())}); err != nil {
		t.Fatal(err)
	}
	slices := make([]string, s.Dims[2])
	for k := range slices {
		slices[k] = src.At(k, 0).Path
	}
	py := shareddata.Python(t, "nibabel", "pydicom", "numpy")
	arg, _ := json.Marshal(slices)
	res, err := exec.Command(py, "-c", `
import sys, json, numpy as np, nibabel as nib, pydicom
img = nib.load(sys.argv[1]); A = img.affine
worst = 0.0
for k, p in enumerate(json.loads(sys.argv[2])):
    ds = pydicom.dcmread(p, stop_before_pixels=True)
    ipp = np.array([float(v) for v in ds.ImagePositionPatient])
    iop = np.array([float(v) for v in ds.ImageOrientationPatient])
    ps = [float(v) for v in ds.PixelSpacing]  # row spacing (between rows), column spacing
    ras = np.array([-1, -1, 1])
    worst = max(worst, np.abs(A @ [0, 0, k, 1] - np.append(ras * ipp, 1)).max())
    worst = max(worst, np.abs(A[:3, 0] - ras * iop[:3] * ps[1]).max(), np.abs(A[:3, 1] - ras * iop[3:] * ps[0]).max())
print(worst, img.header['sform_code'], img.header['qform_code'], np.abs(img.header.get_qform() - A).max())`, mask, string(arg)).Output()
	if err != nil {
		t.Fatal(err)
	}
	var worst, qdiff float64
	var sform, qform int
	if _, err := fmt.Sscan(string(res), &worst, &sform, &qform, &qdiff); err != nil {
		t.Fatalf("oracle output %q: %v", res, err)
	}
	t.Logf("DICOM mask: max deviation from pydicom geometry %.2g mm; qform vs sform %.2g", worst, qdiff)
	// 0.01 mm: DICOM positions carry few decimals and the grid is fitted to all slices.
	if worst > 0.01 || sform != 1 || qform != 1 || qdiff > 1e-3 {
		t.Errorf("mask geometry off by %g mm from the DICOM (sform %d qform %d, qform-sform %g)", worst, sform, qform, qdiff)
	}
}

func TestOpenDispatchAndErrors(t *testing.T) {
	dir := t.TempDir()
	// A data set folder (nnU-Net) is refused with advice.
	nn := filepath.Join(dir, "Dataset027")
	os.MkdirAll(nn, 0o755)
	os.WriteFile(filepath.Join(nn, "dataset.json"), []byte("{}"), 0o644)
	if _, err := Open(nn); err == nil || !strings.Contains(err.Error(), "open one case") || !strings.Contains(err.Error(), nn) {
		t.Errorf("nnU-Net folder: %v", err)
	}
	// A folder of ACDC patients is refused with advice.
	acdc := filepath.Join(dir, "training")
	os.MkdirAll(filepath.Join(acdc, "patient001"), 0o755)
	os.WriteFile(filepath.Join(acdc, "patient001", "Info.cfg"), []byte("ED: 1\nES: 2\nGroup: NOR\n"), 0o644)
	if _, err := Open(acdc); err == nil || !strings.Contains(err.Error(), "open one patient folder") {
		t.Errorf("ACDC root: %v", err)
	}
	// A patient folder with a broken image names the file.
	os.WriteFile(filepath.Join(acdc, "patient001", "patient001_frame01.nii.gz"), []byte("not nifti"), 0o644)
	if _, err := Open(filepath.Join(acdc, "patient001")); err == nil || !strings.Contains(err.Error(), "patient001_frame01.nii.gz") {
		t.Errorf("broken ACDC image: %v", err)
	}
	missing := filepath.Join(dir, "nothing-here")
	if _, err := Open(missing); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing path: %v", err)
	}
	// Anything else goes to the DICOM reader, whose error names the path.
	other := filepath.Join(dir, "dicoms")
	os.MkdirAll(other, 0o755)
	called := ""
	defer func(f func(string) (*study.Study, error)) { openDICOM = f }(openDICOM)
	openDICOM = func(p string) (*study.Study, error) {
		called = p
		return nil, errors.New("no DICOM images found")
	}
	if _, err := Open(other); called != other || err == nil || !strings.Contains(err.Error(), other) {
		t.Errorf("DICOM dispatch: called %q, error %v", called, err)
	}
	// A NIfTI file goes to the NIfTI reader, not DICOM.
	called = ""
	g := study.Geometry{Dims: [3]int{2, 2, 1}, Spacing: [3]float64{1, 1, 1}, Direction: [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}
	p := filepath.Join(dir, "x.nii")
	if err := nifti.Write(p, &study.Series{Geometry: g, NT: 1, Data: []float32{1, 2, 3, 4}}, nifti.Float32); err != nil {
		t.Fatal(err)
	}
	if st, err := Open(p); err != nil || called != "" || st.Series[0].Data[3] != 4 {
		t.Errorf("NIfTI dispatch: %v, DICOM called %q", err, called)
	}
}
