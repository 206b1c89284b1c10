package ui

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"cmrseg/app/dicomio"
	"cmrseg/app/exam"
	"cmrseg/app/shareddata"
	"cmrseg/app/study"
	"cmrseg/app/workspace"
)

// findList returns the first list in a widget tree.
func findList(o fyne.CanvasObject) *widget.List {
	switch x := o.(type) {
	case *widget.List:
		return x
	case *fyne.Container:
		for _, c := range x.Objects {
			if l := findList(c); l != nil {
				return l
			}
		}
	case fyne.Widget:
		r := x.CreateRenderer()
		for _, c := range r.Objects() {
			if l := findList(c); l != nil {
				return l
			}
		}
	}
	return nil
}

// Opening a DICOM exam shows the short-axis cine and the exam browser:
// every series with its class and a thumbnail; choosing the four-chamber
// cine shows that series instead; a localiser cannot be chosen.
func TestExamBrowser(t *testing.T) {
	sb := shareddata.Require(t, "sunnybrook/SCD0000101")
	dir := filepath.Join(t.TempDir(), "EXAM")
	want, err := exam.Synthesize(dir, sb, exam.SynthOptions{})
	if err != nil {
		t.Fatal(err)
	}
	v := newViewer(t)
	ws := v.ws
	before := len(v.win.Canvas().Overlays().List())
	v.OpenPath(dir)
	wait(t, v) // read
	ex := v.examOf()
	if ex == nil || len(ex.Entries) != len(want) {
		t.Fatalf("exam %v", ex)
	}
	if ws.Series().Meta.SeriesDescription != "SA cine" {
		t.Fatalf("shows %q, want the short-axis cine", ws.Series().Meta.SeriesDescription)
	}
	wait(t, v) // segmentation ends (the demo segmenter knows only the phantom)
	var browser fyne.CanvasObject
	for _, o := range v.win.Canvas().Overlays().List()[before:] {
		if l := findList(o); l != nil && l.Length() == len(want) {
			browser = o
		}
	}
	if browser == nil {
		t.Fatal("no exam browser shown after opening the exam")
	}
	cur := ws.Series().Meta.SeriesInstanceUID
	for i, w := range want {
		title, detail := examRow(ex, i, cur)
		if !strings.Contains(title, w.Description) || !strings.Contains(title, w.Want.String()) {
			t.Errorf("row %d: %q, want %q and %s", i+1, title, w.Description, w.Want)
		}
		if w.Description == "SA cine" && !strings.HasPrefix(title, "▶ ") {
			t.Errorf("the shown series is not marked: %q", title)
		}
		if i == 0 && !strings.Contains(detail, "localiser") {
			t.Errorf("localiser row detail %q", detail)
		}
	}
	// Thumbnails arrive in the background, one per series.
	deadline := time.Now().Add(time.Minute)
	for {
		n := 0
		onTestUI(func() {
			for _, img := range examThumbs.imgs {
				if img != nil {
					n++
				}
			}
		})
		if n == len(want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d thumbnails after a minute", n, len(want))
		}
		time.Sleep(50 * time.Millisecond)
	}

	list := findList(browser)
	list.Select(0) // the localiser
	if ws.Series().Meta.SeriesDescription != "SA cine" || !strings.Contains(v.messageText.Text, "cannot be shown") {
		t.Fatalf("choosing the localiser: shows %q, message %q", ws.Series().Meta.SeriesDescription, v.messageText.Text)
	}
	list.Select(1) // the four-chamber cine
	wait(t, v)     // read
	if s := ws.Series(); s.Meta.SeriesDescription != "cine 4ch" || s.Dims[2] != 1 || s.NT != 20 || len(s.Data) != s.N()*s.NT {
		t.Fatalf("after choosing the 4ch cine: %q %v × %d", s.Meta.SeriesDescription, s.Dims, s.NT)
	}
	if v.examOf() != ex {
		t.Error("the exam was lost when another series was chosen")
	}
	wait(t, v) // segmentation ends
}

// A series decoded from lossy JPEG says so in the status bar when
// segmentation ends and in the report panel.
func TestLossyWarningShown(t *testing.T) {
	v := newViewer(t)
	ws := v.ws
	lossy := *ws.Series()
	lossy.Source = &study.DICOMSource{Notes: []string{dicomio.LossyNote}}
	want := workspace.SourceWarning(&lossy)
	if want == "" {
		t.Fatal("no warning for a lossy series")
	}
	v.setStudy(&study.Study{Series: []*study.Series{&lossy}})
	wait(t, v) // segmented
	if v.messageText.Text != want {
		t.Errorf("status bar %q, want %q", v.messageText.Text, want)
	}
	if !strings.HasPrefix(v.report.bsa.Text, want) {
		t.Errorf("report panel %q, want the warning first", v.report.bsa.Text)
	}
	// A series with the scanner's own pixels has no such line.
	plain := lossy
	plain.Source = &study.DICOMSource{}
	v.setStudy(&study.Study{Series: []*study.Series{&plain}})
	wait(t, v)
	if strings.Contains(v.messageText.Text, "Lossy") || strings.Contains(v.report.bsa.Text, "Lossy") {
		t.Errorf("warning on a lossless series: %q / %q", v.messageText.Text, v.report.bsa.Text)
	}
}

// `cmrseg gui --series 3 EXAM` shows series 3 of the exam first; the
// choice applies to that first opening only.
func TestOpenSeriesFromCommandLine(t *testing.T) {
	sb := shareddata.Require(t, "sunnybrook/SCD0000101")
	dir := filepath.Join(t.TempDir(), "EXAM")
	if _, err := exam.Synthesize(dir, sb, exam.SynthOptions{Phases: 6}); err != nil {
		t.Fatal(err)
	}
	segOnce.Do(func() { _, demoSeg = workspace.Demo() })
	ws := workspace.New(workspace.Config{Engine: demoSeg, ConfigDir: t.TempDir(), SessionRoot: t.TempDir(), OpenSeries: "3"})
	t.Cleanup(func() { ws.Close() })
	v := New(test.NewTempApp(t), ws)
	v.asyncDone = make(chan struct{}, 8)
	v.win.Resize(fyne.NewSize(1400, 900))
	v.StartOn(dir)
	wait(t, v) // read
	if s := ws.Series(); s == nil || s.Meta.SeriesDescription != "cine 2ch" {
		t.Fatalf("shows %v, want series 3 (cine 2ch)", s)
	}
	wait(t, v) // segmentation ends
	v.OpenPath(dir)
	wait(t, v)
	if s := ws.Series(); s.Meta.SeriesDescription != "SA cine" {
		t.Fatalf("opened again: %q, want the short-axis cine", s.Meta.SeriesDescription)
	}
	wait(t, v)
}
