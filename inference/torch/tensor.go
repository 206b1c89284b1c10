package torch

// #include "cmrtorch.h"
import "C"

import (
	"runtime"
	"strconv"
	"unsafe"

	"github.com/wangkuiyi/gotorch"
)

// Tensor is a handle to a libtorch tensor. Copies of a Tensor share one
// handle: once its owner frees it, every copy reads as invalid.
type Tensor struct {
	g gotorch.Tensor
}

// Valid reports whether the tensor still refers to live memory.
func (t Tensor) Valid() bool { return t.g.T != nil && *t.g.T != nil }

// Gotorch returns the underlying gotorch handle, for code that needs
// gotorch's API; the runtime keeps ownership.
func (t Tensor) Gotorch() gotorch.Tensor { return t.g }

func (t Tensor) c() C.Tensor {
	if t.g.T == nil {
		return nil
	}
	return C.Tensor(*t.g.T)
}

// Free releases the tensor now. It is idempotent and safe on copies; a
// tensor still tracked by a Scope is skipped when that Scope closes.
func (t Tensor) Free() {
	if t.g.T == nil || *t.g.T == nil {
		return
	}
	C.cmr_free(C.Tensor(*t.g.T))
	*t.g.T = nil
}

func newHandle(c C.Tensor) Tensor {
	p := new(unsafe.Pointer)
	*p = unsafe.Pointer(c)
	return Tensor{g: gotorch.Tensor{T: p}}
}

// adoptGotorch takes ownership of a tensor created through gotorch's Go API:
// its finalizer is removed so that an explicit Free can never be followed by
// a second delete from the finalizer.
func adoptGotorch(g gotorch.Tensor) Tensor {
	if g.T != nil {
		runtime.SetFinalizer(g.T, nil)
	}
	return Tensor{g: g}
}

// DType is a libtorch scalar type (c10::ScalarType values).
type DType int8

// Scalar types the runtime uses.
const (
	Uint8   DType = 0
	Int8    DType = 1
	Int16   DType = 2
	Int32   DType = 3
	Int64   DType = 4
	Float16 DType = 5
	Float32 DType = 6
	Float64 DType = 7
	Bool    DType = 11
)

func (d DType) size() int {
	switch d {
	case Uint8, Int8, Bool:
		return 1
	case Int16, Float16:
		return 2
	case Int32, Float32:
		return 4
	default:
		return 8
	}
}

// Device names where a tensor lives.
type Device struct {
	CUDA  bool
	Index int
}

// CPU is the host device.
var CPU = Device{}

// CUDA returns the i-th CUDA device.
func CUDA(i int) Device { return Device{CUDA: true, Index: i} }

func (d Device) String() string {
	if d.CUDA {
		return "cuda:" + strconv.Itoa(d.Index)
	}
	return "cpu"
}

func (d Device) code() (C.int8_t, C.int64_t) {
	if d.CUDA {
		return 1, C.int64_t(d.Index)
	}
	return 0, 0
}
