package dicomio

import (
	"encoding/binary"
	"fmt"
	"math/bits"
)

// decodeJPEGLS decodes one lossless JPEG-LS frame (ITU-T T.87, NEAR = 0)
// into little-endian native bytes. Only one component per scan is
// supported (ILV 0: every grayscale image), which covers MR.
func decodeJPEGLS(d []byte, rows, cols, samples, bitsAlloc int) ([]byte, error) {
	if len(d) < 4 || d[0] != 0xFF || d[1] != 0xD8 {
		return nil, fmt.Errorf("JPEG-LS frame does not start with an SOI marker")
	}
	var (
		prec, w, h, nf            int
		maxval, t1, t2, t3, reset int
		pix                       []uint16
		done                      []bool
		ids                       []int
	)
	p := 2
	for p < len(d) {
		m, np, err := nextMarker(d, p)
		if err != nil {
			return nil, err
		}
		p = np
		if m == 0xD9 {
			break
		}
		if m >= 0xD0 && m <= 0xD8 {
			continue
		}
		seg, np, err := segment(d, p)
		if err != nil {
			return nil, err
		}
		p = np
		switch m {
		case 0xF7: // SOF55
			if pix != nil || len(seg) < 6 {
				return nil, fmt.Errorf("JPEG-LS: bad or repeated SOF55 header")
			}
			prec, h, w, nf = int(seg[0]), int(binary.BigEndian.Uint16(seg[1:])), int(binary.BigEndian.Uint16(seg[3:])), int(seg[5])
			if prec < 2 || prec > 16 {
				return nil, fmt.Errorf("JPEG-LS precision %d (2 to 16 allowed)", prec)
			}
			if w != cols || h != rows || nf != samples || len(seg) != 6+3*nf {
				return nil, fmt.Errorf("JPEG-LS frame is %d×%d with %d components, the DICOM header says %d×%d with %d samples", w, h, nf, cols, rows, samples)
			}
			// Runs let a flat image take very few bytes, but not fewer
			// than one per 1024 samples beyond the first million:
			// refuse forged sizes before allocating.
			if int64(w)*int64(h)*int64(nf) > 1024*int64(len(d))+1<<20 {
				return nil, fmt.Errorf("JPEG-LS frame of %d bytes cannot hold %d×%d×%d samples", len(d), w, h, nf)
			}
			for i := 0; i < nf; i++ {
				ids = append(ids, int(seg[6+3*i]))
			}
			pix = make([]uint16, w*h*nf)
			done = make([]bool, nf)
		case 0xF8: // LSE
			if len(seg) < 1 || seg[0] != 1 || len(seg) != 11 {
				return nil, fmt.Errorf("JPEG-LS LSE segment type %v is not supported (only preset coding parameters)", seg[:min(1, len(seg))])
			}
			maxval, t1, t2, t3, reset = int(binary.BigEndian.Uint16(seg[1:])), int(binary.BigEndian.Uint16(seg[3:])),
				int(binary.BigEndian.Uint16(seg[5:])), int(binary.BigEndian.Uint16(seg[7:])), int(binary.BigEndian.Uint16(seg[9:]))
		case 0xDA:
			if pix == nil {
				return nil, fmt.Errorf("JPEG-LS scan before the SOF55 header")
			}
			if len(seg) < 1 || int(seg[0]) != 1 || len(seg) != 6 {
				return nil, fmt.Errorf("JPEG-LS scans with several components (interleaved) are not supported")
			}
			c := -1
			for i, id := range ids {
				if id == int(seg[1]) {
					c = i
				}
			}
			if c < 0 || done[c] {
				return nil, fmt.Errorf("JPEG-LS scan names component %d, unknown or already decoded", seg[1])
			}
			if seg[2] != 0 {
				return nil, fmt.Errorf("JPEG-LS mapping tables are not supported")
			}
			if near := seg[3]; near != 0 {
				return nil, fmt.Errorf("JPEG-LS near-lossless (NEAR %d) is not supported", near)
			}
			if seg[5]&15 != 0 {
				return nil, fmt.Errorf("JPEG-LS point transform is not supported")
			}
			s := newLSScan(d, p, w, h, nf, c, prec, maxval, t1, t2, t3, reset)
			if s.err != nil {
				return nil, s.err
			}
			if err := s.decode(pix); err != nil {
				return nil, err
			}
			done[c] = true
			p = s.next()
		}
	}
	if pix == nil {
		return nil, fmt.Errorf("JPEG-LS frame has no SOF55 header")
	}
	for c, ok := range done {
		if !ok {
			return nil, fmt.Errorf("JPEG-LS component %d has no scan", ids[c])
		}
	}
	if prec > bitsAlloc {
		return nil, fmt.Errorf("JPEG-LS precision %d bits does not fit BitsAllocated %d", prec, bitsAlloc)
	}
	return packSamples(pix, bitsAlloc), nil
}

