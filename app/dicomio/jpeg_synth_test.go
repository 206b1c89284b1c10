package dicomio

import (
	"bytes"
	"encoding/binary"
	"math/rand"
	"strings"
	"testing"
)

// llParams describes a synthetic lossless JPEG stream.
type llParams struct {
	w, h, comps, prec, psv, pt int
	restartRows                int  // 0: no restart markers
	separateScans              bool // one scan per component instead of one interleaved scan
}

// encodeLossless is a minimal T.81 Annex H encoder for tests: one Huffman
// table giving every difference category a 5-bit code, byte stuffing,
// restart markers every restartRows lines. pix holds comps samples per
// pixel; the low pt bits are dropped, as the point transform does.
func encodeLossless(pix []uint16, p llParams) []byte {
	var out bytes.Buffer
	seg := func(m byte, payload []byte) {
		out.Write([]byte{0xFF, m})
		binary.Write(&out, binary.BigEndian, uint16(len(payload)+2))
		out.Write(payload)
	}
	out.Write([]byte{0xFF, 0xD8})
	dht := []byte{0x00}
	for l := 1; l <= 16; l++ {
		n := byte(0)
		if l == 5 {
			n = 17
		}
		dht = append(dht, n)
	}
	for v := 0; v <= 16; v++ {
		dht = append(dht, byte(v))
	}
	seg(0xC4, dht)
	sof := []byte{byte(p.prec), byte(p.h >> 8), byte(p.h), byte(p.w >> 8), byte(p.w), byte(p.comps)}
	for c := 0; c < p.comps; c++ {
		sof = append(sof, byte(c+1), 0x11, 0)
	}
	seg(0xC3, sof)
	if p.restartRows > 0 {
		ri := p.restartRows * p.w
		seg(0xDD, []byte{byte(ri >> 8), byte(ri)})
	}
	scans := [][]int{}
	if p.separateScans {
		for c := 0; c < p.comps; c++ {
			scans = append(scans, []int{c})
		}
	} else {
		all := []int{}
		for c := 0; c < p.comps; c++ {
			all = append(all, c)
		}
		scans = append(scans, all)
	}
	val := func(x, y, c int) int { return int(pix[(y*p.w+x)*p.comps+c]) >> p.pt }
	for _, sc := range scans {
		sos := []byte{byte(len(sc))}
		for _, c := range sc {
			sos = append(sos, byte(c+1), 0x00)
		}
		sos = append(sos, byte(p.psv), 0, byte(p.pt))
		seg(0xDA, sos)
		bw := &bitWriter{out: &out}
		rst := 0
		first := true
		for y := 0; y < p.h; y++ {
			if p.restartRows > 0 && y > 0 && y%p.restartRows == 0 {
				bw.flush()
				out.Write([]byte{0xFF, byte(0xD0 + rst)})
				rst = (rst + 1) & 7
				first = true
			}
			for x := 0; x < p.w; x++ {
				for _, c := range sc {
					var pred int
					switch {
					case first && x == 0:
						pred = 1 << (p.prec - p.pt - 1)
					case first:
						pred = val(x-1, y, c)
					case x == 0:
						pred = val(x, y-1, c)
					default:
						ra, rb, rc := val(x-1, y, c), val(x, y-1, c), val(x-1, y-1, c)
						pred = []int{0, ra, rb, rc, ra + rb - rc, ra + (rb-rc)>>1, rb + (ra-rc)>>1, (ra + rb) >> 1}[p.psv]
					}
					d := (val(x, y, c) - pred) & 0xFFFF
					if d > 32768 {
						d -= 65536
					}
					s := 0
					for a := abs(d); a > 0; a >>= 1 {
						s++
					}
					bw.put(uint32(s), 5)
					if s > 0 && s < 16 {
						e := d
						if d < 0 {
							e = d + 1<<s - 1
						}
						bw.put(uint32(e), s)
					}
				}
			}
			first = false
		}
		bw.flush()
	}
	out.Write([]byte{0xFF, 0xD9})
	return out.Bytes()
}

type bitWriter struct {
	out *bytes.Buffer
	acc uint32
	n   int
}

func (b *bitWriter) put(v uint32, n int) {
	for i := n - 1; i >= 0; i-- {
		b.acc = b.acc<<1 | (v>>i)&1
		b.n++
		if b.n == 8 {
			b.out.WriteByte(byte(b.acc))
			if byte(b.acc) == 0xFF {
				b.out.WriteByte(0)
			}
			b.acc, b.n = 0, 0
		}
	}
}

// flush pads the last byte with 1 bits (T.81 F.1.2.3).
func (b *bitWriter) flush() {
	if b.n > 0 {
		b.put(0xFF, 8-b.n)
	}
}

// randomImage makes smooth content with noise and a few extreme jumps, so
// every difference category including 16 occurs at high precision.
func randomImage(rng *rand.Rand, w, h, comps, prec int) []uint16 {
	pix := make([]uint16, w*h*comps)
	max := 1<<prec - 1
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			for c := 0; c < comps; c++ {
				v := (x*37 + y*11 + c*1000) % (max + 1)
				v += rng.Intn(7) - 3
				if rng.Intn(50) == 0 {
					v = rng.Intn(2) * max
				}
				pix[(y*w+x)*comps+c] = uint16(min(max, v&max))
			}
		}
	}
	return pix
}

