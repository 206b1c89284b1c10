package ui

import (
	"bytes"
	"flag"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/test"

	"cmrseg/app/nifti"
	"cmrseg/app/study"
	"cmrseg/app/workspace"
)

var update = flag.Bool("update", false, "rewrite the golden images in testdata")

// The demo segmenter caches its results, so the tests share one.
var (
	segOnce sync.Once
	demoSeg *workspace.DemoEngine
)

// newViewer opens the review window on the demo study, segmented.
func newViewer(t *testing.T) *Viewer {
	t.Helper()
	return newViewerWith(t, TrainingEnv{})
}

// newViewerWith is newViewer with the training tab configured by env.
func newViewerWith(t *testing.T, env TrainingEnv) *Viewer {
	t.Helper()
	segOnce.Do(func() { _, demoSeg = workspace.Demo() })
	a := test.NewTempApp(t)
	ws := workspace.New(workspace.Config{Engine: demoSeg, ConfigDir: t.TempDir(), SessionRoot: t.TempDir()})
	v := NewWithTraining(a, ws, env)
	v.asyncDone = make(chan struct{}, 8)
	v.win.Resize(fyne.NewSize(1400, 900))
	v.Start()
	wait(t, v)
	if ws.Session == nil {
		t.Fatalf("not segmented: %s", v.messageText.Text)
	}
	t.Cleanup(func() { ws.Close() })
	return v
}

// wait blocks until the viewer has handed one background result to the GUI.
func wait(t *testing.T, v *Viewer) {
	t.Helper()
	if _, ok := awaitUI(v.asyncDone, 2*time.Minute); !ok {
		t.Fatal("background operation did not finish")
	}
}

// uncertainWrong finds a voxel of slice k, phase ph, that is uncertain and
// that the ensemble got wrong.
func uncertainWrong(t *testing.T, v *Viewer, ph, k int) (i, j int) {
	t.Helper()
	s := v.ws.Series()
	r := v.ws.Session.Result(ph)
	for j := 0; j < s.Dims[1]; j++ {
		for i := 0; i < s.Dims[0]; i++ {
			x := i + s.Dims[0]*(j+s.Dims[1]*k)
			if r.Entropy[x] > 0.5 && r.Labels[x] != demoSeg.Labels[ph].Data[x] {
				return i, j
			}
		}
	}
	t.Fatal("no uncertain, mislabelled voxel")
	return
}

func TestTapCorrectsUncertainRegion(t *testing.T) {
	v := newViewer(t)
	ws := v.ws
	s := ws.Series()
	if got := v.win.Canvas().Size(); got.Width < 1000 {
		t.Fatalf("window %v", got)
	}
	v.GoTo(s.ED, 0)
	i, j := uncertainWrong(t, v, s.ED, 0)
	// A tap at the voxel's centre on screen maps back to that voxel.
	pos := v.view.positionOf(i, j)
	if _, _, gi, gj, ok := v.view.voxelAt(pos); !ok || gi != i || gj != j {
		t.Fatalf("position %v maps to (%d,%d,%v), want (%d,%d)", pos, gi, gj, ok, i, j)
	}
	idx := i + s.Dims[0]*j
	before := append([]uint8(nil), ws.Labels(s.ED)...)
	truth := demoSeg.Labels[s.ED].Data[idx]
	if before[idx] == truth {
		t.Fatal("test voxel already right")
	}
	test.TapAt(v.view, pos)
	if got := ws.Labels(s.ED)[idx]; got != truth {
		t.Fatalf("after the tap voxel (%d,%d) is %s, want %s; status %q", i, j, study.ClassNames[got], study.ClassNames[truth], v.messageText.Text)
	}
	changed := 0
	for n := range before {
		if before[n] != ws.Labels(s.ED)[n] {
			changed++
		}
	}
	t.Logf("tap at %v -> voxel (%d,%d): %d voxels changed; %q", pos, i, j, changed, v.messageText.Text)
	if !strings.Contains(v.messageText.Text, "alternative hypothesis") {
		t.Fatalf("status %q", v.messageText.Text)
	}
	if v.undoBtn.Disabled() {
		t.Fatal("undo disabled after an edit")
	}

	// Undo (button) restores every label; redo (Ctrl+Shift+Z) reapplies.
	test.Tap(v.undoBtn)
	for n := range before {
		if before[n] != ws.Labels(s.ED)[n] {
			t.Fatalf("undo left voxel %d at %d, was %d", n, ws.Labels(s.ED)[n], before[n])
		}
	}
	shortcut(v, fyne.KeyZ, fyne.KeyModifierShortcutDefault|fyne.KeyModifierShift)
	if got := ws.Labels(s.ED)[idx]; got != truth {
		t.Fatal("redo did not reapply the correction")
	}
	shortcut(v, fyne.KeyZ, fyne.KeyModifierShortcutDefault)
	if got := ws.Labels(s.ED)[idx]; got != before[idx] {
		t.Fatal("Ctrl+Z did not undo")
	}

	// A tap on confident tissue changes nothing and says why.
	test.TapAt(v.view, v.view.positionOf(3, 3))
	if !strings.Contains(v.messageText.Text, "Not in an uncertain region") {
		t.Fatalf("status %q", v.messageText.Text)
	}
}

