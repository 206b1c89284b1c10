package anonymise

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"cmrseg/app/dicomio"
	"cmrseg/app/dicomseg"
	"cmrseg/app/shareddata"
	"cmrseg/app/study"
)

func sunnybrookDir(t *testing.T) string {
	return shareddata.Require(t, "sunnybrook/SCD0000101")
}

func newA(t *testing.T) *Anonymiser {
	t.Helper()
	a, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// identity collects what must not survive from a set of source files:
// patient name and ID, every instance UID the table replaces (in any
// sequence) and every date.
func identity(t *testing.T, files []string) map[string]string {
	t.Helper()
	secret := map[string]string{}
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		err = Walk(data, func(tag uint32, vr string, v []byte, depth int) {
			s := strings.TrimRight(string(v), " \x00")
			if s == "" {
				return
			}
			r, inTable := byTag[tag]
			switch {
			case tag == tPatientName || tag == tPatientID:
				secret[s] = "patient " + tagString(tag)
			case vr == "UI" && inTable && r.Basic == "U":
				for _, u := range strings.Split(s, `\`) {
					secret[u] = "UID " + tagString(tag)
				}
			case vr == "DA" || vr == "DT":
				secret[s] = "date " + tagString(tag)
			}
		})
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	return secret
}

// leaks scans every element of every file (meta group, sequences, pixel
// data excluded) for any of the secret values.
func leaks(t *testing.T, files []string, secret map[string]string) []string {
	t.Helper()
	var bad []string
	for _, p := range files {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		err = Walk(data, func(tag uint32, vr string, v []byte, depth int) {
			if tag == tagPixelData {
				return
			}
			s := string(v)
			for orig, what := range secret {
				// Placeholder dates such as 00000000 are short digit runs
				// that can occur inside replaced UIDs by chance; dates are
				// checked as whole values.
				if strings.HasPrefix(what, "date") {
					if strings.TrimRight(s, " \x00") == orig {
						bad = append(bad, fmt.Sprintf("%s %s (depth %d) keeps the %s %q", filepath.Base(p), tagString(tag), depth, what, orig))
					}
					continue
				}
				if strings.Contains(s, orig) {
					bad = append(bad, fmt.Sprintf("%s %s (depth %d) keeps the %s %q", filepath.Base(p), tagString(tag), depth, what, orig))
				}
			}
		})
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	return bad
}

func dcmFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.dcm"))
	if err != nil || len(m) == 0 {
		t.Fatalf("no .dcm files in %s (%v)", dir, err)
	}
	sort.Strings(m)
	return m
}

// TestSunnybrookSeries anonymises the real series and checks that no
// name, ID, UID or date of the source survives anywhere in the output,
// that the de-identification record is there, and that the images read
// back as the same series, voxel for voxel.
func TestSunnybrookSeries(t *testing.T) {
	src := sunnybrookDir(t)
	out := filepath.Join(t.TempDir(), "anon")
	a := newA(t)
	res, err := a.Dir(src, out)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Written) != 240 {
		t.Fatalf("wrote %d files, want 240", len(res.Written))
	}
	in := dcmFiles(t, src)
	secret := identity(t, in)
	t.Logf("%d identifying values collected from the source; report %+v", len(secret), res.Report)
	if len(secret) < 240 {
		t.Fatalf("only %d identifying values found in 240 files: the scan is broken", len(secret))
	}
	if bad := leaks(t, res.Written, secret); len(bad) > 0 {
		t.Fatalf("%d original values survive, e.g. %s", len(bad), strings.Join(bad[:min(5, len(bad))], "; "))
	}
	// Sanity of the scan itself: it finds the originals in the originals.
	if bad := leaks(t, in[:1], secret); len(bad) == 0 {
		t.Fatal("the leak scan finds nothing in the source itself")
	}
	f, err := Fields(mustRead(t, res.Written[0]), tPatientName, tPatientID, tIdentityRemoved, tDeidMethod, tLongitudinal, 0x00020003, 0x00080018, tImplClass)
	if err != nil {
		t.Fatal(err)
	}
	if f[tPatientName] != a.Pseudonym("SCD0000101") || f[tPatientID] != f[tPatientName] {
		t.Errorf("patient name/ID %q/%q, want the pseudonym %q", f[tPatientName], f[tPatientID], a.Pseudonym("SCD0000101"))
	}
	if f[tIdentityRemoved] != "YES" || f[tDeidMethod] != MethodDescription || f[tLongitudinal] != "MODIFIED" {
		t.Errorf("de-identification record: %v", f)
	}
	if f[0x00020003] != f[0x00080018] || f[tImplClass] != ImplementationClassUID {
		t.Errorf("meta: media storage UID %q vs SOP instance %q, implementation %q", f[0x00020003], f[0x00080018], f[tImplClass])
	}
	codes := 0
	if err := Walk(mustRead(t, res.Written[0]), func(tag uint32, vr string, v []byte, depth int) {
		if tag == 0x00080100 && depth == 1 {
			codes++
			if s := strings.TrimSpace(string(v)); s != "113100" && s != "113107" {
				t.Errorf("method code %q", s)
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if codes != 2 {
		t.Errorf("%d DeidentificationMethodCodeSequence codes, want 113100 and 113107", codes)
	}

	orig, err := dicomio.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	back, err := dicomio.Open(out)
	if err != nil {
		t.Fatalf("the anonymised series does not read back: %v", err)
	}
	so, sb := orig.Series[0], back.Series[0]
	if sb.Dims != so.Dims || sb.NT != so.NT || !slices.Equal(sb.Data, so.Data) || sb.Geometry != so.Geometry {
		t.Fatalf("anonymised series differs: dims %v×%d vs %v×%d, voxels equal %v", sb.Dims, sb.NT, so.Dims, so.NT, slices.Equal(sb.Data, so.Data))
	}
	if !slices.Equal(sb.TriggerTimes, so.TriggerTimes) {
		t.Errorf("trigger times changed")
	}
	ds, do := sb.Source.(*study.DICOMSource), so.Source.(*study.DICOMSource)
	if ds.StudyInstanceUID != a.UID(do.StudyInstanceUID) || ds.SeriesInstanceUID != a.UID(do.SeriesInstanceUID) || ds.FrameOfReferenceUID != a.UID(do.FrameOfReferenceUID) {
		t.Errorf("study/series/frame of reference UIDs not mapped consistently")
	}
	for i := range do.Frames {
		if ds.Frames[i].SOPInstanceUID != a.UID(do.Frames[i].SOPInstanceUID) {
			t.Fatalf("frame %d: SOP instance %s, want %s", i, ds.Frames[i].SOPInstanceUID, a.UID(do.Frames[i].SOPInstanceUID))
		}
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withDates rewrites a source file with real dates (the Sunnybrook files
// carry placeholders such as 20120000), so shifting can be checked.
func withDates(t *testing.T, data []byte, dates map[uint32]string) []byte {
	t.Helper()
	f, err := parseFile(data)
	if err != nil {
		t.Fatal(err)
	}
	for tag, v := range dates {
		vr := "DA"
		if len(v) > 8 {
			vr = "DT"
		}
		f.dataset = set(f.dataset, tag, vr, v)
	}
	out, err := f.encode()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDatesShiftedConsistently gives two files of one patient real dates,
// anonymises them and checks every date moved by the same number of
// days (1 to 11 years back), the intervals between dates are kept, times
// are untouched, and another key gives another shift.
func TestDatesShiftedConsistently(t *testing.T) {
	src := sunnybrookDir(t)
	dates := map[uint32]string{
		0x00080020: "20120314", // study
		0x00080021: "20120314", // series
		0x00080022: "20120315", // acquisition (next day)
		0x00080023: "20120402", // content
		0x00100030: "19560229", // birth (a leap day)
		0x0008002A: "20120315083920.638055",
	}
	a := newA(t)
	var shifts []int
	for _, name := range []string{"1.dcm", "37.dcm"} {
		data := withDates(t, mustRead(t, filepath.Join(src, name)), dates)
		out, rep, err := a.File(data)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Dates != len(dates) {
			t.Errorf("%s: %d dates shifted, want %d (report %+v)", name, rep.Dates, len(dates), rep)
		}
		times := []uint32{0x00080030, 0x00080031, 0x00080032, 0x00080033}
		f, err := Fields(out, append([]uint32{0x00080020, 0x00080021, 0x00080022, 0x00080023, 0x00100030, 0x0008002A}, times...)...)
		if err != nil {
			t.Fatal(err)
		}
		fo, err := Fields(data, times...)
		if err != nil {
			t.Fatal(err)
		}
		day := func(v string) time.Time {
			if len(v) < 8 {
				t.Fatalf("%s: date %q", name, v)
			}
			d, err := time.Parse("20060102", v[:8])
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return d
		}
		shift := int(day(f[0x00080020]).Sub(day(dates[0x00080020])).Hours() / 24)
		for tag, v := range dates {
			if got := int(day(f[tag]).Sub(day(v)).Hours() / 24); got != shift {
				t.Errorf("%s %s: moved %d days, study date %d", name, tagString(tag), got, shift)
			}
		}
		if iv := day(f[0x00080023]).Sub(day(f[0x00080020])).Hours() / 24; iv != 19 {
			t.Errorf("study to content date: %v days, want 19", iv)
		}
		if f[0x0008002A][8:] != "083920.638055" {
			t.Errorf("acquisition date-time %s: time of day changed", f[0x0008002A])
		}
		for _, tm := range times {
			if f[tm] != fo[tm] || f[tm] == "" {
				t.Errorf("%s %s: time %q, source %q", name, tagString(tm), f[tm], fo[tm])
			}
		}
		shifts = append(shifts, shift)
	}
	if shifts[0] != shifts[1] || shifts[0] > -365 || shifts[0] < -365-3650 {
		t.Fatalf("shifts %v: want one shift of 1 to 11 years back for the patient", shifts)
	}
	if shifts[0] != a.DayShift("SCD0000101") {
		t.Errorf("shift %d, DayShift %d", shifts[0], a.DayShift("SCD0000101"))
	}
	b := newA(t)
	if b.DayShift("SCD0000101") == shifts[0] && b.UID("1.2.3") == a.UID("1.2.3") {
		t.Error("a second random key gives the same shift and UIDs")
	}
	t.Logf("study date 20120314 -> %s (%d days)", time.Date(2012, 3, 14, 0, 0, 0, 0, time.UTC).AddDate(0, 0, shifts[0]).Format("20060102"), shifts[0])
}

// segFixture writes a SEG of phase 0 of the Sunnybrook series: an LV disc
// and a myocardium ring on every slice.
func segFixture(t *testing.T, dir string) (string, *study.Series) {
	t.Helper()
	st, err := dicomio.Open(sunnybrookDir(t))
	if err != nil {
		t.Fatal(err)
	}
	s := st.Series[0]
	nx, ny, nz := s.Dims[0], s.Dims[1], s.Dims[2]
	lab := make([]uint8, nx*ny*nz)
	for k := 0; k < nz; k++ {
		for j := 0; j < ny; j++ {
			for i := 0; i < nx; i++ {
				d2 := (i-nx/2)*(i-nx/2) + (j-ny/2)*(j-ny/2)
				switch {
				case d2 < 100:
					lab[(k*ny+j)*nx+i] = study.LV
				case d2 < 200:
					lab[(k*ny+j)*nx+i] = study.Myocardium
				}
			}
		}
	}
	p := filepath.Join(dir, "seg.dcm")
	if _, err := dicomseg.Write(p, s, lab, 0, dicomseg.Options{}); err != nil {
		t.Fatal(err)
	}
	return p, s
}

// TestSEGFollowsImages anonymises the images and a SEG of them with one
// key and checks the SEG's references (Referenced Series Sequence, every
// Referenced SOP Instance UID, study, frame of reference, patient) point
// at the anonymised images, and that no original UID survives in it.
func TestSEGFollowsImages(t *testing.T) {
	tmp := t.TempDir()
	segPath, _ := segFixture(t, tmp)
	a := newA(t)
	imgs, err := a.Dir(sunnybrookDir(t), filepath.Join(tmp, "images"))
	if err != nil {
		t.Fatal(err)
	}
	segs, err := a.Dir(segPath, filepath.Join(tmp, "seg"))
	if err != nil {
		t.Fatal(err)
	}
	// What the anonymised images say.
	sops := map[string]bool{}
	frames := map[string]bool{} // the source's frame of reference UIDs differ between files
	var study, series, patient string
	for _, p := range imgs.Written {
		f, err := Fields(mustRead(t, p), 0x00080018, 0x0020000D, 0x0020000E, 0x00200052, tPatientID)
		if err != nil {
			t.Fatal(err)
		}
		sops[f[0x00080018]] = true
		frames[f[0x00200052]] = true
		if study == "" {
			study, series, patient = f[0x0020000D], f[0x0020000E], f[tPatientID]
		} else if f[0x0020000D] != study || f[0x0020000E] != series || f[tPatientID] != patient {
			t.Fatalf("%s: study/series/patient differ from the first image", p)
		}
	}
	seg := mustRead(t, segs.Written[0])
	f, err := Fields(seg, 0x0020000D, 0x00200052, tPatientID, tPatientName)
	if err != nil {
		t.Fatal(err)
	}
	if f[0x0020000D] != study || !frames[f[0x00200052]] || f[tPatientID] != patient || f[tPatientName] != patient {
		t.Errorf("SEG study %s / frame of reference %s / patient %s, images %s / %v / %s", f[0x0020000D], f[0x00200052], f[tPatientID], study, frames, patient)
	}
	refs := map[string]int{}
	var refSeries []string
	inRefSeries := false
	err = Walk(seg, func(tag uint32, vr string, v []byte, depth int) {
		s := strings.TrimRight(string(v), " \x00")
		switch {
		case tag == 0x00081115 && depth == 0:
			inRefSeries = true
		case depth == 0:
			inRefSeries = false
		case tag == 0x0020000E && inRefSeries:
			refSeries = append(refSeries, s)
		case tag == 0x00081155:
			refs[s]++
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(refSeries) != 1 || refSeries[0] != series {
		t.Errorf("SEG Referenced Series Sequence %v, want the anonymised series %s", refSeries, series)
	}
	if len(refs) == 0 {
		t.Fatal("the SEG references no instances")
	}
	for u := range refs {
		if !sops[u] {
			t.Errorf("SEG references %s, which is no anonymised image", u)
		}
	}
	secret := identity(t, append(dcmFiles(t, sunnybrookDir(t)), segPath))
	if bad := leaks(t, segs.Written, secret); len(bad) > 0 {
		t.Fatalf("%d original values survive in the SEG, e.g. %s", len(bad), strings.Join(bad[:min(5, len(bad))], "; "))
	}
	t.Logf("SEG references %d distinct anonymised images (%d references) of series %s", len(refs), sum(refs), series)
	// dicom3tools' entity check: patient, study, series and frame of
	// reference attributes consistent across the SEG and the images.
	if tool, err := exec.LookPath("dcentvfy"); err == nil {
		out, _ := exec.Command(tool, append(segs.Written, imgs.Written...)...).CombinedOutput()
		if strings.Contains(string(out), "Error") {
			t.Errorf("dcentvfy over the anonymised SEG and images:\n%s", out)
		}
		t.Logf("dcentvfy over the anonymised SEG and 240 images: %d error lines", strings.Count(string(out), "Error"))
	} else if os.Getenv("CI") == "true" {
		t.Fatal("dcentvfy (dicom3tools) is required under CI=true")
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// TestBurnedInRefused: an image that says its pixels carry text is
// refused, and Dir names it.
func TestBurnedInRefused(t *testing.T) {
	src := sunnybrookDir(t)
	f, err := parseFile(mustRead(t, filepath.Join(src, "1.dcm")))
	if err != nil {
		t.Fatal(err)
	}
	f.dataset = set(f.dataset, tBurnedIn, "CS", "YES")
	data, err := f.encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := newA(t).File(data); !errors.Is(err, ErrBurnedIn) {
		t.Fatalf("BurnedInAnnotation YES: err %v, want ErrBurnedIn", err)
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	os.Mkdir(in, 0o755)
	os.WriteFile(filepath.Join(in, "burned.dcm"), data, 0o644)
	os.WriteFile(filepath.Join(in, "ok.dcm"), mustRead(t, filepath.Join(src, "2.dcm")), 0o644)
	res, err := newA(t).Dir(in, filepath.Join(dir, "out"))
	if err == nil || !strings.Contains(err.Error(), "burned.dcm") || len(res.Written) != 1 {
		t.Fatalf("Dir: err %v, written %v", err, res.Written)
	}
}

// TestBadInput: truncated and non-DICOM input give errors, never panics.
func TestBadInput(t *testing.T) {
	data := mustRead(t, filepath.Join(sunnybrookDir(t), "1.dcm"))
	a := newA(t)
	// Cuts inside the preamble, the meta group and the pixel data.
	for _, n := range []int{0, 100, 131, 140, 300, len(data) - 1} {
		if _, _, err := a.File(data[:n]); err == nil {
			t.Errorf("truncated to %d bytes: no error", n)
		}
	}
	// Every single-byte corruption of the header region: no panic.
	for i := 132; i < 1200; i++ {
		b := slices.Clone(data)
		b[i] ^= 0xFF
		a.File(b)
	}
	dir := t.TempDir()
	if _, err := a.Dir(dir, dir+"/x"); err == nil {
		t.Error("output inside input accepted")
	}
}

// dciodvfyErrors runs dciodvfy and returns its Error lines.
func dciodvfyErrors(t *testing.T, path string) ([]string, string) {
	t.Helper()
	tool, err := exec.LookPath("dciodvfy")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("dciodvfy (dicom3tools) is required under CI=true")
		}
		t.Skip("dciodvfy not installed")
	}
	out, _ := exec.Command(tool, path).CombinedOutput()
	var errs []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "Error") {
			errs = append(errs, l)
		}
	}
	return errs, string(out)
}

// TestDciodvfy: the anonymised image and SEG have no dciodvfy error that
// the originals do not have.
func TestDciodvfy(t *testing.T) {
	tmp := t.TempDir()
	segPath, _ := segFixture(t, tmp)
	a := newA(t)
	img := filepath.Join(sunnybrookDir(t), "1.dcm")
	for _, c := range []struct{ name, path string }{{"image", img}, {"SEG", segPath}} {
		out, err := a.Dir(c.path, filepath.Join(tmp, "anon-"+c.name))
		if err != nil {
			t.Fatal(err)
		}
		before, _ := dciodvfyErrors(t, c.path)
		after, text := dciodvfyErrors(t, out.Written[0])
		t.Logf("%s: dciodvfy errors before %d, after %d; anonymised output:\n%s", c.name, len(before), len(after), text)
		for _, e := range after {
			if !slices.Contains(before, e) {
				t.Errorf("%s: new dciodvfy error: %s", c.name, e)
			}
		}
	}
}

// TestOtherSyntaxes: a file converted by dcmtk to Implicit VR Little
// Endian and to JPEG Lossless (encapsulated) comes out in the same syntax
// with the pixel data byte for byte, readable by dcmdump, and with the
// identity replaced.
func TestOtherSyntaxes(t *testing.T) {
	src := filepath.Join(sunnybrookDir(t), "1.dcm")
	dir := t.TempDir()
	a := newA(t)
	secret := identity(t, []string{src})
	for _, c := range []struct{ name, tool, flag, syntax string }{
		{"implicit", "dcmconv", "+ti", implicitLE},
		{"jpeg-lossless", "dcmcjpeg", "+e1", "1.2.840.10008.1.2.4.70"},
	} {
		bin, err := exec.LookPath(c.tool)
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s (dcmtk) is required under CI=true", c.tool)
			}
			t.Skipf("%s not installed", c.tool)
		}
		in := filepath.Join(dir, c.name+".dcm")
		if out, err := exec.Command(bin, c.flag, src, in).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", c.tool, err, out)
		}
		data := mustRead(t, in)
		out, _, err := a.File(data)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		f, err := Fields(out, tTransferSyntax, tPatientID)
		if err != nil {
			t.Fatal(err)
		}
		if f[tTransferSyntax] != c.syntax || !strings.HasPrefix(f[tPatientID], "ANON") {
			t.Errorf("%s: syntax %s, patient %s", c.name, f[tTransferSyntax], f[tPatientID])
		}
		pixels := func(b []byte) []byte {
			var px []byte
			Walk(b, func(tag uint32, vr string, v []byte, depth int) {
				if tag == tagPixelData && depth == 0 {
					px = v
				}
			})
			return px
		}
		if p := pixels(out); len(p) == 0 || !slices.Equal(p, pixels(data)) {
			t.Errorf("%s: pixel data changed (%d bytes vs %d)", c.name, len(p), len(pixels(data)))
		}
		p := filepath.Join(dir, c.name+"-anon.dcm")
		os.WriteFile(p, out, 0o644)
		if dump, err := exec.Command("dcmdump", "-q", p).CombinedOutput(); err != nil || strings.Contains(string(dump), "E:") {
			t.Errorf("%s: dcmdump: %v\n%s", c.name, err, dump)
		}
		if bad := leaks(t, []string{p}, secret); len(bad) > 0 {
			t.Errorf("%s: %s", c.name, strings.Join(bad, "; "))
		}
	}
}
