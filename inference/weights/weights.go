// Package weights reads and writes named tensors in the safetensors layout
// (an 8-byte header length, a JSON header, raw little-endian data), so a
// checkpoint can be opened by PyTorch tooling and by numpy alone.
package weights

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"

	"cmrseg/app/atomicfile"
)

// Tensor is one named array; values are float32 in memory whatever the
// storage type.
type Tensor struct {
	Name  string
	Shape []int64
	Data  []float32
}

// Storage types.
const (
	F32 = "F32"
	F16 = "F16"
)

type headerEntry struct {
	DType       string   `json:"dtype"`
	Shape       []int64  `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// maxHeader bounds the JSON header so a corrupt length cannot allocate
// gigabytes.
const maxHeader = 16 << 20

// Write stores tensors at path atomically, in the given storage type (F16
// halves the file; values are rounded to nearest even).
func Write(path string, tensors []Tensor, dtype string, meta map[string]string) error {
	if dtype != F32 && dtype != F16 {
		return fmt.Errorf("weights %s: unknown storage type %q", path, dtype)
	}
	size := int64(4)
	if dtype == F16 {
		size = 2
	}
	header := map[string]any{}
	if len(meta) > 0 {
		header["__metadata__"] = meta
	}
	var off int64
	for _, t := range tensors {
		n := int64(1)
		for _, d := range t.Shape {
			n *= d
		}
		if n != int64(len(t.Data)) {
			return fmt.Errorf("weights %s: tensor %s has %d values for shape %v", path, t.Name, len(t.Data), t.Shape)
		}
		header[t.Name] = headerEntry{DType: dtype, Shape: t.Shape, DataOffsets: [2]int64{off, off + n*size}}
		off += n * size
	}
	hb, err := json.Marshal(header)
	if err != nil {
		return err
	}
	for len(hb)%8 != 0 { // keeps the data 8-byte aligned, as the format recommends
		hb = append(hb, ' ')
	}
	buf := make([]byte, 8+len(hb)+int(off))
	binary.LittleEndian.PutUint64(buf, uint64(len(hb)))
	copy(buf[8:], hb)
	p := buf[8+len(hb):]
	for _, t := range tensors {
		for _, v := range t.Data {
			if dtype == F16 {
				binary.LittleEndian.PutUint16(p, Float32ToHalf(v))
				p = p[2:]
			} else {
				binary.LittleEndian.PutUint32(p, math.Float32bits(v))
				p = p[4:]
			}
		}
	}
	return atomicfile.Write(path, buf)
}

// Read loads every tensor of a file, converting to float32, in file order.
func Read(path string) ([]Tensor, map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	return Parse(path, b)
}

// Info is one tensor's name, shape and storage type, from the header.
type Info struct {
	Name  string
	Shape []int64
	DType string
	lo    int64 // data offsets relative to the data section
	hi    int64
}

// Header decodes and checks a file's header without decoding any tensor:
// every shape, type and offset must fit the file. Tensors come in file
// order.
func Header(name string, b []byte) ([]Info, map[string]string, error) {
	if len(b) < 8 {
		return nil, nil, fmt.Errorf("weights %s: file too short (%d bytes)", name, len(b))
	}
	hl := binary.LittleEndian.Uint64(b)
	if hl > maxHeader || hl > uint64(len(b)-8) {
		return nil, nil, fmt.Errorf("weights %s: header length %d does not fit the file (%d bytes)", name, hl, len(b))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+hl], &raw); err != nil {
		return nil, nil, fmt.Errorf("weights %s: bad header: %v", name, err)
	}
	dataLen := int64(len(b)) - 8 - int64(hl)
	var meta map[string]string
	var out []Info
	for k, v := range raw {
		if k == "__metadata__" {
			if err := json.Unmarshal(v, &meta); err != nil {
				return nil, nil, fmt.Errorf("weights %s: bad metadata: %v", name, err)
			}
			continue
		}
		var e headerEntry
		if err := json.Unmarshal(v, &e); err != nil {
			return nil, nil, fmt.Errorf("weights %s: tensor %s: %v", name, k, err)
		}
		size := int64(4)
		switch e.DType {
		case F32:
		case F16:
			size = 2
		default:
			return nil, nil, fmt.Errorf("weights %s: tensor %s has unsupported dtype %s", name, k, e.DType)
		}
		n := int64(1)
		for _, d := range e.Shape {
			if d < 0 || d > dataLen {
				return nil, nil, fmt.Errorf("weights %s: tensor %s has bad shape %v", name, k, e.Shape)
			}
			n *= d
			if n > dataLen {
				return nil, nil, fmt.Errorf("weights %s: tensor %s shape %v exceeds the file", name, k, e.Shape)
			}
		}
		lo, hi := e.DataOffsets[0], e.DataOffsets[1]
		if lo < 0 || hi < lo || hi > dataLen || hi-lo != n*size {
			return nil, nil, fmt.Errorf("weights %s: tensor %s offsets [%d,%d) do not match shape %v (%d data bytes)", name, k, lo, hi, e.Shape, dataLen)
		}
		out = append(out, Info{Name: k, Shape: e.Shape, DType: e.DType, lo: lo, hi: hi})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].lo < out[j].lo })
	return out, meta, nil
}

// Parse decodes a file's bytes; name is used in errors.
func Parse(name string, b []byte) ([]Tensor, map[string]string, error) {
	infos, meta, err := Header(name, b)
	if err != nil {
		return nil, nil, err
	}
	data := b[8+binary.LittleEndian.Uint64(b):]
	out := make([]Tensor, 0, len(infos))
	for _, in := range infos {
		p := data[in.lo:in.hi]
		v := make([]float32, (in.hi-in.lo)/map[string]int64{F32: 4, F16: 2}[in.DType])
		for i := range v {
			if in.DType == F16 {
				v[i] = HalfToFloat32(binary.LittleEndian.Uint16(p[2*i:]))
			} else {
				v[i] = math.Float32frombits(binary.LittleEndian.Uint32(p[4*i:]))
			}
		}
		out = append(out, Tensor{Name: in.Name, Shape: in.Shape, Data: v})
	}
	return out, meta, nil
}

// Float32ToHalf converts to IEEE 754 binary16, rounding to nearest even.
func Float32ToHalf(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	switch {
	case exp == 0xff: // inf or NaN
		if mant != 0 {
			return sign | 0x7e00
		}
		return sign | 0x7c00
	case exp > 142: // overflow
		return sign | 0x7c00
	case exp < 103: // underflow to zero
		return sign
	case exp < 113: // subnormal half
		mant |= 0x800000
		shift := uint32(126 - exp)
		half := mant >> shift
		rem := mant & ((1 << shift) - 1)
		mid := uint32(1) << (shift - 1)
		if rem > mid || (rem == mid && half&1 == 1) {
			half++
		}
		return sign | uint16(half)
	}
	half := uint32(exp-112)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && half&1 == 1) {
		half++ // may carry into the exponent, which is still correct
	}
	return sign | uint16(half)
}

// HalfToFloat32 converts IEEE 754 binary16 to float32 exactly.
func HalfToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		e := uint32(113)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		mant &= 0x3ff
		return math.Float32frombits(sign | e<<23 | mant<<13)
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	}
	return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
}
