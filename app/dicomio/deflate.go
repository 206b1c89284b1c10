package dicomio

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"fmt"
	"io"

	"cmrseg/app/membudget"
)

// inflateFile turns a Deflated Explicit VR Little Endian file (PS3.5 A.5)
// into the Explicit VR Little Endian file it encodes: the data set after
// the file meta group is a raw deflate stream (RFC 1951, no zlib header),
// and the meta group's TransferSyntaxUID is rewritten so that the library
// reads the result as plain Explicit VR Little Endian.
//
// Deflate expands up to about 1000-fold, so the output grows in steps,
// each checked against maxFileSize and the memory budget: a deflate bomb
// is refused before it is allocated.
func inflateFile(data []byte, h header) ([]byte, error) {
	if h.tsStart < 144 || h.tsEnd > h.metaEnd || h.metaEnd > len(data) {
		return nil, fmt.Errorf("deflated file without a usable TransferSyntaxUID element")
	}
	ts := []byte{0x02, 0x00, 0x10, 0x00, 'U', 'I', 20, 0}
	ts = append(ts, explicitLE+"\x00"...)
	// The meta group: its length element (12 bytes at 132, checked by
	// checkStructure), the elements before and after the syntax, the new
	// syntax element.
	metaLen := h.metaEnd - 144 - (h.tsEnd - h.tsStart) + len(ts)
	limit := int64(maxFileSize)
	c0 := min(int64(h.metaEnd)+4*int64(len(data)-h.metaEnd)+1024, limit)
	if err := membudget.Check("inflated data set", c0); err != nil {
		return nil, err
	}
	out := make([]byte, 0, c0)
	out = append(out, data[:140]...)
	out = binary.LittleEndian.AppendUint32(out, uint32(metaLen))
	out = append(out, data[144:h.tsStart]...)
	out = append(out, ts...)
	out = append(out, data[h.tsEnd:h.metaEnd]...)

	r := flate.NewReader(bytes.NewReader(data[h.metaEnd:]))
	defer r.Close()
	for {
		if len(out) == cap(out) {
			if int64(len(out)) >= limit {
				return nil, fmt.Errorf("deflated data set inflates to more than %d bytes", limit)
			}
			// The old buffer lives while the new one fills: budget both.
			c := min(2*int64(cap(out)), limit)
			if err := membudget.Check("inflated data set", membudget.Add(int64(cap(out)), c)); err != nil {
				return nil, err
			}
			grown := make([]byte, len(out), c)
			copy(grown, out)
			out = grown
		}
		n, err := r.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("deflated data set: %v", err)
		}
	}
	if len(out) == h.metaEnd-(h.tsEnd-h.tsStart)+len(ts) {
		return nil, fmt.Errorf("deflated data set is empty")
	}
	return out, nil
}
