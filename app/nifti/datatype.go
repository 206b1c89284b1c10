package nifti

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Datatype is a NIfTI-1 voxel type code (the header's datatype field).
type Datatype int16

// The voxel types this package reads and writes.
const (
	Uint8   Datatype = 2
	Int16   Datatype = 4
	Int32   Datatype = 8
	Float32 Datatype = 16
	Float64 Datatype = 64
	Int8    Datatype = 256
	Uint16  Datatype = 512
)

// Datatypes lists every supported type, for tests and tools.
var Datatypes = []Datatype{Uint8, Int8, Int16, Uint16, Int32, Float32, Float64}

func (d Datatype) String() string {
	switch d {
	case Uint8:
		return "uint8"
	case Int8:
		return "int8"
	case Int16:
		return "int16"
	case Uint16:
		return "uint16"
	case Int32:
		return "int32"
	case Float32:
		return "float32"
	case Float64:
		return "float64"
	}
	return fmt.Sprintf("datatype %d", int16(d))
}

// Size is the number of bytes per voxel, 0 for an unsupported type.
func (d Datatype) Size() int {
	switch d {
	case Uint8, Int8:
		return 1
	case Int16, Uint16:
		return 2
	case Int32, Float32:
		return 4
	case Float64:
		return 8
	}
	return 0
}

// decode converts raw voxels to float32, applying value = raw*slope + inter
// in float64 (as nibabel does) when scaled is true.
func (d Datatype) decode(raw []byte, order binary.ByteOrder, out []float32, scaled bool, slope, inter float64) {
	at := func(i int) float64 {
		switch d {
		case Uint8:
			return float64(raw[i])
		case Int8:
			return float64(int8(raw[i]))
		case Int16:
			return float64(int16(order.Uint16(raw[2*i:])))
		case Uint16:
			return float64(order.Uint16(raw[2*i:]))
		case Int32:
			return float64(int32(order.Uint32(raw[4*i:])))
		case Float32:
			return float64(math.Float32frombits(order.Uint32(raw[4*i:])))
		case Float64:
			return math.Float64frombits(order.Uint64(raw[8*i:]))
		}
		return 0
	}
	if !scaled && d == Float32 {
		for i := range out {
			out[i] = math.Float32frombits(order.Uint32(raw[4*i:]))
		}
		return
	}
	for i := range out {
		v := at(i)
		if scaled {
			v = v*slope + inter
		}
		out[i] = float32(v)
	}
}

// encode appends the little-endian bytes of values in type d. Integer
// types accept only integral values in range, so nothing is silently
// rounded or clipped; it returns the index of the first value that is not
// representable, or -1.
func (d Datatype) encode(dst []byte, values []float32) ([]byte, int) {
	lo, hi := d.intRange()
	for i, f := range values {
		v := float64(f)
		if d != Float32 && d != Float64 && (v != math.Trunc(v) || v < lo || v > hi) {
			return dst, i
		}
		switch d {
		case Uint8:
			dst = append(dst, uint8(v))
		case Int8:
			dst = append(dst, uint8(int8(v)))
		case Int16:
			dst = binary.LittleEndian.AppendUint16(dst, uint16(int16(v)))
		case Uint16:
			dst = binary.LittleEndian.AppendUint16(dst, uint16(v))
		case Int32:
			dst = binary.LittleEndian.AppendUint32(dst, uint32(int32(v)))
		case Float32:
			dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(f))
		case Float64:
			dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(v))
		}
	}
	return dst, -1
}

func (d Datatype) intRange() (lo, hi float64) {
	switch d {
	case Uint8:
		return 0, math.MaxUint8
	case Int8:
		return math.MinInt8, math.MaxInt8
	case Int16:
		return math.MinInt16, math.MaxInt16
	case Uint16:
		return 0, math.MaxUint16
	case Int32:
		return math.MinInt32, math.MaxInt32
	}
	return math.Inf(-1), math.Inf(1)
}
