package dicomio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
)

// decodeJPEG decodes one encapsulated JPEG frame into little-endian native
// bytes, samples interleaved per pixel (the layout of an Explicit VR Little
// Endian frame). Lossless frames (SOF3, ITU-T T.81 Annex H) are decoded
// here; 8-bit DCT frames (SOF0, SOF1, SOF2) go to image/jpeg and are
// reported as lossy. The codestream's own header decides, not the transfer
// syntax, because some writers label one process as another.
func decodeJPEG(frame []byte, rows, cols, samples, bitsAlloc int) (raw []byte, lossy bool, err error) {
	sof, err := jpegSOF(frame)
	if err != nil {
		return nil, false, err
	}
	switch sof {
	case 0xC3:
		pix, prec, err := decodeLossless(frame, rows, cols, samples)
		if err != nil {
			return nil, false, err
		}
		if prec > bitsAlloc {
			return nil, false, fmt.Errorf("JPEG precision %d bits does not fit BitsAllocated %d", prec, bitsAlloc)
		}
		return packSamples(pix, bitsAlloc), false, nil
	case 0xC0, 0xC1, 0xC2:
		raw, err := decodeDCT(frame, rows, cols, samples, bitsAlloc)
		return raw, true, err
	case 0xC5, 0xC6, 0xC7:
		return nil, false, fmt.Errorf("hierarchical JPEG (SOF%d) is not supported", sof-0xC0)
	default:
		return nil, false, fmt.Errorf("arithmetic-coded JPEG (SOF%d) is not supported", sof-0xC0)
	}
}

// jpegSOF returns the start-of-frame marker of a JPEG stream, walking the
// marker segments that precede it.
func jpegSOF(d []byte) (byte, error) {
	if len(d) < 4 || d[0] != 0xFF || d[1] != 0xD8 {
		return 0, fmt.Errorf("JPEG frame does not start with an SOI marker")
	}
	p := 2
	for {
		m, np, err := nextMarker(d, p)
		if err != nil {
			return 0, err
		}
		p = np
		switch {
		case m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC:
			return m, nil
		case m == 0xD9 || m == 0xDA:
			return 0, fmt.Errorf("JPEG frame has no start-of-frame marker")
		case m >= 0xD0 && m <= 0xD8 || m == 0x01:
			continue
		}
		_, np, err = segment(d, p)
		if err != nil {
			return 0, err
		}
		p = np
	}
}

// nextMarker expects a marker at d[p] (after any 0xFF fill bytes) and
// returns it with the position after it.
func nextMarker(d []byte, p int) (byte, int, error) {
	if p >= len(d) || d[p] != 0xFF {
		return 0, p, fmt.Errorf("JPEG stream: expected a marker at byte %d", p)
	}
	for p < len(d) && d[p] == 0xFF {
		p++
	}
	if p >= len(d) {
		return 0, p, fmt.Errorf("JPEG stream ends inside a marker")
	}
	if d[p] == 0 {
		return 0, p, fmt.Errorf("JPEG stream: stuffed byte where a marker must be (byte %d)", p)
	}
	return d[p], p + 1, nil
}

// segment returns the payload of the marker segment whose length field
// is at d[p], and the position after it.
func segment(d []byte, p int) ([]byte, int, error) {
	if p+2 > len(d) {
		return nil, p, fmt.Errorf("JPEG stream ends inside a marker segment at byte %d", p)
	}
	l := int(binary.BigEndian.Uint16(d[p:]))
	if l < 2 || p+l > len(d) {
		return nil, p, fmt.Errorf("JPEG marker segment at byte %d declares %d bytes, %d remain", p, l, len(d)-p)
	}
	return d[p+2 : p+l], p + l, nil
}

