package cli

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cmrseg/app/nifti"
	"cmrseg/app/study"
	"cmrseg/inference/unet"
)

// writeSmallVolume writes a 48×48×2 NIfTI at 1.5 mm with a bright disc.
func writeSmallVolume(t *testing.T, path string) {
	t.Helper()
	g := study.Geometry{Dims: [3]int{48, 48, 2}, Spacing: [3]float64{1.5, 1.5, 8},
		Direction: [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}
	s := &study.Series{Geometry: g, NT: 1, Data: make([]float32, g.N()), ED: -1, ES: -1}
	for i := range s.Data {
		x, y := float64(i%48-24), float64(i/48%48-24)
		s.Data[i] = float32(100 * math.Exp(-(x*x+y*y)/50))
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := nifti.Write(path, s, nifti.Float32); err != nil {
		t.Fatal(err)
	}
}

// Issue 21 item 6 and 7: two inputs with one base name get distinct,
// predictable names and the summary says so; a second run keeps the
// earlier outputs unless --overwrite; a killed run's temporary files are
// removed by the next run.
func TestSegmentOutputNamesAndOverwrite(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a", "img.nii"), filepath.Join(dir, "b", "img.nii")
	writeSmallVolume(t, a)
	writeSmallVolume(t, b)
	model := randomModel(t, unet.Config{InChannels: 1, Classes: 4, Stages: 3, BaseFeatures: 4, MaxFeatures: 16, ConvsPerStage: 1}, 1)
	out := filepath.Join(dir, "out")
	run := func(extra ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		args := append([]string{"segment", "--model", model, "--device", "cpu", "--out", out}, extra...)
		code := Run(append(args, a, b), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}

	code, stdout, stderr := run()
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	first, second := filepath.Join(out, "img_seg.nii.gz"), filepath.Join(out, "img_2_seg.nii.gz")
	for _, p := range []string{first, second, filepath.Join(out, "img_2_entropy.nii.gz")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("missing %s", p)
		}
	}
	if !strings.Contains(stdout, "output name img is taken by "+a+" in this run; writing img_2 instead") {
		t.Errorf("summary does not report the collision:\n%s", stdout)
	}

	// A killed run's leftover beside the outputs.
	stale := filepath.Join(out, ".img_seg.nii.gz.tmp-123456")
	os.WriteFile(stale, make([]byte, 1<<20), 0o644)
	st0, _ := os.Stat(first)
	time.Sleep(10 * time.Millisecond)

	code, stdout, stderr = run()
	if code != 0 {
		t.Fatalf("second run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "kept 4 existing output(s)") || !strings.Contains(stdout, "kept "+first) {
		t.Errorf("second run does not say what it kept:\n%s\n%s", stdout, stderr)
	}
	if st, _ := os.Stat(first); !st.ModTime().Equal(st0.ModTime()) {
		t.Error("an earlier output was replaced without --overwrite")
	}
	if _, err := os.Stat(stale); err == nil || !strings.Contains(stderr, "removed 1 temporary file(s)") {
		t.Errorf("stale temporary file not removed: %v\n%s", err, stderr)
	}

	code, stdout, stderr = run("--overwrite")
	if code != 0 || strings.Contains(stderr, "kept") {
		t.Fatalf("--overwrite: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if st, _ := os.Stat(first); st.ModTime().Equal(st0.ModTime()) {
		t.Error("--overwrite did not replace the output")
	}
}