func shortcut(v *Viewer, k fyne.KeyName, m fyne.KeyModifier) {
	v.win.Canvas().(interface{ TypedShortcut(fyne.Shortcut) }).TypedShortcut(&desktop.CustomShortcut{KeyName: k, Modifier: m})
}

func TestKeysAndWheel(t *testing.T) {
	v := newViewer(t)
	ws := v.ws
	ws.GoTo(0, 4)
	v.refreshView()
	keys := v.win.Canvas().OnTypedKey()
	keys(&fyne.KeyEvent{Name: fyne.KeyDown})
	keys(&fyne.KeyEvent{Name: fyne.KeyDown})
	keys(&fyne.KeyEvent{Name: fyne.KeyUp})
	keys(&fyne.KeyEvent{Name: fyne.KeyLeft}) // wraps to the last phase
	if vw := ws.View(); vw.Slice != 5 || vw.Phase != 24 {
		t.Fatalf("after ↓↓↑← slice %d phase %d, want 5 and 24", vw.Slice, vw.Phase)
	}
	if v.sliceSlider.Value != 6 || v.phaseSlider.Value != 25 {
		t.Fatalf("sliders %g %g", v.sliceSlider.Value, v.phaseSlider.Value)
	}
	test.Scroll(v.win.Canvas(), v.view.Position().Add(fyne.NewPos(200, 200)), 0, -1)
	if ws.View().Slice != 6 {
		t.Fatalf("wheel: slice %d", ws.View().Slice)
	}
	keys(&fyne.KeyEvent{Name: fyne.KeySpace})
	playing := v.cine != nil
	keys(&fyne.KeyEvent{Name: fyne.KeySpace})
	if !playing || v.cine != nil {
		t.Fatal("Space did not start and stop the cine")
	}
	runes := v.win.Canvas().OnTypedRune()
	runes('3')
	runes('u')
	runes('c')
	if !ws.Display.Hidden[study.LV] || ws.View().ShowUncertainty || !ws.Display.Fill || v.classChecks[study.LV].Checked {
		t.Fatal("1/2/3, U and C toggles")
	}
	runes('b')
	if v.tool != workspace.ToolBrush || v.labelSelect.Disabled() {
		t.Fatal("B did not pick the brush")
	}
}