// lsContext is a regular-mode context (T.87 A.2) or, with riType set, a
// run-interruption context.
type lsContext struct{ a, b, c, n, nn, riType int }

type lsScan struct {
	d                 []byte
	pos               int
	acc               uint64
	n                 uint
	ff                bool // the last byte read was 0xFF: the next has 7 bits
	stop              bool // a marker was reached
	fake              int
	w, h, nf, comp    int
	maxval, rng, qbpp int
	limit, reset      int
	t1, t2, t3        int
	ctx               [365]lsContext
	ri                [2]lsContext
	runIndex          int
	err               error
}

var lsJ = [32]int{0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 9, 10, 11, 12, 13, 14, 15}

func newLSScan(d []byte, p, w, h, nf, comp, prec, maxval, t1, t2, t3, reset int) *lsScan {
	s := &lsScan{d: d, pos: p, w: w, h: h, nf: nf, comp: comp}
	if maxval == 0 {
		maxval = 1<<prec - 1
	}
	if maxval >= 1<<prec || maxval < 1 {
		s.err = fmt.Errorf("JPEG-LS MAXVAL %d for precision %d", maxval, prec)
		return s
	}
	s.maxval, s.rng = maxval, maxval+1
	s.qbpp = bits.Len(uint(s.rng - 1))
	bpp := max(2, bits.Len(uint(maxval)))
	s.limit = 2 * (bpp + max(8, bpp))
	// Default thresholds (T.87 C.2.4.1.1).
	var d1, d2, d3 int
	if maxval >= 128 {
		f := (min(maxval, 4095) + 128) >> 8
		d1, d2, d3 = f*(3-2)+2, f*(7-3)+3, f*(21-4)+4
	} else {
		f := 256 / (maxval + 1)
		d1, d2, d3 = max(2, 3/f), max(2, 7/f), max(2, 21/f)
	}
	if t1 == 0 {
		t1 = d1
	}
	if t2 == 0 {
		t2 = d2
	}
	if t3 == 0 {
		t3 = d3
	}
	if reset == 0 {
		reset = 64
	}
	if !(1 <= t1 && t1 <= t2 && t2 <= t3 && t3 <= maxval) || reset < 3 {
		s.err = fmt.Errorf("JPEG-LS thresholds %d, %d, %d or RESET %d invalid for MAXVAL %d", t1, t2, t3, reset, maxval)
		return s
	}
	s.t1, s.t2, s.t3, s.reset = t1, t2, t3, reset
	a := max(2, (s.rng+32)>>6)
	for i := range s.ctx {
		s.ctx[i] = lsContext{a: a, n: 1}
	}
	s.ri = [2]lsContext{{a: a, n: 1}, {a: a, n: 1, riType: 1}}
	return s
}

func (s *lsScan) fill() {
	for s.n <= 56 {
		if s.stop || s.pos >= len(s.d) {
			s.fake++
			s.n += 8
			continue
		}
		c := s.d[s.pos]
		if s.ff {
			if c&0x80 != 0 { // a marker: the data ends
				s.stop = true
				s.pos--
				continue
			}
			s.acc |= uint64(c) << (64 - 7 - s.n)
			s.n += 7
			s.pos++
			s.ff = false
			continue
		}
		s.acc |= uint64(c) << (56 - s.n)
		s.n += 8
		s.pos++
		s.ff = c == 0xFF
	}
}

