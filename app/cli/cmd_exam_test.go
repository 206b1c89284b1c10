package cli

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cmrseg/app/exam"
	"cmrseg/app/nifti"
	"cmrseg/app/shareddata"
	"cmrseg/inference/unet"
)

func synthExam(t *testing.T, phases int) (string, []exam.SynthSeries) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "EXAM")
	want, err := exam.Synthesize(dir, shareddata.Require(t, "sunnybrook/SCD0000101"), exam.SynthOptions{Phases: phases})
	if err != nil {
		t.Fatal(err)
	}
	return dir, want
}

// `cmrseg info EXAM` lists every series with its class, marks the
// short-axis cine, and describes it; --series describes another.
func TestInfoExam(t *testing.T) {
	dir, want := synthExam(t, 0)
	var stdout, stderr bytes.Buffer
	if code := Run([]string{"info", dir}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	out := stdout.String()
	t.Log("\n" + out)
	lines := strings.Split(out, "\n")
	for i, w := range want {
		row := lines[2+i]
		if !strings.Contains(row, w.Description+":") || !strings.Contains(row, w.Want.String()) {
			t.Errorf("row %d %q: want %q as %s", i+1, row, w.Description, w.Want)
		}
		if chosen := strings.HasPrefix(row, "*"); chosen != (w.Description == "SA cine") {
			t.Errorf("row %d %q: chosen mark %v", i+1, row, chosen)
		}
	}
	if !strings.Contains(out, "series 1: SA cine\n  dims       256 x 256 x 12, 20 phases") {
		t.Error("the short-axis cine is not described")
	}
	stdout.Reset()
	if code := Run([]string{"info", "--series", "3", dir}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "series 1: cine 2ch\n  dims       256 x 256 x 1, 20 phases") {
		t.Errorf("--series 3: exit %d\n%s", code, stdout.String())
	}
	stderr.Reset()
	if code := Run([]string{"info", "--series", "99", dir}, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), dir+": no series 99") {
		t.Errorf("--series 99: exit %d, %q", code, stderr.String())
	}
}

// `cmrseg segment EXAM` segments the short-axis cine only; --series
// segments the series asked for. The cines have 6 phases here, to keep
// the test short.
func TestSegmentExam(t *testing.T) {
	dir, want := synthExam(t, 6)
	model := randomModel(t, unet.Config{InChannels: 1, Classes: 4, Stages: 3, BaseFeatures: 4, MaxFeatures: 16, ConvsPerStage: 1}, 1)
	for _, c := range []struct {
		series, want string
		dims         [3]int
	}{{"", "SA cine", [3]int{256, 256, 12}}, {"2", "cine 4ch", [3]int{256, 256, 1}}} {
		out := t.TempDir()
		args := []string{"segment", "--model", model, "--device", "cpu", "--out", out}
		if c.series != "" {
			args = append(args, "--series", c.series)
		}
		var stdout, stderr bytes.Buffer
		if code := Run(append(args, dir), &stdout, &stderr); code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
		}
		if !strings.Contains(stdout.String(), fmt.Sprintf("exam of %d series; segmenting no. ", len(want))) || !strings.Contains(stdout.String(), `"`+c.want+`"`) {
			t.Errorf("--series %q:\n%s", c.series, stdout.String())
		}
		segs, _ := filepath.Glob(filepath.Join(out, "*_seg.nii.gz"))
		if len(segs) != 1 || !strings.HasPrefix(filepath.Base(segs[0]), strings.ReplaceAll(c.want, " ", "_")+"_") {
			t.Fatalf("--series %q: outputs %v", c.series, segs)
		}
		s, err := nifti.Read(segs[0])
		if err != nil {
			t.Fatal(err)
		}
		if s.Dims != c.dims || s.NT != 6 {
			t.Errorf("--series %q: labels %v × %d, want %v × 6", c.series, s.Dims, s.NT, c.dims)
		}
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
}
