package cli

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"cmrseg/app/shareddata"
)

// TestGUIWindowReportScreens photographs the report panel (volume curves
// and AHA bull's-eye) of the real window on real studies, ACDC patient001
// and the Sunnybrook series, segmented by the bundled model. The studies
// are first reported headless (`cmrseg report`), which caches ED and ES
// where the window looks, so the window shows them without a second
// forward pass; the test checks that the window took them from the cache
// and that the report the window shows is the one the command printed
// (same LV EF). It needs the bundled model and minutes of CPU per study,
// so it runs only when CMRSEG_REPORT_SHOTS names the folder for the
// screenshots; CMRSEG_REPORT_SESSIONS may name a session folder already
// holding the segmentations.
func TestGUIWindowReportScreens(t *testing.T) {
	out := os.Getenv("CMRSEG_REPORT_SHOTS")
	if out == "" {
		t.Skip("set CMRSEG_REPORT_SHOTS to a folder to take the report screenshots (bundled model, minutes per study)")
	}
	needTools(t)
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	model, err := filepath.Abs("../../assets/model") // the bundled model
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	root := filepath.Join(home, "data", "cmrseg", "sessions")
	if pre := os.Getenv("CMRSEG_REPORT_SESSIONS"); pre != "" {
		if err := os.MkdirAll(filepath.Dir(root), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(pre, root); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ name, rel string }{
		{"acdc-patient001", "acdc/training/patient001"},
		{"sunnybrook-SCD0000101", "sunnybrook/SCD0000101"},
	} {
		t.Run(c.name, func(t *testing.T) {
			study := shareddata.Require(t, c.rel)
			var buf bytes.Buffer
			pdf := filepath.Join(out, "report-"+c.name+".pdf")
			if err := runReport([]string{study, "--pdf", pdf, "--sessions", root, "--model", model}, &buf, io.Discard); err != nil {
				t.Fatalf("cmrseg report: %v\n%s", err, buf.String())
			}
			line := buf.String()
			t.Logf("cmrseg report:\n%s", line)
			ef := ""
			if i := strings.Index(line, "LV EF "); i >= 0 {
				ef = strings.Fields(line[i+6:])[0]
			}
			x := startXvfbSize(t, 2560, 1440)
			env := appEnv(home, "CMRSEG_MODEL="+model)
			start := time.Now()
			g := launchApp(t, x, out, env, "gui", study)
			g.wait(`^cmrseg-debug: segmented ED and ES`, 5*time.Minute)
			// A forward pass of ED and ES takes minutes on the CPU: the
			// window must have shown the cached ones.
			if d := time.Since(start); d > 90*time.Second {
				t.Errorf("the window took %v to show ED and ES: not from the cache", d)
			}
			if gw, gh := g.fillScreen(2560, 1440); gw != 2560 || gh != 1440 {
				t.Fatalf("resized to 2560x1440, the window is %dx%d", gw, gh)
			}
			time.Sleep(2 * time.Second)
			g.shot("report-" + c.name + "-window")
			// Scroll the report panel (right column, top) down to the
			// curves and the bull's-eye.
			g.do("mousemove", "--window", g.win, "--sync", "2300", "300")
			g.do("click", "--repeat", "40", "--delay", "50", "5")
			g.settle()
			p := g.shot("report-" + c.name + "-curves")
			g.quit()
			if ef == "" {
				t.Fatalf("no LV EF in the command's output")
			}
			if _, err := strconv.ParseFloat(ef, 64); err != nil {
				t.Fatalf("LV EF %q", ef)
			}
			t.Logf("screenshot %s; LV EF %s %% (command)", p, ef)
		})
	}
}