func (s *lsScan) bits(k int) int {
	if k == 0 {
		return 0
	}
	if s.n < 32 {
		s.fill()
	}
	v := int(s.acc >> (64 - uint(k)))
	s.acc <<= uint(k)
	s.n -= uint(k)
	return v
}

// zeros counts 0 bits up to the next 1 bit and consumes them all.
func (s *lsScan) zeros() (int, error) {
	count := 0
	for {
		if s.n < 32 {
			s.fill()
		}
		lz := bits.LeadingZeros64(s.acc)
		if uint(lz) < s.n {
			s.acc <<= uint(lz + 1)
			s.n -= uint(lz + 1)
			return count + lz, nil
		}
		count += int(s.n)
		s.acc, s.n = 0, 0
		if count > s.limit {
			if s.overrun() {
				return 0, errTruncated
			}
			return 0, fmt.Errorf("JPEG-LS: invalid Golomb code")
		}
	}
}

// value reads a limited-length Golomb code (T.87 A.5.3).
func (s *lsScan) value(k, limit int) (int, error) {
	hi, err := s.zeros()
	if err != nil {
		return 0, err
	}
	if hi >= limit-(s.qbpp+1) {
		if hi > limit-(s.qbpp+1) {
			return 0, fmt.Errorf("JPEG-LS: Golomb code longer than its limit")
		}
		return s.bits(s.qbpp) + 1, nil
	}
	return hi<<k + s.bits(k), nil
}

func (s *lsScan) overrun() bool { return uint(s.fake)*8 > s.n }

func (s *lsScan) quant(d int) int {
	switch {
	case d <= -s.t3:
		return -4
	case d <= -s.t2:
		return -3
	case d <= -s.t1:
		return -2
	case d < 0:
		return -1
	case d == 0:
		return 0
	case d < s.t1:
		return 1
	case d < s.t2:
		return 2
	case d < s.t3:
		return 3
	}
	return 4
}

// wrap reduces a reconstructed sample modulo RANGE (valid streams are
// off by one RANGE at most; corrupt ones by anything).
func (s *lsScan) wrap(x int) int {
	return (x%s.rng + s.rng) % s.rng
}

func (s *lsScan) decode(pix []uint16) error {
	w := s.w
	prev := make([]int, w+2) // index x+1 holds column x; 0 and w+1 are edges
	cur := make([]int, w+2)
	for y := 0; y < s.h; y++ {
		prev[w+1] = prev[w]
		cur[0] = prev[1]
		for x := 0; x < w; {
			ra, rb, rc, rd := cur[x], prev[x+1], prev[x], prev[x+2]
			d1, d2, d3 := rd-rb, rb-rc, rc-ra
			if d1 == 0 && d2 == 0 && d3 == 0 {
				n, err := s.run(cur, prev, x, ra)
				if err != nil {
					return fmt.Errorf("JPEG-LS line %d: %w", y+1, err)
				}
				x += n
				continue
			}
			q := 81*s.quant(d1) + 9*s.quant(d2) + s.quant(d3)
			sign := 1
			if q < 0 {
				sign, q = -1, -q
			}
			cx := &s.ctx[q]
			var px int
			switch {
			case rc >= max(ra, rb):
				px = min(ra, rb)
			case rc <= min(ra, rb):
				px = max(ra, rb)
			default:
				px = ra + rb - rc
			}
			px = min(max(px+sign*cx.c, 0), s.maxval)
			k, err := golombK(cx.n, cx.a)
			if err != nil {
				return fmt.Errorf("JPEG-LS line %d: %w", y+1, err)
			}
			m, err := s.value(k, s.limit)
			if err != nil {
				return fmt.Errorf("JPEG-LS line %d: %w", y+1, err)
			}
			e := m >> 1
			if m&1 != 0 {
				e = -(m + 1) >> 1
			}
			if k == 0 && 2*cx.b+cx.n-1 < 0 {
				e = -e - 1
			}
			s.update(cx, e)
			cur[x+1] = s.wrap(px + sign*e)
			x++
		}
		if s.overrun() {
			return fmt.Errorf("JPEG-LS line %d: %w", y+1, errTruncated)
		}
		for x := 0; x < w; x++ {
			pix[(y*w+x)*s.nf+s.comp] = uint16(cur[x+1])
		}
		prev, cur = cur, prev
	}
	return nil
}

