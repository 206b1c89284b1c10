package dicomio

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUnpackBits(t *testing.T) {
	cases := []struct {
		name string
		src  []byte
		n    int
		want string
		err  string
	}{
		{"literal", []byte{2, 'a', 'b', 'c'}, 3, "abc", ""},
		{"replicate", []byte{0xFE, 'x'}, 3, "xxx", ""},                          // -2: 3 copies
		{"max replicate", []byte{0x81, 'y'}, 128, strings.Repeat("y", 128), ""}, // -127
		{"noop -128", []byte{0x80, 0, 'z'}, 1, "z", ""},
		{"mixed", []byte{0, 'a', 0xFF, 'b', 1, 'c', 'd'}, 5, "abbcd", ""},
		{"padding ignored", []byte{0, 'a', 0}, 1, "a", ""},
		{"short", []byte{0, 'a'}, 2, "", "decodes to 1 bytes, 2 expected"},
		{"literal past end", []byte{5, 'a'}, 6, "", "literal run"},
		{"replicate past end", []byte{0xFE}, 3, "", "replicate run"},
		{"overlong run trimmed", []byte{0xF0, 'q'}, 4, "qqqq", ""},
	}
	for _, c := range cases {
		got, err := unpackBits(nil, c.src, c.n)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: err %v, want %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil || string(got) != c.want {
			t.Errorf("%s: got %q, %v; want %q", c.name, got, err, c.want)
		}
	}
}

// rleFrame builds an RLE frame from raw segments stored as literal runs.
func rleFrame(segs ...[]byte) []byte {
	out := make([]byte, 64)
	binary.LittleEndian.PutUint32(out, uint32(len(segs)))
	for i, s := range segs {
		binary.LittleEndian.PutUint32(out[4+4*i:], uint32(len(out)))
		for len(s) > 0 {
			n := min(len(s), 128)
			out = append(out, byte(n-1))
			out = append(out, s[:n]...)
			s = s[n:]
		}
	}
	return out
}

func TestDecodeRLEByteOrder(t *testing.T) {
	// 2 pixels, 16-bit, 1 sample: segment 1 holds the high bytes.
	got, err := decodeRLE(rleFrame([]byte{0x12, 0xAB}, []byte{0x34, 0xCD}), 1, 2, 1, 16)
	if err != nil {
		t.Fatal(err)
	}
	if v0, v1 := binary.LittleEndian.Uint16(got), binary.LittleEndian.Uint16(got[2:]); v0 != 0x1234 || v1 != 0xABCD {
		t.Errorf("got %#x %#x, want 0x1234 0xabcd", v0, v1)
	}
	// 1 pixel, 8-bit RGB: one segment per sample, interleaved on output.
	got, err = decodeRLE(rleFrame([]byte{1}, []byte{2}, []byte{3}), 1, 1, 3, 8)
	if err != nil || string(got) != "\x01\x02\x03" {
		t.Errorf("RGB: got %v, %v", got, err)
	}
	// Wrong segment count, offsets out of range, too-large header.
	if _, err := decodeRLE(rleFrame([]byte{1}), 1, 1, 1, 16); err == nil || !strings.Contains(err.Error(), "segments") {
		t.Errorf("segment count: %v", err)
	}
	bad := rleFrame([]byte{1})
	binary.LittleEndian.PutUint32(bad[4:], 1000)
	if _, err := decodeRLE(bad, 1, 1, 1, 8); err == nil || !strings.Contains(err.Error(), "offsets") {
		t.Errorf("offsets: %v", err)
	}
	if _, err := decodeRLE(rleFrame([]byte{1}), 65535, 65535, 1, 8); err == nil || !strings.Contains(err.Error(), "cannot hold") {
		t.Errorf("huge frame: %v", err)
	}
}

// TestRLEAgainstPydicom decodes every RLE file pydicom ships (8/16/32-bit,
// 1 and 3 samples, 1 and 2 frames) and compares the stored values with
// pydicom's pixel_array.
func TestRLEAgainstPydicom(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(pydicomTestFiles, "*rle*.dcm"))
	rle, _ := filepath.Glob(filepath.Join(pydicomTestFiles, "*RLE*.dcm"))
	files = append(files, rle...)
	if len(files) < 8 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("pydicom RLE test files missing (%d found)", len(files))
		}
		t.Skip("pydicom test files not installed")
	}
	py := pydicomPixels(t, files, false)
	seen := map[[2]int]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		in, err := parseFile(f, data, true)
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if !in.syn.rle {
			t.Errorf("%s: syntax %s, want RLE", f, in.syntaxUID)
			continue
		}
		r := py[f]
		if r.Error != "" {
			t.Errorf("%s: pydicom: %s", f, r.Error)
			continue
		}
		seen[[2]int{in.bitsAlloc, in.samples}] = true
		for fr := 0; fr < in.nFrames; fr++ {
			raw, err := decodeRLE(in.fragments[fr], in.rows, in.cols, in.samples, in.bitsAlloc)
			if err != nil {
				t.Errorf("%s frame %d: %v", f, fr+1, err)
				continue
			}
			want := r.frame(fr)
			bps := in.bitsAlloc / 8
			if len(raw) != len(want)*bps {
				t.Fatalf("%s: %d bytes for %d values", f, len(raw), len(want))
			}
			for i, w := range want {
				var v int64
				switch bps {
				case 1:
					v = int64(raw[i])
				case 2:
					v = int64(binary.LittleEndian.Uint16(raw[2*i:]))
					if in.pixelRep == 1 {
						v = int64(int16(v))
					}
				case 4:
					v = int64(binary.LittleEndian.Uint32(raw[4*i:]))
					if in.pixelRep == 1 {
						v = int64(int32(v))
					}
				}
				if float64(v) != w {
					t.Errorf("%s frame %d value %d: %d, pydicom %g", filepath.Base(f), fr+1, i, v, w)
					break
				}
			}
		}
		t.Logf("%s: %d-bit, %d samples, %d frames of %d×%d match pydicom", filepath.Base(f), in.bitsAlloc, in.samples, in.nFrames, in.cols, in.rows)
	}
	for _, k := range [][2]int{{16, 1}, {32, 1}, {8, 3}, {16, 3}, {32, 3}} {
		if !seen[k] {
			t.Errorf("no RLE file with %d bits × %d samples was tested", k[0], k[1])
		}
	}
}

// TestRLEMatchesNative opens MR_small in RLE and in native encodings: the
// series must be identical.
func TestRLEMatchesNative(t *testing.T) {
	a, err := Open(filepath.Join(pydicomTestFiles, "MR_small_RLE.dcm"))
	if err != nil {
		if os.IsNotExist(err) && os.Getenv("CI") != "true" {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	b, err := Open(filepath.Join(pydicomTestFiles, "MR_small.dcm"))
	if err != nil {
		t.Fatal(err)
	}
	sa, sb := a.Series[0], b.Series[0]
	if sa.Geometry != sb.Geometry || len(sa.Data) != len(sb.Data) {
		t.Fatalf("geometry %+v vs %+v", sa.Geometry, sb.Geometry)
	}
	for i := range sa.Data {
		if sa.Data[i] != sb.Data[i] {
			t.Fatalf("voxel %d: RLE %g, native %g", i, sa.Data[i], sb.Data[i])
		}
	}
}
