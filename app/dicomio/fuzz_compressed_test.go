package dicomio

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"image"
	"image/jpeg"
	"io"
	"log"
	"math/rand"
	"testing"

	"cmrseg/app/membudget"
)

// jpegSeeds are small JPEG frames: lossless streams with each feature the
// decoder has (precisions, predictors, components, restarts, point
// transform, separate scans) and an 8-bit baseline frame.
func jpegSeeds() [][]byte {
	rng := rand.New(rand.NewSource(3))
	var out [][]byte
	for _, p := range []llParams{
		{w: 5, h: 4, comps: 1, prec: 16, psv: 1},
		{w: 6, h: 5, comps: 1, prec: 12, psv: 7, restartRows: 1},
		{w: 4, h: 4, comps: 3, prec: 8, psv: 4, pt: 2},
		{w: 3, h: 6, comps: 3, prec: 2, psv: 6, separateScans: true, restartRows: 2},
		{w: 7, h: 3, comps: 1, prec: 15, psv: 5},
	} {
		out = append(out, encodeLossless(randomImage(rng, p.w, p.h, p.comps, p.prec), p))
	}
	g := image.NewGray(image.Rect(0, 0, 16, 8))
	for i := range g.Pix {
		g.Pix[i] = byte(i * 7)
	}
	var b bytes.Buffer
	jpeg.Encode(&b, g, &jpeg.Options{Quality: 50})
	return append(out, b.Bytes())
}

// sofSize reads the frame size a JPEG stream declares (0s when none).
func sofSize(d []byte) (rows, cols, comps int) {
	i := bytes.Index(d, []byte{0xFF, 0xC3})
	if j := bytes.Index(d, []byte{0xFF, 0xC0}); i < 0 || j >= 0 && j < i {
		i = j
	}
	if i < 0 || i+10 > len(d) {
		return 0, 0, 0
	}
	return int(binary.BigEndian.Uint16(d[i+5:])), int(binary.BigEndian.Uint16(d[i+7:])), int(d[i+9])
}

// FuzzJPEG decodes arbitrary JPEG frames at the size their own header
// declares. It must never panic, hang, or allocate beyond what the frame
// can hold; a successful decode has exactly the declared size.
func FuzzJPEG(f *testing.F) {
	for _, s := range jpegSeeds() {
		f.Add(s, uint8(16))
	}
	f.Fuzz(func(t *testing.T, data []byte, bitsAlloc uint8) {
		ba := []int{8, 16, 32}[int(bitsAlloc)%3]
		rows, cols, comps := sofSize(data)
		if rows == 0 || cols == 0 || comps == 0 {
			rows, cols, comps = 1, 1, 1
		}
		raw, _, err := decodeJPEG(data, rows, cols, comps, ba)
		if err == nil && len(raw) != rows*cols*comps*ba/8 {
			t.Fatalf("%d bytes for %d×%d×%d at %d bits", len(raw), cols, rows, comps, ba)
		}
	})
}

// deflatedSeeds are the FuzzParse seeds in Deflated Explicit VR LE.
func deflatedSeeds() map[string][]byte {
	out := map[string][]byte{}
	for name, b := range fuzzSeeds() {
		h, syn, err := checkStructure(b)
		if err != nil || syn.implicit || syn.order != binary.LittleEndian || syn.rle || syn.jpeg {
			continue
		}
		var z bytes.Buffer
		w, _ := flate.NewWriter(&z, flate.BestCompression)
		w.Write(b[h.metaEnd:])
		w.Close()
		out[name] = append(file(deflatedLE), z.Bytes()...)
	}
	return out
}

func TestDeflatedSeedsParse(t *testing.T) {
	seeds := deflatedSeeds()
	if len(seeds) < 4 {
		t.Fatalf("only %d deflated seeds", len(seeds))
	}
	for name, b := range seeds {
		in, err := parseFile(name, b, true)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if in.syntaxUID != deflatedLE {
			t.Errorf("%s: syntax %s", name, in.syntaxUID)
		}
	}
}

// FuzzDeflated feeds arbitrary (mostly deflated) files through the parse
// and decode Open uses, like FuzzParse: no panic, hang, or allocation
// beyond the memory budget.
func FuzzDeflated(f *testing.F) {
	log.SetOutput(io.Discard)
	for _, b := range deflatedSeeds() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := parseFile("fuzz.dcm", data, true)
		if err != nil || in.samples != 1 {
			return
		}
		buf := make([]float32, in.rows*in.cols)
		for f := range in.frames {
			in.decodeFrame(f, buf)
		}
	})
}

// j2kSize reads the image size a JPEG 2000 stream declares (0s when
// none can be read).
func j2kSize(d []byte) (rows, cols int) {
	cs, err := j2kCodestream(d)
	if err != nil {
		return 0, 0
	}
	i := bytes.Index(cs, []byte{0xFF, 0x51})
	if i < 0 || i+4+36+3 > len(cs) {
		return 0, 0
	}
	img, err := j2kSIZ(cs[i+4:i+4+39], len(cs))
	if err != nil || img.cw > 1<<10 || img.ch > 1<<10 {
		return 0, 0
	}
	return img.ch, img.cw
}

// FuzzJPEG2000 decodes arbitrary JPEG 2000 frames at the size their own
// header declares. The seeds (testdata/fuzz/FuzzJPEG2000) are small
// synthetic images encoded by opj_compress with varied options: mode
// switches, layers, tiles and offsets, precincts, progression orders,
// SOP/EPH, tile-parts, a truncated (lossy) stream and a JP2 file. It must
// never panic, hang or allocate beyond what the budget allows; a
// successful decode has exactly the declared size.
func FuzzJPEG2000(f *testing.F) {
	defer membudget.SetLimit(membudget.SetLimit(256 << 20))
	f.Fuzz(func(t *testing.T, data []byte, bitsAlloc uint8) {
		ba := []int{8, 16, 32}[int(bitsAlloc)%3]
		rows, cols := j2kSize(data)
		if rows == 0 || cols == 0 {
			rows, cols = 1, 1
		}
		raw, _, err := decodeJPEG2000(data, rows, cols, 1, ba, false)
		if err == nil && len(raw) != rows*cols*ba/8 {
			t.Fatalf("%d bytes for %d×%d at %d bits", len(raw), cols, rows, ba)
		}
	})
}