// decodeDCT decodes an 8-bit grayscale DCT frame with image/jpeg.
func decodeDCT(frame []byte, rows, cols, samples, bitsAlloc int) ([]byte, error) {
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(frame))
	if err != nil {
		return nil, fmt.Errorf("JPEG: %v", err)
	}
	if cfg.Width != cols || cfg.Height != rows {
		return nil, fmt.Errorf("JPEG frame is %d×%d, the DICOM header says %d×%d", cfg.Width, cfg.Height, cols, rows)
	}
	if samples != 1 || cfg.ColorModel != colorGray {
		return nil, fmt.Errorf("lossy JPEG with %d samples per pixel: only grayscale is supported", samples)
	}
	// A DCT block costs at least 2 bits (a DC code and an end-of-block),
	// so a frame cannot describe more than 256 pixels per byte: refuse
	// forged sizes before image/jpeg allocates them.
	if int64(rows)*int64(cols) > 256*int64(len(frame))+(1<<16) {
		return nil, fmt.Errorf("JPEG frame of %d bytes cannot hold %d×%d pixels", len(frame), cols, rows)
	}
	img, err := jpeg.Decode(bytes.NewReader(frame))
	if err != nil {
		return nil, fmt.Errorf("JPEG: %v", err)
	}
	g, ok := img.(*image.Gray)
	if !ok {
		return nil, fmt.Errorf("JPEG decoded to %T, want grayscale", img)
	}
	pix := make([]uint16, rows*cols)
	for y := 0; y < rows; y++ {
		for x := 0; x < cols; x++ {
			pix[y*cols+x] = uint16(g.Pix[y*g.Stride+x])
		}
	}
	return packSamples(pix, bitsAlloc), nil
}

var colorGray = image.NewGray(image.Rect(0, 0, 1, 1)).ColorModel()

// packSamples writes samples as little-endian words of bitsAlloc bits.
func packSamples(pix []uint16, bitsAlloc int) []byte {
	switch bitsAlloc {
	case 8:
		out := make([]byte, len(pix))
		for i, v := range pix {
			out[i] = byte(v)
		}
		return out
	case 16:
		out := make([]byte, 2*len(pix))
		for i, v := range pix {
			binary.LittleEndian.PutUint16(out[2*i:], v)
		}
		return out
	default:
		out := make([]byte, 4*len(pix))
		for i, v := range pix {
			binary.LittleEndian.PutUint32(out[4*i:], uint32(v))
		}
		return out
	}
}

// ---- Lossless JPEG (process 14, ITU-T T.81 Annex H) ----

type llComponent struct {
	id, h, v int
	done     bool
}

type llDecoder struct {
	d         []byte
	width     int
	height    int
	prec      int
	comps     []llComponent
	restart   int // MCUs per restart interval, 0: none
	tables    [4]*huffTable
	pix       []uint16 // interleaved samples, before the point transform
	haveFrame bool
}

// decodeLossless decodes a SOF3 frame that must be cols×rows with samples
// components; it returns the samples, interleaved per pixel, and the
// precision.
func decodeLossless(d []byte, rows, cols, samples int) ([]uint16, int, error) {
	if len(d) < 4 || d[0] != 0xFF || d[1] != 0xD8 {
		return nil, 0, fmt.Errorf("JPEG frame does not start with an SOI marker")
	}
	dec := &llDecoder{d: d}
	p := 2
	for {
		if p >= len(d) {
			break // a missing EOI is tolerated once every component is decoded
		}
		m, np, err := nextMarker(d, p)
		if err != nil {
			return nil, 0, err
		}
		p = np
		if m == 0xD9 {
			break
		}
		if m >= 0xD0 && m <= 0xD8 || m == 0x01 {
			continue // stray RST, SOI or TEM: no payload
		}
		seg, np, err := segment(d, p)
		if err != nil {
			return nil, 0, err
		}
		p = np
		switch m {
		case 0xC4:
			if err := dec.readDHT(seg); err != nil {
				return nil, 0, err
			}
		case 0xC3:
			if err := dec.readSOF(seg, rows, cols, samples); err != nil {
				return nil, 0, err
			}
		case 0xDD:
			if len(seg) != 2 {
				return nil, 0, fmt.Errorf("JPEG DRI segment of %d bytes", len(seg))
			}
			dec.restart = int(binary.BigEndian.Uint16(seg))
		case 0xDA:
			if p, err = dec.scan(seg, p); err != nil {
				return nil, 0, err
			}
		case 0xDC:
			return nil, 0, fmt.Errorf("JPEG DNL marker (line count after the scan) is not supported")
		default:
			if m >= 0xC0 && m <= 0xCF && m != 0xC8 && m != 0xCC {
				return nil, 0, fmt.Errorf("JPEG frame has a second start-of-frame marker (SOF%d)", m-0xC0)
			}
			// APPn, COM, DQT and the like carry nothing for us.
		}
	}
	if !dec.haveFrame {
		return nil, 0, fmt.Errorf("JPEG frame has no SOF3 header")
	}
	for _, c := range dec.comps {
		if !c.done {
			return nil, 0, fmt.Errorf("JPEG component %d has no scan", c.id)
		}
	}
	return dec.pix, dec.prec, nil
}

