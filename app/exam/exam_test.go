package exam

import (
	"bytes"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"cmrseg/app/dicomio"
	"cmrseg/app/shareddata"
	"cmrseg/app/study"
)

// synthExam writes the synthetic exam built around the real Sunnybrook
// short-axis cine.
func synthExam(t *testing.T, opt SynthOptions) (string, []SynthSeries) {
	t.Helper()
	sb := shareddata.Require(t, "sunnybrook/SCD0000101")
	dir := filepath.Join(t.TempDir(), "EXAM")
	want, err := Synthesize(dir, sb, opt)
	if err != nil {
		t.Fatal(err)
	}
	return dir, want
}

// checkExam asserts the class of every series, the axis from the long-axis
// planes, the choice of the short-axis cine, and that nothing was decoded.
func checkExam(t *testing.T, ex *Exam, want []SynthSeries) {
	t.Helper()
	var b bytes.Buffer
	Describe(&b, ex)
	t.Logf("\n%s", b.String())
	if len(ex.Entries) != len(want) {
		t.Fatalf("%d series, want %d", len(ex.Entries), len(want))
	}
	for i, w := range want {
		e := ex.Entries[i]
		if e.UID != w.SeriesInstanceUID || e.Description != w.Description {
			t.Fatalf("entry %d is %q %s, want %q %s", i+1, e.Description, e.UID, w.Description, w.SeriesInstanceUID)
		}
		if e.Class != w.Want {
			t.Errorf("series %q: class %s (%s), want %s", w.Description, e.Class, e.Why, w.Want)
		}
		if e.Loadable() && (e.Slices != w.Slices || e.Phases != w.Phases) {
			t.Errorf("series %q: %d slices × %d phases, want %d × %d", w.Description, e.Slices, e.Phases, w.Slices, w.Phases)
		}
		if e.Series != nil && e.Series.Data != nil {
			t.Errorf("series %q was decoded while scanning", w.Description)
		}
	}
	if !strings.HasPrefix(ex.AxisFrom, "where the planes of series 2 (cine 4ch) and 3 (cine 2ch) cross") {
		t.Errorf("axis from %q, want the 4ch and 2ch planes", ex.AxisFrom)
	}
	if ex.Chosen < 0 || ex.Entries[ex.Chosen].Description != "SA cine" {
		t.Fatalf("chose %d, want the SA cine", ex.Chosen)
	}
	// The axis is the short-axis stack's normal (the planes were built
	// through it).
	sa := ex.Entries[ex.Chosen]
	if a := angleDeg(sa.Series.Direction[2], ex.Axis); a > 0.5 {
		t.Errorf("long axis %v is %.2f° from the short-axis normal", ex.Axis, a)
	}
}

func TestSyntheticExamFolder(t *testing.T) {
	dir, want := synthExam(t, SynthOptions{})
	ex, err := Scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	checkExam(t, ex, want)
	// The localiser is listed although it cannot be assembled, and its
	// thumbnail still comes from its first file.
	if ex.Entries[0].Loadable() || !strings.HasPrefix(ex.Entries[0].Why, "localiser") {
		t.Errorf("localiser entry: loadable %v, %q", ex.Entries[0].Loadable(), ex.Entries[0].Why)
	}
	for i := range ex.Entries {
		img, err := ex.Thumbnail(i, 64)
		if err != nil || img.Rect.Dx() != 64 || img.Rect.Dy() != 64 {
			t.Fatalf("thumbnail %d: %v %v", i+1, img, err)
		}
	}

	// Loading the chosen series gives exactly the pixels of the original
	// Sunnybrook series, which dicomio reads directly.
	s, err := ex.Load(ex.Chosen)
	if err != nil {
		t.Fatal(err)
	}
	orig, err := dicomio.Open(shareddata.Require(t, "sunnybrook/SCD0000101"))
	if err != nil {
		t.Fatal(err)
	}
	o := orig.Series[0]
	if s.Dims != o.Dims || s.NT != o.NT || len(s.Data) != len(o.Data) {
		t.Fatalf("loaded %v × %d, original %v × %d", s.Dims, s.NT, o.Dims, o.NT)
	}
	for i := range s.Data {
		if s.Data[i] != o.Data[i] {
			t.Fatalf("voxel %d: %g, original %g", i, s.Data[i], o.Data[i])
		}
	}
	if ex.Entries[ex.Chosen].Series.Data != nil {
		t.Error("Load kept the pixels in the exam")
	}
	if _, err := ex.Load(0); err == nil || !strings.Contains(err.Error(), "not parallel") {
		t.Errorf("loading the localiser: %v, want why it cannot be", err)
	}

	// --series: by listing number, #SeriesNumber and UID.
	for sel, wantIdx := range map[string]int{"2": 1, "#3": 2, want[4].SeriesInstanceUID: 4} {
		if i, err := ex.Find(sel); err != nil || i != wantIdx {
			t.Errorf("Find(%q) = %d, %v; want %d", sel, i, err, wantIdx)
		}
	}
	for _, sel := range []string{"0", "99", "#42", "1.2.3"} {
		if _, err := ex.Find(sel); err == nil || !strings.Contains(err.Error(), dir) {
			t.Errorf("Find(%q): %v, want an error naming the exam", sel, err)
		}
	}
}

