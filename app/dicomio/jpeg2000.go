package dicomio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"

	"cmrseg/app/membudget"
)

// JPEG 2000 (ITU-T T.800) decoding of one grayscale component: the
// codestream and its JP2 wrapper, tiles, tier-2 packets (this file), the
// EBCOT tier-1 coder (jpeg2000_t1.go) and the reversible 5/3 wavelet
// (jpeg2000_dwt.go). The irreversible 9/7 path (dequantization and the
// 9/7 wavelet in float32) is decoded too, and reported lossy.

// j2kStyle is a component's coding style (COD/COC SPcod).
type j2kStyle struct {
	levels     int // decomposition levels NL
	cbw, cbh   int // code-block size exponents
	cbStyle    byte
	reversible bool
	ppx, ppy   [33]int // precinct size exponents per resolution
}

// j2kQuant is a component's quantization (QCD/QCC): guard bits and the
// exponent and mantissa of each subband, LL first (only LL's when
// derived).
type j2kQuant struct {
	guard   int
	derived bool
	exps    []int
	mants   []int
}

// j2kParams is what governs one tile: main header values, overridden by
// the tile's own COD/COC/QCD/QCC.
type j2kParams struct {
	prog, layers int
	sop, eph     bool
	style        j2kStyle
	quant        j2kQuant
	haveCOD      bool
	haveQCD      bool
}

const (
	j2kBypass  = 0x01
	j2kReset   = 0x02
	j2kTermAll = 0x04
	j2kCausal  = 0x08
	j2kSegSym  = 0x20
)

// j2kImage is the SIZ geometry.
type j2kImage struct {
	x1, y1, x0, y0         int // image area on the reference grid
	tw, th, tx0, ty0       int // tile size and tile grid origin
	ntx, nty               int
	prec                   int
	signed                 bool
	dx, dy                 int // component subsampling
	compX0, compY0, cw, ch int // component area
}

type j2kTile struct {
	idx    int
	parts  int
	data   []byte
	params j2kParams
	coc    *j2kStyle // the tile's COC and QCC, which outrank its COD and QCD
	qcc    *j2kQuant
}

// decodeJPEG2000 decodes one JPEG 2000 frame (raw codestream or JP2
// file) into little-endian native bytes. lossy is set for the
// irreversible wavelet and, unless the transfer syntax promises a
// lossless stream (lossless), when a reversible stream leaves some value
// known only to a bitplane above 0. A decoder cannot tell more: an
// encoder may drop a refinement pass whose bits equal the decoder's
// mid-interval estimate (MR_small_jp2klossless.dcm does), and then the
// values are exact.
func decodeJPEG2000(d []byte, rows, cols, samples, bitsAlloc int, lossless bool) (raw []byte, lossy bool, err error) {
	if samples != 1 {
		return nil, false, fmt.Errorf("JPEG 2000 with %d samples per pixel: only grayscale is supported", samples)
	}
	cs, err := j2kCodestream(d)
	if err != nil {
		return nil, false, err
	}
	img, tiles, err := j2kParse(cs)
	if err != nil {
		return nil, false, err
	}
	if img.cw != cols || img.ch != rows {
		return nil, false, fmt.Errorf("JPEG 2000 image is %d×%d, the DICOM header says %d×%d", img.cw, img.ch, cols, rows)
	}
	if img.prec > bitsAlloc {
		return nil, false, fmt.Errorf("JPEG 2000 precision %d bits does not fit BitsAllocated %d", img.prec, bitsAlloc)
	}
	if err := membudget.Check("JPEG 2000 frame", membudget.Mul(int64(cols), int64(rows), 6)); err != nil {
		return nil, false, err
	}
	pix := make([]uint16, cols*rows)
	for i, t := range tiles {
		if t == nil {
			return nil, false, fmt.Errorf("JPEG 2000 tile %d of %d is missing", i+1, len(tiles))
		}
		l, err := j2kDecodeTile(img, t, pix)
		if err != nil {
			return nil, false, fmt.Errorf("JPEG 2000 tile %d: %w", i+1, err)
		}
		lossy = lossy || l && !(lossless && t.params.style.reversible)
	}
	return packSamples(pix, bitsAlloc), lossy, nil
}