func (dec *llDecoder) readSOF(s []byte, rows, cols, samples int) error {
	if dec.haveFrame {
		return fmt.Errorf("JPEG frame has two SOF headers")
	}
	if len(s) < 6 {
		return fmt.Errorf("JPEG SOF3 segment of %d bytes", len(s))
	}
	dec.prec = int(s[0])
	dec.height = int(binary.BigEndian.Uint16(s[1:]))
	dec.width = int(binary.BigEndian.Uint16(s[3:]))
	n := int(s[5])
	if dec.prec < 2 || dec.prec > 16 {
		return fmt.Errorf("JPEG lossless precision %d (2 to 16 allowed)", dec.prec)
	}
	if dec.height == 0 {
		return fmt.Errorf("JPEG frame defers its line count to a DNL marker, which is not supported")
	}
	if dec.width != cols || dec.height != rows || n != samples {
		return fmt.Errorf("JPEG frame is %d×%d with %d components, the DICOM header says %d×%d with %d samples",
			dec.width, dec.height, n, cols, rows, samples)
	}
	if len(s) != 6+3*n || n == 0 {
		return fmt.Errorf("JPEG SOF3 segment of %d bytes for %d components", len(s), n)
	}
	for i := 0; i < n; i++ {
		c := llComponent{id: int(s[6+3*i]), h: int(s[7+3*i] >> 4), v: int(s[7+3*i] & 15)}
		if n > 1 && (c.h != 1 || c.v != 1) {
			return fmt.Errorf("JPEG component %d is subsampled (%d×%d): not supported", c.id, c.h, c.v)
		}
		for _, o := range dec.comps {
			if o.id == c.id {
				return fmt.Errorf("JPEG component id %d appears twice", c.id)
			}
		}
		dec.comps = append(dec.comps, c)
	}
	// Every sample needs at least one bit of entropy-coded data (the
	// decoder never invents data past the end), so the frame must hold
	// width×height×n bits: refuse forged sizes before allocating.
	if int64(dec.width)*int64(dec.height)*int64(n) > 8*int64(len(dec.d)) {
		return fmt.Errorf("JPEG frame of %d bytes cannot hold %d×%d×%d samples", len(dec.d), dec.width, dec.height, n)
	}
	dec.pix = make([]uint16, dec.width*dec.height*n)
	dec.haveFrame = true
	return nil
}

// huffTable decodes one DC Huffman table (T.81 Annex C and F.2.2.3).
type huffTable struct {
	fast    [1 << fastBits]uint16 // code length<<8 | value; 0: longer code
	maxcode [18]int32             // largest code of each length, -1: none
	valptr  [17]int32
	mincode [17]int32
	vals    []byte
}

const fastBits = 9

func (dec *llDecoder) readDHT(s []byte) error {
	for len(s) > 0 {
		if len(s) < 17 {
			return fmt.Errorf("JPEG DHT segment truncated")
		}
		class, id := s[0]>>4, s[0]&15
		if class != 0 || id > 3 {
			return fmt.Errorf("JPEG Huffman table class %d id %d (lossless uses DC tables 0-3)", class, id)
		}
		t := &huffTable{}
		total := 0
		for l := 1; l <= 16; l++ {
			total += int(s[l])
		}
		if total > 256 || len(s) < 17+total {
			return fmt.Errorf("JPEG Huffman table %d declares %d codes in a %d-byte segment", id, total, len(s))
		}
		t.vals = append([]byte(nil), s[17:17+total]...)
		for _, v := range t.vals {
			if v > 16 {
				return fmt.Errorf("JPEG Huffman table %d has difference category %d (16 at most)", id, v)
			}
		}
		code, k := int32(0), 0
		for l := 1; l <= 16; l++ {
			n := int(s[l])
			t.valptr[l] = int32(k)
			t.mincode[l] = code
			t.maxcode[l] = -1
			if int(code)+n > 1<<l {
				return fmt.Errorf("JPEG Huffman table %d is over-subscribed at length %d", id, l)
			}
			if n > 0 {
				for i := 0; i < n; i++ {
					if l <= fastBits {
						shift := fastBits - l
						base := int(code) << shift
						for j := 0; j < 1<<shift; j++ {
							t.fast[base+j] = uint16(l)<<8 | uint16(t.vals[k])
						}
					}
					code++
					k++
				}
				t.maxcode[l] = code - 1
			}
			code <<= 1
		}
		t.maxcode[17] = 1<<31 - 1 // sentinel
		dec.tables[id] = t
		s = s[17+total:]
	}
	return nil
}

