package anonymise

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/suyashkumar/dicom/pkg/tag"
)

// This file is a small byte-level DICOM Part 10 reader and writer: enough
// to rewrite attribute values while passing everything else (pixel data,
// encapsulated fragments included) through unchanged. It reads Explicit and
// Implicit VR Little Endian data sets and the compressed syntaxes (whose
// data set is Explicit VR Little Endian) and writes the same transfer
// syntax back, every sequence and item with a defined length.

const (
	tagItem      = 0xFFFEE000
	tagItemDelim = 0xFFFEE00D
	tagSeqDelim  = 0xFFFEE0DD
	tagPixelData = 0x7FE00010
	undefinedLen = 0xFFFFFFFF
	maxDepth     = 32
)

// element is one data element. For SQ, items holds the parsed items; for
// encapsulated pixel data, value holds the raw fragment items and the
// sequence delimiter, and encapsulated is set.
type element struct {
	tag          uint32
	vr           string
	value        []byte
	items        [][]*element
	encapsulated bool
}

func (e *element) group() uint16      { return uint16(e.tag >> 16) }
func (e *element) elemNo() uint16     { return uint16(e.tag) }
func (e *element) String() string     { return fmt.Sprintf("(%04X,%04X)", e.group(), e.elemNo()) }
func (e *element) private() bool      { return e.group()%2 == 1 }
func (e *element) text() string       { return strings.TrimRight(string(e.value), " \x00") }
func tagString(t uint32) string       { return fmt.Sprintf("(%04X,%04X)", t>>16, t&0xFFFF) }
func mkTag(group, elem uint16) uint32 { return uint32(group)<<16 | uint32(elem) }

// file is a parsed Part 10 file.
type file struct {
	preamble []byte
	meta     []*element
	dataset  []*element
	explicit bool // data set VR encoding (the meta group is always explicit)
}

// Transfer syntaxes whose data set this package reads: the two native
// little-endian ones and every encapsulated (compressed) syntax, whose data
// set is Explicit VR Little Endian.
const (
	implicitLE = "1.2.840.10008.1.2"
	explicitLE = "1.2.840.10008.1.2.1"
	deflatedLE = "1.2.840.10008.1.2.1.99"
	explicitBE = "1.2.840.10008.1.2.2"
)

// longVR are the VRs with a 4-byte length in Explicit VR (PS3.5 7.1.2).
func longVR(vr string) bool {
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV":
		return true
	}
	return false
}

// dictVR is the VR the data dictionary gives tag t, for Implicit VR data
// sets; "UN" when unknown (private and unknown tags).
func dictVR(t uint32) string {
	if t&0xFFFF == 0 {
		return "UL" // group length
	}
	info, err := tag.Find(tag.Tag{Group: uint16(t >> 16), Element: uint16(t)})
	if err != nil || len(info.VR) < 2 {
		return "UN"
	}
	return info.VR[:2] // "OB or OW", "US or SS": the first is right for our purposes
}

type reader struct {
	b        []byte
	pos      int
	explicit bool
}

var errTruncated = errors.New("file ends inside an element")

func (r *reader) u16() uint16 { v := binary.LittleEndian.Uint16(r.b[r.pos:]); r.pos += 2; return v }
func (r *reader) u32() uint32 { v := binary.LittleEndian.Uint32(r.b[r.pos:]); r.pos += 4; return v }

func (r *reader) need(n int) error {
	if n < 0 || r.pos+n > len(r.b) || r.pos+n < r.pos {
		return errTruncated
	}
	return nil
}

// parseFile reads a Part 10 file.
func parseFile(data []byte) (*file, error) {
	if len(data) < 132 || string(data[128:132]) != "DICM" {
		return nil, errors.New("not a DICOM Part 10 file (no DICM prefix after the 128-byte preamble)")
	}
	f := &file{preamble: data[:128]}
	r := &reader{b: data, pos: 132, explicit: true}
	// The meta group: Explicit VR Little Endian, group 0002 only.
	for r.pos+4 <= len(r.b) && binary.LittleEndian.Uint16(r.b[r.pos:]) == 0x0002 {
		e, err := r.element(0)
		if err != nil {
			return nil, fmt.Errorf("file meta group: %w", err)
		}
		if e.tag != mkTag(0x0002, 0x0000) { // recomputed on write
			f.meta = append(f.meta, e)
		}
	}
	ts := ""
	for _, e := range f.meta {
		if e.tag == mkTag(0x0002, 0x0010) {
			ts = e.text()
		}
	}
	switch ts {
	case "":
		return nil, errors.New("file meta group has no TransferSyntaxUID (0002,0010)")
	case implicitLE:
		f.explicit = false
	case explicitBE:
		return nil, errors.New("Explicit VR Big Endian (retired) is not supported; convert it first, e.g. dcmconv +te IN OUT")
	case deflatedLE:
		return nil, errors.New("Deflated Explicit VR Little Endian is not supported here; convert it first, e.g. dcmconv +te IN OUT")
	default:
		f.explicit = true
	}
	r.explicit = f.explicit
	ds, err := r.dataset(len(r.b), 0)
	if err != nil {
		return nil, err
	}
	f.dataset = ds
	return f, nil
}

