package anonymise

import (
	"os"
	"path/filepath"
	"testing"

	"cmrseg/app/shareddata"
)

// FuzzFile: any input gives an error or a file that parses again; never a
// panic or a hang. Seeds: a real image and a SEG-like nested file.
func FuzzFile(f *testing.F) {
	if dir := shareddata.Root(); dir != "" {
		if b, err := os.ReadFile(filepath.Join(dir, "sunnybrook/SCD0000101/1.dcm")); err == nil {
			f.Add(b[:4096]) // header and the start of the pixels
		}
	}
	pre := make([]byte, 128)
	meta := []byte("DICM\x02\x00\x10\x00UI\x14\x001.2.840.10008.1.2.1\x00")
	f.Add(append(append([]byte{}, pre...), meta...))
	// A sequence of undefined length holding an item with a patient name.
	sq := []byte("\x08\x00\x40\x11SQ\x00\x00\xff\xff\xff\xff\xfe\xff\x00\xe0\xff\xff\xff\xff\x10\x00\x10\x00PN\x04\x00ABCD\xfe\xff\x0d\xe0\x00\x00\x00\x00\xfe\xff\xdd\xe0\x00\x00\x00\x00")
	f.Add(append(append(append([]byte{}, pre...), meta...), sq...))
	a, err := New([]byte("0123456789abcdef"))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, _, err := a.File(data)
		if err != nil {
			return
		}
		if _, err := parseFile(out); err != nil {
			t.Fatalf("output does not parse: %v", err)
		}
	})
}