// bitReader reads entropy-coded data: stuffed 0xFF00 is a data byte 0xFF,
// any other marker ends the data. Past the end it supplies zero bytes and
// counts them, so that running out of data can be reported instead of
// decoding invented samples.
type bitReader struct {
	d      []byte
	pos    int
	acc    uint64 // valid bits at the top
	n      uint
	marker byte // marker that ended the data, 0 while none
	fake   int  // zero bytes supplied past the end
}

func (b *bitReader) fill() {
	for b.n <= 56 {
		var c byte
		switch {
		case b.marker != 0 || b.pos >= len(b.d):
			b.fake++
		case b.d[b.pos] != 0xFF:
			c = b.d[b.pos]
			b.pos++
		case b.pos+1 >= len(b.d):
			b.pos = len(b.d)
			b.fake++
		case b.d[b.pos+1] == 0x00:
			c = 0xFF
			b.pos += 2
		case b.d[b.pos+1] == 0xFF:
			b.pos++ // fill byte before a marker
			continue
		default:
			b.marker = b.d[b.pos+1]
			b.pos += 2
			b.fake++
		}
		b.acc |= uint64(c) << (56 - b.n)
		b.n += 8
	}
}

// overrun says whether bits past the end of the data were consumed.
func (b *bitReader) overrun() bool { return uint(b.fake)*8 > b.n }

func (b *bitReader) decode(t *huffTable) (int, error) {
	if b.n < 32 {
		b.fill()
	}
	if e := t.fast[b.acc>>(64-fastBits)]; e != 0 {
		b.acc <<= e >> 8
		b.n -= uint(e >> 8)
		return int(e & 0xFF), nil
	}
	code := int32(b.acc >> (64 - fastBits))
	l := fastBits
	for ; l <= 16; l++ {
		if code <= t.maxcode[l] {
			break
		}
		code = int32(b.acc >> (63 - l))
	}
	if l > 16 {
		return 0, fmt.Errorf("invalid Huffman code")
	}
	b.acc <<= uint(l)
	b.n -= uint(l)
	return int(t.vals[t.valptr[l]+code-t.mincode[l]]), nil
}

// diff reads the additional bits of a difference of category s (T.81
// Table H.2; category 16 is 32768 without additional bits).
func (b *bitReader) diff(s int) int {
	switch s {
	case 0:
		return 0
	case 16:
		return 32768
	}
	v := int(b.acc >> (64 - uint(s)))
	b.acc <<= uint(s)
	b.n -= uint(s)
	if v < 1<<(s-1) {
		v += 1 - 1<<s
	}
	return v
}

// restartAt consumes the RSTn marker that must follow a restart interval.
func (b *bitReader) restartAt() error {
	if b.marker == 0 {
		// Skip what is left of the interval (padding) up to the marker.
		for b.pos+1 < len(b.d) && !(b.d[b.pos] == 0xFF && b.d[b.pos+1] != 0 && b.d[b.pos+1] != 0xFF) {
			b.pos++
		}
		if b.pos+1 >= len(b.d) {
			return fmt.Errorf("restart marker missing")
		}
		b.marker = b.d[b.pos+1]
		b.pos += 2
	}
	if b.marker < 0xD0 || b.marker > 0xD7 {
		return fmt.Errorf("marker %#02x where a restart marker must be", b.marker)
	}
	b.marker, b.fake, b.acc, b.n = 0, 0, 0, 0
	return nil
}

var errTruncated = errors.New("entropy-coded data ends early (truncated frame)")

