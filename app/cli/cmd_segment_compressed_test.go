package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cmrseg/app/dicomio"
	"cmrseg/app/nifti"
	"cmrseg/app/shareddata"
	"cmrseg/inference/unet"
)

// TestSegmentJPEGLosslessSameLabels segments the Sunnybrook cine and its
// JPEG Lossless copy (dcmtk's dcmcjpeg, made in a temporary folder) with
// the same model: every output must carry the same values, voxel for
// voxel, because the decoded images are the same.
func TestSegmentJPEGLosslessSameLabels(t *testing.T) {
	if testing.Short() {
		t.Skip("segments every phase of a cine twice; slow on a CPU")
	}
	if _, err := exec.LookPath("dcmcjpeg"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("dcmcjpeg is missing (CI=true needs dcmtk: scripts/install-deps.sh test)")
		}
		t.Skip("dcmcjpeg not installed")
	}
	orig := filepath.Join(shareddata.Require(t, "sunnybrook"), "SCD0000101")
	files, _ := filepath.Glob(filepath.Join(orig, "*.dcm"))
	if len(files) != 240 {
		t.Fatalf("%d files in %s, want 240", len(files), orig)
	}
	conv := t.TempDir()
	start := time.Now()
	for _, f := range files {
		if b, err := exec.Command("dcmcjpeg", f, filepath.Join(conv, filepath.Base(f))).CombinedOutput(); err != nil {
			t.Fatalf("dcmcjpeg %s: %v\n%s", f, err, b)
		}
	}
	t.Logf("dcmcjpeg: 240 files in %v", time.Since(start).Round(time.Millisecond))
	model := randomModel(t, unet.Config{InChannels: 1, Classes: 4, Stages: 3, BaseFeatures: 4, MaxFeatures: 16, ConvsPerStage: 1}, 2)
	outs := map[string]string{}
	for name, in := range map[string]string{"original": orig, "jpeg": conv} {
		out := t.TempDir()
		start := time.Now()
		var stdout, stderr bytes.Buffer
		if code := Run([]string{"segment", "--model", model, "--device", "cpu", "--out", out, in}, &stdout, &stderr); code != 0 {
			t.Fatalf("%s: exit %d\n%s\n%s", name, code, stdout.String(), stderr.String())
		}
		t.Logf("segment %s: %v", name, time.Since(start).Round(time.Millisecond))
		outs[name] = out
	}
	got, _ := filepath.Glob(filepath.Join(outs["jpeg"], "*.nii.gz"))
	want, _ := filepath.Glob(filepath.Join(outs["original"], "*.nii.gz"))
	if len(got) == 0 || len(got) != len(want) {
		t.Fatalf("outputs %v vs %v", got, want)
	}
	for _, w := range want {
		g := filepath.Join(outs["jpeg"], filepath.Base(w))
		a, err := nifti.Read(w)
		if err != nil {
			t.Fatal(err)
		}
		b, err := nifti.Read(g)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(w), err)
		}
		if a.Geometry != b.Geometry || len(a.Data) != len(b.Data) {
			t.Fatalf("%s: geometry %+v vs %+v", filepath.Base(w), b.Geometry, a.Geometry)
		}
		for i := range a.Data {
			if a.Data[i] != b.Data[i] {
				t.Fatalf("%s: voxel %d is %g from JPEG, %g from the original", filepath.Base(w), i, b.Data[i], a.Data[i])
			}
		}
		t.Logf("%s: %v × %d, %d voxels identical", filepath.Base(w), a.Dims, a.NT, len(a.Data))
	}
}

// TestSegmentLossyWarns: segmenting a baseline (lossy) JPEG image says
// so. The image is one real Sunnybrook frame through dcmcjpeg +eb, with
// CardiacNumberOfImages removed (dcmodify) so that it is a series alone.
func TestSegmentLossyWarns(t *testing.T) {
	for _, tool := range []string{"dcmcjpeg", "dcmodify"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is missing (CI=true needs dcmtk: scripts/install-deps.sh test)", tool)
			}
			t.Skipf("%s not installed", tool)
		}
	}
	src := filepath.Join(shareddata.Require(t, "sunnybrook"), "SCD0000101", "1.dcm")
	dir := t.TempDir()
	p := filepath.Join(dir, "1.dcm")
	for _, c := range [][]string{{"dcmcjpeg", "+eb", src, p}, {"dcmodify", "-nb", "-ea", "(0018,1090)", p}} {
		if b, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", c, err, b)
		}
	}
	model := randomModel(t, unet.Config{InChannels: 1, Classes: 4, Stages: 3, BaseFeatures: 4, MaxFeatures: 16, ConvsPerStage: 1}, 1)
	var stdout, stderr bytes.Buffer
	if code := Run([]string{"segment", "--model", model, "--device", "cpu", "--out", t.TempDir(), dir}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), dicomio.LossyNote) {
		t.Errorf("no lossy warning in:\n%s", stdout.String())
	}
	t.Log("\n" + stdout.String())
}
