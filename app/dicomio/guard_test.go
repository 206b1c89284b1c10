package dicomio

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"strings"
	"testing"

	"github.com/suyashkumar/dicom"
)

// forged returns an explicit-VR element header with a 32-bit length.
func forgedLong(g, e uint16, vr string, vl uint32) el {
	b := binary.LittleEndian.AppendUint16(nil, g)
	b = binary.LittleEndian.AppendUint16(b, e)
	b = append(b, vr...)
	b = append(b, 0, 0)
	return el{raw: binary.LittleEndian.AppendUint32(b, vl)}
}

func forgedShort(g, e uint16, vr string, vl uint16) el {
	b := binary.LittleEndian.AppendUint16(nil, g)
	b = binary.LittleEndian.AppendUint16(b, e)
	b = append(b, vr...)
	return el{raw: binary.LittleEndian.AppendUint16(b, vl)}
}

func allocated(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// TestLibraryAllocatesDeclaredLength documents why the guard exists:
// suyashkumar/dicom v1.0.7 allocates a value's declared length before
// reading it, so a 300-byte file asks for 256 MiB (and 4 GiB at most).
func TestLibraryAllocatesDeclaredLength(t *testing.T) {
	const vl = 256 << 20
	b := file(explicitLE, elStr(8, 0x60, "CS", "MR"), forgedLong(0x10, 0x4000, "UT", vl), el{raw: []byte("short")})
	n := allocated(func() {
		defer func() { recover() }()
		dicom.Parse(bytes.NewReader(b), int64(len(b)), nil, dicom.SkipPixelData())
	})
	if n < vl {
		t.Errorf("library allocated %d bytes for a forged %d-byte length; the guard may no longer be needed", n, vl)
	}
	t.Logf("library: %d-byte file, %d MiB allocated", len(b), n>>20)
	var err error
	m := allocated(func() { _, err = parseFile("forged.dcm", b, true) })
	if err == nil || m > 1<<20 {
		t.Errorf("parseFile: err %v after allocating %d bytes", err, m)
	}
	t.Logf("parseFile: %d KiB allocated, %v", m>>10, err)
}

// TestGuardRejectsForgedHeaders: every forged length or count fails with a
// message naming the problem, allocating little.
func TestGuardRejectsForgedHeaders(t *testing.T) {
	mr := []el{elStr(8, 0x60, "CS", "MR"), elUS(0x28, 2, 1), elUS(0x28, 0x100, 16), elUS(0x28, 0x101, 16)}
	with := func(extra ...el) []el { return append(append([]el(nil), mr...), extra...) }
	nest := func(depth int) []byte {
		// Undefined-length sequences nested depth deep.
		var b []byte
		for i := 0; i < depth; i++ {
			b = append(b, encode([]el{forgedLong(0x0008, 0x1110, "SQ", 0xFFFFFFFF)})...)
			b = append(b, 0xFE, 0xFF, 0x00, 0xE0, 0xFF, 0xFF, 0xFF, 0xFF)
		}
		return b
	}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"huge UT", file(explicitLE, with(forgedLong(0x10, 0x4000, "UT", 0xFFFFFFF0))...), "declares 4294967280 bytes"},
		{"huge OB", file(explicitLE, with(forgedLong(0x0009, 0x1010, "OB", 0x7FFFFFFF))...), "declares 2147483647 bytes"},
		{"undefined LO", file(explicitLE, with(forgedShort(0x10, 0x10, "LO", 0xFFFF))...), "undefined length"},
		{"huge pixel data", file(explicitLE, with(elUS(0x28, 0x10, 512), elUS(0x28, 0x11, 512), forgedLong(0x7FE0, 0x10, "OW", 0xFFFFFFF0))...), "declares"},
		{"rows×cols beyond pixel data", file(explicitLE, with(elUS(0x28, 0x10, 65535), elUS(0x28, 0x11, 65535),
			el{g: 0x7FE0, e: 0x10, vr: "OW", val: make([]byte, 8)})...), "pixel data has 8 bytes"},
		{"frames beyond pixel data", file(explicitLE, with(elUS(0x28, 0x10, 2), elUS(0x28, 0x11, 2), elStr(0x28, 8, "IS", "2147483647"),
			el{g: 0x7FE0, e: 0x10, vr: "OW", val: make([]byte, 8)})...), "need"},
		{"RLE frames beyond file", file(rleLossles, with(elUS(0x28, 0x10, 2), elUS(0x28, 0x11, 2), elStr(0x28, 8, "IS", "99999999"),
			forgedLong(0x7FE0, 0x10, "OB", 0xFFFFFFFF), el{raw: []byte{0xFE, 0xFF, 0, 0xE0, 0, 0, 0, 0, 0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0}})...), "cannot fit"},
		{"JPEG size beyond file", file(jpegSV1, with(elUS(0x28, 0x10, 60000), elUS(0x28, 0x11, 60000),
			forgedLong(0x7FE0, 0x10, "OB", 0xFFFFFFFF), el{raw: []byte{0xFE, 0xFF, 0, 0xE0, 0, 0, 0, 0, 0xFE, 0xFF, 0, 0xE0, 2, 0, 0, 0, 0xFF, 0xD8, 0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0}})...), "cannot be JPEG-coded"},
		{"JPEG 2000 size beyond file", file(j2kLossles, with(elUS(0x28, 0x10, 60000), elUS(0x28, 0x11, 60000),
			forgedLong(0x7FE0, 0x10, "OB", 0xFFFFFFFF), el{raw: []byte{0xFE, 0xFF, 0, 0xE0, 0, 0, 0, 0, 0xFE, 0xFF, 0, 0xE0, 2, 0, 0, 0, 0xFF, 0x4F, 0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0}})...), "cannot be JPEG 2000 Lossless-coded"},
		{"huge fragment", file(rleLossles, with(forgedLong(0x7FE0, 0x10, "OB", 0xFFFFFFFF),
			el{raw: []byte{0xFE, 0xFF, 0, 0xE0, 0, 0, 0, 0, 0xFE, 0xFF, 0, 0xE0, 0xF0, 0xFF, 0xFF, 0x7F}})...), "fragment"},
		{"deep nesting", file(explicitLE, append(with(), el{raw: nest(200)})...), "nested deeper"},
		{"huge meta length", func() []byte {
			b := file(explicitLE, mr...)
			binary.LittleEndian.PutUint32(b[140:], 0xFFFFFF00)
			return b
		}(), "group length"},
		{"huge sequence", file(explicitLE, with(forgedLong(0x0008, 0x1110, "SQ", 0x7FFFFFFF))...), "declares"},
		{"not DICOM", []byte("hello"), "not a DICOM file"},
		{"deflate label, plain data set", file("1.2.840.10008.1.2.1.99", mr...), "deflated data set: flate: corrupt input"},
		{"unknown syntax", file("1.2.3.4.5", mr...), "unknown transfer syntax"},
	}
	for _, c := range cases {
		var err error
		n := allocated(func() { _, err = parseFile("forged.dcm", c.data, true) })
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "forged.dcm") {
			t.Errorf("%s: err %v, want %q", c.name, err, c.want)
		}
		t.Logf("%-28s %7d B alloc: %v", c.name, n, err)
		if n > 4<<20 {
			t.Errorf("%s: %d bytes allocated for a %d-byte file", c.name, n, len(c.data))
		}
	}
}