// Without long-axis planes, the typical heart orientation decides: the
// Sunnybrook stack is 17° from it, the axial stack 55°.
func TestClassifyWithoutLongAxisPlanes(t *testing.T) {
	dir, want := synthExam(t, SynthOptions{})
	for _, w := range want {
		if w.Want == LongAxisCine {
			if err := os.RemoveAll(filepath.Join(dir, w.Dir)); err != nil {
				t.Fatal(err)
			}
		}
	}
	ex, err := Scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	Describe(&b, ex)
	t.Logf("\n%s", b.String())
	if !strings.HasPrefix(ex.AxisFrom, "the typical heart orientation") {
		t.Errorf("axis from %q", ex.AxisFrom)
	}
	got := map[string]Class{}
	for _, e := range ex.Entries {
		got[e.Description] = e.Class
	}
	if got["SA cine"] != ShortAxisCine || got["SAX cine (axial)"] != Other || got["PSIR LGE SA"] != Other {
		t.Errorf("classes %v", got)
	}
	if ex.Entries[ex.Chosen].Description != "SA cine" {
		t.Errorf("chose %q", ex.Entries[ex.Chosen].Description)
	}
}

// A DICOMDIR written by dcmtk's dcmmkdir: opening the DICOMDIR file reads
// the files it references, with the same classes.
func TestDICOMDIRFromDcmmkdir(t *testing.T) {
	if _, err := exec.LookPath("dcmmkdir"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("dcmmkdir (dcmtk) is not installed")
		}
		t.Skip("dcmmkdir (dcmtk) is not installed")
	}
	dir, want := synthExam(t, SynthOptions{})
	root := filepath.Dir(dir)
	// dcmmkdir wants relative part-10 file IDs, read from the file-set root.
	cmd := exec.Command("dcmmkdir", "+r", "+I", "+id", root, "+D", filepath.Join(root, "DICOMDIR"), filepath.Base(dir))
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dcmmkdir: %v\n%s", err, out)
	}
	ex, err := Scan(filepath.Join(root, "DICOMDIR"))
	if err != nil {
		t.Fatal(err)
	}
	checkExam(t, ex, want)
	n := 0
	for _, e := range ex.Entries {
		n += e.Files
	}
	if n != 3+20+20+240+12+1+80 {
		t.Errorf("%d files through the DICOMDIR", n)
	}
	// The folder holding the DICOMDIR reads the same (the DICOMDIR itself
	// is ignored: it has no image).
	ex2, err := Scan(root)
	if err != nil {
		t.Fatal(err)
	}
	checkExam(t, ex2, want)
	// Media written on one system are read on another: file IDs match
	// folder names case-insensitively.
	if err := os.Rename(dir, filepath.Join(root, "exam")); err != nil {
		t.Fatal(err)
	}
	ex3, err := Scan(filepath.Join(root, "DICOMDIR"))
	if err != nil {
		t.Fatal(err)
	}
	checkExam(t, ex3, want)
	if len(ex3.Failed) != 0 {
		t.Errorf("%d files not found through the DICOMDIR: %v", len(ex3.Failed), ex3.Failed[0].Err)
	}

	// A DICOMDIR whose file ID leaves the file-set is refused, naming it.
	bad := filepath.Join(t.TempDir(), "DICOMDIR")
	data, _ := os.ReadFile(filepath.Join(root, "DICOMDIR"))
	i := bytes.Index(data, []byte("EXAM\\SER0001"))
	if i < 0 {
		t.Fatal("no EXAM\\SER0001 file ID in the DICOMDIR")
	}
	copy(data[i:], "..\\\\SER0001")
	os.WriteFile(bad, data, 0o644)
	if _, err := Scan(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "leaves the file-set") {
		t.Errorf("forged DICOMDIR: %v", err)
	}
}

