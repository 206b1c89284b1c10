package dicomio

import (
	"encoding/binary"
	"fmt"
)

// splitFrames groups the fragments of encapsulated JPEG pixel data into
// frames (PS3.5 A.4): one fragment per frame when the counts agree, all
// fragments for a single frame, else by the basic offset table, else by
// the SOI (JPEG) or SOC (JPEG 2000) marker that starts each frame.
func splitFrames(frags [][]byte, bot []byte, nFrames int) ([][]byte, error) {
	if len(frags) == nFrames {
		return frags, nil
	}
	if len(frags) == 0 {
		return nil, fmt.Errorf("encapsulated pixel data has no fragments for %d frames", nFrames)
	}
	if nFrames == 1 {
		return [][]byte{join(frags)}, nil
	}
	if len(bot) > 0 {
		if len(bot) != 4*nFrames {
			return nil, fmt.Errorf("basic offset table of %d bytes for %d frames", len(bot), nFrames)
		}
		// Offsets count from the first fragment's item tag: 8 bytes of
		// item header per fragment.
		start := map[uint32]int{}
		off := uint32(0)
		for i, f := range frags {
			start[off] = i
			off += 8 + uint32(len(f))
		}
		out := make([][]byte, nFrames)
		next := len(frags)
		for k := nFrames - 1; k >= 0; k-- {
			i, ok := start[binary.LittleEndian.Uint32(bot[4*k:])]
			if !ok || i >= next || (k == 0 && i != 0) {
				return nil, fmt.Errorf("basic offset table entry %d (%d) does not start a fragment in order", k+1, binary.LittleEndian.Uint32(bot[4*k:]))
			}
			out[k] = join(frags[i:next])
			next = i
		}
		return out, nil
	}
	var out [][][]byte
	for _, f := range frags {
		if len(out) == 0 || len(f) >= 2 && f[0] == 0xFF && (f[1] == 0xD8 || f[1] == 0x4F) {
			out = append(out, nil)
		}
		out[len(out)-1] = append(out[len(out)-1], f)
	}
	if len(out) != nFrames {
		return nil, fmt.Errorf("encapsulated pixel data holds %d JPEG frames in %d fragments, the header says %d frames", len(out), len(frags), nFrames)
	}
	res := make([][]byte, nFrames)
	for i, fs := range out {
		res[i] = join(fs)
	}
	return res, nil
}

func join(frags [][]byte) []byte {
	if len(frags) == 1 {
		return frags[0]
	}
	n := 0
	for _, f := range frags {
		n += len(f)
	}
	out := make([]byte, 0, n)
	for _, f := range frags {
		out = append(out, f...)
	}
	return out
}