func (s *lsScan) update(cx *lsContext, e int) {
	cx.a += abs(e)
	cx.b += e
	if cx.n == s.reset {
		cx.a >>= 1
		cx.b >>= 1
		cx.n >>= 1
	}
	cx.n++
	if cx.b+cx.n <= 0 {
		cx.b += cx.n
		if cx.b <= -cx.n {
			cx.b = -cx.n + 1
		}
		if cx.c > -128 {
			cx.c--
		}
	} else if cx.b > 0 {
		cx.b -= cx.n
		if cx.b > 0 {
			cx.b = 0
		}
		if cx.c < 127 {
			cx.c++
		}
	}
}

// run decodes run mode from column x (T.87 A.7) and returns how many
// samples it wrote.
func (s *lsScan) run(cur, prev []int, x, ra int) (int, error) {
	left := s.w - x
	i := 0
	for i < left {
		if s.bits(1) == 0 {
			break
		}
		c := min(1<<lsJ[s.runIndex], left-i)
		i += c
		if c == 1<<lsJ[s.runIndex] {
			s.runIndex = min(31, s.runIndex+1)
		}
	}
	if i < left {
		i += s.bits(lsJ[s.runIndex])
	}
	if i > left {
		return 0, fmt.Errorf("run of %d samples past the end of the line", i)
	}
	for j := 0; j < i; j++ {
		cur[x+1+j] = ra
	}
	if i == left {
		return i, nil
	}
	// Run interruption sample.
	rb := prev[x+i+1]
	var cx *lsContext
	base, sign := rb, 1
	if ra == rb {
		cx, base = &s.ri[1], ra
	} else {
		cx = &s.ri[0]
		if rb < ra {
			sign = -1
		}
	}
	k, err := golombK(cx.n, cx.a+(cx.n>>1)*cx.riType)
	if err != nil {
		return 0, err
	}
	m, err := s.value(k, s.limit-lsJ[s.runIndex]-1)
	if err != nil {
		return 0, err
	}
	tmp := m + cx.riType
	mp := tmp & 1
	e := (tmp + mp) / 2
	if (k != 0 || 2*cx.nn >= cx.n) == (mp == 1) {
		e = -e
	}
	if e < 0 {
		cx.nn++
	}
	cx.a += (m + 1 - cx.riType) >> 1
	if cx.n == s.reset {
		cx.a >>= 1
		cx.n >>= 1
		cx.nn >>= 1
	}
	cx.n++
	cur[x+i+1] = s.wrap(base + sign*e)
	s.runIndex = max(0, s.runIndex-1)
	return i + 1, nil
}

// next returns where the marker after the scan starts.
func (s *lsScan) next() int {
	q := s.pos
	if q < 0 {
		q = 0
	}
	for q+1 < len(s.d) && !(s.d[q] == 0xFF && s.d[q+1]&0x80 != 0) {
		q++
	}
	return q
}

// golombK is the Golomb parameter k for a context: the least k with
// N·2^k ≥ A. Valid streams keep k within 16; a corrupt one could grow A
// until the shift overflows, so larger k is an error.
func golombK(n, a int) (int, error) {
	k := 0
	for n<<k < a {
		k++
		if k > 16 {
			return 0, fmt.Errorf("JPEG-LS: Golomb parameter beyond 16 (corrupt data)")
		}
	}
	return k, nil
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
