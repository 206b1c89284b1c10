package ui

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"

	"cmrseg/app/session"
	"cmrseg/app/workspace"
)

// A deliberate panic under the last-resort handler: the edit made before
// it is in the journal, the crash report sits beside the session folders
// with the stack and the study's path but not the patient's name or ID,
// and the next start offers to reopen the study.
func TestDeliberatePanicWritesCrashReport(t *testing.T) {
	segOnce.Do(func() { _, demoSeg = workspace.Demo() })
	cfg := workspace.Config{Engine: demoSeg, ConfigDir: t.TempDir(), SessionRoot: t.TempDir()}
	ws := workspace.New(cfg)
	st, _ := workspace.Demo()
	s := st.Series[0]
	s.Meta.PatientName, s.Meta.PatientID = "Doe^Jane", "PID4711"
	st.Path = filepath.Join(t.TempDir(), "Doe_Jane", "PID4711", "cine")
	if err := ws.SetStudy(st); err != nil {
		t.Fatal(err)
	}
	if err := ws.Segment(); err != nil {
		t.Fatal(err)
	}
	a := test.NewTempApp(t)
	v := New(a, ws)
	v.win.Resize(fyne.NewSize(1400, 900))
	c, err := ws.Paint([]session.Point{{I: 40, J: 40}}, 3, 1)
	if err != nil || c.Empty() {
		t.Fatalf("paint: %v (%d voxels)", err, len(c.Voxels))
	}
	edited := append([]uint8(nil), ws.Labels(ws.View().Phase)...)

	report, crash := v.Guard(func() { panic("deliberate test panic") })
	if crash == nil || report == "" {
		t.Fatalf("Guard did not catch the panic: %v %q", crash, report)
	}
	if filepath.Dir(report) != cfg.SessionRoot {
		t.Fatalf("report %s is not beside the sessions in %s", report, cfg.SessionRoot)
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	t.Logf("crash report %s:\n%s", report, text)
	for _, want := range []string{"Panic: deliberate test panic", "crash_test.go", "every edit is in its journal", "Study: " + filepath.Dir(filepath.Dir(filepath.Dir(st.Path)))} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	for _, secret := range []string{"Doe", "Jane", "PID4711"} {
		if strings.Contains(text, secret) {
			t.Errorf("report contains the patient's %q", secret)
		}
	}
	if ws.Session != nil {
		t.Fatal("the session was left open")
	}

	// The next start: the edit is back, and the window offers the study.
	ws2 := workspace.New(cfg)
	st2, _ := workspace.Demo()
	st2.Path = st.Path
	st2.Series[0].Meta = s.Meta
	if err := ws2.SetStudy(st2); err != nil {
		t.Fatal(err)
	}
	if err := ws2.Segment(); err != nil {
		t.Fatal(err)
	}
	defer ws2.Close()
	got := ws2.Labels(ws2.View().Phase)
	for n := range edited {
		if got[n] != edited[n] {
			t.Fatalf("voxel %d is %d after the crash, was edited to %d", n, got[n], edited[n])
		}
	}
	v2 := New(test.NewTempApp(t), ws2)
	v2.asyncDone = make(chan struct{}, 8)
	overlays := len(v2.win.Canvas().Overlays().List())
	v2.Start()
	wait(t, v2)
	if v2.crashNote == nil || v2.crashNote.Study != st.Path || v2.crashNote.Report != report {
		t.Fatalf("crash note %+v", v2.crashNote)
	}
	if len(v2.win.Canvas().Overlays().List()) <= overlays {
		t.Fatal("no offer to reopen the study")
	}
	if n, _ := ws2.TakeCrashNote(); n != nil {
		t.Fatal("the crash note is offered again")
	}
}
