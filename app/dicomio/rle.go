package dicomio

import (
	"encoding/binary"
	"fmt"
)

// decodeRLE decodes one RLE Lossless frame (DICOM PS3.5 Annex G) into
// little-endian native bytes with samples interleaved per pixel (planar
// configuration 0), the layout of an Explicit VR Little Endian frame.
//
// The frame starts with a 64-byte header: the segment count and fifteen
// segment offsets. There is one segment per byte of each sample, most
// significant byte first, sample by sample; each segment is a PackBits
// byte stream of rows*cols bytes.
func decodeRLE(frame []byte, rows, cols, samples, bitsAlloc int) ([]byte, error) {
	if len(frame) < 64 {
		return nil, fmt.Errorf("RLE frame of %d bytes is shorter than its 64-byte header", len(frame))
	}
	bps := bitsAlloc / 8
	if bitsAlloc%8 != 0 || bps < 1 || bps > 4 {
		return nil, fmt.Errorf("RLE with BitsAllocated %d is not supported", bitsAlloc)
	}
	nseg := int(binary.LittleEndian.Uint32(frame))
	if want := samples * bps; nseg != want {
		return nil, fmt.Errorf("RLE frame has %d segments, %d samples × %d bytes need %d", nseg, samples, bps, want)
	}
	if nseg > 15 {
		return nil, fmt.Errorf("RLE frame needs %d segments, the format allows 15", nseg)
	}
	n := rows * cols
	// PackBits expands at most 64-fold (2 bytes -> 128), so a header that
	// asks for more than that is forged or truncated: refuse before
	// allocating the output.
	if int64(n)*int64(nseg) > 64*int64(len(frame)) {
		return nil, fmt.Errorf("RLE frame of %d bytes cannot hold %d×%d pixels × %d segments", len(frame), cols, rows, nseg)
	}
	offs := make([]int, nseg+1)
	for s := 0; s < nseg; s++ {
		offs[s] = int(binary.LittleEndian.Uint32(frame[4+4*s:]))
	}
	offs[nseg] = len(frame)
	out := make([]byte, n*nseg)
	seg := make([]byte, 0, n)
	for s := 0; s < nseg; s++ {
		a, b := offs[s], offs[s+1]
		if a < 64 || a > b || b > len(frame) {
			return nil, fmt.Errorf("RLE segment %d has invalid offsets %d..%d in a %d-byte frame", s+1, a, b, len(frame))
		}
		var err error
		seg, err = unpackBits(seg[:0], frame[a:b], n)
		if err != nil {
			return nil, fmt.Errorf("RLE segment %d: %w", s+1, err)
		}
		// Segment s holds byte (bps-1-s%bps) (little-endian position) of
		// sample s/bps.
		sample, byteIdx := s/bps, bps-1-s%bps
		stride := nseg
		o := sample*bps + byteIdx
		for i, v := range seg {
			out[o+i*stride] = v
		}
	}
	return out, nil
}

// unpackBits decodes a PackBits stream until n bytes are produced. Extra
// input after that (segments are padded to even length) is ignored; too
// little is an error.
func unpackBits(dst, src []byte, n int) ([]byte, error) {
	for i := 0; i < len(src) && len(dst) < n; {
		c := int(int8(src[i]))
		i++
		switch {
		case c >= 0: // literal run of c+1 bytes
			l := c + 1
			if i+l > len(src) {
				return dst, fmt.Errorf("literal run of %d bytes past the end of the segment", l)
			}
			dst = append(dst, src[i:i+min(l, n-len(dst))]...)
			i += l
		case c != -128: // replicate the next byte 1-c times
			if i >= len(src) {
				return dst, fmt.Errorf("replicate run past the end of the segment")
			}
			for k := min(1-c, n-len(dst)); k > 0; k-- {
				dst = append(dst, src[i])
			}
			i++
		}
	}
	if len(dst) < n {
		return dst, fmt.Errorf("decodes to %d bytes, %d expected", len(dst), n)
	}
	return dst[:n], nil
}
