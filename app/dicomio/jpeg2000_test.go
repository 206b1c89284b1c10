package dicomio

import (
	"path/filepath"
	"testing"
)

func TestJ2KQuick(t *testing.T) {
	needTools(t, "gdcmconv")
	files := sunnybrookFiles(t)[:3]
	dir := convert(t, files, "gdcmconv", "--j2k")
	for _, f := range files {
		in, got := decodeAll(t, filepath.Join(dir, filepath.Base(f)))
		t.Log(in.syntaxUID, len(in.fragments[0]))
		_, want := decodeAll(t, f)
		if i, ok := equalFrames(want, got); !ok {
			n := in.rows * in.cols
			t.Fatalf("%s: pixel %d: %g want %g", f, i, got[0][i%n], want[0][i%n])
		}
	}
}

func TestJPEG2000Sunnybrook(t *testing.T) {
	needTools(t, "gdcmconv")
	openConverted(t, j2kLossles, "gdcmconv", "--j2k")
}