// scan decodes one scan whose header is s and whose data starts at d[p];
// it returns where the next marker begins.
func (dec *llDecoder) scan(s []byte, p int) (int, error) {
	if !dec.haveFrame {
		return p, fmt.Errorf("JPEG scan before the SOF3 header")
	}
	if len(s) < 1 {
		return p, fmt.Errorf("JPEG SOS segment is empty")
	}
	ns := int(s[0])
	if ns < 1 || ns > 4 || len(s) != 4+2*ns {
		return p, fmt.Errorf("JPEG SOS segment of %d bytes for %d components", len(s), ns)
	}
	nf := len(dec.comps)
	idx := make([]int, ns) // component index in the frame
	tabs := make([]*huffTable, ns)
	for i := 0; i < ns; i++ {
		cid, td := int(s[1+2*i]), int(s[2+2*i]>>4)
		idx[i] = -1
		for j, c := range dec.comps {
			if c.id == cid {
				idx[i] = j
			}
		}
		if idx[i] < 0 {
			return p, fmt.Errorf("JPEG scan names component %d, which the frame lacks", cid)
		}
		if dec.comps[idx[i]].done {
			return p, fmt.Errorf("JPEG component %d is in two scans", cid)
		}
		dec.comps[idx[i]].done = true
		if td > 3 || dec.tables[td] == nil {
			return p, fmt.Errorf("JPEG scan uses Huffman table %d, which is not defined", td)
		}
		tabs[i] = dec.tables[td]
	}
	psv, pt := int(s[1+2*ns]), int(s[3+2*ns]&15)
	if psv < 1 || psv > 7 {
		return p, fmt.Errorf("JPEG lossless predictor %d (1 to 7 allowed)", psv)
	}
	if pt >= dec.prec {
		return p, fmt.Errorf("JPEG point transform %d with precision %d", pt, dec.prec)
	}
	w, h := dec.width, dec.height
	if dec.restart > 0 && dec.restart%w != 0 {
		return p, fmt.Errorf("JPEG restart interval %d is not a whole number of lines of %d", dec.restart, w)
	}
	br := &bitReader{d: dec.d, pos: p}
	pix := dec.pix
	initial := 1 << (dec.prec - pt - 1)
	rowsPerInterval := 0
	if dec.restart > 0 {
		rowsPerInterval = dec.restart / w
	}
	first := true
	for y := 0; y < h; y++ {
		if rowsPerInterval > 0 && y > 0 && y%rowsPerInterval == 0 {
			if br.overrun() {
				return p, fmt.Errorf("JPEG line %d: %w", y, errTruncated)
			}
			if err := br.restartAt(); err != nil {
				return p, fmt.Errorf("JPEG line %d: %w", y+1, err)
			}
			first = true
		}
		row := y * w * nf
		up := row - w*nf
		for x := 0; x < w; x++ {
			for i, c := range idx {
				s, err := br.decode(tabs[i])
				if err != nil {
					return p, fmt.Errorf("JPEG line %d, column %d: %w", y+1, x+1, err)
				}
				o := row + x*nf + c
				var pred int
				switch {
				case first && x == 0:
					pred = initial
				case first:
					pred = int(pix[o-nf])
				case x == 0:
					pred = int(pix[o-w*nf])
				default:
					ra, rb, rc := int(pix[o-nf]), int(pix[up+x*nf+c]), int(pix[up+(x-1)*nf+c])
					switch psv {
					case 1:
						pred = ra
					case 2:
						pred = rb
					case 3:
						pred = rc
					case 4:
						pred = ra + rb - rc
					case 5:
						pred = ra + (rb-rc)>>1
					case 6:
						pred = rb + (ra-rc)>>1
					case 7:
						pred = (ra + rb) >> 1
					}
				}
				pix[o] = uint16(pred + br.diff(s))
			}
		}
		first = false
		if br.overrun() {
			return p, fmt.Errorf("JPEG line %d: %w", y+1, errTruncated)
		}
	}
	if pt > 0 {
		for _, c := range idx {
			for o := c; o < len(pix); o += nf {
				pix[o] <<= uint(pt)
			}
		}
	}
	// Continue after the scan: at the marker that ended it, or at the
	// next one after any padding.
	if br.marker != 0 {
		return br.pos - 2, nil
	}
	q := br.pos
	for q+1 < len(dec.d) && !(dec.d[q] == 0xFF && dec.d[q+1] != 0 && dec.d[q+1] != 0xFF) {
		q++
	}
	return q, nil
}
