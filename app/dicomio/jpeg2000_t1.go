package dicomio

import "fmt"

// JPEG 2000 tier 1 (T.800 Annex C and D): the MQ arithmetic decoder and
// the three coding passes of EBCOT over one code-block.

// mqState is one row of the Qe table (T.800 Table C.2).
type mqState struct {
	qe         uint32
	nmps, nlps uint8
	swap       bool
}

var mqTable = [47]mqState{
	{0x5601, 1, 1, true}, {0x3401, 2, 6, false}, {0x1801, 3, 9, false}, {0x0AC1, 4, 12, false},
	{0x0521, 5, 29, false}, {0x0221, 38, 33, false}, {0x5601, 7, 6, true}, {0x5401, 8, 14, false},
	{0x4801, 9, 14, false}, {0x3801, 10, 14, false}, {0x3001, 11, 17, false}, {0x2401, 12, 18, false},
	{0x1C01, 13, 20, false}, {0x1601, 29, 21, false}, {0x5601, 15, 14, true}, {0x5401, 16, 14, false},
	{0x5101, 17, 15, false}, {0x4801, 18, 16, false}, {0x3801, 19, 17, false}, {0x3401, 20, 18, false},
	{0x3001, 21, 19, false}, {0x2801, 22, 19, false}, {0x2401, 23, 20, false}, {0x2201, 24, 21, false},
	{0x1C01, 25, 22, false}, {0x1801, 26, 23, false}, {0x1601, 27, 24, false}, {0x1401, 28, 25, false},
	{0x1201, 29, 26, false}, {0x1101, 30, 27, false}, {0x0AC1, 31, 28, false}, {0x09C1, 32, 29, false},
	{0x08A1, 33, 30, false}, {0x0521, 34, 31, false}, {0x0441, 35, 32, false}, {0x02A1, 36, 33, false},
	{0x0221, 37, 34, false}, {0x0141, 38, 35, false}, {0x0111, 39, 36, false}, {0x0085, 40, 37, false},
	{0x0049, 41, 38, false}, {0x0025, 42, 39, false}, {0x0015, 43, 40, false}, {0x0009, 44, 41, false},
	{0x0005, 45, 42, false}, {0x0001, 45, 43, false}, {0x5601, 46, 46, false},
}

const (
	ctxRL  = 17 // run-length (aggregation)
	ctxUni = 18 // uniform
)

// mqDecoder is the MQ decoder of T.800 C.3 (software conventions of
// Annex J): past the end of its data it reads an endless 0xFF 0xFF
// marker, as the standard prescribes.
type mqDecoder struct {
	d     []byte
	bp    int
	a, c  uint32
	ct    int
	state [19]uint8
	mps   [19]uint8
}

func (m *mqDecoder) at(i int) uint32 {
	if i < len(m.d) {
		return uint32(m.d[i])
	}
	return 0xFF
}

func (m *mqDecoder) resetContexts() {
	m.state, m.mps = [19]uint8{}, [19]uint8{}
	m.state[0], m.state[ctxRL], m.state[ctxUni] = 4, 3, 46
}

func (m *mqDecoder) init(d []byte) {
	m.d, m.bp = d, 0
	m.c = m.at(0) << 16
	m.bytein()
	m.c <<= 7
	m.ct -= 7
	m.a = 0x8000
}

func (m *mqDecoder) bytein() {
	if m.at(m.bp) == 0xFF {
		if m.at(m.bp+1) > 0x8F {
			m.c += 0xFF00
			m.ct = 8
		} else {
			m.bp++
			m.c += m.at(m.bp) << 9
			m.ct = 7
		}
	} else {
		m.bp++
		m.c += m.at(m.bp) << 8
		m.ct = 8
	}
}

