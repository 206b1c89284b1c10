package dicomio

import (
	"fmt"
	"math"
	"math/rand"
	"path/filepath"
	"strings"
	"testing"

	"cmrseg/app/study"
)

// An oblique stack: row (0.6, 0.8, 0), column (0, 0, -1), so the normal
// row × column is (-0.8, 0.6, 0).
var (
	obl    = [6]float64{0.6, 0.8, 0, 0, 0, -1}
	oblN   = [3]float64{-0.8, 0.6, 0}
	origin = [3]float64{10, -20, 30}
)

func at(k float64, dz float64) [3]float64 {
	return [3]float64{origin[0] + k*dz*oblN[0], origin[1] + k*dz*oblN[1], origin[2] + k*dz*oblN[2]}
}

// cineFiles writes nk slices × nt phases; file names are random and
// InstanceNumbers run against the spatial order, so only the positions
// and trigger times can give the right order. number(k, t) identifies
// each image in its pixels.
func cineFiles(nk, nt int, mod func(k, t int, m *img)) map[string][]byte {
	rng := rand.New(rand.NewSource(1))
	files := map[string][]byte{}
	for k := 0; k < nk; k++ {
		for t := 0; t < nt; t++ {
			m := img{pos: at(float64(k), 8), orient: obl, trigger: 30 + 40*float64(t),
				number: (nk-1-k)*nt + (nt - t)} // reversed on purpose
			if mod != nil {
				mod(k, t, &m)
			}
			files[fmt.Sprintf("%08x", rng.Uint32())] = mrImage(m)
		}
	}
	return files
}

func TestOrderAndGeometry(t *testing.T) {
	const nk, nt = 4, 3
	dir := writeFiles(t, cineFiles(nk, nt, nil))
	st, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := st.Series[0]
	src := s.Source.(*study.DICOMSource)
	if s.Dims != [3]int{3, 4, nk} || s.NT != nt || !src.Cine {
		t.Fatalf("dims %v × %d, cine %v", s.Dims, s.NT, src.Cine)
	}
	// PixelSpacing 1.5\1.25 is rows\columns: i (columns) is 1.25 mm apart.
	if s.Spacing != [3]float64{1.25, 1.5, 8} {
		t.Errorf("spacing %v, want [1.25 1.5 8]", s.Spacing)
	}
	want := [3][3]float64{{0.6, 0.8, 0}, {0, 0, -1}, oblN}
	for a := 0; a < 3; a++ {
		for b := 0; b < 3; b++ {
			if math.Abs(s.Direction[a][b]-want[a][b]) > 1e-9 {
				t.Fatalf("direction %v, want %v", s.Direction, want)
			}
		}
	}
	if s.Origin != at(0, 8) {
		t.Errorf("origin %v, want %v", s.Origin, at(0, 8))
	}
	if s.TriggerTimes[0] != 30 || s.TriggerTimes[2] != 110 {
		t.Errorf("trigger times %v", s.TriggerTimes)
	}
	n := s.Dims[0] * s.Dims[1]
	for k := 0; k < nk; k++ {
		for tt := 0; tt < nt; tt++ {
			num := (nk-1-k)*nt + (nt - tt)
			fr := src.At(k, tt)
			if fr.InstanceNumber != num || fr.TriggerTime != 30+40*float64(tt) {
				t.Errorf("slice %d phase %d: instance %d at %g ms, want %d", k, tt, fr.InstanceNumber, fr.TriggerTime, num)
			}
			v := s.Data[(k+nk*tt)*n+5]
			if v != float32(100*num+5) {
				t.Errorf("slice %d phase %d: pixel %g, want %d", k, tt, v, 100*num+5)
			}
		}
	}
}

func TestPhasesByInstanceNumberWithoutTriggerTime(t *testing.T) {
	dir := writeFiles(t, cineFiles(2, 3, func(k, tt int, m *img) {
		m.trigger = -1
		m.number = 10*k + []int{5, 2, 9}[tt] // phase order 2, 5, 9 by number
	}))
	st, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := st.Series[0]
	src := s.Source.(*study.DICOMSource)
	if s.TriggerTimes != nil || src.Cine {
		t.Errorf("trigger times %v, cine %v: want none", s.TriggerTimes, src.Cine)
	}
	for k := 0; k < 2; k++ {
		for tt, want := range []int{2, 5, 9} {
			if got := src.At(k, tt).InstanceNumber; got != 10*k+want {
				t.Errorf("slice %d phase %d: instance %d, want %d", k, tt, got, 10*k+want)
			}
		}
	}
}

func TestSignedBitsStoredRescale(t *testing.T) {
	// 12 bits stored, signed; the top nibble holds garbage that must be ignored.
	px := []uint16{0x0800, 0xF7FF, 0xA123, 0x0FFF, 0, 1}
	b := mrImage(img{rows: 2, cols: 3, trigger: -1, number: 1, signed: true, bitsStored: 12,
		slope: 2, inter: -100, pixels: px})
	st, err := Open(writeFiles(t, map[string][]byte{"a.dcm": b}))
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{-2048*2 - 100, 2047*2 - 100, 0x123*2 - 100, -1*2 - 100, -100, 2 - 100}
	for i, w := range want {
		if got := st.Series[0].Data[i]; got != w {
			t.Errorf("pixel %d (stored %#04x): %g, want %g", i, px[i], got, w)
		}
	}
}

