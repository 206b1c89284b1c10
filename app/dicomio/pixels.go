package dicomio

import (
	"encoding/binary"
	"fmt"
)

// decodeFrame writes frame f of a grayscale instance into out
// (rows*cols values, i fastest), as stored value → modality value:
// the low BitsStored bits, sign-extended when PixelRepresentation is 1
// (the library hands back unsigned words), then slope and intercept.
func (in *instance) decodeFrame(f int, out []float32) error {
	if in.samples != 1 {
		return fmt.Errorf("%s: SamplesPerPixel %d (%s): colour images are not supported", in.path, in.samples, in.photometric)
	}
	n := in.rows * in.cols
	if len(out) != n {
		return fmt.Errorf("%s: frame buffer of %d for %d pixels", in.path, len(out), n)
	}
	var raw []byte
	var order binary.ByteOrder = binary.LittleEndian
	switch {
	case in.syn.rle:
		if f >= len(in.fragments) {
			return fmt.Errorf("%s: frame %d of %d missing", in.path, f+1, len(in.fragments))
		}
		var err error
		raw, err = decodeRLE(in.fragments[f], in.rows, in.cols, in.samples, in.bitsAlloc)
		if err != nil {
			return fmt.Errorf("%s: frame %d: %w", in.path, f+1, err)
		}
	case in.syn.jpeg:
		if f >= len(in.fragments) {
			return fmt.Errorf("%s: frame %d of %d missing", in.path, f+1, len(in.fragments))
		}
		var lossy bool
		var err error
		raw, lossy, err = decodeJPEG(in.fragments[f], in.rows, in.cols, in.samples, in.bitsAlloc)
		if err != nil {
			return fmt.Errorf("%s: frame %d: %w", in.path, f+1, err)
		}
		in.lossy = in.lossy || lossy
	case in.syn.jpegls:
		if f >= len(in.fragments) {
			return fmt.Errorf("%s: frame %d of %d missing", in.path, f+1, len(in.fragments))
		}
		var err error
		raw, err = decodeJPEGLS(in.fragments[f], in.rows, in.cols, in.samples, in.bitsAlloc)
		if err != nil {
			return fmt.Errorf("%s: frame %d: %w", in.path, f+1, err)
		}
	case in.syn.j2k:
		if f >= len(in.fragments) {
			return fmt.Errorf("%s: frame %d of %d missing", in.path, f+1, len(in.fragments))
		}
		var lossy bool
		var err error
		raw, lossy, err = decodeJPEG2000(in.fragments[f], in.rows, in.cols, in.samples, in.bitsAlloc, in.syntaxUID == j2kLossles)
		if err != nil {
			return fmt.Errorf("%s: frame %d: %w", in.path, f+1, err)
		}
		in.lossy = in.lossy || lossy
	default:
		fb := in.frameBytes()
		if (f+1)*fb > len(in.native) {
			return fmt.Errorf("%s: frame %d lies beyond the %d bytes of pixel data", in.path, f+1, len(in.native))
		}
		raw = in.native[f*fb : (f+1)*fb]
		order = in.syn.order
	}
	fi := in.frames[f]
	bits := uint(in.bitsStored)
	mask := uint32(1)<<bits - 1
	if bits == 32 {
		mask = ^uint32(0)
	}
	signBit := uint32(1) << (bits - 1)
	signed := in.pixelRep == 1
	for i := 0; i < n; i++ {
		var u uint32
		switch in.bitsAlloc {
		case 8:
			u = uint32(raw[i])
		case 16:
			u = uint32(order.Uint16(raw[2*i:]))
		case 32:
			u = order.Uint32(raw[4*i:])
		}
		u &= mask
		v := float64(u)
		if signed && u&signBit != 0 {
			v -= float64(uint64(1) << bits)
		}
		out[i] = float32(v*fi.slope + fi.intercept)
	}
	return nil
}