func (m *mqDecoder) decode(cx int) int {
	s := &mqTable[m.state[cx]]
	mps := int(m.mps[cx])
	m.a -= s.qe
	var d int
	if m.c>>16 < s.qe {
		// LPS path, with conditional exchange.
		if m.a < s.qe {
			d = mps
			m.state[cx] = s.nmps
		} else {
			d = 1 - mps
			if s.swap {
				m.mps[cx] ^= 1
			}
			m.state[cx] = s.nlps
		}
		m.a = s.qe
	} else {
		m.c -= s.qe << 16
		if m.a&0x8000 != 0 {
			return mps
		}
		if m.a < s.qe {
			d = 1 - mps
			if s.swap {
				m.mps[cx] ^= 1
			}
			m.state[cx] = s.nlps
		} else {
			d = mps
			m.state[cx] = s.nmps
		}
	}
	for {
		if m.ct == 0 {
			m.bytein()
		}
		m.a <<= 1
		m.c <<= 1
		m.ct--
		if m.a&0x8000 != 0 {
			break
		}
	}
	return d
}

// rawDecoder reads the bypass (lazy) passes: plain bits, with a stuffed
// 0 bit after every 0xFF.
type rawDecoder struct {
	d  []byte
	bp int
	c  uint32
	ct int
}

func (r *rawDecoder) init(d []byte) { *r = rawDecoder{d: d} }

func (r *rawDecoder) bit() int {
	if r.ct == 0 {
		next := uint32(0xFF)
		if r.bp < len(r.d) {
			next = uint32(r.d[r.bp])
		}
		if r.c == 0xFF {
			if next > 0x8F {
				r.ct = 8 // a marker: feed 1s
			} else {
				r.c = next
				r.bp++
				r.ct = 7
			}
		} else {
			r.c = next
			r.bp++
			r.ct = 8
		}
	}
	r.ct--
	return int(r.c>>r.ct) & 1
}

const (
	fSig     = 1
	fVisit   = 2
	fRefined = 4
	fNeg     = 8
)

// zcTable[orient][h][v][d] is the zero-coding context (T.800 Table D.1).
var zcTable [4][3][3][5]uint8

// zcPacked[orient][n] is the same context for a packed neighbour count
// n = h + 4v + 16d (see t1Decoder.nb).
var zcPacked [4][128]uint8

// scTable[h+1][v+1] is the sign-coding context and XOR bit (Table D.3).
var scTable = [3][3][2]uint8{
	{{13, 1}, {12, 1}, {11, 1}},
	{{10, 1}, {9, 0}, {10, 0}},
	{{11, 0}, {12, 0}, {13, 0}},
}

func init() {
	llLH := func(h, v, d int) uint8 {
		switch {
		case h == 2:
			return 8
		case h == 1 && v >= 1:
			return 7
		case h == 1 && d >= 1:
			return 6
		case h == 1:
			return 5
		case v == 2:
			return 4
		case v == 1:
			return 3
		case d >= 2:
			return 2
		case d == 1:
			return 1
		}
		return 0
	}
	hh := func(h, v, d int) uint8 {
		hv := h + v
		switch {
		case d >= 3:
			return 8
		case d == 2 && hv >= 1:
			return 7
		case d == 2:
			return 6
		case d == 1 && hv >= 2:
			return 5
		case d == 1 && hv == 1:
			return 4
		case d == 1:
			return 3
		case hv >= 2:
			return 2
		case hv == 1:
			return 1
		}
		return 0
	}
	for h := 0; h < 3; h++ {
		for v := 0; v < 3; v++ {
			for d := 0; d < 5; d++ {
				zcTable[0][h][v][d] = llLH(h, v, d)
				zcTable[2][h][v][d] = llLH(h, v, d)
				zcTable[1][h][v][d] = llLH(v, h, d) // HL: h and v swap roles
				zcTable[3][h][v][d] = hh(h, v, d)
				for o := 0; o < 4; o++ {
					zcPacked[o][h+4*v+16*d] = zcTable[o][h][v][d]
				}
			}
		}
	}
}

// t1Decoder decodes code-blocks; its buffers are reused.
type t1Decoder struct {
	mq     mqDecoder
	raw    rawDecoder
	flags  []uint8 // (w+2)×(h+2), a border of never-significant samples
	nb     []uint8 // per sample, its significant neighbours: h + 4v + 16d
	mag    []int32
	out    []int32
	w, h   int
	stride int
	orient int
	causal bool
	useRaw bool
}

