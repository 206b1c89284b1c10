package dicomio

import (
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"testing"
)

// fuzzSeeds are small synthetic files covering each reader path.
func fuzzSeeds() map[string][]byte {
	rle8 := rleFrame([]byte{1, 2, 3, 4, 5, 6})
	rle16 := rleFrame([]byte{0, 0, 1, 1, 0xFF, 0x80}, []byte{1, 2, 3, 4, 5, 6})
	jll := encodeLossless([]uint16{1, 2, 3, 4000, 5, 6}, llParams{w: 3, h: 2, comps: 1, prec: 12, psv: 1})
	frag := func(frames ...[]byte) el {
		b := encode([]el{forgedLong(0x7FE0, 0x10, "OB", 0xFFFFFFFF)})
		b = append(b, 0xFE, 0xFF, 0, 0xE0, 0, 0, 0, 0) // empty offset table
		for _, f := range frames {
			b = append(b, 0xFE, 0xFF, 0, 0xE0)
			b = binary.LittleEndian.AppendUint32(b, uint32(len(f)))
			b = append(b, f...)
		}
		return el{raw: append(b, 0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0)}
	}
	base := []el{elStr(0x20, 0xE, "UI", "1.2"), elUS(0x28, 2, 1), elUS(0x28, 0x10, 2), elUS(0x28, 0x11, 3),
		elDS(0x20, 0x32, 1, 2, 3), elDS(0x20, 0x37, obl[:]...), elDS(0x28, 0x30, 1, 1)}
	implicit := func(els ...el) []byte {
		// Implicit VR: tag, 32-bit length, value.
		var b []byte
		for _, x := range els {
			b = binary.LittleEndian.AppendUint16(b, x.g)
			b = binary.LittleEndian.AppendUint16(b, x.e)
			b = binary.LittleEndian.AppendUint32(b, uint32(len(x.val)))
			b = append(b, x.val...)
		}
		return b
	}
	return map[string][]byte{
		"mr_single":   mrImage(img{number: 3, trigger: 40}),
		"mr_signed12": mrImage(img{rows: 2, cols: 2, number: 1, trigger: -1, signed: true, bitsStored: 12, slope: 2, inter: -1}),
		"enhanced":    enhancedMR(2, 2, 3),
		"rle8": file(rleLossles, append(base, elUS(0x28, 0x100, 8), elUS(0x28, 0x101, 8),
			frag(rle8))...),
		"rle16_2frames": file(rleLossles, append(base, elUS(0x28, 0x100, 16), elUS(0x28, 0x101, 16), elUS(0x28, 0x103, 1),
			elStr(0x28, 8, "IS", "2"), frag(rle16, rle16))...),
		"jpegll_2frames": file(jpegSV1, append(base, elUS(0x28, 0x100, 16), elUS(0x28, 0x101, 12), elStr(0x28, 8, "IS", "2"),
			frag(jll, jll))...),
		"jpegll_split": file(jpegP14, append(base, elUS(0x28, 0x100, 16), elUS(0x28, 0x101, 12), elStr(0x28, 8, "IS", "2"),
			frag(jll[:9], jll[9:], jll))...),
		"legacy_cine": file(explicitLE, append(base, elUS(0x28, 0x100, 8), elStr(0x28, 8, "IS", "3"),
			el{g: 0x28, e: 9, vr: "AT", val: []byte{0x18, 0, 0x63, 0x10}}, elDS(0x18, 0x1063, 33.3),
			el{g: 0x7FE0, e: 0x10, vr: "OB", val: make([]byte, 18)})...),
		"implicit": func() []byte {
			b := file(implicitLE)
			return append(b, implicit(elStr(0x20, 0xE, "UI", "1.3"), elUS(0x28, 2, 1), elUS(0x28, 0x10, 1), elUS(0x28, 0x11, 2),
				elUS(0x28, 0x100, 16), el{g: 0x7FE0, e: 0x10, val: []byte{1, 2, 3, 4}})...)
		}(),
		"nested_sq": file(explicitLE, append(base, elSQ(8, 0x1110, []el{elSQ(8, 0x1111, []el{elStr(8, 0x1150, "UI", "1.2")})}),
			elUS(0x28, 0x100, 8), el{g: 0x7FE0, e: 0x10, vr: "OB", val: make([]byte, 6)})...),
	}
}

// TestWriteFuzzSeeds regenerates testdata/fuzz/FuzzParse when
// CMRSEG_WRITE_FUZZ_SEEDS=1; otherwise it checks the committed corpus
// still matches the generator.
func TestWriteFuzzSeeds(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzParse")
	for name, b := range fuzzSeeds() {
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		p := filepath.Join(dir, "seed_"+name)
		if os.Getenv("CMRSEG_WRITE_FUZZ_SEEDS") == "1" {
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
			t.Errorf("%s is missing or stale (err %v): run CMRSEG_WRITE_FUZZ_SEEDS=1 go test -run WriteFuzzSeeds", p, err)
		}
	}
}

// TestSeedsParse: the seeds themselves must be valid, so fuzzing starts
// from files that reach the pixel decoders.
func TestSeedsParse(t *testing.T) {
	for name, b := range fuzzSeeds() {
		in, err := parseFile(name, b, true)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		buf := make([]float32, in.rows*in.cols)
		for f := range in.frames {
			if err := in.decodeFrame(f, buf); err != nil {
				t.Errorf("%s frame %d: %v", name, f, err)
			}
		}
		if _, err := assemble([]*instance{in}); err != nil {
			t.Errorf("%s: assemble: %v", name, err)
		}
	}
}

// FuzzParse feeds arbitrary bytes through the per-file parse Open uses,
// then decodes every frame and assembles the file as a series. It must
// never panic, hang or allocate beyond a small multiple of the input.
func FuzzParse(f *testing.F) {
	log.SetOutput(io.Discard) // the library logs every parse error
	for _, b := range fuzzSeeds() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := parseFile("fuzz.dcm", data, true)
		if err != nil {
			return
		}
		if in.samples == 1 {
			buf := make([]float32, in.rows*in.cols)
			for f := range in.frames {
				in.decodeFrame(f, buf)
			}
		}
		s, err := assemble([]*instance{in})
		if err != nil {
			return
		}
		if s.Dims[0] != in.cols || s.Dims[1] != in.rows || s.Dims[2]*s.NT != len(in.frames) {
			t.Fatalf("dims %v × %d for %d×%d × %d frames", s.Dims, s.NT, in.cols, in.rows, len(in.frames))
		}
		for a := 0; a < 3; a++ {
			if !(s.Spacing[a] > 0) {
				t.Fatalf("spacing %v", s.Spacing)
			}
		}
	})
}