// Exams without any image, or unreadable, fail with the path named.
func TestScanErrors(t *testing.T) {
	empty := t.TempDir()
	os.WriteFile(filepath.Join(empty, "README"), []byte("not DICOM"), 0o644)
	if _, err := Scan(empty); err == nil || !strings.Contains(err.Error(), empty) {
		t.Errorf("empty folder: %v", err)
	}
	if _, err := Scan(filepath.Join(empty, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing path: %v", err)
	}
}

// A lossy (baseline JPEG) copy of the short-axis cine is flagged from its
// header, and its lossless twin is chosen for segmentation even though the
// lossy one comes first.
func TestLossyCopyNotChosen(t *testing.T) {
	if _, err := exec.LookPath("dcmcjpeg"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("dcmcjpeg (dcmtk) is not installed")
		}
		t.Skip("dcmcjpeg (dcmtk) is not installed")
	}
	dir, want := synthExam(t, SynthOptions{Copies: 1})
	var lossyDir string
	for _, w := range want {
		if w.Description == "SA cine" {
			lossyDir = filepath.Join(dir, w.Dir)
		}
	}
	files, _ := filepath.Glob(filepath.Join(lossyDir, "IM*"))
	for _, f := range files {
		if out, err := exec.Command("dcmcjpeg", "+eb", f, f+".jpg").CombinedOutput(); err != nil {
			t.Fatalf("dcmcjpeg %s: %v\n%s", f, err, out)
		}
		if err := os.Rename(f+".jpg", f); err != nil {
			t.Fatal(err)
		}
	}
	ex, err := Scan(dir)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	Describe(&b, ex)
	t.Logf("\n%s", b.String())
	byDesc := map[string]*Entry{}
	for _, e := range ex.Entries {
		byDesc[e.Description] = e
	}
	lossy, twin := byDesc["SA cine"], byDesc["SA cine copy 1"]
	if !lossy.Lossy || twin.Lossy || lossy.Class != ShortAxisCine || twin.Class != ShortAxisCine {
		t.Fatalf("lossy %+v, twin %+v", lossy, twin)
	}
	if ex.Entries[ex.Chosen] != twin {
		t.Errorf("chose %q, want the lossless copy", ex.Entries[ex.Chosen].Description)
	}
	if !strings.Contains(b.String(), "[lossy JPEG]") {
		t.Error("the listing does not flag the lossy series")
	}
	// Loading the lossy one notes it, as the series reader does.
	i, _ := ex.Find(lossy.UID)
	s, err := ex.Load(i)
	if err != nil {
		t.Fatal(err)
	}
	if notes := s.Source.(*study.DICOMSource).Notes; len(notes) == 0 || notes[len(notes)-1] != dicomio.LossyNote {
		t.Errorf("notes %q, want the lossy note", notes)
	}
}

// A file named DICOMDIR that is not one fails with its path and why.
func TestBadDICOMDIR(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "DICOMDIR")
	os.WriteFile(p, []byte("not a DICOMDIR"), 0o644)
	if _, err := Scan(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("text file as DICOMDIR: %v", err)
	}
	// A DICOM image named DICOMDIR has no directory records.
	sb := shareddata.Require(t, "sunnybrook/SCD0000101")
	data, err := os.ReadFile(filepath.Join(sb, "1.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(p, data, 0o644)
	if _, err := Scan(p); err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "no DirectoryRecordSequence") {
		t.Errorf("image as DICOMDIR: %v", err)
	}
}