func TestBrushStrokeAndQC(t *testing.T) {
	v := newViewer(t)
	ws := v.ws
	s := ws.Series()
	if len(v.qcItems) != 4 {
		t.Fatalf("%d QC items, want 4 (ED and ES, base and apex)", len(v.qcItems))
	}
	// One click on a QC row shows that slice.
	it := v.qcItems[3]
	v.qcList.Select(3)
	if vw := ws.View(); vw.Phase != it.Phase || vw.Slice != it.Slice {
		t.Fatalf("QC row %q shows phase %d slice %d", it.Text, vw.Phase, vw.Slice)
	}
	ws.GoTo(s.ED, 4)
	v.typedRune('b')
	v.labelSelect.SetSelected(study.ClassNames[study.RV])
	lvEDV := v.report.cells[0][1].Text
	// A brush dab of RV on the LV cavity centre.
	_, ci, cj := centroidOf(ws.Labels(s.ED), s, 4, study.LV)
	test.TapAt(v.view, v.view.positionOf(ci, cj))
	if got := ws.Labels(s.ED)[ci+s.Dims[0]*(cj+s.Dims[1]*4)]; got != study.RV {
		t.Fatalf("brush left %d", got)
	}
	if v.report.cells[0][1].Text == lvEDV {
		t.Fatalf("report not updated after the edit (LV EDV %s)", lvEDV)
	}
	t.Logf("LV EDV %s -> %s", lvEDV, v.report.cells[0][1].Text)
	test.Tap(v.acceptBtn)
	if !ws.Session.Accepted(s.ED, 4) {
		t.Fatal("accept")
	}
}

func centroidOf(lab []uint8, s *study.Series, k int, l uint8) (n, ci, cj int) {
	si, sj := 0, 0
	for j := 0; j < s.Dims[1]; j++ {
		for i := 0; i < s.Dims[0]; i++ {
			if lab[i+s.Dims[0]*(j+s.Dims[1]*k)] == l {
				n++
				si += i
				sj += j
			}
		}
	}
	return n, si / n, sj / n
}

func TestExportWritesFiles(t *testing.T) {
	v := newViewer(t)
	dir := t.TempDir()
	var all []string
	for _, k := range []exportKind{exportMask, exportMasksEDES, exportCSV, exportJSON, exportPNG} {
		p, err := v.exportTo(dir, k)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, p...)
	}
	for _, p := range all {
		st, err := os.Stat(p)
		if err != nil || st.Size() == 0 {
			t.Fatalf("%s: %v", p, err)
		}
	}
	names := make([]string, len(all))
	for n, p := range all {
		names[n] = filepath.Base(p)
	}
	want := "PHANTOM_ED_mask.nii.gz PHANTOM_ED_mask.nii.gz PHANTOM_ES_mask.nii.gz PHANTOM_report.csv PHANTOM_report.json PHANTOM_ED_slice06.png"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("exported %s\nwant     %s", got, want)
	}
	f, _ := os.Open(all[5])
	img, err := png.Decode(f)
	f.Close()
	if err != nil || img.Bounds().Dx() < 300 {
		t.Fatalf("snapshot %v %v", img.Bounds(), err)
	}
	// The demo study is not DICOM: DICOM SEG is refused with a reason, and
	// "everything" leaves it out instead of failing.
	if _, err := v.exportTo(dir, exportSEGEDES); err == nil || !strings.Contains(err.Error(), "DICOM") {
		t.Errorf("DICOM SEG export of a non-DICOM study: %v", err)
	}
	if p, err := v.exportTo(t.TempDir(), exportAll); err != nil || len(p) != 5 {
		t.Errorf("export everything: %v %v", p, err)
	}
	csv, _ := os.ReadFile(all[3])
	if !bytes.Contains(csv, []byte("lv_ef")) {
		t.Fatalf("report CSV:\n%s", csv)
	}
}

func TestOpenBadFileShowsError(t *testing.T) {
	v := newViewer(t)
	bad := filepath.Join(t.TempDir(), "broken.nii.gz")
	os.WriteFile(bad, []byte("this is not NIfTI"), 0o644)
	v.OpenPath(bad)
	wait(t, v)
	if !strings.Contains(v.errorShown, bad) {
		t.Fatalf("error shown %q does not name %s", v.errorShown, bad)
	}
	if v.ws.Series() == nil || v.ws.Session == nil {
		t.Fatal("the open study was lost")
	}
}

