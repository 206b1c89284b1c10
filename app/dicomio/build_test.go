package dicomio

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// Synthetic DICOM files for tests and fuzz seeds, written by code:
// Explicit VR Little Endian unless noted.

type el struct {
	g, e uint16
	vr   string
	val  []byte
	raw  []byte // when set, written as is (forged headers)
}

func elStr(g, e uint16, vr, s string) el {
	if len(s)%2 == 1 {
		if vr == "UI" {
			s += "\x00"
		} else {
			s += " "
		}
	}
	return el{g: g, e: e, vr: vr, val: []byte(s)}
}

func elUS(g, e uint16, v ...uint16) el {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], x)
	}
	return el{g: g, e: e, vr: "US", val: b}
}

func elFD(g, e uint16, v ...float64) el {
	b := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(b[8*i:], math.Float64bits(x))
	}
	return el{g: g, e: e, vr: "FD", val: b}
}

func elDS(g, e uint16, v ...float64) el {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprintf("%.6g", x)
	}
	return elStr(g, e, "DS", strings.Join(s, `\`))
}

// elSQ is a defined-length sequence of items.
func elSQ(g, e uint16, items ...[]el) el {
	var b []byte
	for _, it := range items {
		body := encode(it)
		h := make([]byte, 8)
		binary.LittleEndian.PutUint16(h, 0xFFFE)
		binary.LittleEndian.PutUint16(h[2:], 0xE000)
		binary.LittleEndian.PutUint32(h[4:], uint32(len(body)))
		b = append(append(b, h...), body...)
	}
	return el{g: g, e: e, vr: "SQ", val: b}
}

func encode(els []el) []byte {
	var b []byte
	for _, x := range els {
		if x.raw != nil {
			b = append(b, x.raw...)
			continue
		}
		b = binary.LittleEndian.AppendUint16(b, x.g)
		b = binary.LittleEndian.AppendUint16(b, x.e)
		b = append(b, x.vr...)
		switch x.vr {
		case "OB", "OW", "SQ", "UN", "UT", "UC", "UR", "OF", "OD", "OL":
			b = append(b, 0, 0)
			b = binary.LittleEndian.AppendUint32(b, uint32(len(x.val)))
		default:
			b = binary.LittleEndian.AppendUint16(b, uint16(len(x.val)))
		}
		b = append(b, x.val...)
	}
	return b
}

// file returns a Part 10 file with the given syntax and data set, whose
// elements are sorted by tag (forged raw ones keep their place last).
func file(syntaxUID string, els ...el) []byte {
	sort.SliceStable(els, func(a, b int) bool {
		if els[a].raw != nil || els[b].raw != nil {
			return false
		}
		return els[a].g < els[b].g || els[a].g == els[b].g && els[a].e < els[b].e
	})
	meta := encode([]el{
		{g: 2, e: 1, vr: "OB", val: []byte{0, 1}},
		elStr(2, 2, "UI", "1.2.840.10008.5.1.4.1.1.4"),
		elStr(2, 3, "UI", "1.2.3.4"),
		elStr(2, 0x10, "UI", syntaxUID),
	})
	b := make([]byte, 128, 1024)
	b = append(b, "DICM"...)
	b = append(b, encode([]el{{g: 2, e: 0, vr: "UL", val: binary.LittleEndian.AppendUint32(nil, uint32(len(meta)))}})...)
	b = append(b, meta...)
	return append(b, encode(els)...)
}

// img describes one synthetic MR image.
type img struct {
	rows, cols   int
	pos          [3]float64
	orient       [6]float64
	spacing      [2]float64
	trigger      float64 // <0: absent
	number       int
	series       string
	signed       bool
	bitsStored   int
	slope, inter float64
	pixels       []uint16 // stored words; nil: a pattern from number
	noPos        bool     // omit ImagePositionPatient
	noOrient     bool     // omit ImageOrientationPatient
	sliceLoc     *float64 // SliceLocation, when set
	cardiac      int      // CardiacNumberOfImages, when > 0
	extra        []el     // further elements (patient module, ...)
}

func mrImage(m img) []byte {
	if m.rows == 0 {
		m.rows, m.cols = 4, 3
	}
	if m.orient == ([6]float64{}) {
		m.orient = [6]float64{1, 0, 0, 0, 1, 0}
	}
	if m.spacing == ([2]float64{}) {
		m.spacing = [2]float64{1.5, 1.25}
	}
	if m.series == "" {
		m.series = "1.2.3.9"
	}
	if m.bitsStored == 0 {
		m.bitsStored = 16
	}
	px := m.pixels
	if px == nil {
		px = make([]uint16, m.rows*m.cols)
		for i := range px {
			px[i] = uint16(100*m.number + i)
		}
	}
	pd := make([]byte, 2*len(px))
	for i, v := range px {
		binary.LittleEndian.PutUint16(pd[2*i:], v)
	}
	rep := uint16(0)
	if m.signed {
		rep = 1
	}
	els := []el{
		elStr(8, 0x16, "UI", "1.2.840.10008.5.1.4.1.1.4"),
		elStr(8, 0x18, "UI", fmt.Sprintf("%s.%d", m.series, 1000+m.number)),
		elStr(8, 0x60, "CS", "MR"),
		elStr(0x20, 0xD, "UI", "1.2.3.7"),
		elStr(0x20, 0xE, "UI", m.series),
		elStr(0x20, 0x13, "IS", fmt.Sprint(m.number)),
		elDS(0x20, 0x32, m.pos[:]...),
		elDS(0x20, 0x37, m.orient[:]...),
		elUS(0x28, 2, 1),
		elStr(0x28, 4, "CS", "MONOCHROME2"),
		elUS(0x28, 0x10, uint16(m.rows)),
		elUS(0x28, 0x11, uint16(m.cols)),
		elDS(0x28, 0x30, m.spacing[:]...),
		elUS(0x28, 0x100, 16),
		elUS(0x28, 0x101, uint16(m.bitsStored)),
		elUS(0x28, 0x102, uint16(m.bitsStored-1)),
		elUS(0x28, 0x103, rep),
		{g: 0x7FE0, e: 0x10, vr: "OW", val: pd},
	}
	if m.trigger >= 0 {
		els = append(els, elDS(0x18, 0x1060, m.trigger))
	}
	if m.noPos || m.noOrient {
		kept := els[:0]
		for _, e := range els {
			if !(m.noPos && e.g == 0x20 && e.e == 0x32 || m.noOrient && e.g == 0x20 && e.e == 0x37) {
				kept = append(kept, e)
			}
		}
		els = kept
	}
	if m.sliceLoc != nil {
		els = append(els, elDS(0x20, 0x1041, *m.sliceLoc))
	}
	if m.cardiac > 0 {
		els = append(els, elStr(0x18, 0x1090, "IS", fmt.Sprint(m.cardiac)))
	}
	if m.slope != 0 {
		els = append(els, elDS(0x28, 0x1053, m.slope), elDS(0x28, 0x1052, m.inter))
	}
	els = append(els, m.extra...)
	return file(explicitLE, els...)
}

// writeFiles writes named files into a new temporary folder.
func writeFiles(t testing.TB, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, b := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func elUL(g, e uint16, v uint32) el {
	return el{g: g, e: e, vr: "UL", val: binary.LittleEndian.AppendUint32(nil, v)}
}

// enhancedMR is an Enhanced MR multi-frame of nk slices × nt phases on the
// oblique stack (slice gap 6 mm), frames stored in a shuffled order. Frame
// f of slice k, phase t holds the stored value 10*k+t+f at pixel 0, with
// a per-frame slope of 1+t and intercept -k.
func enhancedMR(nk, nt int, seed int64) []byte {
	const rows, cols = 3, 2
	type kt struct{ k, t int }
	var order []kt
	for k := 0; k < nk; k++ {
		for t := 0; t < nt; t++ {
			order = append(order, kt{k, t})
		}
	}
	rand.New(rand.NewSource(seed)).Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
	var perFrame [][]el
	pd := make([]byte, 0, 2*rows*cols*len(order))
	for f, x := range order {
		p := at(float64(x.k), 6)
		perFrame = append(perFrame, []el{
			elSQ(0x18, 0x9118, []el{elFD(0x20, 0x9153, 25+50*float64(x.t))}),
			elSQ(0x20, 0x9111, []el{elUL(0x20, 0x9128, uint32(x.t+1))}),
			elSQ(0x20, 0x9113, []el{elDS(0x20, 0x32, p[:]...)}),
			elSQ(0x28, 0x9145, []el{elDS(0x28, 0x1052, -float64(x.k)), elDS(0x28, 0x1053, float64(1+x.t)), elStr(0x28, 0x1054, "LO", "US")}),
		})
		for i := 0; i < rows*cols; i++ {
			pd = binary.LittleEndian.AppendUint16(pd, uint16(10*x.k+x.t+f+i))
		}
	}
	shared := []el{
		elSQ(0x20, 0x9116, []el{elDS(0x20, 0x37, obl[:]...)}),
		elSQ(0x28, 0x9110, []el{elDS(0x18, 0x50, 6), elDS(0x28, 0x30, 1.5, 1.25)}),
	}
	return file(explicitLE,
		elStr(8, 0x16, "UI", "1.2.840.10008.5.1.4.1.1.4.1"),
		elStr(8, 0x18, "UI", "1.2.3.77.1"),
		elStr(8, 0x60, "CS", "MR"),
		elStr(0x20, 0xD, "UI", "1.2.3.7"),
		elStr(0x20, 0xE, "UI", "1.2.3.77"),
		elStr(0x20, 0x13, "IS", "1"),
		elStr(0x20, 0x52, "UI", "1.2.3.78"),
		elUS(0x28, 2, 1),
		elStr(0x28, 4, "CS", "MONOCHROME2"),
		elStr(0x28, 8, "IS", fmt.Sprint(len(order))),
		elUS(0x28, 0x10, rows),
		elUS(0x28, 0x11, cols),
		elUS(0x28, 0x100, 16), elUS(0x28, 0x101, 16), elUS(0x28, 0x102, 15), elUS(0x28, 0x103, 0),
		elSQ(0x5200, 0x9229, shared),
		elSQ(0x5200, 0x9230, perFrame...),
		el{g: 0x7FE0, e: 0x10, vr: "OW", val: pd},
	)
}
