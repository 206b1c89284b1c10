package nifti

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var genCorpus = flag.Bool("gen-corpus", false, "rewrite the FuzzRead seed corpus in testdata/fuzz/FuzzRead")

// FuzzRead feeds arbitrary bytes to the decoder: it must return a valid
// Series or an error naming the input, never panic, hang or allocate more
// than the input could hold (the fuzzer's memory limit catches that).
func FuzzRead(f *testing.F) {
	for _, s := range seeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Decode("fuzz.nii", data)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.nii") {
				t.Fatalf("error does not name the input: %v", err)
			}
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("decoded an invalid series: %v", err)
		}
		// Deflate expands at most ~1032:1, float32 output is at most 4 bytes per input byte of that.
		if int64(len(s.Data)) > int64(len(data))*maxDeflateRatio+headerSize {
			t.Fatalf("%d voxels from %d bytes", len(s.Data), len(data))
		}
		if _, err := header(s.Geometry, s.Source, s.NT, Float32, ""); err != nil {
			t.Fatalf("cannot build a header for what was read: %v", err)
		}
		labelsOf("fuzz.nii", s)
	})
}

// seeds are small valid and nearly valid files covering each datatype,
// both byte orders, gzip, 4D, scaling and each transform source.
func seeds(tb testing.TB) [][]byte {
	var out [][]byte
	for i, dt := range Datatypes {
		v := make([]float32, 2*3*2)
		for j := range v {
			v[j] = float32(j % 5)
		}
		if lo, _ := dt.intRange(); lo < 0 {
			v[1] = -1
		}
		b := minimal(tb, [3]int{2, 3, 2}, dt, v)
		switch i % 3 {
		case 1: // qform only
			binary.LittleEndian.PutUint16(b[254:], 0)
		case 2: // scaled, no transform
			binary.LittleEndian.PutUint16(b[252:], 0)
			binary.LittleEndian.PutUint16(b[254:], 0)
			binary.LittleEndian.PutUint32(b[112:], math.Float32bits(0.5))
			binary.LittleEndian.PutUint32(b[116:], math.Float32bits(-2))
		}
		out = append(out, b)
		if i%2 == 0 {
			out = append(out, gz(b))
		}
	}
	// 4D with time units.
	b := minimal(tb, [3]int{2, 2, 1}, Int16, make([]float32, 4))
	binary.LittleEndian.PutUint16(b[40:], 4)
	binary.LittleEndian.PutUint16(b[48:], 3)
	binary.LittleEndian.PutUint32(b[92:], math.Float32bits(40))
	b[123] = unitsMM | unitsMS
	b = append(b, make([]byte, 16)...)
	out = append(out, gz(b))
	// Big-endian int16.
	var h bytes.Buffer
	le := minimal(tb, [3]int{2, 2, 1}, Int16, []float32{1, -2, 3, -4})
	hdr, _, err := parseHeader(le)
	if err != nil {
		tb.Fatal(err)
	}
	binary.Write(&h, binary.BigEndian, &hdr)
	h.Write(make([]byte, 4))
	binary.Write(&h, binary.BigEndian, []int16{1, -2, 3, -4})
	out = append(out, h.Bytes())
	// Truncated.
	out = append(out, le[:len(le)-1], le[:200])
	return out
}

// TestGenerateCorpus rewrites testdata/fuzz/FuzzRead from seeds() when run
// with -gen-corpus; otherwise it checks the committed corpus is current.
func TestGenerateCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzRead")
	all, valid := seeds(t), 0
	for _, s := range all {
		if _, err := Decode("seed", s); err == nil {
			valid++
		}
	}
	if valid != len(all)-2 { // all but the two truncated seeds
		t.Errorf("%d of %d seeds decode", valid, len(all))
	}
	for i, s := range all {
		p := filepath.Join(dir, fmt.Sprintf("seed%02d", i))
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		if *genCorpus {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != content {
			t.Errorf("%s is missing or stale: run go test ./app/nifti -run TestGenerateCorpus -gen-corpus", p)
		}
	}
}
