package dicomio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/suyashkumar/dicom/pkg/tag"
)

// The guard walks a file's element structure exactly the way
// suyashkumar/dicom v1.0.7 will, before it is called. That library allocates
// a value's buffer from the declared length before reading it (a forged
// length of 0xFFFFFFF0 asks for 4 GiB), recurses once per nested sequence,
// and panics on some malformed sequences. The guard rejects every length
// that does not fit in what is left of its container, undefined lengths on
// values that need a defined one, and nesting deeper than maxDepth, so the
// library only ever sees files whose allocations are bounded by their size.

// maxDepth bounds sequence/item nesting; real files use well under 10.
const maxDepth = 64

// errStop marks a place where the library ends or fails by itself without
// allocating anything (a truncated header); the guard stops checking there.
var errStop = errors.New("stop")

type guard struct {
	b        []byte
	pos      int
	order    binary.ByteOrder
	implicit bool
	valStart int    // where the last element's value began
	bot      []byte // the top-level pixel data's basic offset table
}

// header is what the guard learned from the file meta group.
type header struct {
	syntaxUID string // "" when the meta group has none
	// metaEnd is where the data set begins; tsStart..tsEnd is the
	// TransferSyntaxUID element (both 0 when absent).
	metaEnd, tsStart, tsEnd int
	// bot is the basic offset table of encapsulated pixel data (nil when
	// empty or native).
	bot []byte
}

// checkStructure validates data (a whole Part 10 file) and returns its
// transfer syntax. The returned error says what is wrong and where.
func checkStructure(data []byte) (header, syntax, error) {
	var h header
	if len(data) < 132 || string(data[128:132]) != "DICM" {
		return h, syntax{}, errNotDICOM
	}
	g := &guard{b: data, pos: 132, order: binary.LittleEndian}
	// The library requires (0002,0000) first and trusts its value as the
	// meta group's length.
	t, vr, vl, err := g.head(len(data))
	if err != nil {
		return h, syntax{}, fmt.Errorf("file meta information: truncated")
	}
	if t != tag.FileMetaInformationGroupLength || vr != "UL" || vl != 4 || len(data)-g.pos < 4 {
		return h, syntax{}, fmt.Errorf("file meta information: first element is %v %s, want (0002,0000) UL group length", t, vr)
	}
	metaLen := int(binary.LittleEndian.Uint32(data[g.pos:]))
	g.pos += 4
	metaEnd := g.pos + metaLen
	if metaLen < 0 || metaEnd > len(data) || metaEnd < g.pos {
		return h, syntax{}, fmt.Errorf("file meta information: group length %d exceeds the file", metaLen)
	}
	for g.pos < metaEnd {
		start := g.pos
		t, err := g.element(metaEnd, 0)
		if err == errStop {
			return h, syntax{}, fmt.Errorf("file meta information: truncated element at byte %d", start)
		}
		if err != nil {
			return h, syntax{}, fmt.Errorf("file meta information: %w", err)
		}
		if t == tag.TransferSyntaxUID {
			h.syntaxUID = valueString(data[g.valStart:g.pos])
			h.tsStart, h.tsEnd = start, g.pos
		}
	}
	g.pos = metaEnd
	h.metaEnd = metaEnd

	// Like the library, assume Implicit VR Little Endian when the meta group
	// does not name a syntax.
	uid := h.syntaxUID
	if uid == "" {
		uid = implicitLE
	}
	syn, err := lookupSyntax(uid)
	if err != nil {
		return h, syn, err
	}
	if syn.deflated {
		return h, syn, nil // the caller inflates the data set and checks again
	}
	g.order, g.implicit = syn.order, syn.implicit
	for g.pos < len(data) {
		if _, err := g.element(len(data), 0); err != nil {
			if err == errStop {
				break
			}
			return h, syn, err
		}
	}
	h.bot = g.bot
	return h, syn, nil
}

var errNotDICOM = errors.New("not a DICOM file (no DICM marker at byte 128)")

// valueString is the first value of a string element, trimmed and split
// in the order the library does it.
func valueString(v []byte) string {
	if len(bytes.TrimSpace(v)) > 0 {
		v = bytes.Trim(v, " \x00")
	}
	if i := bytes.IndexByte(v, '\\'); i >= 0 {
		v = v[:i]
	}
	return string(v)
}

func (g *guard) u16() uint16 { v := g.order.Uint16(g.b[g.pos:]); g.pos += 2; return v }
func (g *guard) u32() uint32 { v := g.order.Uint32(g.b[g.pos:]); g.pos += 4; return v }