// The rule itself, on header-only entries: angles around each threshold.
func TestClassifyRule(t *testing.T) {
	entry := func(desc string, normal [3]float64, slices, phases int, cine bool) *Entry {
		n := unit(normal)
		// Any in-plane basis will do: only the normal matters.
		a := unit(cross(n, [3]float64{0.3, 0.5, 0.8}))
		b := cross(n, a)
		s := &study.Series{Geometry: study.Geometry{Dims: [3]int{8, 8, slices}, Direction: [3][3]float64{a, b, n}}, NT: phases}
		s.Source = &study.DICOMSource{Cine: cine, GeometryKnown: true}
		return &Entry{Description: desc, Slices: slices, Phases: phases, Series: s}
	}
	// Rotate the typical axis by deg about a perpendicular.
	tilt := func(deg float64) [3]float64 {
		p := unit(cross(typicalAxis, [3]float64{0, 0, 1}))
		r := deg * math.Pi / 180
		return add(scale(typicalAxis, math.Cos(r)), scale(p, math.Sin(r)))
	}
	ex := &Exam{Entries: []*Entry{
		entry("stack 40", tilt(40), 10, 20, true),
		entry("stack 48", tilt(48), 10, 20, true),
		entry("SAX stack 48", tilt(48), 10, 20, true),
		entry("SAX axial", [3]float64{0, 0, 1}, 10, 20, true),
		entry("stack 40 still", tilt(40), 10, 1, false),
		entry("stack 40 few phases", tilt(40), 10, MinCinePhases-1, true),
		entry("plane 50", tilt(50), 1, 20, true),
	}}
	ex.Classify()
	want := map[string]Class{
		"stack 40": ShortAxisCine, "stack 48": Other, "SAX stack 48": ShortAxisCine, "SAX axial": Other,
		"stack 40 still": Other, "stack 40 few phases": Other,
		"plane 50": LongAxisCine, "plane 40": Other, "2 slices 80": LongAxisCine,
	}
	if !strings.HasPrefix(ex.AxisFrom, "the typical") {
		t.Fatalf("axis from %q with one single-plane cine", ex.AxisFrom)
	}
	// One single-plane cine per exam, so that no pair defines the axis.
	for _, e := range []*Entry{entry("plane 40", tilt(40), 1, 20, true), entry("2 slices 80", tilt(80), 2, 20, true)} {
		(&Exam{Entries: []*Entry{e}}).Classify()
		ex.Entries = append(ex.Entries, e)
	}
	for _, e := range ex.Entries {
		if e.Class != want[e.Description] {
			t.Errorf("%s: %s (%s), want %s", e.Description, e.Class, e.Why, want[e.Description])
		}
	}
	// Two long-axis planes 60° apart define the axis; a stack 25° from
	// their intersection is short axis, one 35° away is not.
	la := unit([3]float64{0, 0.6, -0.8})
	p1 := unit(cross(la, [3]float64{1, 0, 0}))
	p2 := unit(add(scale(p1, 0.5), scale(cross(la, p1), math.Sqrt(3)/2)))
	rot := func(deg float64) [3]float64 {
		r := deg * math.Pi / 180
		return add(scale(la, math.Cos(r)), scale(p1, math.Sin(r)))
	}
	ex = &Exam{Entries: []*Entry{
		entry("4ch", p1, 1, 20, true), entry("2ch", p2, 1, 20, true),
		entry("sa 25", rot(25), 12, 20, true), entry("sax 35", rot(35), 12, 20, true),
	}}
	ex.Classify()
	if a := angleDeg(ex.Axis, la); a > 0.01 {
		t.Errorf("axis %v is %.2f° from the planes' intersection", ex.Axis, a)
	}
	got := [4]Class{ex.Entries[0].Class, ex.Entries[1].Class, ex.Entries[2].Class, ex.Entries[3].Class}
	if got != [4]Class{LongAxisCine, LongAxisCine, ShortAxisCine, Other} {
		t.Errorf("classes %v", got)
	}
}
