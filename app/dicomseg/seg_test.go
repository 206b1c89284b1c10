package dicomseg

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"cmrseg/app/contour"
	"cmrseg/app/dicomio"
	"cmrseg/app/shareddata"
	"cmrseg/app/study"
)

// wantSegment is the coding the SEG must use for one label value: the
// specification of this package, written out independently of Segments.
type wantSegment struct {
	label uint8
	name  string
	typ   []string
}

var wantSegments = []wantSegment{
	{study.RV, "Right ventricle cavity", []string{"53085002", "SCT", "Right ventricle"}},
	{study.Myocardium, "Left ventricle myocardium", []string{"49848007", "SCT", "Left Ventricle Myocardium"}},
	{study.LV, "Left ventricle cavity", []string{"87878005", "SCT", "Left Ventricle"}},
}

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol*math.Max(1, math.Abs(b)) }

// check compares pydicom's reading of the SEG written for phase ph of s
// with the labels it was written from.
func check(t *testing.T, r *pyRead, s *study.Series, labels []uint8, ph int, algorithm string, info Info) {
	t.Helper()
	src := s.Source.(*study.DICOMSource)
	if r.SOPClass != "1.2.840.10008.5.1.4.1.1.66.4" || r.Modality != "SEG" || r.TransferSyntax != "1.2.840.10008.1.2.1" {
		t.Errorf("SOP class %s, modality %s, transfer syntax %s", r.SOPClass, r.Modality, r.TransferSyntax)
	}
	if r.SOPInstance != info.SOPInstanceUID || r.MediaSOP != r.SOPInstance || r.SeriesUID != info.SeriesInstanceUID {
		t.Errorf("SOP instance %s (meta %s, Info %s), series %s (Info %s)", r.SOPInstance, r.MediaSOP, info.SOPInstanceUID, r.SeriesUID, info.SeriesInstanceUID)
	}
	if !strings.HasPrefix(r.SOPInstance, "2.25.") || r.SeriesUID == src.SeriesInstanceUID || r.SOPInstance == r.SeriesUID {
		t.Errorf("new UIDs: instance %s, series %s (source series %s)", r.SOPInstance, r.SeriesUID, src.SeriesInstanceUID)
	}
	if r.StudyUID != src.StudyInstanceUID || r.FrameOfRef != src.FrameOfReferenceUID || r.PatientID != src.PatientID {
		t.Errorf("study %s / frame of reference %s / patient %s; source %s / %s / %s",
			r.StudyUID, r.FrameOfRef, r.PatientID, src.StudyInstanceUID, src.FrameOfReferenceUID, src.PatientID)
	}
	if r.Rows != s.Dims[1] || r.Cols != s.Dims[0] {
		t.Fatalf("%d rows × %d columns, series is %v", r.Rows, r.Cols, s.Dims)
	}
	if len(r.Spacing) != 2 || !near(r.Spacing[0], s.Spacing[1], 1e-12) || !near(r.Spacing[1], s.Spacing[0], 1e-12) {
		t.Errorf("PixelSpacing %v, series spacing %v", r.Spacing, s.Spacing)
	}
	wantIOP := append(s.Direction[0][:], s.Direction[1][:]...)
	for a := range wantIOP {
		if len(r.Orientation) != 6 || !near(r.Orientation[a], wantIOP[a], 1e-12) {
			t.Fatalf("ImageOrientationPatient %v, want %v", r.Orientation, wantIOP)
		}
	}

	// Segments: one per label present, numbered from 1 in label order.
	n, nk := s.Dims[0]*s.Dims[1], s.Dims[2]
	var present []wantSegment
	for _, w := range wantSegments {
		if slices.Contains(labels, w.label) {
			present = append(present, w)
		}
	}
	if len(r.Segments) != len(present) {
		t.Fatalf("%d segments, want %d", len(r.Segments), len(present))
	}
	for i, g := range r.Segments {
		w := present[i]
		if g.Number != i+1 || g.Label != w.name || g.Algorithm != algorithm || g.Name != "cmrseg" ||
			!slices.Equal(g.Category, []string{"123037004", "SCT", "Anatomical Structure"}) || !slices.Equal(g.Type, w.typ) {
			t.Errorf("segment %d: %+v; want %q %v %s", i+1, g, w.name, w.typ, algorithm)
		}
	}

	// Frames: exactly the non-empty (segment, slice) pairs, each on its
	// source image with that image's position and the labels' pixels.
	want := map[[2]int]bool{}
	for si, w := range present {
		for k := 0; k < nk; k++ {
			if slices.Contains(labels[k*n:(k+1)*n], w.label) {
				want[[2]int{si + 1, k}] = true
			}
		}
	}
	if r.Frames != len(want) || len(r.PerFrame) != len(want) {
		t.Fatalf("%d frames (%d per-frame items), want %d non-empty segment slices", r.Frames, len(r.PerFrame), len(want))
	}
	slice := func(sop string, frame int) int {
		for k := 0; k < nk; k++ {
			f := src.At(k, ph)
			if f.SOPInstanceUID == sop && (frame == 0 || frame == f.Frame) {
				return k
			}
		}
		return -1
	}
	seen := map[[2]int]bool{}
	for i, f := range r.PerFrame {
		k := slice(f.SOP, f.FrameNumber)
		key := [2]int{f.Segment, k}
		if k < 0 || !want[key] || seen[key] {
			t.Fatalf("frame %d: segment %d on %s (frame %d): slice %d, expected %v, repeated %v", i+1, f.Segment, f.SOP, f.FrameNumber, k, want[key], seen[key])
		}
		seen[key] = true
		sf := src.At(k, ph)
		if f.SOPClass != sf.SOPClassUID || !slices.Equal(f.Dim, []int{f.Segment, k + 1}) {
			t.Errorf("frame %d: source class %s (want %s), dimension index %v (want [%d %d])", i+1, f.SOPClass, sf.SOPClassUID, f.Dim, f.Segment, k+1)
		}
		for a := 0; a < 3; a++ {
			if len(f.IPP) != 3 || !near(f.IPP[a], sf.Position[a], 1e-12) {
				t.Fatalf("frame %d: ImagePositionPatient %v, source frame at %v", i+1, f.IPP, sf.Position)
			}
		}
		lab := present[f.Segment-1].label
		got := r.frame(i)
		for p, v := range labels[k*n : (k+1)*n] {
			if (v == lab) != (got[p] == 1) || got[p] > 1 {
				t.Fatalf("frame %d (segment %d, slice %d): pixel (%d,%d) is %d, label %d", i+1, f.Segment, k, p%s.Dims[0], p/s.Dims[0], got[p], v)
			}
		}
	}

	// The common instance reference lists every source image of the phase.
	var refs []string
	for k := 0; k < nk; k++ {
		if u := src.At(k, ph).SOPInstanceUID; !slices.Contains(refs, u) {
			refs = append(refs, u)
		}
	}
	if len(r.RefSeries) != 1 || r.RefSeries[0].UID != src.SeriesInstanceUID || !slices.Equal(r.RefSeries[0].Instances, refs) {
		t.Errorf("ReferencedSeriesSequence %+v, want series %s with %v", r.RefSeries, src.SeriesInstanceUID, refs)
	}
}

