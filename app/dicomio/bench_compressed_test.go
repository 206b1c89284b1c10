package dicomio

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkDecodeFrame measures one real 256×256 16-bit Sunnybrook frame
// per syntax: "decode" is the pixel decoding of an already parsed file,
// "read" the whole per-file work of loadPixels (parse + decode) from
// bytes in memory. The compressed copies are made by dcmtk (JPEG 2000 by
// GDCM).
func BenchmarkDecodeFrame(b *testing.B) {
	needTools(b, "dcmcjpeg", "dcmconv", "dcmcjpls", "gdcmconv")
	src := sunnybrookFiles(b)[0]
	files := map[string]string{
		"native":      src,
		"jpeg-sv1":    filepath.Join(convert(b, []string{src}, "dcmcjpeg"), filepath.Base(src)),
		"jpeg-p14sv7": filepath.Join(convert(b, []string{src}, "dcmcjpeg", "+el", "+sv", "7"), filepath.Base(src)),
		"deflated":    filepath.Join(convert(b, []string{src}, "dcmconv", "+td"), filepath.Base(src)),
		"baseline":    filepath.Join(convert(b, []string{src}, "dcmcjpeg", "+eb"), filepath.Base(src)),
		"jpeg-ls":     filepath.Join(convert(b, []string{src}, "dcmcjpls"), filepath.Base(src)),
		"j2k":         filepath.Join(convert(b, []string{src}, "gdcmconv", "--j2k"), filepath.Base(src)),
	}
	for _, name := range []string{"native", "jpeg-sv1", "jpeg-p14sv7", "jpeg-ls", "j2k", "deflated", "baseline"} {
		data, err := os.ReadFile(files[name])
		if err != nil {
			b.Fatal(err)
		}
		in, err := parseFile(name, data, true)
		if err != nil {
			b.Fatal(err)
		}
		out := make([]float32, in.rows*in.cols)
		b.Run("decode/"+name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := in.decodeFrame(0, out); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("read/"+name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for i := 0; i < b.N; i++ {
				in, err := parseFile(name, data, true)
				if err != nil {
					b.Fatal(err)
				}
				if err := in.decodeFrame(0, out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
