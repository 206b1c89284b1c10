package dicomio

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cmrseg/app/geom"
	"cmrseg/app/membudget"
)

// Series whose slices would silently collapse into one (issue 21, item 3):
// each must fail with ErrGeometry and name the files involved.
func TestCollapsedSlicesAreRefused(t *testing.T) {
	loc := func(v float64) *float64 { return &v }
	cases := []struct {
		name string
		mod  func(k, t int, m *img)
		want string
	}{
		{"equal IPP, trigger times", func(k, t int, m *img) { m.pos = origin }, "duplicate position and time"},
		{"equal IPP, no time, SliceLocation", func(k, t int, m *img) {
			m.pos, m.trigger, m.sliceLoc = origin, -1, loc(8*float64(k))
		}, "SliceLocation"},
		{"equal IPP, no time, CardiacNumberOfImages", func(k, t int, m *img) {
			m.pos, m.trigger, m.cardiac = origin, -1, 3
		}, "declares CardiacNumberOfImages 3"},
		{"no IPP anywhere, trigger times", func(k, t int, m *img) { m.noPos = true }, "duplicate position and time"},
		{"no IOP anywhere, trigger times", func(k, t int, m *img) { m.noOrient = true }, "positions 8.00 mm apart"},
		{"no IPP nor time", func(k, t int, m *img) { m.noPos, m.trigger = true, -1 }, "cannot tell slices from phases"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := writeFiles(t, cineFiles(2, 3, c.mod))
			_, err := Open(dir)
			var ge *GeometryError
			if !errors.Is(err, ErrGeometry) || !errors.As(err, &ge) {
				t.Fatalf("Open: %v; want a GeometryError", err)
			}
			if !strings.Contains(err.Error(), c.want) || len(ge.Files) < 2 {
				t.Errorf("error %q (files %v); want %q and the files named", err, ge.Files, c.want)
			}
		})
	}
}

// A duplicate file (same position and time, another SOPInstanceUID) is named.
func TestDuplicatePositionAndTimeNamesFiles(t *testing.T) {
	files := cineFiles(3, 2, nil)
	files["zz-copy"] = mrImage(img{pos: at(1, 8), orient: obl, trigger: 70, number: 99})
	_, err := Open(writeFiles(t, files))
	if !errors.Is(err, ErrGeometry) || !strings.Contains(err.Error(), "zz-copy") || !strings.Contains(err.Error(), "trigger time 70 ms") {
		t.Fatalf("Open: %v; want duplicate position and time naming zz-copy", err)
	}
}

// A real single-slice cine without any geometry stays readable.
func TestSingleSliceWithoutGeometryStillLoads(t *testing.T) {
	st, err := Open(writeFiles(t, cineFiles(1, 4, func(k, t int, m *img) { m.noPos, m.noOrient = true, true })))
	if err != nil {
		t.Fatal(err)
	}
	if s := st.Series[0]; s.Dims[2] != 1 || s.NT != 4 {
		t.Errorf("dims %v × %d, want one slice × 4 phases", s.Dims, s.NT)
	}
}

func TestImplausibleSpacingIsRefused(t *testing.T) {
	for _, sp := range [][2]float64{{1000, 1000}, {1e6, 1e6}, {1e-4, 1e-4}} {
		dir := writeFiles(t, cineFiles(2, 2, func(k, t int, m *img) { m.spacing = sp }))
		if _, err := Open(dir); !errors.Is(err, geom.ErrImplausible) {
			t.Errorf("spacing %v: %v; want geom.ErrImplausible", sp, err)
		}
	}
}

func TestSeriesOverBudget(t *testing.T) {
	defer membudget.SetLimit(membudget.SetLimit(64))
	_, err := Open(writeFiles(t, cineFiles(2, 2, nil)))
	if !errors.Is(err, membudget.ErrOverBudget) {
		t.Fatalf("Open under a 64-byte budget: %v", err)
	}
}

// Symlinks (item 4): a linked root and linked files are followed, a loop
// is not, and a file reached through two links is read once.
func TestSymlinks(t *testing.T) {
	real := writeFiles(t, cineFiles(3, 2, nil))
	base := t.TempDir()
	link := filepath.Join(base, "study")
	must(t, os.Symlink(real, link))

	st, err := Open(link)
	if err != nil {
		t.Fatalf("symlinked root: %v", err)
	}
	if s := st.Series[0]; s.Dims[2] != 3 || s.NT != 2 {
		t.Errorf("symlinked root: dims %v × %d", s.Dims, s.NT)
	}

	// A folder of links to the files, twice each, plus a loop back up.
	farm := filepath.Join(base, "farm")
	must(t, os.Mkdir(farm, 0o755))
	ents, _ := os.ReadDir(real)
	for _, e := range ents {
		must(t, os.Symlink(filepath.Join(real, e.Name()), filepath.Join(farm, e.Name()+".dcm")))
		must(t, os.Symlink(filepath.Join(real, e.Name()), filepath.Join(farm, e.Name()+"-again.dcm")))
	}
	must(t, os.Symlink(base, filepath.Join(farm, "loop")))
	must(t, os.Symlink(filepath.Join(base, "nowhere"), filepath.Join(farm, "dangling")))
	paths, err := listFiles(farm)
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != len(ents) {
		t.Errorf("listFiles found %d files through links, want each of %d once: %v", len(paths), len(ents), paths)
	}
	r, err := Scan(farm)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Study.Series) != 1 || len(r.Ignored) != 0 {
		t.Errorf("farm: %d series, ignored %v", len(r.Study.Series), r.Ignored)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestWriteCorpus writes the DICOM cases of issue 21 to $CMRSEG_CORPUS
// (skipped otherwise): collapsed slices, missing geometry, a duplicate,
// a symlinked study folder and a folder of symlinked files.
func TestWriteCorpus(t *testing.T) {
	dir := os.Getenv("CMRSEG_CORPUS")
	if dir == "" {
		t.Skip("set CMRSEG_CORPUS to write the corpus")
	}
	put := func(name string, files map[string][]byte) string {
		d := filepath.Join(dir, name)
		os.MkdirAll(d, 0o755)
		for n, b := range files {
			must(t, os.WriteFile(filepath.Join(d, n+".dcm"), b, 0o644))
		}
		return d
	}
	big := func(k, tt int, m *img) { m.rows, m.cols, m.spacing = 64, 64, [2]float64{1.5, 1.5} }
	put("dcm-equal-ipp", cineFiles(2, 3, func(k, tt int, m *img) { big(k, tt, m); m.pos = origin }))
	put("dcm-no-ipp", cineFiles(2, 3, func(k, tt int, m *img) { big(k, tt, m); m.noPos = true }))
	put("dcm-no-iop", cineFiles(2, 3, func(k, tt int, m *img) { big(k, tt, m); m.noOrient = true }))
	files := cineFiles(3, 2, big)
	dup := img{pos: at(1, 8), orient: obl, trigger: 70, number: 99}
	big(0, 0, &dup)
	files["zz-copy"] = mrImage(dup)
	put("dcm-duplicate", files)
	good := put("dcm-good", cineFiles(3, 2, big))
	os.Remove(filepath.Join(dir, "dcm-link"))
	must(t, os.Symlink(good, filepath.Join(dir, "dcm-link")))
	farm := filepath.Join(dir, "dcm-linked-files")
	os.MkdirAll(farm, 0o755)
	ents, _ := os.ReadDir(good)
	for _, e := range ents {
		os.Symlink(filepath.Join(good, e.Name()), filepath.Join(farm, e.Name()))
	}
	os.Symlink(dir, filepath.Join(farm, "loop"))
}
