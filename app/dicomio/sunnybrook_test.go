package dicomio

import (
	"math"
	"path/filepath"
	"testing"
	"time"

	"cmrseg/app/shareddata"
	"cmrseg/app/study"
)

func TestSunnybrookSeries(t *testing.T) {
	dir := shareddata.Require(t, "sunnybrook/SCD0000101")
	start := time.Now()
	st, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Open: %v", time.Since(start))
	if len(st.Series) != 1 {
		t.Fatalf("%d series, want 1", len(st.Series))
	}
	s := st.Series[0]
	src := s.Source.(*study.DICOMSource)
	if s.Dims != [3]int{256, 256, 12} || s.NT != 20 {
		t.Fatalf("dims %v × %d phases, want [256 256 12] × 20", s.Dims, s.NT)
	}
	if !src.Cine || !src.GeometryKnown {
		t.Errorf("cine %v, geometry known %v; want both", src.Cine, src.GeometryKnown)
	}
	if math.Abs(s.Spacing[0]-1.367) > 0.001 || math.Abs(s.Spacing[1]-1.367) > 0.001 {
		t.Errorf("in-plane spacing %v, want 1.367 mm", s.Spacing)
	}
	if math.Abs(s.Spacing[2]-10) > 0.05 {
		t.Errorf("slice spacing %.3f mm, want 10", s.Spacing[2])
	}
	t.Logf("spacing %v, origin %v, direction %v", s.Spacing, s.Origin, s.Direction)
	if len(src.Frames) != 240 || len(s.Meta.SourcePaths) != 240 {
		t.Fatalf("%d frames from %d files, want 240", len(src.Frames), len(s.Meta.SourcePaths))
	}

	// Positions strictly increase along the slice normal, by the spacing,
	// and every phase of a slice shares its position: checked against the
	// files' own headers, read by pydicom below.
	py := pydicomRead(t, s.Meta.SourcePaths)
	if n := compareWithPydicom(t, s, py); n != 240 {
		t.Errorf("compared %d frames with pydicom, want 240", n)
	}
	geo := pydicomGeometry(t, s.Meta.SourcePaths)
	normal := s.Direction[2]
	for k := 0; k < 12; k++ {
		for tt := 0; tt < 20; tt++ {
			g := geo[src.At(k, tt).Path]
			want := s.VoxelToWorld(0, 0, float64(k))
			for a := 0; a < 3; a++ {
				if math.Abs(g.IPP[a]-want[a]) > 0.01 {
					t.Fatalf("slice %d phase %d (%s): IPP %v, geometry puts it at %v", k, tt, src.At(k, tt).Path, g.IPP, want)
				}
			}
			if tt > 0 && !(g.Trigger > geo[src.At(k, tt-1).Path].Trigger) {
				t.Errorf("slice %d: trigger times not increasing at phase %d", k, tt)
			}
		}
		if k > 0 {
			d0 := dot(geo[src.At(k-1, 0).Path].IPP, normal)
			d1 := dot(geo[src.At(k, 0).Path].IPP, normal)
			if !(d1 > d0) {
				t.Errorf("slice %d at %.2f mm along the normal, not above slice %d at %.2f", k, d1, k-1, d0)
			}
		}
	}
	// The normal is the cross product of pydicom's row and column cosines.
	g0 := geo[src.At(0, 0).Path]
	n := cross([3]float64{g0.IOP[0], g0.IOP[1], g0.IOP[2]}, [3]float64{g0.IOP[3], g0.IOP[4], g0.IOP[5]})
	for a := 0; a < 3; a++ {
		if math.Abs(n[a]-normal[a]) > 1e-4 {
			t.Fatalf("normal %v, pydicom's IOP gives %v", normal, n)
		}
	}
	// File N.dcm has InstanceNumber N (data README).
	for _, fr := range src.Frames {
		if filepath.Base(fr.Path) != itoa(fr.InstanceNumber)+".dcm" {
			t.Fatalf("%s has InstanceNumber %d", fr.Path, fr.InstanceNumber)
		}
	}
	if s.Meta.SeriesInstanceUID == "" || s.Meta.StudyInstanceUID == "" || src.FrameOfReferenceUID == "" {
		t.Errorf("missing UIDs: %+v", s.Meta)
	}
	// The anonymised StudyDate is 20120000, which is not a date: unknown.
	if s.Meta.Manufacturer != "GE MEDICAL SYSTEMS" || s.Meta.Model != "SIGNA HDx" || !s.Meta.StudyDate.IsZero() || s.Meta.PatientID != "SCD0000101" {
		t.Errorf("metadata: %+v", s.Meta)
	}
	t.Logf("meta: %s %s %q, %s, height %g m, weight %g kg, triggers %.1f..%.1f ms",
		s.Meta.Manufacturer, s.Meta.Model, s.Meta.SeriesDescription, s.Meta.StudyDate.Format("2006-01-02"),
		s.Meta.HeightM, s.Meta.WeightKg, s.TriggerTimes[0], s.TriggerTimes[19])
}