// dataset reads elements up to end (or an item delimiter when end < 0).
func (r *reader) dataset(end, depth int) ([]*element, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("sequences nested more than %d deep", maxDepth)
	}
	var out []*element
	for {
		if end >= 0 && r.pos >= end {
			return out, nil
		}
		if err := r.need(4); err != nil {
			if end < 0 {
				return nil, errors.New("item without an item delimiter")
			}
			return nil, err
		}
		t := uint32(binary.LittleEndian.Uint16(r.b[r.pos:]))<<16 | uint32(binary.LittleEndian.Uint16(r.b[r.pos+2:]))
		if t == tagItemDelim {
			if end >= 0 {
				return nil, fmt.Errorf("item delimiter inside a defined-length item at byte %d", r.pos)
			}
			r.pos += 8
			return out, nil
		}
		e, err := r.element(depth)
		if err != nil {
			return nil, err
		}
		if end >= 0 && r.pos > end {
			return nil, fmt.Errorf("element %s runs past the end of its item", e)
		}
		out = append(out, e)
	}
}

func (r *reader) element(depth int) (*element, error) {
	start := r.pos
	if err := r.need(8); err != nil {
		return nil, err
	}
	g, el := r.u16(), r.u16()
	e := &element{tag: mkTag(g, el)}
	var length uint32
	if r.explicit || g == 0x0002 {
		e.vr = string(r.b[r.pos : r.pos+2])
		r.pos += 2
		if longVR(e.vr) {
			if err := r.need(6); err != nil {
				return nil, err
			}
			r.pos += 2
			length = r.u32()
		} else {
			if e.vr[0] < 'A' || e.vr[0] > 'Z' || e.vr[1] < 'A' || e.vr[1] > 'Z' {
				return nil, fmt.Errorf("element %s at byte %d has no valid VR (%q)", e, start, e.vr)
			}
			length = uint32(r.u16())
		}
	} else {
		length = r.u32()
		e.vr = dictVR(e.tag)
		if length == undefinedLen && e.tag != tagPixelData {
			e.vr = "SQ" // undefined length in implicit VR: a sequence
		}
	}
	if e.tag == tagPixelData && length == undefinedLen {
		// Encapsulated: keep the fragment items as they are.
		s := r.pos
		for {
			if err := r.need(8); err != nil {
				return nil, fmt.Errorf("encapsulated pixel data: %w", err)
			}
			it, n := r.u32(), r.u32()
			it = it<<16 | it>>16 // group, element were read as one little-endian word
			if it == tagSeqDelim {
				break
			}
			if it != tagItem || n == undefinedLen {
				return nil, fmt.Errorf("encapsulated pixel data: unexpected %s at byte %d", tagString(it), r.pos-8)
			}
			if err := r.need(int(n)); err != nil {
				return nil, fmt.Errorf("encapsulated pixel data: %w", err)
			}
			r.pos += int(n)
		}
		e.value, e.encapsulated = r.b[s:r.pos], true
		return e, nil
	}
	if e.vr == "UN" && length == undefinedLen {
		// PS3.5 6.2.2: an undefined-length UN is an Implicit VR sequence.
		e.vr = "SQ"
		saved := r.explicit
		r.explicit = false
		defer func() { r.explicit = saved }()
	}
	if e.vr == "SQ" {
		end := -1
		if length != undefinedLen {
			if err := r.need(int(length)); err != nil {
				return nil, fmt.Errorf("sequence %s: %w", e, err)
			}
			end = r.pos + int(length)
		}
		for {
			if end >= 0 && r.pos >= end {
				break
			}
			if err := r.need(8); err != nil {
				return nil, fmt.Errorf("sequence %s: %w", e, err)
			}
			it, n := r.u32(), r.u32()
			it = it<<16 | it>>16
			if it == tagSeqDelim {
				if end >= 0 {
					return nil, fmt.Errorf("sequence %s: delimiter inside a defined-length sequence", e)
				}
				break
			}
			if it != tagItem {
				return nil, fmt.Errorf("sequence %s: %s where an item should start (byte %d)", e, tagString(it), r.pos-8)
			}
			itemEnd := -1
			if n != undefinedLen {
				if err := r.need(int(n)); err != nil {
					return nil, fmt.Errorf("sequence %s: %w", e, err)
				}
				itemEnd = r.pos + int(n)
			}
			item, err := r.dataset(itemEnd, depth+1)
			if err != nil {
				return nil, fmt.Errorf("sequence %s: %w", e, err)
			}
			e.items = append(e.items, item)
		}
		return e, nil
	}
	if length == undefinedLen {
		return nil, fmt.Errorf("element %s (%s) has an undefined length", e, e.vr)
	}
	if err := r.need(int(length)); err != nil {
		return nil, fmt.Errorf("element %s: %w", e, err)
	}
	e.value = r.b[r.pos : r.pos+int(length)]
	r.pos += int(length)
	return e, nil
}