func TestLosslessSynthetic(t *testing.T) {
	rng := rand.New(rand.NewSource(17))
	n := 0
	for _, prec := range []int{2, 7, 8, 12, 15, 16} {
		for psv := 1; psv <= 7; psv++ {
			for _, comps := range []int{1, 3} {
				p := llParams{w: 13, h: 9, comps: comps, prec: prec, psv: psv}
				switch n % 4 {
				case 1:
					p.restartRows = 1
				case 2:
					p.restartRows, p.pt = 4, prec/3
				case 3:
					p.separateScans = true
				}
				n++
				pix := randomImage(rng, p.w, p.h, comps, prec)
				enc := encodeLossless(pix, p)
				got, gotPrec, err := decodeLossless(enc, p.h, p.w, comps)
				if err != nil {
					t.Errorf("%+v: %v", p, err)
					continue
				}
				if gotPrec != prec {
					t.Errorf("%+v: precision %d", p, gotPrec)
				}
				for i := range pix {
					if want := pix[i] >> p.pt << p.pt; got[i] != want {
						t.Errorf("%+v: sample %d (x %d, y %d): %d, want %d", p, i, i/comps%p.w, i/comps/p.w, got[i], want)
						break
					}
				}
			}
		}
	}
	t.Logf("%d synthetic streams decoded exactly (precision 2–16, predictors 1–7, 1 and 3 components, restarts, point transform, separate scans)", n)
}

// TestLosslessCategory16 covers the difference 32768 (category 16, no
// additional bits), which only 16-bit data can produce.
func TestLosslessCategory16(t *testing.T) {
	pix := []uint16{0, 32768, 0, 65535, 1, 65535}
	p := llParams{w: 6, h: 1, comps: 1, prec: 16, psv: 1}
	got, _, err := decodeLossless(encodeLossless(pix, p), 1, 6, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range pix {
		if got[i] != pix[i] {
			t.Fatalf("got %v, want %v", got, pix)
		}
	}
}

func TestLosslessRejects(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	pix := randomImage(rng, 8, 8, 1, 12)
	good := encodeLossless(pix, llParams{w: 8, h: 8, comps: 1, prec: 12, psv: 1, restartRows: 2})
	sosAt := bytes.Index(good, []byte{0xFF, 0xDA})
	cases := []struct {
		name string
		data []byte
		rows int
		want string
	}{
		{"not JPEG", []byte("hello world"), 8, "SOI"},
		{"wrong size", good, 9, "the DICOM header says"},
		{"truncated", good[:sosAt+30], 8, "truncated"},
		{"no scan", append(append([]byte(nil), good[:sosAt]...), 0xFF, 0xD9), 8, "has no scan"},
		{"huge frame", func() []byte {
			b := append([]byte(nil), good...)
			i := bytes.Index(b, []byte{0xFF, 0xC3})
			binary.BigEndian.PutUint16(b[i+5:], 60000)
			binary.BigEndian.PutUint16(b[i+7:], 60000)
			return b
		}(), 60000, "cannot hold"},
		{"bad predictor", func() []byte {
			b := append([]byte(nil), good...)
			b[sosAt+2+2+3] = 9 // Ss after Ls, Ns, Cs, Td/Ta
			return b
		}(), 8, "predictor 9"},
		{"missing restart", bytes.Replace(good, []byte{0xFF, 0xD0}, []byte{0xFF, 0xC8}, 1), 8, "restart"},
		{"undefined table", func() []byte {
			b := append([]byte(nil), good...)
			b[sosAt+2+2+2] = 0x30
			return b
		}(), 8, "Huffman table 3"},
	}
	for _, c := range cases {
		cols := 8
		if c.rows == 60000 {
			cols = 60000
		}
		_, _, err := decodeJPEG(c.data, c.rows, cols, 1, 16)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want %q", c.name, err, c.want)
		}
	}
}

func TestSplitFrames(t *testing.T) {
	soi := func(s string) []byte { return append([]byte{0xFF, 0xD8}, s...) }
	frags := [][]byte{soi("ab"), []byte("cd"), soi("e"), []byte("f")}
	bot := func(v ...uint32) []byte {
		var b []byte
		for _, x := range v {
			b = binary.LittleEndian.AppendUint32(b, x)
		}
		return b
	}
	cases := []struct {
		name   string
		bot    []byte
		frames int
		want   []string
		err    string
	}{
		{"offset table", bot(0, 8+4+8+2), 2, []string{"\xff\xd8abcd", "\xff\xd8ef"}, ""},
		{"SOI markers", nil, 2, []string{"\xff\xd8abcd", "\xff\xd8ef"}, ""},
		{"one frame", nil, 1, []string{"\xff\xd8abcd\xff\xd8ef"}, ""},
		{"offset between fragments", bot(0, 9), 2, nil, "does not start a fragment"},
		{"offsets out of order", bot(8+4+8+2, 0), 2, nil, "does not start a fragment"},
		{"table size", bot(0), 2, nil, "basic offset table of 4 bytes"},
		{"too few SOI", nil, 3, nil, "holds 2 JPEG frames"},
	}
	for _, c := range cases {
		got, err := splitFrames(frags, c.bot, c.frames)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: err %v, want %q", c.name, err, c.err)
			}
			continue
		}
		if err != nil || len(got) != len(c.want) {
			t.Errorf("%s: %q, %v", c.name, got, err)
			continue
		}
		for i := range got {
			if string(got[i]) != c.want[i] {
				t.Errorf("%s: frame %d is %q, want %q", c.name, i, got[i], c.want[i])
			}
		}
	}
}