func (t *t1Decoder) sig(i int) int { return int(t.flags[i] & fSig) }

// setSig makes padded index i (row y) significant and counts it in its
// neighbours' nb. A vertically causal code-block does not let a sample
// see the stripe below it, so the row above a stripe boundary is not
// told.
func (t *t1Decoder) setSig(i, y int) {
	t.flags[i] |= fSig
	s := t.stride
	nb := t.nb
	nb[i-1]++
	nb[i+1]++
	nb[i+s] += 4
	nb[i+s-1] += 16
	nb[i+s+1] += 16
	if !t.causal || y&3 != 0 {
		nb[i-s] += 4
		nb[i-s-1] += 16
		nb[i-s+1] += 16
	}
}

func (t *t1Decoder) contrib(fl uint8) int {
	if fl&fSig == 0 {
		return 0
	}
	if fl&fNeg != 0 {
		return -1
	}
	return 1
}

func (t *t1Decoder) decodeSign(i, y int) {
	var neg int
	if t.useRaw {
		neg = t.raw.bit()
	} else {
		s := t.stride
		hc := t.contrib(t.flags[i-1]) + t.contrib(t.flags[i+1])
		vc := t.contrib(t.flags[i-s])
		if !t.causal || y&3 != 3 {
			vc += t.contrib(t.flags[i+s])
		}
		hc, vc = min(max(hc, -1), 1), min(max(vc, -1), 1)
		e := scTable[hc+1][vc+1]
		neg = t.mq.decode(int(e[0])) ^ int(e[1])
	}
	if neg == 1 {
		t.flags[i] |= fNeg
	}
}

func (t *t1Decoder) bit(cx int) int {
	if t.useRaw {
		return t.raw.bit()
	}
	return t.mq.decode(cx)
}

// sigPass is the significance propagation pass at bitplane bp.
func (t *t1Decoder) sigPass(bp int) {
	zc := &zcPacked[t.orient]
	for y0 := 0; y0 < t.h; y0 += 4 {
		for x := 0; x < t.w; x++ {
			for y := y0; y < min(y0+4, t.h); y++ {
				i := (y+1)*t.stride + x + 1
				if t.flags[i]&fSig != 0 || t.nb[i] == 0 {
					continue
				}
				t.flags[i] |= fVisit
				if t.bit(int(zc[t.nb[i]])) == 1 {
					t.decodeSign(i, y)
					t.setSig(i, y)
					t.mag[y*t.w+x] = 3 << bp
				}
			}
		}
	}
}

// refPass is the magnitude refinement pass at bitplane bp.
func (t *t1Decoder) refPass(bp int) {
	for y0 := 0; y0 < t.h; y0 += 4 {
		for x := 0; x < t.w; x++ {
			for y := y0; y < min(y0+4, t.h); y++ {
				i := (y+1)*t.stride + x + 1
				if t.flags[i]&(fSig|fVisit) != fSig {
					continue
				}
				cx := 16
				if t.flags[i]&fRefined == 0 {
					cx = 14
					if t.nb[i] != 0 {
						cx = 15
					}
				}
				if t.bit(cx) == 1 {
					t.mag[y*t.w+x] += 1 << bp
				} else {
					t.mag[y*t.w+x] -= 1 << bp
				}
				t.flags[i] |= fRefined
			}
		}
	}
}