// encode writes the file back: preamble, "DICM", the meta group with its
// group length, then the data set in the file's VR encoding.
func (f *file) encode() ([]byte, error) {
	var meta bytes.Buffer
	for _, e := range sortedElems(f.meta) {
		if err := encodeElem(&meta, e, true); err != nil {
			return nil, err
		}
	}
	var out bytes.Buffer
	out.Write(f.preamble)
	out.WriteString("DICM")
	gl := &element{tag: mkTag(0x0002, 0x0000), vr: "UL", value: binary.LittleEndian.AppendUint32(nil, uint32(meta.Len()))}
	if err := encodeElem(&out, gl, true); err != nil {
		return nil, err
	}
	out.Write(meta.Bytes())
	if err := encodeDataset(&out, f.dataset, f.explicit); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func sortedElems(es []*element) []*element {
	out := append([]*element(nil), es...)
	// Insertion sort keeps equal tags (should not happen) in order.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j-1].tag > out[j].tag; j-- {
			out[j-1], out[j] = out[j], out[j-1]
		}
	}
	return out
}

func encodeDataset(buf *bytes.Buffer, es []*element, explicit bool) error {
	for _, e := range sortedElems(es) {
		if err := encodeElem(buf, e, explicit); err != nil {
			return err
		}
	}
	return nil
}

func padByte(vr string) byte {
	switch vr {
	case "UI", "OB", "OW", "OD", "OF", "OL", "OV", "UN":
		return 0
	}
	return ' '
}

func encodeElem(buf *bytes.Buffer, e *element, explicit bool) error {
	value := e.value
	var length uint32
	switch {
	case e.encapsulated:
		length = undefinedLen
	case e.vr == "SQ":
		var items bytes.Buffer
		for _, it := range e.items {
			var body bytes.Buffer
			if err := encodeDataset(&body, it, explicit); err != nil {
				return err
			}
			if uint64(body.Len()) >= math.MaxUint32 {
				return fmt.Errorf("item of %s too long", e)
			}
			var h [8]byte
			binary.LittleEndian.PutUint16(h[0:], 0xFFFE)
			binary.LittleEndian.PutUint16(h[2:], 0xE000)
			binary.LittleEndian.PutUint32(h[4:], uint32(body.Len()))
			items.Write(h[:])
			items.Write(body.Bytes())
		}
		value = items.Bytes()
		length = uint32(len(value))
	default:
		if len(value)%2 == 1 {
			value = append(append([]byte(nil), value...), padByte(e.vr))
		}
		if uint64(len(value)) >= math.MaxUint32 {
			return fmt.Errorf("element %s too long", e)
		}
		length = uint32(len(value))
	}
	var h [12]byte
	binary.LittleEndian.PutUint16(h[0:], e.group())
	binary.LittleEndian.PutUint16(h[2:], e.elemNo())
	if explicit {
		copy(h[4:6], e.vr)
		if longVR(e.vr) || e.encapsulated {
			binary.LittleEndian.PutUint32(h[8:], length)
			buf.Write(h[:12])
		} else {
			if length > math.MaxUint16 {
				return fmt.Errorf("element %s: %s value of %d bytes does not fit its 16-bit length", e, e.vr, length)
			}
			binary.LittleEndian.PutUint16(h[6:], uint16(length))
			buf.Write(h[:8])
		}
	} else {
		binary.LittleEndian.PutUint32(h[4:], length)
		buf.Write(h[:8])
	}
	buf.Write(value)
	return nil
}

// find returns the element with tag t in es, or nil.
func find(es []*element, t uint32) *element {
	for _, e := range es {
		if e.tag == t {
			return e
		}
	}
	return nil
}

// set replaces or adds a string element (values joined with '\').
func set(es []*element, t uint32, vr string, values ...string) []*element {
	v := []byte(strings.Join(values, `\`))
	if e := find(es, t); e != nil {
		e.vr, e.value, e.items = vr, v, nil
		return es
	}
	return append(es, &element{tag: t, vr: vr, value: v})
}
