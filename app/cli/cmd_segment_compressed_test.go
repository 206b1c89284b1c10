package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"cmrseg/app/dicomio"
	"cmrseg/app/nifti"
	"cmrseg/app/shareddata"
	"cmrseg/inference/unet"
)

// TestSegmentJPEGLosslessSameLabels segments the Sunnybrook cine and a
// compressed copy of it (made in a temporary folder) with the same model:
// every output must carry the same values, voxel for voxel, because the
// decoded images are the same. To keep this to two segmentations the
// copy mixes two codecs within the series: even-numbered images in JPEG
// Lossless (dcmtk's dcmcjpeg), odd-numbered ones in JPEG 2000 lossless
// (GDCM's gdcmconv --j2k), so each slice and phase has frames of both.
func TestSegmentJPEGLosslessSameLabels(t *testing.T) {
	if testing.Short() {
		t.Skip("segments every phase of a cine twice; slow on a CPU")
	}
	for _, tool := range []string{"dcmcjpeg", "gdcmconv"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is missing (CI=true needs dcmtk and libgdcm-tools: scripts/install-deps.sh test)", tool)
			}
			t.Skipf("%s not installed", tool)
		}
	}
	orig := filepath.Join(shareddata.Require(t, "sunnybrook"), "SCD0000101")
	files, _ := filepath.Glob(filepath.Join(orig, "*.dcm"))
	if len(files) != 240 {
		t.Fatalf("%d files in %s, want 240", len(files), orig)
	}
	conv := t.TempDir()
	start := time.Now()
	syntaxes := map[string]int{}
	for _, f := range files {
		// Files are N.dcm with InstanceNumber N.
		n, err := strconv.Atoi(strings.TrimSuffix(filepath.Base(f), ".dcm"))
		if err != nil {
			t.Fatal(err)
		}
		tool := []string{"dcmcjpeg"}
		if n%2 == 1 {
			tool = []string{"gdcmconv", "--j2k"}
		}
		out := filepath.Join(conv, filepath.Base(f))
		if b, err := exec.Command(tool[0], append(tool[1:], f, out)...).CombinedOutput(); err != nil {
			t.Fatalf("%v %s: %v\n%s", tool, f, err, b)
		}
		data, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		for _, uid := range []string{"1.2.840.10008.1.2.4.70", "1.2.840.10008.1.2.4.90"} {
			if bytes.Contains(data[:min(len(data), 1024)], []byte(uid)) {
				syntaxes[uid]++
			}
		}
	}
	t.Logf("dcmcjpeg and gdcmconv: 240 files in %v, transfer syntaxes %v", time.Since(start).Round(time.Millisecond), syntaxes)
	if syntaxes["1.2.840.10008.1.2.4.70"] != 120 || syntaxes["1.2.840.10008.1.2.4.90"] != 120 {
		t.Fatalf("transfer syntaxes %v, want 120 JPEG Lossless SV1 and 120 JPEG 2000 lossless", syntaxes)
	}
	inputs := map[string]string{"original": orig, "jpeg+j2k": conv}
	model := randomModel(t, unet.Config{InChannels: 1, Classes: 4, Stages: 3, BaseFeatures: 4, MaxFeatures: 16, ConvsPerStage: 1}, 2)
	outs := map[string]string{}
	for name, in := range inputs {
		out := t.TempDir()
		start := time.Now()
		var stdout, stderr bytes.Buffer
		if code := Run([]string{"segment", "--model", model, "--device", "cpu", "--out", out, in}, &stdout, &stderr); code != 0 {
			t.Fatalf("%s: exit %d\n%s\n%s", name, code, stdout.String(), stderr.String())
		}
		t.Logf("segment %s: %v", name, time.Since(start).Round(time.Millisecond))
		outs[name] = out
	}
	want, _ := filepath.Glob(filepath.Join(outs["original"], "*.nii.gz"))
	for _, name := range []string{"jpeg+j2k"} {
		got, _ := filepath.Glob(filepath.Join(outs[name], "*.nii.gz"))
		if len(got) == 0 || len(got) != len(want) {
			t.Fatalf("%s outputs %v vs %v", name, got, want)
		}
		sameOutputs(t, name, outs[name], want)
	}
}

// sameOutputs requires each NIfTI in want to have an identical twin in dir.
func sameOutputs(t *testing.T, name, dir string, want []string) {
	t.Helper()
	for _, w := range want {
		g := filepath.Join(dir, filepath.Base(w))
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
				t.Fatalf("%s: voxel %d is %g from %s, %g from the original", filepath.Base(w), i, b.Data[i], name, a.Data[i])
			}
		}
		t.Logf("%s %s: %v × %d, %d voxels identical", name, filepath.Base(w), a.Dims, a.NT, len(a.Data))
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