// head reads a tag, VR and value length as the library's readElement does.
func (g *guard) head(end int) (tag.Tag, string, uint32, error) {
	if end-g.pos < 4 {
		return tag.Tag{}, "", 0, errStop
	}
	t := tag.Tag{Group: g.u16(), Element: g.u16()}
	implicit := g.implicit || t == tag.Item
	var vr string
	if implicit {
		vr = tag.UnknownVR
		if info, err := tag.Find(t); err == nil {
			vr = info.VR
		}
		if end-g.pos < 4 {
			return t, vr, 0, errStop
		}
		return t, vr, g.u32(), nil
	}
	if end-g.pos < 2 {
		return t, "", 0, errStop
	}
	vr = string(g.b[g.pos : g.pos+2])
	g.pos += 2
	switch vr {
	case "NA", "OB", "OD", "OF", "OL", "OW", "SQ", "UN", "UC", "UR", "UT":
		if end-g.pos < 6 {
			return t, vr, 0, errStop
		}
		g.pos += 2
		vl := g.u32()
		if vl == tag.VLUndefinedLength && (vr == "UC" || vr == "UR" || vr == "UT") {
			return t, vr, vl, errStop // the library refuses this itself
		}
		return t, vr, vl, nil
	default:
		if end-g.pos < 2 {
			return t, vr, 0, errStop
		}
		vl := uint32(g.u16())
		if vl == 0xffff {
			vl = tag.VLUndefinedLength
		}
		return t, vr, vl, nil
	}
}

// element checks one element (and anything nested in it) that must end by
// end, and leaves g.pos after it.
func (g *guard) element(end, depth int) (tag.Tag, error) {
	start := g.pos
	t, vr, vl, err := g.head(end)
	if err != nil {
		return t, err
	}
	g.valStart = g.pos
	fits := func() error {
		if vl == tag.VLUndefinedLength {
			return fmt.Errorf("element %v (%s) at byte %d has an undefined length, which only sequences and pixel data may have", t, vr, start)
		}
		if int64(vl) > int64(end-g.pos) {
			return fmt.Errorf("element %v (%s) at byte %d declares %d bytes but only %d remain in its container (truncated or corrupt file)", t, vr, start, vl, end-g.pos)
		}
		g.pos += int(vl)
		return nil
	}
	switch tag.GetVRKind(t, vr) {
	case tag.VRSequence, tag.VRItem:
		if depth >= maxDepth {
			return t, fmt.Errorf("element %v at byte %d: sequences nested deeper than %d levels", t, start, maxDepth)
		}
		isSeq := tag.GetVRKind(t, vr) == tag.VRSequence
		if vl == tag.VLUndefinedLength {
			for {
				c, err := g.element(end, depth+1)
				if err != nil {
					return t, err
				}
				if isSeq && c == tag.SequenceDelimitationItem || !isSeq && c == tag.ItemDelimitationItem {
					return t, nil
				}
				if isSeq && c != tag.Item {
					return t, fmt.Errorf("sequence %v at byte %d contains %v where an item must be", t, start, c)
				}
			}
		}
		if int64(vl) > int64(end-g.pos) {
			return t, fmt.Errorf("element %v at byte %d declares %d bytes but only %d remain in its container (truncated or corrupt file)", t, start, vl, end-g.pos)
		}
		inner := g.pos + int(vl)
		for g.pos < inner {
			c, err := g.element(inner, depth+1)
			if err == errStop {
				break // the library fails here by itself
			}
			if err != nil {
				return t, err
			}
			if isSeq && c != tag.Item {
				// The library would panic on this (type assertion).
				return t, fmt.Errorf("sequence %v at byte %d contains %v where an item must be", t, start, c)
			}
		}
		g.pos = inner
		return t, nil
	case tag.VRPixelData:
		if vl != tag.VLUndefinedLength {
			return t, fits()
		}
		return t, g.fragments(end, start, depth == 0 && t == tPixelData)
	case tag.VRBytes:
		if vr == "OW" && vl%2 != 0 {
			return t, errStop
		}
		return t, fits()
	default: // strings, dates, numbers, tags: all sized by vl
		return t, fits()
	}
}

// fragments checks encapsulated pixel data items as the library's
// readRawItem loop reads them. Its first call (the basic offset table)
// ignores a sequence delimiter and carries on with the next item, so the
// guard does the same.
func (g *guard) fragments(end, start int, top bool) error {
	for first := true; g.pos < end; first = false {
		if end-g.pos < 8 {
			return errStop
		}
		t := tag.Tag{Group: g.u16(), Element: g.u16()}
		vl := g.u32()
		if t == tag.SequenceDelimitationItem && !first {
			return nil
		}
		if t != tag.Item || vl == tag.VLUndefinedLength {
			continue
		}
		if int64(vl) > int64(end-g.pos) {
			return fmt.Errorf("pixel data (byte %d): fragment at byte %d declares %d bytes but only %d remain (truncated or corrupt file)", start, g.pos-8, vl, end-g.pos)
		}
		if first && top && vl > 0 {
			g.bot = g.b[g.pos : g.pos+int(vl)]
		}
		g.pos += int(vl)
	}
	return nil
}