// Golden images of the overlay rendering (the image view's own pixels, no
// text): contours with the entropy map on the basal slice, and fills with
// mutual information zoomed on a mid slice.
func TestOverlayGolden(t *testing.T) {
	v := newViewer(t)
	ws := v.ws
	s := ws.Series()
	cases := []struct {
		name  string
		setup func()
	}{
		{"overlay_contour_entropy.png", func() { ws.GoTo(s.ED, 0) }},
		{"overlay_fill_mi_zoom.png", func() {
			ws.GoTo(s.ES, 4)
			ws.Display.Fill = true
			ws.View().Overlay = 1
			ws.View().Zoom = 2
			ws.View().PanX = 12
		}},
	}
	for _, c := range cases {
		c.setup()
		img := v.view.render(160, 160).(*image.RGBA)
		golden(t, c.name, img)
	}
}

func golden(t *testing.T, name string, img *image.RGBA) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("%v (run go test ./ui -run Golden -update)", err)
	}
	defer f.Close()
	want, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if want.Bounds() != img.Bounds() {
		t.Fatalf("%s: size %v, golden %v", name, img.Bounds(), want.Bounds())
	}
	diff := 0
	for y := 0; y < img.Bounds().Dy(); y++ {
		for x := 0; x < img.Bounds().Dx(); x++ {
			r1, g1, b1, _ := img.At(x, y).RGBA()
			r2, g2, b2, _ := want.At(x, y).RGBA()
			if r1 != r2 || g1 != g2 || b1 != b2 {
				diff++
			}
		}
	}
	if diff > 0 {
		os.MkdirAll(filepath.Join("testdata", "failed"), 0o755)
		var b bytes.Buffer
		png.Encode(&b, img)
		os.WriteFile(filepath.Join("testdata", "failed", name), b.Bytes(), 0o644)
		t.Fatalf("%s: %d pixels differ from the golden image (actual in testdata/failed)", name, diff)
	}
}

// Opening a NIfTI file by path (File ▸ Open, drag-and-drop and the recent
// list all end here) reads it in the background, segments it, and puts it
// at the top of the recent list; a study with two series asks which one.
func TestOpenFileAndSeriesPicker(t *testing.T) {
	v := newViewer(t)
	ws := v.ws
	p := filepath.Join(t.TempDir(), "phantom_4d.nii.gz")
	if err := nifti.Write(p, ws.Series(), nifti.Float32); err != nil {
		t.Fatal(err)
	}
	v.OpenPath(p)
	wait(t, v) // read
	wait(t, v) // segmented
	if ws.Study == nil || ws.Study.Path != p || ws.Session == nil {
		t.Fatalf("study %v session %v: %s / %s", ws.Study, ws.Session, v.messageText.Text, v.errorShown)
	}
	if e := ws.Recent().Entries; len(e) != 1 || e[0].Path != p {
		t.Fatalf("recent list %+v", e)
	}
	// File ▸ Open recent… lists it in a dialog (the menu bar is never
	// rebuilt, see safeSelect).
	menu := v.win.MainMenu()
	before := len(v.win.Canvas().Overlays().List())
	menu.Items[0].Items[2].Action()
	if len(v.win.Canvas().Overlays().List()) != before+1 {
		t.Fatal("Open recent… showed no dialog")
	}
	v.win.Canvas().Overlays().Top().Hide()

	one := ws.Series()
	two := *one
	two.Meta.SeriesDescription = "second series"
	v.setStudy(&study.Study{Path: "", Series: []*study.Series{one, &two}})
	if ws.SeriesIndex != -1 || ws.Session != nil {
		t.Fatal("a series was chosen without asking")
	}
	v.chooseSeries(1)
	wait(t, v)
	if ws.Series().Meta.SeriesDescription != "second series" || ws.Session == nil {
		t.Fatalf("series %q session %v", ws.Series().Meta.SeriesDescription, ws.Session)
	}
}