// sunnybrook reads the Sunnybrook series in dir and builds labels for the
// phase with epicardial contours: the experts' LV cavity and myocardium,
// plus an RV disc (the data set has no RV contours) beside the LV on every
// contoured slice and on one slice without LV contours, so that segments
// have different frame sets.
func sunnybrook(t *testing.T, dir string) (*study.Series, []uint8, int) {
	t.Helper()
	st, err := dicomio.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Series) != 1 {
		t.Fatalf("%d series in %s", len(st.Series), dir)
	}
	s := st.Series[0]
	ref, err := contour.LoadSunnybrook(shareddata.Require(t, "sunnybrook/contours/SC-HF-I-1"), s)
	if err != nil {
		t.Fatal(err)
	}
	ph := -1
	for tt := 0; tt < s.NT && ph < 0; tt++ {
		for k := 0; k < s.Dims[2]; k++ {
			if _, myo := ref.Contoured(k, tt); myo {
				ph = tt
				break
			}
		}
	}
	if ph < 0 {
		t.Fatal("no phase with epicardial contours")
	}
	labels := slices.Clone(ref.Phases[ph].Data)
	nx, ny := s.Dims[0], s.Dims[1]
	n := nx * ny
	disc := func(k int, ci, cj, r float64) {
		for j := 0; j < ny; j++ {
			for i := 0; i < nx; i++ {
				v := k*n + j*nx + i
				if labels[v] == study.Background && math.Hypot(float64(i)-ci, float64(j)-cj) <= r {
					labels[v] = study.RV
				}
			}
		}
	}
	extra := false
	for k := 0; k < s.Dims[2]; k++ {
		var c, si, sj float64
		for v, l := range labels[k*n : (k+1)*n] {
			if l == study.LV {
				c, si, sj = c+1, si+float64(v%nx), sj+float64(v/nx)
			}
		}
		switch {
		case c > 0:
			disc(k, si/c-28, sj/c, 10)
		case !extra:
			disc(k, float64(nx)/2, float64(ny)/2, 8)
			extra = true
		}
	}
	return s, labels, ph
}