// j2kCodestream returns the codestream: d itself, or the contiguous
// codestream box of a JP2 file.
func j2kCodestream(d []byte) ([]byte, error) {
	if len(d) >= 2 && d[0] == 0xFF && d[1] == 0x4F {
		return d, nil
	}
	if len(d) < 12 || string(d[4:8]) != "jP  " {
		return nil, fmt.Errorf("JPEG 2000 frame starts with neither an SOC marker nor a JP2 signature box")
	}
	for p := 0; p+8 <= len(d); {
		l := int64(binary.BigEndian.Uint32(d[p:]))
		typ := string(d[p+4 : p+8])
		h := int64(8)
		switch l {
		case 0:
			l = int64(len(d) - p)
		case 1:
			if p+16 > len(d) {
				return nil, fmt.Errorf("JP2 box %q at byte %d is truncated", typ, p)
			}
			l, h = int64(binary.BigEndian.Uint64(d[p+8:])), 16
		}
		if l < h || l > int64(len(d)-p) {
			return nil, fmt.Errorf("JP2 box %q at byte %d declares %d bytes, %d remain", typ, p, l, len(d)-p)
		}
		if typ == "jp2c" {
			return d[p+int(h) : p+int(l)], nil
		}
		p += int(l)
	}
	return nil, fmt.Errorf("JP2 file has no codestream box")
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// j2kUnsupported is the error for a valid stream this decoder does not
// handle, with the conversion hint.
func j2kUnsupported(what string) error {
	return fmt.Errorf("%s is not supported: %s", what, j2kHint)
}

// j2kParse reads the main header and gathers each tile's data and
// parameters.
func j2kParse(d []byte) (*j2kImage, []*j2kTile, error) {
	var img *j2kImage
	var main j2kParams
	var tiles []*j2kTile
	var mainCOC *j2kStyle // outranks the main COD, not a tile's
	var mainQCC *j2kQuant
	if len(d) < 2 || d[0] != 0xFF || d[1] != 0x4F {
		return nil, nil, fmt.Errorf("JPEG 2000 codestream does not start with an SOC marker")
	}
	p := 2
	var cur *j2kTile // the tile whose tile-part header is being read
	var tpEnd int
	for {
		if p+2 > len(d) {
			// A codestream cut after its last tile-part still holds
			// every packet the tiles declare; a missing tile is found
			// below.
			break
		}
		if d[p] != 0xFF {
			return nil, nil, fmt.Errorf("JPEG 2000: expected a marker at byte %d", p)
		}
		m := uint16(d[p])<<8 | uint16(d[p+1])
		mp := p
		p += 2
		if m == 0xFFD9 { // EOC
			break
		}
		if m == 0xFF93 { // SOD: tile data up to the end of the tile-part
			if cur == nil {
				return nil, nil, fmt.Errorf("JPEG 2000: SOD marker outside a tile-part header at byte %d", mp)
			}
			if tpEnd < p || tpEnd > len(d) {
				return nil, nil, fmt.Errorf("JPEG 2000 tile-part of tile %d overruns the codestream", cur.idx+1)
			}
			if cur.coc != nil {
				cur.params.style = *cur.coc
			}
			if cur.qcc != nil {
				cur.params.quant = *cur.qcc
			}
			if cur.data == nil {
				cur.data = d[p:tpEnd:tpEnd]
			} else {
				cur.data = append(cur.data[:len(cur.data):len(cur.data)], d[p:tpEnd]...)
			}
			p, cur = tpEnd, nil
			continue
		}
		if p+2 > len(d) {
			return nil, nil, fmt.Errorf("JPEG 2000 codestream ends inside marker %04X", m)
		}
		l := int(binary.BigEndian.Uint16(d[p:]))
		if l < 2 || p+l > len(d) {
			return nil, nil, fmt.Errorf("JPEG 2000 marker %04X at byte %d declares %d bytes, %d remain", m, mp, l, len(d)-p)
		}
		seg := d[p+2 : p+l]
		p += l
		if img == nil && m != 0xFF51 {
			return nil, nil, fmt.Errorf("JPEG 2000: marker %04X before the SIZ header", m)
		}
		// Parameters go to the tile being read, else to the main header.
		target := &main
		if cur != nil {
			target = &cur.params
		}
		var err error
		switch m {
		case 0xFF51: // SIZ
			if img != nil {
				return nil, nil, fmt.Errorf("JPEG 2000: repeated SIZ header")
			}
			img, err = j2kSIZ(seg, len(d))
			if err == nil {
				tiles = make([]*j2kTile, img.ntx*img.nty)
			}
		case 0xFF52: // COD
			err = j2kCOD(seg, target)
		case 0xFF53: // COC
			if len(seg) < 2 || seg[0] != 0 {
				err = fmt.Errorf("JPEG 2000 COC for component %v: only one component exists", seg[:min(1, len(seg))])
				break
			}
			st := new(j2kStyle)
			err = j2kSPcod(seg[2:], seg[1]&1 != 0, st)
			if cur == nil {
				mainCOC = st
			} else {
				cur.coc = st
			}
		case 0xFF5C: // QCD
			err = j2kQCD(seg, target)
		case 0xFF5D: // QCC
			if len(seg) < 1 || seg[0] != 0 {
				err = fmt.Errorf("JPEG 2000 QCC for component %v: only one component exists", seg[:min(1, len(seg))])
				break
			}
			var q j2kParams
			err = j2kQCD(seg[1:], &q)
			if cur == nil {
				mainQCC = &q.quant
			} else {
				cur.qcc = &q.quant
			}
		case 0xFF5E:
			err = j2kUnsupported("JPEG 2000 region of interest (RGN)")
		case 0xFF5F:
			err = j2kUnsupported("JPEG 2000 progression order changes (POC)")
		case 0xFF60, 0xFF61:
			err = j2kUnsupported("JPEG 2000 packed packet headers (PPM/PPT)")
		case 0xFF90: // SOT
			if cur != nil {
				return nil, nil, fmt.Errorf("JPEG 2000: SOT inside a tile-part header at byte %d", mp)
			}
			if len(seg) != 8 {
				return nil, nil, fmt.Errorf("JPEG 2000 SOT segment of %d bytes", len(seg))
			}
			if !main.haveCOD || !main.haveQCD {
				return nil, nil, fmt.Errorf("JPEG 2000 main header lacks a COD or QCD marker")
			}
			idx := int(binary.BigEndian.Uint16(seg))
			psot := int(binary.BigEndian.Uint32(seg[2:]))
			tp := int(seg[6])
			if idx >= len(tiles) {
				return nil, nil, fmt.Errorf("JPEG 2000 tile-part for tile %d of %d", idx+1, len(tiles))
			}
			t := tiles[idx]
			if t == nil {
				t = &j2kTile{idx: idx, params: main}
				if mainCOC != nil {
					t.params.style = *mainCOC
				}
				if mainQCC != nil {
					t.params.quant = *mainQCC
				}
				tiles[idx] = t
			}
			if tp != t.parts {
				return nil, nil, fmt.Errorf("JPEG 2000 tile %d: tile-part %d where %d was expected", idx+1, tp, t.parts)
			}
			t.parts++
			switch {
			case psot == 0: // the last tile-part runs to EOC
				tpEnd = len(d)
				if tpEnd-2 >= p && d[tpEnd-2] == 0xFF && d[tpEnd-1] == 0xD9 {
					tpEnd -= 2
				}
			case psot < 14 || psot > len(d)-mp:
				return nil, nil, fmt.Errorf("JPEG 2000 tile-part of %d bytes at byte %d, %d remain", psot, mp, len(d)-mp)
			default:
				tpEnd = mp + psot
			}
			cur = t
		default:
			// COM, TLM, PLM, PLT, CRG and unknown segments carry nothing
			// the decoding needs.
		}
		if err != nil {
			return nil, nil, err
		}
	}
	if img == nil {
		return nil, nil, fmt.Errorf("JPEG 2000 codestream has no SIZ header")
	}
	if cur != nil {
		return nil, nil, fmt.Errorf("JPEG 2000 codestream ends inside the header of tile %d", cur.idx+1)
	}
	return img, tiles, nil
}

func j2kSIZ(s []byte, n int) (*j2kImage, error) {
	if len(s) < 36 {
		return nil, fmt.Errorf("JPEG 2000 SIZ segment of %d bytes", len(s))
	}
	u := func(i int) int { return int(binary.BigEndian.Uint32(s[i:])) }
	img := &j2kImage{x1: u(2), y1: u(6), x0: u(10), y0: u(14), tw: u(18), th: u(22), tx0: u(26), ty0: u(30)}
	nc := int(binary.BigEndian.Uint16(s[34:]))
	if nc != 1 {
		return nil, j2kUnsupported(fmt.Sprintf("JPEG 2000 image with %d components (only grayscale)", nc))
	}
	if len(s) != 36+3*nc {
		return nil, fmt.Errorf("JPEG 2000 SIZ segment of %d bytes for %d components", len(s), nc)
	}
	img.prec = int(s[36]&0x7F) + 1
	img.signed = s[36]&0x80 != 0
	img.dx, img.dy = int(s[37]), int(s[38])
	if img.prec > 16 {
		return nil, j2kUnsupported(fmt.Sprintf("JPEG 2000 precision of %d bits (up to 16)", img.prec))
	}
	if img.dx == 0 || img.dy == 0 {
		return nil, fmt.Errorf("JPEG 2000 component subsampling %d×%d", img.dx, img.dy)
	}
	// Sizes are 32-bit; keep all arithmetic far from overflow.
	const lim = 1 << 30
	if img.x1 > lim || img.y1 > lim || img.x0 >= img.x1 || img.y0 >= img.y1 || img.tw == 0 || img.th == 0 ||
		img.tw > lim || img.th > lim || img.tx0 > img.x0 || img.ty0 > img.y0 ||
		img.tx0+img.tw <= img.x0 || img.ty0+img.th <= img.y0 {
		return nil, fmt.Errorf("JPEG 2000 SIZ geometry is invalid (image %d,%d-%d,%d, tiles %d×%d at %d,%d)",
			img.x0, img.y0, img.x1, img.y1, img.tw, img.th, img.tx0, img.ty0)
	}
	img.ntx = ceilDiv(img.x1-img.tx0, img.tw)
	img.nty = ceilDiv(img.y1-img.ty0, img.th)
	// Each tile needs at least an SOT and an SOD marker (14 bytes).
	if int64(img.ntx)*int64(img.nty) > int64(n/14) {
		return nil, fmt.Errorf("JPEG 2000 grid of %d×%d tiles cannot fit in %d bytes", img.ntx, img.nty, n)
	}
	img.compX0, img.compY0 = ceilDiv(img.x0, img.dx), ceilDiv(img.y0, img.dy)
	img.cw, img.ch = ceilDiv(img.x1, img.dx)-img.compX0, ceilDiv(img.y1, img.dy)-img.compY0
	return img, nil
}

func j2kCOD(s []byte, t *j2kParams) error {
	if len(s) < 5 {
		return fmt.Errorf("JPEG 2000 COD segment of %d bytes", len(s))
	}
	t.sop, t.eph = s[0]&2 != 0, s[0]&4 != 0
	t.prog = int(s[1])
	t.layers = int(binary.BigEndian.Uint16(s[2:]))
	if t.prog > 4 || t.layers == 0 {
		return fmt.Errorf("JPEG 2000 COD: progression order %d, %d layers", t.prog, t.layers)
	}
	// s[4] is the multiple component transform: meaningless for one
	// component.
	t.haveCOD = true
	return j2kSPcod(s[5:], s[0]&1 != 0, &t.style)
}

func j2kSPcod(s []byte, precincts bool, st *j2kStyle) error {
	if len(s) < 5 {
		return fmt.Errorf("JPEG 2000 coding style of %d bytes", len(s))
	}
	st.levels = int(s[0])
	st.cbw, st.cbh = int(s[1]&15)+2, int(s[2]&15)+2
	st.cbStyle = s[3]
	st.reversible = s[4] == 1
	if st.levels > 32 || s[1] > 8 || s[2] > 8 || st.cbw+st.cbh > 12 || s[4] > 1 {
		return fmt.Errorf("JPEG 2000 coding style: %d levels, code-blocks 2^%d×2^%d, transform %d", st.levels, st.cbw, st.cbh, s[4])
	}
	// Predictable termination (0x10) only constrains the encoder.
	if st.cbStyle&0xC0 != 0 {
		return j2kUnsupported(fmt.Sprintf("JPEG 2000 code-block style %#02x (high-throughput coding)", st.cbStyle))
	}
	for r := 0; r <= st.levels; r++ {
		st.ppx[r], st.ppy[r] = 15, 15
		if precincts {
			if len(s) < 6+r {
				return fmt.Errorf("JPEG 2000 coding style lacks the precinct size of resolution %d", r)
			}
			st.ppx[r], st.ppy[r] = int(s[5+r]&15), int(s[5+r]>>4)
			if r > 0 && (st.ppx[r] == 0 || st.ppy[r] == 0) {
				return fmt.Errorf("JPEG 2000 precinct exponent 0 at resolution %d", r)
			}
		}
	}
	return nil
}

func j2kQCD(s []byte, t *j2kParams) error {
	if len(s) < 1 {
		return fmt.Errorf("JPEG 2000 empty quantization segment")
	}
	q := j2kQuant{guard: int(s[0] >> 5)}
	switch s[0] & 31 {
	case 0: // reversible: one exponent byte per subband
		for _, b := range s[1:] {
			q.exps = append(q.exps, int(b>>3))
			q.mants = append(q.mants, 0)
		}
	case 1: // derived from LL's step size
		if len(s) < 3 {
			return fmt.Errorf("JPEG 2000 quantization segment of %d bytes", len(s))
		}
		q.derived = true
		q.exps, q.mants = []int{int(s[1] >> 3)}, []int{int(binary.BigEndian.Uint16(s[1:]) & 0x7FF)}
	case 2:
		for i := 1; i+1 < len(s); i += 2 {
			q.exps = append(q.exps, int(s[i]>>3))
			q.mants = append(q.mants, int(binary.BigEndian.Uint16(s[i:])&0x7FF))
		}
	default:
		return fmt.Errorf("JPEG 2000 quantization style %d", s[0]&31)
	}
	t.quant = q
	t.haveQCD = true
	return nil
}

// ---- tile structure ----

type j2kSeg struct {
	start, length     int // in the code-block's data
	passes, maxPasses int
	newPasses, newLen int
}

type j2kCblk struct {
	x0, y0, x1, y1 int // band coordinates
	included       bool
	numbps, lblock int
	passes         int
	data           []byte
	segs           []j2kSeg
}

type j2kPrecinct struct {
	cw, ch    int
	cblks     []j2kCblk
	incl, zbp *tagTree
}

type j2kBand struct {
	orient         int // 0 LL, 1 HL, 2 LH, 3 HH
	x0, y0, x1, y1 int
	offX, offY     int     // where the band lies in the tile's coefficient array
	mb             int     // magnitude bitplanes Mb
	step           float64 // quantization step (irreversible)
	prec           []j2kPrecinct
}

type j2kRes struct {
	x0, y0, x1, y1 int
	pw, ph         int
	bands          []j2kBand
}

// j2kDecodeTile decodes one tile into pix (the whole image).
func j2kDecodeTile(img *j2kImage, t *j2kTile, pix []uint16) (bool, error) {
	par := &t.params
	st := &par.style
	p, q := t.idx%img.ntx, t.idx/img.ntx
	tx0 := max(img.tx0+p*img.tw, img.x0)
	ty0 := max(img.ty0+q*img.th, img.y0)
	tx1 := min(img.tx0+(p+1)*img.tw, img.x1)
	ty1 := min(img.ty0+(q+1)*img.th, img.y1)
	cx0, cy0, cx1, cy1 := ceilDiv(tx0, img.dx), ceilDiv(ty0, img.dy), ceilDiv(tx1, img.dx), ceilDiv(ty1, img.dy)
	w, h := cx1-cx0, cy1-cy0
	if w <= 0 || h <= 0 {
		return false, nil
	}
	nl := st.levels
	if !par.quant.derived && len(par.quant.exps) < 3*nl+1 {
		return false, fmt.Errorf("quantization gives %d exponents for %d subbands", len(par.quant.exps), 3*nl+1)
	}
	if err := membudget.Check("JPEG 2000 tile coefficients", membudget.Mul(int64(w), int64(h), 4)); err != nil {
		return false, err
	}
	res := make([]j2kRes, nl+1)
	ncb := int64(0)
	for r := 0; r <= nl; r++ {
		lv := nl - r
		rs := &res[r]
		rs.x0, rs.y0 = ceilDivPow2(cx0, lv), ceilDivPow2(cy0, lv)
		rs.x1, rs.y1 = ceilDivPow2(cx1, lv), ceilDivPow2(cy1, lv)
		ppx, ppy := st.ppx[r], st.ppy[r]
		if rs.x1 > rs.x0 && rs.y1 > rs.y0 {
			rs.pw = ceilDivPow2(rs.x1, ppx) - rs.x0>>ppx
			rs.ph = ceilDivPow2(rs.y1, ppy) - rs.y0>>ppy
		}
		npre := int64(rs.pw) * int64(rs.ph)
		if err := membudget.Check("JPEG 2000 precincts", membudget.Mul(npre, 4*80)); err != nil {
			return false, err
		}
		orients := []int{0}
		if r > 0 {
			orients = []int{1, 2, 3}
		}
		cbw, cbh := min(st.cbw, ppx), min(st.cbh, ppy)
		pbx, pby := ppx, ppy // precinct size in band coordinates
		if r > 0 {
			cbw, cbh = min(st.cbw, ppx-1), min(st.cbh, ppy-1)
			pbx, pby = ppx-1, ppy-1
		}
		for _, o := range orients {
			b := j2kBand{orient: o}
			xob, yob := o&1, o>>1
			if r == 0 {
				b.x0, b.y0, b.x1, b.y1 = rs.x0, rs.y0, rs.x1, rs.y1
			} else {
				nb := lv + 1
				b.x0, b.y0 = ceilDivPow2(cx0-xob<<lv, nb), ceilDivPow2(cy0-yob<<lv, nb)
				b.x1, b.y1 = ceilDivPow2(cx1-xob<<lv, nb), ceilDivPow2(cy1-yob<<lv, nb)
				if xob == 1 {
					b.offX = res[r-1].x1 - res[r-1].x0
				}
				if yob == 1 {
					b.offY = res[r-1].y1 - res[r-1].y0
				}
			}
			qi := 0
			if r > 0 {
				qi = 3*(r-1) + o
			}
			var eps, mu int
			if par.quant.derived {
				// T.800 E.1.1.2: the exponent grows with each level.
				n := nl
				if r > 0 {
					n = lv + 1
				}
				eps, mu = par.quant.exps[0]-nl+n, par.quant.mants[0]
			} else {
				eps, mu = par.quant.exps[qi], par.quant.mants[qi]
			}
			b.mb = par.quant.guard + eps - 1
			if b.mb > 30 || eps < 0 {
				return false, fmt.Errorf("subband with %d magnitude bitplanes (0 to 30 supported)", b.mb)
			}
			// Nominal range: precision plus the band's log2 gain (Table E.1).
			gain := []int{0, 1, 1, 2}[o]
			b.step = math.Ldexp(1+float64(mu)/2048, img.prec+gain-eps)
			b.prec = make([]j2kPrecinct, npre)
			// Precinct grid origin in band coordinates.
			gx0, gy0 := (rs.x0>>ppx)<<pbx, (rs.y0>>ppy)<<pby
			for pi := range b.prec {
				px0 := gx0 + (pi%rs.pw)<<pbx
				py0 := gy0 + (pi/rs.pw)<<pby
				px0, py0, px1, py1 := max(px0, b.x0), max(py0, b.y0), min(px0+1<<pbx, b.x1), min(py0+1<<pby, b.y1)
				if px1 <= px0 || py1 <= py0 {
					continue
				}
				pr := &b.prec[pi]
				cbx0, cby0 := px0>>cbw, py0>>cbh
				pr.cw, pr.ch = ceilDivPow2(px1, cbw)-cbx0, ceilDivPow2(py1, cbh)-cby0
				ncb += int64(pr.cw) * int64(pr.ch)
				if err := membudget.Check("JPEG 2000 code-blocks", membudget.Mul(ncb, 200)); err != nil {
					return false, err
				}
				pr.cblks = make([]j2kCblk, pr.cw*pr.ch)
				for i := range pr.cblks {
					c := &pr.cblks[i]
					x, y := (cbx0+i%pr.cw)<<cbw, (cby0+i/pr.cw)<<cbh
					c.x0, c.y0, c.x1, c.y1 = max(x, px0), max(y, py0), min(x+1<<cbw, px1), min(y+1<<cbh, py1)
				}
				pr.incl, pr.zbp = newTagTree(pr.cw, pr.ch), newTagTree(pr.cw, pr.ch)
			}
			rs.bands = append(rs.bands, b)
		}
	}
	if err := j2kPackets(img, t, res, tx0, ty0); err != nil {
		return false, err
	}
	coef := make([]int32, w*h)
	var fcoef []float32
	if !st.reversible {
		fcoef = make([]float32, w*h)
	}
	var t1 t1Decoder
	lossy := !st.reversible
	for r := range res {
		for bi := range res[r].bands {
			b := &res[r].bands[bi]
			for pi := range b.prec {
				for ci := range b.prec[pi].cblks {
					c := &b.prec[pi].cblks[ci]
					l, err := t1.decode(c, b.orient, st.cbStyle, st.reversible)
					if err != nil {
						return false, err
					}
					lossy = lossy || l
					cw := c.x1 - c.x0
					for y := c.y0; y < c.y1; y++ {
						o := (y-b.y0+b.offY)*w + b.offX + c.x0 - b.x0
						src := t1.out[(y-c.y0)*cw : (y-c.y0+1)*cw]
						if fcoef == nil {
							copy(coef[o:o+cw], src)
							continue
						}
						// Dequantize: t1.out is in half steps.
						for x, v := range src {
							fcoef[o+x] = float32(float64(v) * b.step / 2)
						}
					}
				}
			}
		}
	}
	if fcoef == nil {
		j2kInverse53(coef, w, h, res)
	} else {
		j2kInverse97(fcoef, w, h, res)
		for i, v := range fcoef {
			// Rounded in float64: a forged step can exceed int32.
			coef[i] = int32(min(max(math.RoundToEven(float64(v)), -1<<30), 1<<30))
		}
	}
	// DC level shift, clamp to the precision, place in the image.
	lo, hi := int32(0), int32(1)<<img.prec-1
	shift := int32(1) << (img.prec - 1)
	if img.signed {
		lo, hi, shift = -shift, shift-1, 0
	}
	for y := 0; y < h; y++ {
		o := (cy0+y-img.compY0)*img.cw + cx0 - img.compX0
		for x, v := range coef[y*w : (y+1)*w] {
			v = min(max(v+shift, lo), hi)
			pix[o+x] = uint16(v)
		}
	}
	return lossy, nil
}

func ceilDivPow2(a, n int) int { return (a + 1<<n - 1) >> n }

// j2kPackets reads every packet of a tile in its progression order and
// hands each code-block its data.
func j2kPackets(img *j2kImage, t *j2kTile, res []j2kRes, tx0, ty0 int) error {
	par := &t.params
	br := &j2kBits{d: t.data}
	read := func(l, r, p int) error {
		return j2kPacket(br, par, &res[r], p, l)
	}
	switch par.prog {
	case 0: // LRCP
		for l := 0; l < par.layers; l++ {
			for r := range res {
				for p := 0; p < res[r].pw*res[r].ph; p++ {
					if err := read(l, r, p); err != nil {
						return err
					}
				}
			}
		}
	case 1: // RLCP
		for r := range res {
			for l := 0; l < par.layers; l++ {
				for p := 0; p < res[r].pw*res[r].ph; p++ {
					if err := read(l, r, p); err != nil {
						return err
					}
				}
			}
		}
	default: // RPCL, PCRL, CPRL: ordered by precinct position
		type pk struct{ r, p, x, y int }
		var all []pk
		nl := len(res) - 1
		for r := range res {
			rs := &res[r]
			ppx, ppy := par.style.ppx[r], par.style.ppy[r]
			lv := nl - r
			for p := 0; p < rs.pw*rs.ph; p++ {
				// The precinct's upper-left corner on the reference
				// grid, clipped to the tile.
				x := ((rs.x0>>ppx + p%rs.pw) << ppx << lv) * img.dx
				y := ((rs.y0>>ppy + p/rs.pw) << ppy << lv) * img.dy
				all = append(all, pk{r, p, max(x, tx0), max(y, ty0)})
			}
		}
		sort.SliceStable(all, func(i, j int) bool {
			a, b := all[i], all[j]
			if par.prog == 2 && a.r != b.r {
				return a.r < b.r
			}
			if a.y != b.y {
				return a.y < b.y
			}
			if a.x != b.x {
				return a.x < b.x
			}
			return a.r < b.r
		})
		for _, k := range all {
			for l := 0; l < par.layers; l++ {
				if err := read(l, k.r, k.p); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

var errJ2KShort = errors.New("JPEG 2000 tile data ends inside a packet (truncated)")

// j2kBits reads packet header bits: after an 0xFF byte only 7 bits of
// the next byte are used.
type j2kBits struct {
	d    []byte
	pos  int
	last byte
	ct   int
	over bool
}

func (b *j2kBits) bit() int {
	if b.ct == 0 {
		b.ct = 8
		if b.last == 0xFF {
			b.ct = 7
		}
		if b.pos >= len(b.d) {
			b.over = true
			b.last = 0
		} else {
			b.last = b.d[b.pos]
			b.pos++
		}
	}
	b.ct--
	return int(b.last>>b.ct) & 1
}

func (b *j2kBits) bits(n int) int {
	v := 0
	for ; n > 0; n-- {
		v = v<<1 | b.bit()
	}
	return v
}

// align ends a packet header.
func (b *j2kBits) align() {
	if b.last == 0xFF {
		b.pos++
	}
	b.ct, b.last = 0, 0
}

func (b *j2kBits) marker(m byte, n int) {
	if b.pos+1 < len(b.d) && b.d[b.pos] == 0xFF && b.d[b.pos+1] == m {
		b.pos += n
	}
}

// j2kPacket reads one packet: its header, then the bytes it brings to
// each included code-block.
func j2kPacket(br *j2kBits, par *j2kParams, rs *j2kRes, p, layer int) error {
	if par.sop {
		br.marker(0x91, 6)
	}
	br.ct, br.last = 0, 0
	if br.bit() == 0 {
		br.align()
		if par.eph {
			br.marker(0x92, 2)
		}
		if br.over || br.pos > len(br.d) {
			return errJ2KShort
		}
		return nil
	}
	style := par.style.cbStyle
	for bi := range rs.bands {
		pr := &rs.bands[bi].prec[p]
		mb := rs.bands[bi].mb
		for ci := range pr.cblks {
			c := &pr.cblks[ci]
			var in bool
			if !c.included {
				in = pr.incl.decode(br, ci, layer+1)
			} else {
				in = br.bit() == 1
			}
			if br.over {
				return errJ2KShort
			}
			if !in {
				continue
			}
			if !c.included {
				i := 0
				for !pr.zbp.decode(br, ci, i+1) {
					i++
					if i > mb || br.over {
						return fmt.Errorf("code-block with %d missing bitplanes of %d", i, mb)
					}
				}
				c.numbps = mb - i
				c.lblock = 3
				c.included = true
			}
			n := j2kNumPasses(br)
			for br.bit() == 1 && !br.over {
				c.lblock++
			}
			if c.lblock > 32 {
				return fmt.Errorf("code-block length indicator of %d bits", c.lblock)
			}
			if c.passes+n > max(3*c.numbps-2, 0) {
				return fmt.Errorf("code-block with %d coding passes for %d bitplanes", c.passes+n, c.numbps)
			}
			for n > 0 {
				if len(c.segs) == 0 || c.segs[len(c.segs)-1].passes == c.segs[len(c.segs)-1].maxPasses {
					c.segs = append(c.segs, j2kSeg{maxPasses: j2kMaxPasses(style, c.segs)})
				}
				s := &c.segs[len(c.segs)-1]
				s.newPasses = min(s.maxPasses-s.passes, n)
				s.newLen = br.bits(c.lblock + floorLog2(s.newPasses))
				s.passes += s.newPasses
				c.passes += s.newPasses
				n -= s.newPasses
			}
			if br.over {
				return errJ2KShort
			}
		}
	}
	br.align()
	if par.eph {
		br.marker(0x92, 2)
	}
	for bi := range rs.bands {
		pr := &rs.bands[bi].prec[p]
		for ci := range pr.cblks {
			c := &pr.cblks[ci]
			for si := range c.segs {
				s := &c.segs[si]
				if s.newPasses == 0 {
					continue
				}
				if s.newLen > len(br.d)-br.pos {
					return errJ2KShort
				}
				if s.length == 0 {
					s.start = len(c.data)
				}
				c.data = append(c.data, br.d[br.pos:br.pos+s.newLen]...)
				s.length += s.newLen
				br.pos += s.newLen
				s.newPasses, s.newLen = 0, 0
			}
		}
	}
	return nil
}

// j2kMaxPasses is how many passes the next codeword segment holds.
func j2kMaxPasses(style byte, segs []j2kSeg) int {
	switch {
	case style&j2kTermAll != 0:
		return 1
	case style&j2kBypass != 0:
		if len(segs) == 0 {
			return 10
		}
		if m := segs[len(segs)-1].maxPasses; m == 1 || m == 10 {
			return 2
		}
		return 1
	}
	return 1 << 30
}

func j2kNumPasses(br *j2kBits) int {
	if br.bit() == 0 {
		return 1
	}
	if br.bit() == 0 {
		return 2
	}
	if n := br.bits(2); n != 3 {
		return 3 + n
	}
	if n := br.bits(5); n != 31 {
		return 6 + n
	}
	return 37 + br.bits(7)
}

func floorLog2(n int) int {
	l := 0
	for n > 1 {
		n >>= 1
		l++
	}
	return l
}

// tagTree is a T.800 B.10.2 tag tree over w×h leaves.
type tagTree struct {
	value, low []int32
	parent     []int32
}

func newTagTree(w, h int) *tagTree {
	t := &tagTree{}
	n := 0
	type lvl struct{ w, h, start int }
	var ls []lvl
	for {
		ls = append(ls, lvl{w, h, n})
		n += w * h
		if w <= 1 && h <= 1 {
			break
		}
		w, h = (w+1)/2, (h+1)/2
	}
	t.value, t.low, t.parent = make([]int32, n), make([]int32, n), make([]int32, n)
	for i := range t.value {
		t.value[i] = 1 << 30
		t.parent[i] = -1
	}
	for k := 0; k+1 < len(ls); k++ {
		l, up := ls[k], ls[k+1]
		for y := 0; y < l.h; y++ {
			for x := 0; x < l.w; x++ {
				t.parent[l.start+y*l.w+x] = int32(up.start + (y/2)*up.w + x/2)
			}
		}
	}
	return t
}

// decode reads leaf's bits up to threshold and says whether its value is
// below it.
func (t *tagTree) decode(br *j2kBits, leaf, threshold int) bool {
	var stk [40]int32
	n := 0
	for i := int32(leaf); i >= 0; i = t.parent[i] {
		stk[n] = i
		n++
	}
	low := int32(0)
	th := int32(threshold)
	for n > 0 {
		n--
		i := stk[n]
		if low > t.low[i] {
			t.low[i] = low
		} else {
			low = t.low[i]
		}
		for low < th && low < t.value[i] {
			if br.bit() == 1 {
				t.value[i] = low
			} else {
				low++
			}
			if br.over {
				break
			}
		}
		t.low[i] = low
	}
	return t.value[leaf] < th
}