// cleanPass is the cleanup pass at bitplane bp, with its run-length
// mode; it clears the pass's visit marks.
func (t *t1Decoder) cleanPass(bp int) {
	zc := &zcPacked[t.orient]
	s := t.stride
	for y0 := 0; y0 < t.h; y0 += 4 {
		for x := 0; x < t.w; x++ {
			start := y0
			if y0+4 <= t.h {
				run := true
				for y := y0; y < y0+4 && run; y++ {
					i := (y+1)*s + x + 1
					if t.flags[i]&(fSig|fVisit) != 0 || t.nb[i] != 0 {
						run = false
					}
				}
				if run {
					if t.mq.decode(ctxRL) == 0 {
						continue
					}
					r := t.mq.decode(ctxUni) << 1
					r |= t.mq.decode(ctxUni)
					y := y0 + r
					i := (y+1)*s + x + 1
					t.decodeSign(i, y)
					t.setSig(i, y)
					t.mag[y*t.w+x] = 3 << bp
					start = y + 1
				}
			}
			for y := start; y < min(y0+4, t.h); y++ {
				i := (y+1)*s + x + 1
				if t.flags[i]&(fSig|fVisit) != 0 {
					continue
				}
				if t.mq.decode(int(zc[t.nb[i]])) == 1 {
					t.decodeSign(i, y)
					t.setSig(i, y)
					t.mag[y*t.w+x] = 3 << bp
				}
			}
		}
	}
	for i := range t.flags {
		t.flags[i] &^= fVisit
	}
}

// decode runs a code-block's coding passes; t.out receives its w×h
// coefficients, each at the middle of the interval its decoded bits
// leave open, in units of half the lowest bitplane (T.800 E.1.1.2 with
// r = 1/2): twice the magnitude plus one. Reversible values are halved
// (rounding down), which gives the exact integers when every pass is
// present. lossy is set when some value is known only to a bitplane
// above 0 (the encoder truncated the block).
func (t *t1Decoder) decode(c *j2kCblk, orient int, style byte, reversible bool) (lossy bool, err error) {
	t.w, t.h = c.x1-c.x0, c.y1-c.y0
	t.stride = t.w + 2
	n := t.w * t.h
	np := (t.w + 2) * (t.h + 2)
	if cap(t.flags) < np {
		t.flags, t.nb = make([]uint8, np), make([]uint8, np)
	}
	if cap(t.mag) < n {
		t.mag, t.out = make([]int32, n), make([]int32, n)
	}
	t.flags, t.nb, t.mag, t.out = t.flags[:np], t.nb[:np], t.mag[:n], t.out[:n]
	clear(t.flags)
	clear(t.nb)
	clear(t.mag)
	t.orient = orient
	t.causal = style&j2kCausal != 0
	if c.passes == 0 {
		clear(t.out)
		return false, nil
	}
	t.mq.resetContexts()
	bp := c.numbps - 1
	kind := 2 // cleanup first
	pass := 0
	for _, sg := range c.segs {
		if sg.start+sg.length > len(c.data) {
			return false, fmt.Errorf("code-block segment beyond its data")
		}
		data := c.data[sg.start : sg.start+sg.length]
		first := true
		for k := 0; k < sg.passes; k++ {
			if bp < 0 {
				return false, fmt.Errorf("code-block with more coding passes than bitplanes")
			}
			raw := style&j2kBypass != 0 && pass >= 10 && kind != 2
			if first {
				if raw {
					t.raw.init(data)
				} else {
					t.mq.init(data)
				}
				first = false
			}
			t.useRaw = raw
			switch kind {
			case 0:
				t.sigPass(bp)
			case 1:
				t.refPass(bp)
			case 2:
				t.useRaw = false
				t.cleanPass(bp)
				if style&j2kSegSym != 0 {
					for i := 0; i < 4; i++ {
						t.mq.decode(ctxUni)
					}
				}
			}
			if style&j2kReset != 0 {
				t.mq.resetContexts()
			}
			pass++
			if kind == 2 {
				bp--
			}
			kind = (kind + 1) % 3
		}
	}
	// A value is exact when its bits were coded down to plane 0, which
	// makes its doubled magnitude odd. Encoders may leave out trailing
	// passes that would code nothing (MR_small_jp2klossless.dcm drops
	// the last cleanup pass), so missing passes alone do not make a
	// block lossy; a value known only to a coarser plane does.
	for i, m := range t.mag {
		if m != 0 && m&1 == 0 {
			lossy = true
		}
		if reversible {
			m >>= 1
		}
		if t.flags[(i/t.w+1)*t.stride+i%t.w+1]&fNeg != 0 {
			m = -m
		}
		t.out[i] = m
	}
	return lossy, nil
}