// leadingZeroUIDs accepts dciodvfy's complaint about a UID component with
// a leading zero only for UIDs of the source (which the SEG must repeat
// verbatim to refer to the study and its images).
func leadingZeroUIDs(src *study.DICOMSource) func(string) bool {
	uids := map[string]bool{src.StudyInstanceUID: true, src.SeriesInstanceUID: true, src.FrameOfReferenceUID: true}
	for _, f := range src.Frames {
		uids[f.SOPInstanceUID] = true
	}
	return func(line string) bool {
		if line == "Error - Dicom dataset contains invalid data values for Value Representations" {
			return true // the summary of the lines checked here
		}
		i, j := strings.Index(line, "<"), strings.Index(line, ">")
		return strings.HasSuffix(line, "Leading zeroes in embedded numeric component(s)") && i >= 0 && j > i && uids[line[i+1:j]]
	}
}

func phasePaths(src *study.DICOMSource, ph int) []string {
	var p []string
	for k := 0; k < src.Slices; k++ {
		p = append(p, src.At(k, ph).Path)
	}
	return p
}

func TestSunnybrookSEG(t *testing.T) {
	s, labels, ph := sunnybrook(t, shareddata.Require(t, "sunnybrook/SCD0000101"))
	src := s.Source.(*study.DICOMSource)
	path := filepath.Join(t.TempDir(), "seg.dcm")
	start := time.Now()
	info, err := Write(path, s, labels, ph, Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(path)
	t.Logf("phase %d: %d frames, %d segments, %d bytes in %v", ph+1, info.Frames, len(info.Segments), st.Size(), time.Since(start))
	if len(info.Segments) != 3 {
		t.Fatalf("%d segments, want RV, myocardium and LV", len(info.Segments))
	}
	if bad := verify(t, path, leadingZeroUIDs(src)); len(bad) > 0 {
		t.Errorf("dciodvfy:\n%s", strings.Join(bad, "\n"))
	}
	if bad := verifyEntities(t, append([]string{path}, phasePaths(src, ph)...)...); len(bad) > 0 {
		t.Errorf("dcentvfy:\n%s", strings.Join(bad, "\n"))
	}
	dump(t, path)
	r := readBack(t, path, phasePaths(src, ph)...)
	check(t, r, s, labels, ph, "AUTOMATIC", info)
	// Positions as pydicom reads them from the source files themselves.
	for i, f := range r.PerFrame {
		want, ok := r.Sources[f.SOP]
		if !ok || !slices.Equal(f.IPP, want) {
			t.Fatalf("frame %d: ImagePositionPatient %v, source file says %v", i+1, f.IPP, want)
		}
	}
	if r.Thickness != 10 {
		t.Errorf("SliceThickness %g, the source's is 10 mm", r.Thickness)
	}
}

// pyCleanCopy copies a series with every UID component's leading zeros
// removed (Sunnybrook's anonymiser wrote UIDs that break the UI rules), so
// the SEG of a valid source can be required to have no error at all.
const pyCleanCopy = `
import sys, os, glob, warnings
warnings.simplefilter('ignore')
import pydicom
src, dst = sys.argv[1], sys.argv[2]
fix = lambda u: '.'.join(str(int(c)) for c in str(u).split('.'))
seen = set()
for f in sorted(glob.glob(os.path.join(src, '*.dcm'))):
    d = pydicom.dcmread(f)
    for kw in ('StudyInstanceUID', 'SeriesInstanceUID', 'SOPInstanceUID', 'FrameOfReferenceUID'):
        setattr(d, kw, fix(getattr(d, kw)))
    assert d.SOPInstanceUID not in seen
    seen.add(d.SOPInstanceUID)
    d.file_meta.MediaStorageSOPInstanceUID = d.SOPInstanceUID
    d.save_as(os.path.join(dst, os.path.basename(f)))
`

func TestSunnybrookCleanCopySEG(t *testing.T) {
	dir := shareddata.Require(t, "sunnybrook/SCD0000101")
	py := shareddata.Python(t, "pydicom")
	clean := t.TempDir()
	if out, err := exec.Command(py, "-c", pyCleanCopy, dir, clean).CombinedOutput(); err != nil {
		t.Fatalf("copying the series: %v\n%s", err, out)
	}
	s, labels, ph := sunnybrook(t, clean)
	src := s.Source.(*study.DICOMSource)
	path := filepath.Join(t.TempDir(), "seg.dcm")
	info, err := Write(path, s, labels, ph, Options{Edited: true, ContentCreator: "Reader^Test"})
	if err != nil {
		t.Fatal(err)
	}
	if bad := verify(t, path, nil); len(bad) > 0 {
		t.Errorf("dciodvfy:\n%s", strings.Join(bad, "\n"))
	}
	if bad := verifyEntities(t, append([]string{path}, phasePaths(src, ph)...)...); len(bad) > 0 {
		t.Errorf("dcentvfy:\n%s", strings.Join(bad, "\n"))
	}
	dump(t, path)
	check(t, readBack(t, path), s, labels, ph, "SEMIAUTOMATIC", info)
}

// synthetic is a small DICOM-sourced series: 13×7 pixels (91 per frame,
// so frames do not start on byte boundaries), nk slices, nt phases, on an
// oblique grid. With multiframe its frames come from one Enhanced MR
// instance.
func synthetic(nk, nt int, multiframe bool) *study.Series {
	c, sn := math.Cos(0.3), math.Sin(0.3)
	g := study.Geometry{
		Dims:      [3]int{13, 7, nk},
		Spacing:   [3]float64{0.7, 0.9, 8},
		Origin:    [3]float64{-10.5, 20.25, 33.125},
		Direction: [3][3]float64{{c, sn, 0}, {0, 0, -1}, {-sn, c, 0}},
	}
	src := &study.DICOMSource{
		StudyInstanceUID: "2.25.1001", SeriesInstanceUID: "2.25.1002", FrameOfReferenceUID: "2.25.1003",
		SeriesNumber: 7, Modality: "MR", TransferSyntaxUID: explicitVRLittleEndian,
		PatientName: "Müller^Jürgen", PatientID: "P-1", PatientBirthDate: "19700101", PatientSex: "M",
		StudyID: "42", StudyDate: "20240229", StudyTime: "101500", AccessionNumber: "A7",
		ReferringPhysicianName: "Doe^Jane", StudyDescription: "cardiac cine",
		SliceThickness: 7.5, Cine: nt > 1, GeometryKnown: true, Slices: nk,
		Frames: make([]study.DICOMFrame, nk*nt),
	}
	for tt := 0; tt < nt; tt++ {
		for k := 0; k < nk; k++ {
			f := study.DICOMFrame{
				SOPClassUID:    "1.2.840.10008.5.1.4.1.1.4",
				SOPInstanceUID: fmt.Sprintf("2.25.2%d%03d", tt+1, k+1),
				InstanceNumber: k + nk*tt + 1, Frame: 1,
				Position: g.VoxelToWorld(0, 0, float64(k)),
			}
			if multiframe {
				f.SOPClassUID, f.SOPInstanceUID, f.Frame = "1.2.840.10008.5.1.4.1.1.4.1", "2.25.3001", k+nk*tt+1
			}
			src.Frames[k+nk*tt] = f
		}
	}
	return &study.Series{Geometry: g, NT: nt, Data: make([]float32, g.N()*nt), ED: 0, ES: 1, Source: src}
}

// syntheticLabels: LV and myocardium on slices 0–1, RV alone on slice 2,
// nothing on slice 3.
func syntheticLabels(s *study.Series) []uint8 {
	nx, ny := s.Dims[0], s.Dims[1]
	lab := make([]uint8, s.N())
	for k := 0; k < s.Dims[2]; k++ {
		for j := 0; j < ny; j++ {
			for i := 0; i < nx; i++ {
				d := math.Hypot(float64(i)-6+float64(k), float64(j)-3)
				v := &lab[k*nx*ny+j*nx+i]
				switch {
				case k < 2 && d < 1.6:
					*v = study.LV
				case k < 2 && d < 3:
					*v = study.Myocardium
				case k == 2 && i > 8:
					*v = study.RV
				}
			}
		}
	}
	return lab
}

func TestSyntheticSEG(t *testing.T) {
	s := synthetic(4, 3, false)
	labels := syntheticLabels(s)
	dir := t.TempDir()
	path := filepath.Join(dir, "synthetic.dcm")
	info, err := Write(path, s, labels, 1, Options{Edited: true, SeriesNumber: 99, Now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	if info.Frames != 5 {
		t.Errorf("%d frames, want 2 LV + 2 myocardium + 1 RV", info.Frames)
	}
	if bad := verify(t, path, nil); len(bad) > 0 {
		t.Errorf("dciodvfy:\n%s", strings.Join(bad, "\n"))
	}
	out := dump(t, path)
	for _, want := range []string{"(0020,0011) IS [99]", "(0008,0023) DA [20260102]", "(0008,0033) TM [030405]", "(0008,0020) DA [20240229]", "(0010,0030) DA [19700101]"} {
		if !strings.Contains(out, want) {
			t.Errorf("dcmdump lacks %s", want)
		}
	}
	r := readBack(t, path)
	check(t, r, s, labels, 1, "SEMIAUTOMATIC", info)
	if r.Charset != "ISO_IR 192" || r.PatientName != "Müller^Jürgen" {
		t.Errorf("character set %q, patient name %q", r.Charset, r.PatientName)
	}
	if r.Thickness != 7.5 {
		t.Errorf("SliceThickness %g, source says 7.5", r.Thickness)
	}
	// Pixel data: 5 frames × 91 bits = 455 bits in 57 bytes, padded to 58.
	raw, _ := os.ReadFile(path)
	if !bytes.HasSuffix(raw[:len(raw)-58], []byte{0xE0, 0x7F, 0x10, 0x00, 'O', 'B', 0, 0, 58, 0, 0, 0}) {
		t.Errorf("pixel data element header is not OB with 58 bytes: % x", raw[len(raw)-70:len(raw)-58])
	}
}

func TestMultiFrameSource(t *testing.T) {
	s := synthetic(4, 2, true)
	labels := syntheticLabels(s)
	path := filepath.Join(t.TempDir(), "mf.dcm")
	info, err := Write(path, s, labels, 1, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if bad := verify(t, path, nil); len(bad) > 0 {
		t.Errorf("dciodvfy:\n%s", strings.Join(bad, "\n"))
	}
	r := readBack(t, path)
	check(t, r, s, labels, 1, "AUTOMATIC", info)
	src := s.Source.(*study.DICOMSource)
	for i, f := range r.PerFrame {
		k := f.Dim[1] - 1
		if f.FrameNumber != src.At(k, 1).Frame {
			t.Errorf("frame %d refers to source frame %d, want %d", i+1, f.FrameNumber, src.At(k, 1).Frame)
		}
	}
}

func TestErrors(t *testing.T) {
	good := synthetic(4, 2, false)
	labels := syntheticLabels(good)
	nifti := synthetic(4, 2, false)
	nifti.Source = nil
	noGeom := synthetic(4, 2, false)
	noGeom.Source.(*study.DICOMSource).GeometryKnown = false
	short := synthetic(4, 2, false)
	short.Source.(*study.DICOMSource).Frames = short.Source.(*study.DICOMSource).Frames[:5]
	noUID := synthetic(4, 2, false)
	noUID.Source.(*study.DICOMSource).Frames[5].SOPInstanceUID = ""
	bad := slices.Clone(labels)
	bad[17] = 9
	cases := []struct {
		name   string
		s      *study.Series
		labels []uint8
		t      int
		want   string
	}{
		{"no series", nil, labels, 0, "no series"},
		{"not DICOM", nifti, labels, 0, "not read from DICOM"},
		{"labels too short", good, labels[:100], 0, "100 labels for a 13×7×4 volume"},
		{"phase below range", good, labels, -1, "phase 0 is out of range"},
		{"phase above range", good, labels, 2, "phase 3 is out of range (the series has 2 phases)"},
		{"unknown label", good, bad, 0, "voxel 17 has label 9"},
		{"empty", good, make([]uint8, good.N()), 0, "phase 1 has no labelled voxels"},
		{"no geometry", noGeom, labels, 0, "lack ImagePositionPatient"},
		{"frames missing", short, labels, 0, "lists 5 frames"},
		{"no SOP UID", noUID, labels, 1, "slice 2 has no SOPClassUID/SOPInstanceUID"},
	}
	long := Options{SeriesDescription: strings.Repeat("x", 65)}
	dir := t.TempDir()
	for _, c := range cases {
		path := filepath.Join(dir, c.name+".dcm")
		_, err := Write(path, c.s, c.labels, c.t, Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %v, want one naming %s and saying %q", c.name, err, path, c.want)
		}
	}
	if _, err := Write(filepath.Join(dir, "long.dcm"), good, labels, 0, long); err == nil || !strings.Contains(err.Error(), "65 characters") {
		t.Errorf("65-character series description: %v", err)
	}
	// Nothing was written, not even a temporary file.
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("%d files left by failed exports", len(ents))
	}
	if _, err := Write(filepath.Join(dir, "missing", "x.dcm"), good, labels, 0, Options{}); err == nil {
		t.Error("write into a missing folder succeeded")
	}
	// A second export replaces the first whole.
	path := filepath.Join(dir, "twice.dcm")
	a, err := Write(path, good, labels, 0, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Write(path, good, labels, 1, Options{})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if a.SOPInstanceUID == b.SOPInstanceUID || !bytes.Contains(raw, []byte(b.SOPInstanceUID)) || bytes.Contains(raw, []byte(a.SOPInstanceUID)) {
		t.Error("the second export did not replace the first")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%d files in the export folder, want 1", len(ents))
	}
}

func TestFormatDS(t *testing.T) {
	for _, v := range []float64{0, math.Copysign(0, -1), 1, -1.3671875, 10, -134.297241210938, 0.1 + 0.2,
		1e-20, -1.2345678901234567e-5, 123456789012345678, -0.000123456789012345, 2.5e300, math.Pi} {
		s := formatDS(v)
		back, err := strconv.ParseFloat(s, 64)
		if len(s) > 16 || err != nil || !near(back, v, 1e-9) {
			t.Errorf("formatDS(%v) = %q (%d characters), reads back as %v, %v", v, s, len(s), back, err)
		}
	}
	if s := formatDS(-134.297); s != "-134.297" {
		t.Errorf("formatDS(-134.297) = %q: a value that fits is written exactly", s)
	}
}

func TestEncodeRejectsDuplicates(t *testing.T) {
	if _, err := encodeDataset([]elem{str(tg(0x0010, 0x0010), "PN", "a"), str(tg(0x0010, 0x0010), "PN", "b")}); err == nil {
		t.Error("duplicate element accepted")
	}
	if _, err := encodeDataset([]elem{{tag: tg(0x0008, 0x0104), vr: "LO", value: make([]byte, 70000)}}); err == nil {
		t.Error("LO value longer than a 16-bit length accepted")
	}
}
