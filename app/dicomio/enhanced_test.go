package dicomio

import (
	"math"
	"strings"
	"testing"

	"cmrseg/app/study"
)

func TestEnhancedMRMultiFrame(t *testing.T) {
	const nk, nt = 3, 4
	dir := writeFiles(t, map[string][]byte{"enh.dcm": enhancedMR(nk, nt, 7)})
	st, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := st.Series[0]
	src := s.Source.(*study.DICOMSource)
	if s.Dims != [3]int{2, 3, nk} || s.NT != nt || !src.Cine || !src.GeometryKnown {
		t.Fatalf("dims %v × %d, cine %v, geometry %v", s.Dims, s.NT, src.Cine, src.GeometryKnown)
	}
	if s.Spacing != [3]float64{1.25, 1.5, 6} || s.Origin != at(0, 6) {
		t.Errorf("spacing %v origin %v", s.Spacing, s.Origin)
	}
	for a := 0; a < 3; a++ {
		if math.Abs(s.Direction[2][a]-oblN[a]) > 1e-9 {
			t.Fatalf("normal %v, want %v", s.Direction[2], oblN)
		}
	}
	for tt := 0; tt < nt; tt++ {
		if s.TriggerTimes[tt] != 25+50*float64(tt) {
			t.Errorf("trigger times %v", s.TriggerTimes)
		}
	}
	if src.FrameOfReferenceUID != "1.2.3.78" || src.Frames[0].SOPClassUID != "1.2.840.10008.5.1.4.1.1.4.1" {
		t.Errorf("source %+v", src)
	}
	// Pixel 0 of (k, t) stored at frame f is 10k+t+f, rescaled by slope
	// 1+t and intercept -k.
	n := s.Dims[0] * s.Dims[1]
	seen := map[int]bool{}
	for k := 0; k < nk; k++ {
		for tt := 0; tt < nt; tt++ {
			f := src.At(k, tt).Frame - 1
			seen[f] = true
			want := float32(float64(10*k+tt+f)*float64(1+tt) - float64(k))
			if got := s.Data[(k+nk*tt)*n]; got != want {
				t.Errorf("slice %d phase %d (frame %d): %g, want %g", k, tt, f+1, got, want)
			}
			// Each frame keeps its own position for writers (DICOM SEG).
			if p, w := src.At(k, tt).Position, at(float64(k), 6); math.Abs(p[0]-w[0])+math.Abs(p[1]-w[1])+math.Abs(p[2]-w[2]) > 1e-9 {
				t.Errorf("slice %d phase %d: Position %v, want %v", k, tt, p, w)
			}
		}
	}
	if len(seen) != nk*nt {
		t.Errorf("%d distinct frames used, want %d", len(seen), nk*nt)
	}
	// pydicom agrees on every frame's values after its per-frame rescale.
	py := pydicomRead(t, s.Meta.SourcePaths)
	if got := compareWithPydicom(t, s, py); got != nk*nt {
		t.Errorf("compared %d frames with pydicom", got)
	}
}

func TestEnhancedMRFrameCountMismatch(t *testing.T) {
	b := enhancedMR(2, 2, 1)
	// Claim 5 frames; the per-frame sequence holds 4 (IS "4" -> "5").
	i := indexOf(b, []byte("IS\x02\x004 "))
	if i < 0 {
		t.Fatal("NumberOfFrames not found")
	}
	b[i+4] = '5'
	_, err := parseFile("enh.dcm", b, false)
	if err == nil || !strings.Contains(err.Error(), "enh.dcm") || !strings.Contains(err.Error(), "5 frames") {
		t.Fatalf("err %v", err)
	}
}

func indexOf(b, sub []byte) int {
	for i := 0; i+len(sub) <= len(b); i++ {
		if string(b[i:i+len(sub)]) == string(sub) {
			return i
		}
	}
	return -1
}
