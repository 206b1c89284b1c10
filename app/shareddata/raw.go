package shareddata

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"testing"
)

// WriteRaw writes a slice of fixed-size numbers as raw little-endian bytes,
// the exchange format of the tests' numpy/PyTorch oracles (np.fromfile).
func WriteRaw(tb testing.TB, path string, data any) {
	tb.Helper()
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, data); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// ReadFloat32 reads raw little-endian float32 values written by an oracle.
func ReadFloat32(tb testing.TB, path string) []float32 {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}