func TestInconsistentSeries(t *testing.T) {
	cases := []struct {
		name string
		mod  func(k, t int, m *img)
		want string
	}{
		{"mixed size", func(k, t int, m *img) {
			if k == 2 && t == 1 {
				m.rows, m.cols = 5, 3
			}
		}, "mixed image sizes"},
		{"mixed spacing", func(k, t int, m *img) {
			if k == 1 && t == 0 {
				m.spacing = [2]float64{1.5, 1.3}
			}
		}, "mixed pixel spacing"},
		{"missing slice", func(k, t int, m *img) {
			if k == 3 {
				m.pos = at(4, 8) // slice 3 missing: gap 16 mm
			}
		}, "uneven slice gaps"},
		{"not parallel", func(k, t int, m *img) {
			if k == 1 && t == 2 {
				c, s := math.Cos(0.1), math.Sin(0.1)
				m.orient = [6]float64{0.6 * c, 0.8 * c, s, 0, 0, -1}
			}
		}, "not parallel"},
		{"unequal phases", func(k, t int, m *img) {
			if k == 2 && t == 2 {
				m.pos = at(1, 8)
				m.trigger = 999
			}
		}, "unequal phase counts"},
		{"two stacks", func(k, t int, m *img) {
			if k == 0 && t == 1 {
				m.pos[2] += 3 // same plane, elsewhere in it
			}
		}, "positions"},
		{"sheared", func(k, t int, m *img) {
			m.pos[2] += 2 * float64(k)
		}, "shifted"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			files := cineFiles(4, 3, nil)
			var odd []string
			for name := range files {
				delete(files, name)
			}
			rng := rand.New(rand.NewSource(2))
			for k := 0; k < 4; k++ {
				for tt := 0; tt < 3; tt++ {
					m := img{pos: at(float64(k), 8), orient: obl, trigger: 30 + 40*float64(tt), number: 1 + k*3 + tt}
					before := m
					c.mod(k, tt, &m)
					name := fmt.Sprintf("f%d_%08x.dcm", m.number, rng.Uint32())
					if fmt.Sprint(before) != fmt.Sprint(m) {
						odd = append(odd, name)
					}
					files[name] = mrImage(m)
				}
			}
			r, err := Scan(writeFiles(t, files))
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Study.Series) != 0 || len(r.Skipped) != 1 {
				t.Fatalf("%d series loaded, %d skipped; want the series skipped", len(r.Study.Series), len(r.Skipped))
			}
			msg := r.Skipped[0].Reason.Error()
			t.Log(msg)
			if !strings.Contains(msg, c.want) {
				t.Errorf("reason %q, want %q", msg, c.want)
			}
			named := false
			for _, f := range odd {
				named = named || strings.Contains(msg, f)
			}
			if !named {
				t.Errorf("reason %q names none of the odd files %v", msg, odd)
			}
			if len(r.Skipped[0].Files) != 12 {
				t.Errorf("skipped series lists %d files, want 12", len(r.Skipped[0].Files))
			}
			if _, err := Open(filepath.Dir(r.Skipped[0].Files[0])); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Open: %v, want an error saying %q", err, c.want)
			}
		})
	}
}

func TestFolderTreeSeriesPickerOrder(t *testing.T) {
	files := map[string][]byte{}
	for name, b := range cineFiles(3, 4, nil) {
		files["exam/cine/"+name] = b
	}
	// A 5-slice non-cine series in another folder, and a 2-slice cine one.
	for k := 0; k < 5; k++ {
		files[fmt.Sprintf("exam/t1/%d", k)] = mrImage(img{pos: at(float64(k), 3), orient: obl, trigger: -1, number: k + 1, series: "1.2.3.50"})
	}
	for name, b := range cineFiles(2, 4, func(k, t int, m *img) { m.series = "1.2.3.60" }) {
		files["exam/cine2/"+name] = b
	}
	files["exam/README"] = []byte("not dicom\n")
	files["exam/copy/dup"] = files["exam/t1/2"] // the same instance again
	files["exam/DICOMDIR"] = file(explicitLE, elStr(4, 0x1130, "CS", "DIR"))
	r, err := Scan(writeFiles(t, files))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range r.Study.Series {
		got = append(got, fmt.Sprintf("%s:%dx%d", s.Meta.SeriesInstanceUID, s.Dims[2], s.NT))
	}
	want := "1.2.3.9:3x4 1.2.3.60:2x4 1.2.3.50:5x1"
	if strings.Join(got, " ") != want {
		t.Errorf("series order %v, want %s", got, want)
	}
	if len(r.Ignored) != 3 || len(r.Failed) != 0 || len(r.Skipped) != 0 {
		t.Errorf("ignored %v, failed %v, skipped %v; want README, DICOMDIR and the copy ignored", r.Ignored, r.Failed, r.Skipped)
	}
}

func TestNothingReadable(t *testing.T) {
	dir := writeFiles(t, map[string][]byte{"a.txt": []byte("hello"), "b/c.bin": make([]byte, 500)})
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "no DICOM images found") {
		t.Errorf("Open: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "missing")); err == nil {
		t.Error("Open of a missing path succeeded")
	}
	bad := writeFiles(t, map[string][]byte{"x.dcm": file("1.2.840.10008.1.2.4.51", elStr(8, 0x60, "CS", "MR"),
		el{g: 0x7FE0, e: 0x10, vr: "OB", val: []byte{1, 2}})})
	_, err := Open(bad)
	if err == nil || !strings.Contains(err.Error(), "x.dcm") || !strings.Contains(err.Error(), "JPEG Extended") ||
		!strings.Contains(err.Error(), "dcmdjpeg") {
		t.Errorf("Open of a JPEG file: %v", err)
	}
}
