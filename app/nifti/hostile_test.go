package nifti

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	"cmrseg/app/geom"
	"cmrseg/app/membudget"
)

// hostileHeader is a valid uint8 header claiming dims at spacing mm.
func hostileHeader(t testing.TB, dims [3]int, spacing float32) []byte {
	h := minimal(t, [3]int{1, 1, 1}, Uint8, []float32{0})[:headerSize+4]
	h = slices.Clone(h)
	for a, d := range dims {
		binary.LittleEndian.PutUint16(h[42+2*a:], uint16(d))
		binary.LittleEndian.PutUint32(h[80+4*a:], math.Float32bits(spacing))
	}
	return h
}

// bomb is a gzip stream of the header and n zero bytes, written in
// pieces so the test itself stays small.
func bomb(t testing.TB, hdr []byte, n int64) []byte {
	var out bytes.Buffer
	w, _ := gzip.NewWriterLevel(&out, gzip.BestCompression)
	w.Write(hdr)
	zero := make([]byte, 1<<20)
	for left := n; left > 0; left -= int64(len(zero)) {
		w.Write(zero[:min(left, int64(len(zero)))])
	}
	w.Close()
	return out.Bytes()
}

// allocated runs f and returns the bytes it allocated in all.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// A real gzip bomb (issue 21 item 1): 256 MiB of voxels in a small .gz.
// Beyond the budget it is refused before decompression; within it, a
// header that claims more than the stream holds costs only what arrived.
func TestGzipBomb(t *testing.T) {
	const n = 256 << 20
	hdr := hostileHeader(t, [3]int{1024, 1024, 256}, 0.5)
	file := bomb(t, hdr, n)
	if len(file) > 1<<20 {
		t.Fatalf("bomb is %d bytes", len(file))
	}
	defer membudget.SetLimit(membudget.SetLimit(64 << 20))
	var err error
	if a := allocated(func() { _, err = Decode("bomb.nii.gz", file) }); a > 4<<20 {
		t.Errorf("refusing the bomb allocated %d bytes", a)
	}
	var be *membudget.Error
	if !errors.Is(err, membudget.ErrOverBudget) || !errors.As(err, &be) || be.Need < 1<<30 {
		t.Fatalf("bomb: %v; want membudget.ErrOverBudget for 1 GiB of float32", err)
	}

	// Within a budget, a stream that ends early is cut off without
	// allocating for what the header claimed.
	membudget.SetLimit(8 << 30)
	short := bomb(t, hdr, 8<<20)
	if a := allocated(func() { _, err = Decode("short.nii.gz", short) }); a > 128<<20 {
		t.Errorf("an 8 MiB stream claiming 256 MiB allocated %d bytes", a)
	}
	if !errors.Is(err, ErrTruncated) {
		t.Errorf("short stream: %v; want ErrTruncated", err)
	}
}

// Extreme voxel sizes (item 2): refused by the reader, so info and segment
// both see it, before any voxel buffer exists.
func TestImplausibleVoxelSize(t *testing.T) {
	for _, sp := range []float32{1000, 1e6, 1e30, 1e-6} {
		hdr := hostileHeader(t, [3]int{256, 256, 10}, sp)
		data := append(hdr, make([]byte, 256*256*10)...)
		var err error
		if a := allocated(func() { _, err = Decode("odd.nii", data) }); a > 1<<20 {
			t.Errorf("pixdim %g: allocated %d bytes", sp, a)
		}
		var re *geom.RangeError
		if !errors.Is(err, geom.ErrImplausible) || !errors.As(err, &re) {
			t.Errorf("pixdim %g: %v; want geom.ErrImplausible", sp, err)
		}
	}
	// A real CMR grid stays readable.
	hdr := hostileHeader(t, [3]int{256, 256, 10}, 1.4)
	if _, err := Decode("ok.nii", append(hdr, make([]byte, 256*256*10)...)); err != nil {
		t.Errorf("1.4 mm: %v", err)
	}
}

// TestWriteCorpus writes the NIfTI cases of issue 21 to $CMRSEG_CORPUS
// for measuring the command line (skipped otherwise): the 4 GiB bomb and
// the extreme voxel sizes.
func TestWriteCorpus(t *testing.T) {
	dir := os.Getenv("CMRSEG_CORPUS")
	if dir == "" {
		t.Skip("set CMRSEG_CORPUS to write the corpus")
	}
	os.MkdirAll(dir, 0o755)
	hdr := hostileHeader(t, [3]int{2048, 2048, 1024}, 0.4)
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "bomb.nii.gz"), bomb(t, hdr, 2048*2048*1024), 0o644))
	for name, sp := range map[string]float32{"pixdim1000.nii": 1000, "pixdim1e6.nii": 1e6, "pixdim1e30.nii": 1e30} {
		h := hostileHeader(t, [3]int{256, 256, 10}, sp)
		must(os.WriteFile(filepath.Join(dir, name), append(h, make([]byte, 256*256*10)...), 0o644))
	}
	// Two inputs with one base name (item 6).
	h := hostileHeader(t, [3]int{64, 64, 2}, 1.5)
	for _, sub := range []string{"a", "b"} {
		os.MkdirAll(filepath.Join(dir, sub), 0o755)
		must(os.WriteFile(filepath.Join(dir, sub, "img.nii"), append(h, make([]byte, 64*64*2)...), 0o644))
	}
}
