package workspace

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"image"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"cmrseg/app/nifti"
	"cmrseg/app/session"
	"cmrseg/app/study"
)

// demo is segmented once and shared (the phantom segmenter caches).
var (
	demoOnce sync.Once
	demoSeg  *DemoEngine
	demoSt   *study.Study
)

func segmented(t *testing.T) *Workspace {
	t.Helper()
	demoOnce.Do(func() { demoSt, demoSeg = Demo() })
	w := New(Config{Engine: demoSeg, SessionRoot: t.TempDir(), ConfigDir: t.TempDir()})
	if err := w.SetStudy(demoSt); err != nil {
		t.Fatal(err)
	}
	if err := w.Segment(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func TestViewport(t *testing.T) {
	vp := Viewport{W: 400, H: 300, Cols: 192, Rows: 192, SpacingI: 1.5, SpacingJ: 1.5, Zoom: 1}
	sx, sy := vp.Scale()
	if math.Abs(sx-300.0/192) > 1e-12 || sx != sy {
		t.Fatalf("scale %g %g, want %g", sx, sy, 300.0/192)
	}
	// The widget centre shows the slice centre, between voxels 95 and 96.
	if fi, fj := vp.ToVoxel(200, 150); fi != 95.5 || fj != 95.5 {
		t.Fatalf("centre maps to %g,%g", fi, fj)
	}
	// The image's left edge (voxel -0.5) is at 200 - 96*sx = 50.
	if x, _ := vp.ToScreen(-0.5, 0); math.Abs(x-50) > 1e-9 {
		t.Fatalf("left edge at %g, want 50", x)
	}
	for _, c := range []struct {
		x, y float64
		i, j int
		ok   bool
	}{
		{50.01, 0.01, 0, 0, true},
		{49.99, 10, -1, 6, false},
		{349.99, 299.99, 191, 191, true},
		{350.01, 10, 192, 6, false},
		{201, 151, 96, 96, true},
		{199, 149, 95, 95, true},
	} {
		i, j, ok := vp.Voxel(c.x, c.y)
		if i != c.i || j != c.j || ok != c.ok {
			t.Errorf("Voxel(%g,%g) = %d,%d,%v want %d,%d,%v", c.x, c.y, i, j, ok, c.i, c.j, c.ok)
		}
	}
	// Zooming about a point keeps it fixed; pan follows the drag.
	fi, fj := vp.ToVoxel(120, 80)
	z := vp.ZoomAt(120, 80, 2.5)
	if gi, gj := z.ToVoxel(120, 80); math.Abs(gi-fi) > 1e-9 || math.Abs(gj-fj) > 1e-9 || z.Zoom != 2.5 {
		t.Fatalf("zoom moved the point: %g,%g -> %g,%g (zoom %g)", fi, fj, gi, gj, z.Zoom)
	}
	p := z.PanBy(30, -12)
	x0, y0 := z.ToScreen(10, 20)
	x1, y1 := p.ToScreen(10, 20)
	if math.Abs(x1-x0-30) > 1e-9 || math.Abs(y1-y0+12) > 1e-9 {
		t.Fatalf("pan moved the image by %g,%g", x1-x0, y1-y0)
	}
	// Anisotropic pixels keep their physical aspect.
	a := Viewport{W: 300, H: 300, Cols: 100, Rows: 100, SpacingI: 1, SpacingJ: 2, Zoom: 1}
	if sx, sy := a.Scale(); math.Abs(sy/sx-2) > 1e-12 {
		t.Fatalf("aspect %g", sy/sx)
	}
}

func TestOrientation(t *testing.T) {
	for _, c := range []struct {
		d    [3]float64
		want string
	}{
		{[3]float64{1, 0, 0}, "L"}, {[3]float64{-1, 0, 0}, "R"},
		{[3]float64{0, 1, 0}, "P"}, {[3]float64{0, -1, 0}, "A"},
		{[3]float64{0, 0, 1}, "H"}, {[3]float64{0, 0, -1}, "F"},
		{[3]float64{0.6, -0.45, -0.65}, "FLA"},
		{[3]float64{0.1, 0.995, 0}, "P"},
		{[3]float64{}, ""},
	} {
		if got := Orientation(c.d); got != c.want {
			t.Errorf("Orientation(%v) = %q, want %q", c.d, got, c.want)
		}
	}
}

// uncertainWrong finds a voxel of slice k, phase ph, that is uncertain and
// mislabelled by the ensemble.
func uncertainWrong(t *testing.T, w *Workspace, ph, k int) (i, j int) {
	t.Helper()
	s := w.Series()
	r := w.Session.Result(ph)
	for j := 0; j < s.Dims[1]; j++ {
		for i := 0; i < s.Dims[0]; i++ {
			v := i + s.Dims[0]*(j+s.Dims[1]*k)
			if r.Entropy[v] > 0.5 && r.Labels[v] != demoSeg.Labels[ph].Data[v] {
				return i, j
			}
		}
	}
	t.Fatal("no uncertain, wrong voxel")
	return
}

func TestClickUndoRedo(t *testing.T) {
	w := segmented(t)
	s := w.Series()
	w.GoTo(s.ED, 0)
	i, j := uncertainWrong(t, w, s.ED, 0)
	v := i + s.Dims[0]*j
	truth := demoSeg.Labels[s.ED].Data[v]
	before := append([]uint8(nil), w.Labels(s.ED)...)
	c, err := w.Click(i, j)
	if err != nil {
		t.Fatal(err)
	}
	if got := w.Labels(s.ED)[v]; got != truth {
		t.Fatalf("after one click voxel (%d,%d) is %d, truth %d (%s)", i, j, got, truth, c.Note)
	}
	// The correction fixes most of the basal RV the majority missed.
	wrong := func() int {
		n := 0
		for v := 0; v < s.Dims[0]*s.Dims[1]; v++ {
			if w.Labels(s.ED)[v] != demoSeg.Labels[s.ED].Data[v] {
				n++
			}
		}
		return n
	}
	after := wrong()
	t.Logf("click changed %d voxels; %d wrong on the slice after", len(c.Voxels), after)
	if len(c.Voxels) < 300 || after > 100 {
		t.Fatalf("click changed %d voxels, %d still wrong", len(c.Voxels), after)
	}
	w.GoTo(5, 7)
	if _, err := w.Undo(); err != nil {
		t.Fatal(err)
	}
	if v := w.View(); v.Phase != s.ED || v.Slice != 0 {
		t.Fatalf("undo did not show the edit: phase %d slice %d", v.Phase, v.Slice)
	}
	for n := range before {
		if w.Labels(s.ED)[n] != before[n] {
			t.Fatalf("undo left voxel %d at %d, was %d", n, w.Labels(s.ED)[n], before[n])
		}
	}
	if _, err := w.Redo(); err != nil {
		t.Fatal(err)
	}
	if wrong() != after {
		t.Fatal("redo did not restore the correction")
	}
	// A confident voxel is refused with the session's error.
	if _, err := w.Click(2, 2); err == nil {
		t.Fatal("click on confident background accepted")
	}
}

func TestReportAndQC(t *testing.T) {
	w := segmented(t)
	r, err := w.Report()
	if err != nil {
		t.Fatal(err)
	}
	ef, _ := r.Index("lv_ef")
	if !(ef.Value > 40 && ef.Value < 80) || !(ef.Low <= ef.High) {
		t.Fatalf("LV EF %+v", ef)
	}
	qc := w.QC(false)
	if len(qc) != 4 || qc[0].Phase != w.Series().ED || qc[3].Phase != w.Series().ES {
		t.Fatalf("QC list %v", qc)
	}
	if all := w.QC(true); len(all) != 50 {
		t.Fatalf("%d flags over all phases, want 50 (basal and apical slice of 25 phases)", len(all))
	}
	t.Logf("%d flags; first %q", len(qc), qc[0].Text)
	if _, err := w.ToggleAccept(); err != nil {
		t.Fatal(err)
	}
	if f, err := w.ToggleFinal(); err != nil || !f {
		t.Fatal(f, err)
	}
	if _, err := w.Click(96, 96); err == nil {
		t.Fatal("edit accepted on a final study")
	}
}

func TestExports(t *testing.T) {
	w := segmented(t)
	dir := t.TempDir()
	s := w.Series()
	mask := filepath.Join(dir, w.ExportBaseName(s.ED)+".nii.gz")
	if err := w.ExportMask(mask, s.ED); err != nil {
		t.Fatal(err)
	}
	back, err := nifti.Read(mask)
	if err != nil {
		t.Fatal(err)
	}
	if back.Dims != s.Dims {
		t.Fatalf("mask dims %v", back.Dims)
	}
	for v, l := range w.Labels(s.ED) {
		if back.Data[v] != float32(l) {
			t.Fatalf("mask voxel %d = %g, want %d", v, back.Data[v], l)
		}
	}
	for _, n := range []string{"r.csv", "r.json"} {
		if err := w.ExportReport(filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
	// The exported report carries the volume–time curve of every segmented
	// phase and the AHA segments with intervals.
	b, err := os.ReadFile(filepath.Join(dir, "r.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Curves struct {
			Points []struct {
				Phase int `json:"phase_1based"`
			} `json:"points"`
			PER struct {
				Value *float64 `json:"value"`
			} `json:"lv_peak_ejection_rate"`
		} `json:"curves"`
		AHA *struct {
			Segments []struct {
				ED struct {
					Value *float64 `json:"value"`
				} `json:"ed_thickness"`
			} `json:"segments"`
		} `json:"aha"`
		Note string `json:"aha_note"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	segmentedPhases := 0
	for ph := 0; ph < s.NT; ph++ {
		if w.Labels(ph) != nil {
			segmentedPhases++
		}
	}
	if len(rep.Curves.Points) != segmentedPhases || rep.AHA == nil || len(rep.AHA.Segments) != 17 || rep.AHA.Segments[6].ED.Value == nil {
		t.Fatalf("exported report: %d curve points for %d segmented phases, AHA %+v (%s)", len(rep.Curves.Points), segmentedPhases, rep.AHA, rep.Note)
	}
	// The live report has the segments' thickness without intervals.
	if live, err := w.Report(); err != nil || live.AHA == nil || !math.IsNaN(live.AHA.Segments[6].EDThickness.Low) ||
		*rep.AHA.Segments[6].ED.Value != live.AHA.Segments[6].EDThickness.Value || len(live.Curves.Points) != segmentedPhases {
		t.Errorf("live report: %v, AHA %+v", err, live.AHA)
	}
	img := Render(w.Frame(), w.Viewport(64, 48), 64, 48)
	if err := ExportPNG(filepath.Join(dir, "v.png"), img); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"PHANTOM_ED.nii.gz", "r.csv", "r.json", "v.png"} {
		if st, err := os.Stat(filepath.Join(dir, n)); err != nil || st.Size() == 0 {
			t.Fatalf("%s: %v", n, err)
		}
	}
	if err := w.ExportReport(filepath.Join(dir, "r.txt")); err == nil {
		t.Fatal("report with unknown extension accepted")
	}
	if err := w.ExportMask(filepath.Join(dir, "nope", "m.nii.gz"), s.ED); err == nil {
		t.Fatal("mask into a missing folder accepted")
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 4 {
		t.Fatalf("%d files in the export folder (temporary files left?)", len(ents))
	}
}

func TestCancel(t *testing.T) {
	st, seg := Demo()
	slow := &DemoEngine{Labels: seg.Labels, StepDelay: 50 * time.Millisecond}
	w := New(Config{Engine: slow})
	if err := w.SetStudy(st); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	calls := 0
	j, err := w.StartSegmentation(func(*Job) {
		mu.Lock()
		calls++
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	j.Cancel()
	if err := w.Attach(j); !errors.Is(err, context.Canceled) {
		t.Fatalf("attach after cancel: %v", err)
	}
	if w.Session != nil {
		t.Fatal("session opened on a cancelled job")
	}
	if d, total := j.Progress(); d > 0 && total != 125 {
		t.Fatalf("total steps %d, want 25 phases x 5 checkpoints", total)
	}
}

func TestUnknownStudy(t *testing.T) {
	_, seg := Demo()
	g := study.Geometry{Dims: [3]int{8, 8, 2}, Spacing: [3]float64{1, 1, 1}, Direction: [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}
	s := &study.Series{Geometry: g, NT: 1, Data: make([]float32, 128), ED: 0, ES: 0}
	w := New(Config{Engine: seg})
	if err := w.SetStudy(&study.Study{Series: []*study.Series{s}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Segment(); !errors.Is(err, ErrUnknownStudy) {
		t.Fatalf("got %v", err)
	}
}

func TestRecent(t *testing.T) {
	dir := t.TempDir()
	r, err := LoadRecent(dir)
	if err != nil || len(r.Entries) != 0 {
		t.Fatal(r, err)
	}
	for n := 0; n < 12; n++ {
		if err := r.Add(filepath.Join("/data", string(rune('a'+n))), "d"); err != nil {
			t.Fatal(err)
		}
	}
	r.Add("/data/c", "again")
	back, err := LoadRecent(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Entries) != MaxRecent || back.Entries[0].Path != "/data/c" || back.Entries[1].Path != "/data/l" {
		t.Fatalf("recent list %+v", back.Entries)
	}
	os.WriteFile(filepath.Join(dir, RecentFile), []byte("{torn"), 0o644)
	if r, err := LoadRecent(dir); err == nil || len(r.Entries) != 0 {
		t.Fatal("damaged list not reported")
	}
}

func TestLoadBadFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bad.nii.gz")
	os.WriteFile(p, []byte("not a nifti file at all"), 0o644)
	if _, err := Load(p); err == nil {
		t.Fatal("bad file accepted")
	} else if !strings.Contains(err.Error(), p) {
		t.Fatalf("error does not name the file: %v", err)
	}
}

func TestRenderOverlays(t *testing.T) {
	w := segmented(t)
	s := w.Series()
	w.GoTo(s.ED, 5)
	vp := w.Viewport(192, 192) // one screen pixel per voxel
	img := Render(w.Frame(), vp, 192, 192)
	count := func(img *image.RGBA, c [3]uint8) int {
		n := 0
		for p := 0; p < len(img.Pix); p += 4 {
			if img.Pix[p] == c[0] && img.Pix[p+1] == c[1] && img.Pix[p+2] == c[2] {
				n++
			}
		}
		return n
	}
	lv := LabelColors[study.LV]
	if n := count(img, [3]uint8{lv.R, lv.G, lv.B}); n < 50 {
		t.Fatalf("%d LV contour pixels", n)
	}
	w.Display.Hidden[study.LV] = true
	if n := count(Render(w.Frame(), vp, 192, 192), [3]uint8{lv.R, lv.G, lv.B}); n != 0 {
		t.Fatalf("hidden LV still drawn (%d pixels)", n)
	}
}

// TestMutualInfoOwnScale: mutual information is drawn on its own scale, so
// a voxel with 0.1 nats of it is coloured as strongly as 0.28 nats of
// entropy (same fraction of each scale), not at a seventh of the scale.
func TestMutualInfoOwnScale(t *testing.T) {
	st, _ := Demo()
	s := st.Series[0]
	flat := func(v float32) []float32 {
		out := make([]float32, s.N())
		for i := range out {
			out[i] = v
		}
		return out
	}
	vp := Viewport{W: 32, H: 32, Cols: s.Dims[0], Rows: s.Dims[1], SpacingI: s.Spacing[0], SpacingJ: s.Spacing[1], Zoom: 1}
	frame := func(o session.Overlay, u float32) *image.RGBA {
		f := Frame{Series: s, Phase: 0, Slice: 3, Uncertainty: flat(u),
			View: session.View{Phase: 0, Slice: 3, Window: 1e9, Level: 0, ShowUncertainty: true, UncertaintyOpacity: 1, Overlay: o}}
		return Render(f, vp, 32, 32)
	}
	mi := frame(session.OverlayMutualInfo, 0.1)
	en := frame(session.OverlayEntropy, float32(0.1*HeatMax/MIHeatMax))
	enSame := frame(session.OverlayEntropy, 0.1)
	at := func(img *image.RGBA) [3]uint8 {
		p := img.PixOffset(16, 16)
		return [3]uint8{img.Pix[p], img.Pix[p+1], img.Pix[p+2]}
	}
	if at(mi) != at(en) {
		t.Fatalf("0.1 nats of mutual information drawn %v, the same share of the entropy scale %v", at(mi), at(en))
	}
	if at(mi) == at(enSame) {
		t.Fatalf("mutual information drawn on the entropy scale (%v)", at(mi))
	}
}

// TestAnnotateSnapshot: an exported snapshot carries the corner texts and
// orientation letters in their places; the image centre is untouched.
func TestAnnotateSnapshot(t *testing.T) {
	st, _ := Demo()
	s := st.Series[0]
	vp := Viewport{W: 320, H: 240, Cols: s.Dims[0], Rows: s.Dims[1], SpacingI: s.Spacing[0], SpacingJ: s.Spacing[1], Zoom: 1}
	f := Frame{Series: s, Phase: 0, Slice: 3, View: session.View{Phase: 0, Slice: 3, Window: 600, Level: 300}}
	img := Render(f, vp, 320, 240)
	plain := Render(f, vp, 320, 240)
	Annotate(img, [4]string{"PHANTOM\nID 1", "Phase 1 / 25 ED · 0 ms", "W 600  L 300", "Slice uncertainty 0.09 nats"}, [4]string{"A", "P", "R", "L"})
	yellow := func(r image.Rectangle) int {
		n := 0
		for y := r.Min.Y; y < r.Max.Y; y++ {
			for x := r.Min.X; x < r.Max.X; x++ {
				if c := img.RGBAAt(x, y); c.R == 255 && c.G == 204 && c.B == 64 {
					n++
				}
			}
		}
		return n
	}
	for name, r := range map[string]image.Rectangle{
		"top left": image.Rect(0, 0, 100, 35), "top right": image.Rect(160, 0, 320, 20),
		"bottom left": image.Rect(0, 220, 100, 240), "bottom right": image.Rect(120, 220, 320, 240),
		"top letter": image.Rect(150, 0, 170, 20), "left letter": image.Rect(0, 110, 20, 130),
	} {
		if yellow(r) == 0 {
			t.Errorf("no text in the %s", name)
		}
	}
	if c := image.Rect(120, 80, 200, 160); yellow(c) != 0 || !bytes.Equal(img.Pix[img.PixOffset(160, 120):img.PixOffset(161, 120)], plain.Pix[plain.PixOffset(160, 120):plain.PixOffset(161, 120)]) {
		t.Error("annotation drawn over the image centre")
	}
}
