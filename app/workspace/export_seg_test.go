package workspace

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"cmrseg/app/contour"
	"cmrseg/app/dataset"
	"cmrseg/app/session"
	"cmrseg/app/shareddata"
	"cmrseg/app/study"
)

func TestExportSEGRefusesNIfTI(t *testing.T) {
	dir := shareddata.Require(t, "acdc/training/patient001")
	st, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	c, err := dataset.ReadPatient(dir)
	if err != nil {
		t.Fatal(err)
	}
	smp, err := c.Load()
	if err != nil {
		t.Fatal(err)
	}
	var ref []study.Labels
	for _, l := range smp.Labels {
		ref = append(ref, *l)
	}
	w := New(Config{Engine: &DemoEngine{Labels: ref}})
	defer w.Close()
	if err := w.SetStudy(st); err != nil {
		t.Fatal(err)
	}
	if err := w.Segment(); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	path := filepath.Join(out, "seg.dcm")
	err = w.ExportSEG(path, w.Series().ED)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "not from DICOM") ||
		!strings.Contains(err.Error(), "patient001_frame01.nii.gz") || !strings.Contains(err.Error(), "NIfTI") {
		t.Fatalf("ExportSEG on a NIfTI study: %v", err)
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Errorf("%d files written by a refused export", len(ents))
	}
}

// pySEGLabels decodes a SEG with pydicom into a label volume through each
// frame's referenced source image, and lists the algorithm types.
const pySEGLabels = `
import sys, json, warnings
warnings.simplefilter('ignore')
import numpy as np, pydicom
d = pydicom.dcmread(sys.argv[1])
sops = json.load(open(sys.argv[2]))
values = {s.SegmentNumber: {'Right ventricle cavity': 1, 'Left ventricle myocardium': 2, 'Left ventricle cavity': 3}[s.SegmentLabel]
          for s in d.SegmentSequence}
px = d.pixel_array.reshape(int(d.NumberOfFrames), d.Rows, d.Columns)
vol = np.zeros((len(sops), d.Rows, d.Columns), np.uint8)
for f, item in zip(px, d.PerFrameFunctionalGroupsSequence):
    k = sops.index(item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID)
    seg = item.SegmentIdentificationSequence[0].ReferencedSegmentNumber
    assert not (vol[k][f == 1]).any(), 'overlapping segments'
    vol[k][f == 1] = values[seg]
vol.tofile(sys.argv[3])
print(json.dumps({'algorithms': sorted({s.SegmentAlgorithmType for s in d.SegmentSequence}), 'frames': int(d.NumberOfFrames)}))
`

// readSEG returns the labels pydicom decodes from a SEG of phase ph and
// the segments' algorithm types.
func readSEG(t *testing.T, path string, s *study.Series, ph int) ([]uint8, []string) {
	t.Helper()
	py := shareddata.Python(t, "pydicom", "numpy")
	src := s.Source.(*study.DICOMSource)
	var sops []string
	for k := 0; k < s.Dims[2]; k++ {
		sops = append(sops, src.At(k, ph).SOPInstanceUID)
	}
	dir := t.TempDir()
	js, _ := json.Marshal(sops)
	if err := os.WriteFile(filepath.Join(dir, "sops.json"), js, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(py, "-c", pySEGLabels, path, filepath.Join(dir, "sops.json"), filepath.Join(dir, "labels.raw")).Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("pydicom on %s: %v\n%s", path, err, msg)
	}
	var res struct {
		Algorithms []string `json:"algorithms"`
		Frames     int      `json:"frames"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	lab, err := os.ReadFile(filepath.Join(dir, "labels.raw"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d frames, %v", filepath.Base(path), res.Frames, res.Algorithms)
	return lab, res.Algorithms
}

// onePhase cuts phase ph out of a DICOM series (with its source frames),
// so the stand-in segmenter has one phase, not twenty, to simulate.
func onePhase(s *study.Series, ph int) *study.Series {
	src := *s.Source.(*study.DICOMSource)
	src.Frames = slices.Clone(src.Frames[ph*src.Slices : (ph+1)*src.Slices])
	one := *s
	one.NT, one.ED, one.ES, one.TriggerTimes, one.PhaseNumbers = 1, 0, 0, nil, nil
	one.Data = slices.Clone(s.Phase(ph))
	one.Source = &src
	return &one
}

func TestExportSEGSunnybrook(t *testing.T) {
	dir := shareddata.Require(t, "sunnybrook/SCD0000101")
	st, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	full := st.Series[0]
	ref, err := contour.LoadSunnybrook(shareddata.Require(t, "sunnybrook/contours/SC-HF-I-1"), full)
	if err != nil {
		t.Fatal(err)
	}
	// A phase with expert contours, so the ensemble stand-in labels it.
	ph, k := -1, -1
	for tt := 0; tt < full.NT && ph < 0; tt++ {
		for kk := 0; kk < full.Dims[2]; kk++ {
			if _, myo := ref.Contoured(kk, tt); myo {
				ph, k = tt, kk
				break
			}
		}
	}
	s := onePhase(full, ph)
	w := New(Config{Engine: &DemoEngine{Labels: ref.Phases[ph : ph+1]}, SessionRoot: t.TempDir()})
	defer w.Close()
	if err := w.SetStudy(&study.Study{Path: dir, Series: []*study.Series{s}}); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	if err := w.ExportSEG(filepath.Join(out, "early.dcm"), 0); !errors.Is(err, ErrNotSegmented) {
		t.Fatalf("export before segmentation: %v", err)
	}
	if err := w.Segment(); err != nil {
		t.Fatal(err)
	}
	if err := w.ExportSEG(filepath.Join(out, "seg.nii.gz"), 0); err == nil || !strings.Contains(err.Error(), ".dcm") {
		t.Errorf("SEG named .nii.gz: %v", err)
	}
	if err := w.ExportSEG(filepath.Join(out, "late.dcm"), 1); err == nil || !strings.Contains(err.Error(), "phase 2 is not segmented") {
		t.Errorf("SEG of a phase that does not exist: %v", err)
	}

	auto := filepath.Join(out, "auto.dcm")
	if err := w.ExportSEG(auto, 0); err != nil {
		t.Fatal(err)
	}
	got, alg := readSEG(t, auto, s, 0)
	if !slices.Equal(got, w.Labels(0)) || !slices.Equal(alg, []string{"AUTOMATIC"}) {
		t.Fatalf("unedited export: labels equal %v, algorithms %v", slices.Equal(got, w.Labels(0)), alg)
	}

	// The reader paints RV on a contoured slice: the export follows and is
	// now semi-automatic.
	w.View().Phase, w.View().Slice = 0, k
	before := slices.Clone(w.Labels(0))
	if _, err := w.Paint([]session.Point{{I: 60, J: 60}, {I: 80, J: 60}}, 5, study.RV); err != nil {
		t.Fatal(err)
	}
	if slices.Equal(before, w.Labels(0)) {
		t.Fatal("the brush changed nothing")
	}
	edited := filepath.Join(out, "edited.dcm")
	if err := w.ExportSEG(edited, 0); err != nil {
		t.Fatal(err)
	}
	got, alg = readSEG(t, edited, s, 0)
	if !slices.Equal(got, w.Labels(0)) || !slices.Equal(alg, []string{"SEMIAUTOMATIC"}) {
		t.Fatalf("edited export: labels equal %v, algorithms %v", slices.Equal(got, w.Labels(0)), alg)
	}
	if ents, _ := os.ReadDir(out); len(ents) != 2 {
		t.Errorf("%d files in the export folder, want 2", len(ents))
	}
}
