package dicomseg

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// elem is one data element ready to encode in Explicit VR Little Endian:
// its value already in bytes (unpadded), or its items when vr is SQ.
type elem struct {
	tag   uint32 // group<<16 | element
	vr    string
	value []byte
	items [][]elem
}

func tg(group, element uint16) uint32 { return uint32(group)<<16 | uint32(element) }

// Text VRs are padded with a space, UI and binary VRs with NUL (PS3.5 6.2).
func padByte(vr string) byte {
	switch vr {
	case "UI", "OB", "OW", "OD", "OF", "OL", "OV", "UN":
		return 0
	}
	return ' '
}

// longVR are the VRs with a 2-byte reserved field and a 4-byte length
// (PS3.5 7.1.2); the rest have a 2-byte length.
func longVR(vr string) bool {
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV":
		return true
	}
	return false
}

// str makes a string element; several values are joined with '\'.
func str(tag uint32, vr string, values ...string) elem {
	return elem{tag: tag, vr: vr, value: []byte(strings.Join(values, `\`))}
}

func us(tag uint32, values ...uint16) elem {
	b := make([]byte, 2*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint16(b[2*i:], v)
	}
	return elem{tag: tag, vr: "US", value: b}
}

func ul(tag uint32, values ...uint32) elem {
	b := make([]byte, 4*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint32(b[4*i:], v)
	}
	return elem{tag: tag, vr: "UL", value: b}
}

// at makes an attribute-tag element: each tag as group then element.
func at(tag uint32, tags ...uint32) elem {
	b := make([]byte, 4*len(tags))
	for i, t := range tags {
		binary.LittleEndian.PutUint16(b[4*i:], uint16(t>>16))
		binary.LittleEndian.PutUint16(b[4*i+2:], uint16(t))
	}
	return elem{tag: tag, vr: "AT", value: b}
}

func is(tag uint32, values ...int) elem {
	s := make([]string, len(values))
	for i, v := range values {
		s[i] = strconv.Itoa(v)
	}
	return str(tag, "IS", s...)
}

func ds(tag uint32, values ...float64) elem {
	s := make([]string, len(values))
	for i, v := range values {
		s[i] = formatDS(v)
	}
	return str(tag, "DS", s...)
}

func sq(tag uint32, items ...[]elem) elem { return elem{tag: tag, vr: "SQ", items: items} }

// code is a Code Sequence Macro item (PS3.3 Table 8.8-1).
type code struct{ value, scheme, meaning string }

func (c code) item() []elem {
	return []elem{
		str(tg(0x0008, 0x0100), "SH", c.value),
		str(tg(0x0008, 0x0102), "SH", c.scheme),
		str(tg(0x0008, 0x0104), "LO", c.meaning),
	}
}

// formatDS writes v in at most 16 characters, the DS limit, with as many
// significant digits as fit (shortest exact form when it fits).
func formatDS(v float64) string {
	if v == 0 {
		return "0" // also for -0
	}
	s := strconv.FormatFloat(v, 'g', -1, 64)
	for p := 15; len(s) > 16 && p > 0; p-- {
		s = strconv.FormatFloat(v, 'g', p, 64)
	}
	return s
}

// encodeDataset writes elems in ascending tag order, every sequence and
// item with a defined length.
func encodeDataset(elems []elem) ([]byte, error) {
	sorted := append([]elem(nil), elems...)
	sort.SliceStable(sorted, func(a, b int) bool { return sorted[a].tag < sorted[b].tag })
	var buf bytes.Buffer
	for i, e := range sorted {
		if i > 0 && sorted[i-1].tag == e.tag {
			return nil, fmt.Errorf("dicomseg: element (%04X,%04X) twice", e.tag>>16, e.tag&0xFFFF)
		}
		if err := encodeElem(&buf, e); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

func encodeElem(buf *bytes.Buffer, e elem) error {
	if len(e.vr) != 2 {
		return fmt.Errorf("dicomseg: element (%04X,%04X) has VR %q", e.tag>>16, e.tag&0xFFFF, e.vr)
	}
	value := e.value
	if e.vr == "SQ" {
		var items bytes.Buffer
		for _, it := range e.items {
			body, err := encodeDataset(it)
			if err != nil {
				return err
			}
			if uint64(len(body)) >= math.MaxUint32 {
				return fmt.Errorf("dicomseg: item of (%04X,%04X) too long", e.tag>>16, e.tag&0xFFFF)
			}
			var h [8]byte
			binary.LittleEndian.PutUint16(h[0:], 0xFFFE)
			binary.LittleEndian.PutUint16(h[2:], 0xE000)
			binary.LittleEndian.PutUint32(h[4:], uint32(len(body)))
			items.Write(h[:])
			items.Write(body)
		}
		value = items.Bytes()
	} else if len(value)%2 == 1 {
		value = append(append([]byte(nil), value...), padByte(e.vr))
	}
	var h [12]byte
	binary.LittleEndian.PutUint16(h[0:], uint16(e.tag>>16))
	binary.LittleEndian.PutUint16(h[2:], uint16(e.tag))
	copy(h[4:6], e.vr)
	if longVR(e.vr) {
		if uint64(len(value)) >= math.MaxUint32 {
			return fmt.Errorf("dicomseg: (%04X,%04X) is %d bytes, more than a DICOM element holds", e.tag>>16, e.tag&0xFFFF, len(value))
		}
		binary.LittleEndian.PutUint32(h[8:], uint32(len(value)))
		buf.Write(h[:12])
	} else {
		if len(value) > math.MaxUint16 {
			return fmt.Errorf("dicomseg: (%04X,%04X) %s value is %d bytes, more than its 16-bit length allows", e.tag>>16, e.tag&0xFFFF, e.vr, len(value))
		}
		binary.LittleEndian.PutUint16(h[6:], uint16(len(value)))
		buf.Write(h[:8])
	}
	buf.Write(value)
	return nil
}

// encodeFile writes the Part 10 file: preamble, "DICM", the file meta
// group (with its group length) and the dataset, Explicit VR Little Endian.
func encodeFile(meta, dataset []elem) ([]byte, error) {
	body, err := encodeDataset(meta)
	if err != nil {
		return nil, err
	}
	ds, err := encodeDataset(dataset)
	if err != nil {
		return nil, err
	}
	group, err := encodeDataset([]elem{ul(tg(0x0002, 0x0000), uint32(len(body)))})
	if err != nil {
		return nil, err
	}
	out := make([]byte, 128, 132+len(group)+len(body)+len(ds))
	out = append(out, "DICM"...)
	out = append(out, group...)
	out = append(out, body...)
	return append(out, ds...), nil
}

// nonASCII reports whether any of the strings needs a character set
// beyond the default repertoire.
func nonASCII(values ...string) bool {
	for _, v := range values {
		for i := 0; i < len(v); i++ {
			if v[i] >= utf8.RuneSelf {
				return true
			}
		}
	}
	return false
}
