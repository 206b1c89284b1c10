package torch

// #include "cmrtorch.h"
import "C"

import (
	"runtime"
	"unsafe"
)

// alive keeps operands reachable until the C call that uses them returns.
func alive(ts ...Tensor) {
	for i := range ts {
		runtime.KeepAlive(ts[i].g.T)
	}
}

// FromFloat32 copies data into a new float32 tensor of the given shape.
func (s *Scope) FromFloat32(data []float32, shape ...int64) Tensor {
	return s.fromBlob("from_float32", unsafe.Pointer(unsafe.SliceData(data)), len(data), Float32, shape)
}

// FromInt64 copies data into a new int64 tensor of the given shape.
func (s *Scope) FromInt64(data []int64, shape ...int64) Tensor {
	return s.fromBlob("from_int64", unsafe.Pointer(unsafe.SliceData(data)), len(data), Int64, shape)
}

// FromUint8 copies data into a new uint8 tensor of the given shape.
func (s *Scope) FromUint8(data []uint8, shape ...int64) Tensor {
	return s.fromBlob("from_uint8", unsafe.Pointer(unsafe.SliceData(data)), len(data), Uint8, shape)
}

// FromFloat16Bits copies IEEE half-precision bit patterns into a float16 tensor.
func (s *Scope) FromFloat16Bits(data []uint16, shape ...int64) Tensor {
	return s.fromBlob("from_float16", unsafe.Pointer(unsafe.SliceData(data)), len(data), Float16, shape)
}

func (s *Scope) fromBlob(op string, p unsafe.Pointer, n int, dt DType, shape []int64) Tensor {
	if !s.ready(op) {
		return Tensor{}
	}
	if numel(shape) != int64(n) {
		s.err = errorf(op, "shape %v needs %d elements, got %d", shape, numel(shape), n)
		return Tensor{}
	}
	if n == 0 {
		p = nil
	}
	var out C.Tensor
	msg := C.cmr_from_blob(p, C.int8_t(dt), int64Ptr(shape), C.int64_t(len(shape)), &out)
	return s.result(op, msg, out)
}

func numel(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		n *= d
	}
	return n
}

// Zeros makes a tensor of zeros.
func (s *Scope) Zeros(dt DType, dev Device, shape ...int64) Tensor {
	if !s.ready("zeros") {
		return Tensor{}
	}
	var out C.Tensor
	typ, idx := dev.code()
	msg := C.cmr_zeros(int64Ptr(shape), C.int64_t(len(shape)), C.int8_t(dt), typ, idx, &out)
	return s.result("zeros", msg, out)
}

// Randn makes a float32 tensor of standard normal samples from torch's
// generator (seeded by ManualSeed).
func (s *Scope) Randn(shape ...int64) Tensor {
	if !s.ready("randn") {
		return Tensor{}
	}
	var out C.Tensor
	msg := C.cmr_randn(int64Ptr(shape), C.int64_t(len(shape)), &out)
	return s.result("randn", msg, out)
}

// Shape returns the tensor's sizes.
func (s *Scope) Shape(t Tensor) []int64 {
	if !s.ready("shape", t) {
		return nil
	}
	dims := make([]int64, 8)
	var n C.int64_t
	ok := s.check("shape", C.cmr_shape(t.c(), int64Ptr(dims), C.int64_t(len(dims)), &n))
	alive(t)
	if !ok {
		return nil
	}
	if int(n) > len(dims) {
		dims = make([]int64, int(n))
		if !s.check("shape", C.cmr_shape(t.c(), int64Ptr(dims), n, &n)) {
			return nil
		}
	}
	return dims[:int(n)]
}

// DTypeOf returns the tensor's scalar type.
func (s *Scope) DTypeOf(t Tensor) DType {
	if !s.ready("dtype", t) {
		return 0
	}
	var d C.int8_t
	s.check("dtype", C.cmr_dtype(t.c(), &d))
	alive(t)
	return DType(d)
}

// DeviceOf returns where the tensor lives.
func (s *Scope) DeviceOf(t Tensor) Device {
	if !s.ready("device", t) {
		return CPU
	}
	var typ C.int8_t
	var idx C.int64_t
	s.check("device", C.cmr_device(t.c(), &typ, &idx))
	alive(t)
	return Device{CUDA: typ == 1, Index: int(idx)}
}

// Float32s copies a tensor (any device, any dtype) out as float32 values.
func (s *Scope) Float32s(t Tensor) []float32 {
	n := numel(s.Shape(t))
	if s.err != nil {
		return nil
	}
	out := make([]float32, n)
	s.CopyFloat32(t, out)
	return out
}

// CopyFloat32 copies a tensor into dst, which must have exactly as many
// elements as the tensor.
func (s *Scope) CopyFloat32(t Tensor, dst []float32) {
	s.copyOut("copy_float32", t, Float32, unsafe.Pointer(unsafe.SliceData(dst)), len(dst))
}

// CopyInt64 copies a tensor into dst as int64 values.
func (s *Scope) CopyInt64(t Tensor, dst []int64) {
	s.copyOut("copy_int64", t, Int64, unsafe.Pointer(unsafe.SliceData(dst)), len(dst))
}

// CopyUint8 copies a tensor into dst as uint8 values.
func (s *Scope) CopyUint8(t Tensor, dst []uint8) {
	s.copyOut("copy_uint8", t, Uint8, unsafe.Pointer(unsafe.SliceData(dst)), len(dst))
}

// CopyFloat16Bits copies a tensor into dst as IEEE half bit patterns.
func (s *Scope) CopyFloat16Bits(t Tensor, dst []uint16) {
	s.copyOut("copy_float16", t, Float16, unsafe.Pointer(unsafe.SliceData(dst)), len(dst))
}

func (s *Scope) copyOut(op string, t Tensor, dt DType, p unsafe.Pointer, n int) {
	if !s.ready(op, t) {
		return
	}
	if n == 0 {
		p = unsafe.Pointer(&[1]byte{}) // the shim checks the count
	}
	s.check(op, C.cmr_copy_out(t.c(), C.int8_t(dt), p, C.int64_t(n)))
	alive(t)
}

// Item returns the value of a one-element tensor.
func (s *Scope) Item(t Tensor) float64 {
	if !s.ready("item", t) {
		return 0
	}
	var v C.double
	s.check("item", C.cmr_item(t.c(), &v))
	alive(t)
	return float64(v)
}

// To converts a tensor to a device and dtype.
func (s *Scope) To(t Tensor, dev Device, dt DType) Tensor {
	if !s.ready("to", t) {
		return Tensor{}
	}
	var out C.Tensor
	typ, idx := dev.code()
	msg := C.cmr_to(t.c(), typ, idx, C.int8_t(dt), &out)
	alive(t)
	return s.result("to", msg, out)
}

type unaryOp func(C.Tensor, *C.Tensor) *C.char

func (s *Scope) unary(op string, f unaryOp, t Tensor) Tensor {
	if !s.ready(op, t) {
		return Tensor{}
	}
	var out C.Tensor
	msg := f(t.c(), &out)
	alive(t)
	return s.result(op, msg, out)
}

// Exp is the element-wise exponential.
func (s *Scope) Exp(t Tensor) Tensor {
	return s.unary("exp", func(a C.Tensor, o *C.Tensor) *C.char { return C.cmr_exp(a, o) }, t)
}

// Log is the element-wise natural logarithm.
func (s *Scope) Log(t Tensor) Tensor {
	return s.unary("log", func(a C.Tensor, o *C.Tensor) *C.char { return C.cmr_log(a, o) }, t)
}

// Clone copies a tensor (keeping it in the autograd graph).
func (s *Scope) Clone(t Tensor) Tensor {
	return s.unary("clone", func(a C.Tensor, o *C.Tensor) *C.char { return C.cmr_clone(a, o) }, t)
}

// Detach returns a view that does not track gradients.
func (s *Scope) Detach(t Tensor) Tensor {
	return s.unary("detach", func(a C.Tensor, o *C.Tensor) *C.char { return C.cmr_detach(a, o) }, t)
}

// Mean of all elements.
func (s *Scope) Mean(t Tensor) Tensor {
	return s.unary("mean", func(a C.Tensor, o *C.Tensor) *C.char { return C.Mean(a, o) }, t)
}

// Sum of all elements.
func (s *Scope) Sum(t Tensor) Tensor {
	return s.unary("sum", func(a C.Tensor, o *C.Tensor) *C.char { return C.Sum(a, o) }, t)
}

// Softmax along dim.
func (s *Scope) Softmax(t Tensor, dim int) Tensor {
	return s.unary("softmax", func(a C.Tensor, o *C.Tensor) *C.char { return C.cmr_softmax(a, C.int64_t(dim), o) }, t)
}

// LogSoftmax along dim (gotorch's op).
func (s *Scope) LogSoftmax(t Tensor, dim int) Tensor {
	return s.unary("log_softmax", func(a C.Tensor, o *C.Tensor) *C.char { return C.LogSoftmax(a, C.int64_t(dim), o) }, t)
}

// MulScalar multiplies by a constant.
func (s *Scope) MulScalar(t Tensor, v float64) Tensor {
	return s.unary("mul_scalar", func(a C.Tensor, o *C.Tensor) *C.char { return C.cmr_mul_scalar(a, C.double(v), o) }, t)
}

// AddScalar adds a constant.
func (s *Scope) AddScalar(t Tensor, v float64) Tensor {
	return s.unary("add_scalar", func(a C.Tensor, o *C.Tensor) *C.char { return C.cmr_add_scalar(a, C.double(v), o) }, t)
}

// LeakyReLU with the given negative slope (gotorch's functional op).
func (s *Scope) LeakyReLU(t Tensor, slope float64) Tensor {
	return s.unary("leaky_relu", func(a C.Tensor, o *C.Tensor) *C.char { return C.FLeakyRelu(a, C.double(slope), 0, o) }, t)
}

// Argmax along dim, without keeping the dimension (gotorch's op).
func (s *Scope) Argmax(t Tensor, dim int) Tensor {
	d := []int64{int64(dim)}
	return s.unary("argmax", func(a C.Tensor, o *C.Tensor) *C.char { return C.Argmax(a, int64Ptr(d), 0, o) }, t)
}

type binaryOp func(C.Tensor, C.Tensor, *C.Tensor) *C.char

func (s *Scope) binary(op string, f binaryOp, a, b Tensor) Tensor {
	if !s.ready(op, a, b) {
		return Tensor{}
	}
	var out C.Tensor
	msg := f(a.c(), b.c(), &out)
	alive(a, b)
	return s.result(op, msg, out)
}

// Add is a + b (broadcasting), gotorch's op.
func (s *Scope) Add(a, b Tensor) Tensor {
	return s.binary("add", func(x, y C.Tensor, o *C.Tensor) *C.char { return C.Add(x, y, 1, o) }, a, b)
}

// Sub is a − b (broadcasting), gotorch's op.
func (s *Scope) Sub(a, b Tensor) Tensor {
	return s.binary("sub", func(x, y C.Tensor, o *C.Tensor) *C.char { return C.Sub(x, y, 1, o) }, a, b)
}

// Mul is a · b (broadcasting), gotorch's op.
func (s *Scope) Mul(a, b Tensor) Tensor {
	return s.binary("mul", func(x, y C.Tensor, o *C.Tensor) *C.char { return C.Mul(x, y, o) }, a, b)
}

// Div is a / b (broadcasting), gotorch's op.
func (s *Scope) Div(a, b Tensor) Tensor {
	return s.binary("div", func(x, y C.Tensor, o *C.Tensor) *C.char { return C.Div(x, y, o) }, a, b)
}

// CrossEntropy is the mean cross entropy of logits (N, C, H, W) against
// int64 class indices (N, H, W).
func (s *Scope) CrossEntropy(logits, target Tensor) Tensor {
	return s.binary("cross_entropy", func(x, y C.Tensor, o *C.Tensor) *C.char { return C.cmr_cross_entropy(x, y, o) }, logits, target)
}

func (s *Scope) dims(op string, t Tensor, dims []int64, f func(C.Tensor, *C.int64_t, C.int64_t, *C.Tensor) *C.char) Tensor {
	if !s.ready(op, t) {
		return Tensor{}
	}
	var out C.Tensor
	msg := f(t.c(), int64Ptr(dims), C.int64_t(len(dims)), &out)
	alive(t)
	return s.result(op, msg, out)
}

// SumDims sums over the given dimensions.
func (s *Scope) SumDims(t Tensor, keepdim bool, dims ...int64) Tensor {
	return s.dims("sum_dims", t, dims, func(a C.Tensor, d *C.int64_t, n C.int64_t, o *C.Tensor) *C.char {
		return C.cmr_sum_dims(a, d, n, C.bool(keepdim), o)
	})
}

// MeanDims averages over the given dimensions.
func (s *Scope) MeanDims(t Tensor, keepdim bool, dims ...int64) Tensor {
	return s.dims("mean_dims", t, dims, func(a C.Tensor, d *C.int64_t, n C.int64_t, o *C.Tensor) *C.char {
		return C.cmr_mean_dims(a, d, n, C.bool(keepdim), o)
	})
}

// Flip reverses the given dimensions.
func (s *Scope) Flip(t Tensor, dims ...int64) Tensor {
	return s.dims("flip", t, dims, func(a C.Tensor, d *C.int64_t, n C.int64_t, o *C.Tensor) *C.char {
		return C.cmr_flip(a, d, n, o)
	})
}

// Permute reorders dimensions (gotorch's op).
func (s *Scope) Permute(t Tensor, dims ...int64) Tensor {
	return s.dims("permute", t, dims, func(a C.Tensor, d *C.int64_t, n C.int64_t, o *C.Tensor) *C.char {
		return C.Permute(a, d, n, o)
	})
}

// Reshape returns a tensor with the same data and a new shape (-1 infers).
func (s *Scope) Reshape(t Tensor, shape ...int64) Tensor {
	return s.dims("reshape", t, shape, func(a C.Tensor, d *C.int64_t, n C.int64_t, o *C.Tensor) *C.char {
		return C.cmr_reshape(a, d, n, o)
	})
}

// Pad pads the last dimensions with a constant, torch order (last dimension
// first: left, right, top, bottom); negative amounts crop.
func (s *Scope) Pad(t Tensor, value float64, pads ...int64) Tensor {
	return s.dims("pad", t, pads, func(a C.Tensor, d *C.int64_t, n C.int64_t, o *C.Tensor) *C.char {
		return C.cmr_pad(a, d, n, C.double(value), o)
	})
}

// Interpolation modes for Resize.
const (
	Nearest  = 0
	Bilinear = 1
)

// Resize resamples an (N, C, H, W) tensor to h × w (bilinear uses
// align_corners=false, like torch's default).
func (s *Scope) Resize(t Tensor, h, w int, mode int) Tensor {
	return s.unary("interpolate", func(a C.Tensor, o *C.Tensor) *C.char {
		return C.cmr_interpolate(a, C.int64_t(h), C.int64_t(w), C.int8_t(mode), o)
	}, t)
}

// Slice takes [start, end) along dim.
func (s *Scope) Slice(t Tensor, dim int, start, end int64) Tensor {
	return s.unary("slice", func(a C.Tensor, o *C.Tensor) *C.char {
		return C.cmr_slice(a, C.int64_t(dim), C.int64_t(start), C.int64_t(end), o)
	}, t)
}

// OneHot turns int64 labels (N, H, W) into float32 (N, C, H, W).
func (s *Scope) OneHot(t Tensor, classes int) Tensor {
	return s.unary("one_hot", func(a C.Tensor, o *C.Tensor) *C.char {
		return C.cmr_one_hot(a, C.int64_t(classes), o)
	}, t)
}

// Dropout2d zeroes whole channels with probability p when train is set.
func (s *Scope) Dropout2d(t Tensor, p float64, train bool) Tensor {
	return s.unary("dropout2d", func(a C.Tensor, o *C.Tensor) *C.char {
		return C.cmr_dropout2d(a, C.double(p), C.bool(train), o)
	}, t)
}

// Cat concatenates tensors along dim.
func (s *Scope) Cat(dim int, ts ...Tensor) Tensor {
	if !s.ready("cat", ts...) {
		return Tensor{}
	}
	if len(ts) == 0 {
		s.err = errorf("cat", "no tensors")
		return Tensor{}
	}
	hs := make([]C.Tensor, len(ts))
	for i, t := range ts {
		hs[i] = t.c()
	}
	var out C.Tensor
	msg := C.cmr_cat(&hs[0], C.int64_t(len(hs)), C.int64_t(dim), &out)
	alive(ts...)
	return s.result("cat", msg, out)
}

// Conv2d is a 2D convolution (gotorch's op); bias may be invalid (none).
func (s *Scope) Conv2d(x, w, b Tensor, stride, padding int) Tensor {
	if !s.ready("conv2d", x, w) {
		return Tensor{}
	}
	st := []int64{int64(stride), int64(stride)}
	pd := []int64{int64(padding), int64(padding)}
	dl := []int64{1, 1}
	var out C.Tensor
	msg := C.Conv2d(x.c(), w.c(), b.c(), int64Ptr(st), 2, int64Ptr(pd), 2, int64Ptr(dl), 2, 1, &out)
	alive(x, w, b)
	return s.result("conv2d", msg, out)
}

// ConvTranspose2d is a transposed 2D convolution (gotorch's op).
func (s *Scope) ConvTranspose2d(x, w, b Tensor, stride int) Tensor {
	if !s.ready("conv_transpose2d", x, w) {
		return Tensor{}
	}
	st := []int64{int64(stride), int64(stride)}
	pd := []int64{0, 0}
	op := []int64{0, 0}
	dl := []int64{1, 1}
	var out C.Tensor
	msg := C.ConvTranspose2d(x.c(), w.c(), b.c(), int64Ptr(st), 2, int64Ptr(pd), 2, int64Ptr(op), 2, 1, int64Ptr(dl), 2, &out)
	alive(x, w, b)
	return s.result("conv_transpose2d", msg, out)
}

// InstanceNorm normalises each channel of each sample over H×W, with an
// affine weight and bias (either may be invalid for none).
func (s *Scope) InstanceNorm(x, w, b Tensor, eps float64) Tensor {
	if !s.ready("instance_norm", x) {
		return Tensor{}
	}
	var out C.Tensor
	msg := C.cmr_instance_norm(x.c(), w.c(), b.c(), C.double(eps), &out)
	alive(x, w, b)
	return s.result("instance_norm", msg, out)
}

// Backward accumulates gradients of a scalar loss into the leaves.
func (s *Scope) Backward(loss Tensor) {
	if !s.ready("backward", loss) {
		return
	}
	s.check("backward", C.cmr_backward(loss.c()))
	alive(loss)
}

// Grad returns the accumulated gradient of a leaf tensor.
func (s *Scope) Grad(t Tensor) Tensor {
	return s.unary("grad", func(a C.Tensor, o *C.Tensor) *C.char { return C.cmr_grad(a, o) }, t)
}

// SetRequiresGrad marks a leaf tensor as a parameter to differentiate.
func (s *Scope) SetRequiresGrad(t Tensor, on bool) {
	if s.ready("requires_grad", t) {
		s.check("requires_grad", C.cmr_set_requires_grad(t.c(), C.bool(on)))
		alive(t)
	}
}

// CopyInto overwrites dst's values with src's (no gradient tracking).
func (s *Scope) CopyInto(dst, src Tensor) {
	if s.ready("copy_", dst, src) {
		s.check("copy_", C.cmr_copy_(dst.c(), src.c()))
		alive(dst, src)
	}
}

// ZeroInPlace sets every element to zero.
func (s *Scope) ZeroInPlace(t Tensor) {
	if s.ready("zero_", t) {
		s.check("zero_", C.cmr_zero_(t.c()))
		alive(t)
	}
}

// KaimingNormal fills t in place like nnU-Net's He initialisation
// (kaiming_normal_, fan_in, leaky_relu with negative slope a).
func (s *Scope) KaimingNormal(t Tensor, a float64) {
	if s.ready("kaiming_normal_", t) {
		s.check("kaiming_normal_", C.cmr_kaiming_normal_(t.c(), C.double(a)))
		alive(t)
	}
}

// NoGrad runs fn with autograd recording off (inference). Grad mode is
// per OS thread in libtorch, which is why all work runs on the worker.
func (s *Scope) NoGrad(fn func()) {
	prev := bool(C.cmr_is_grad_enabled())
	C.cmr_set_grad_enabled(false)
	defer C.cmr_set_grad_enabled(C.bool(prev))
	fn()
}

// GradEnabled reports whether autograd is recording on this thread.
func (s *Scope) GradEnabled() bool { return bool(C.cmr_is_grad_enabled()) }

// throwForTest makes the shim throw a C++ exception of the given kind.
func (s *Scope) throwForTest(kind int) {
	s.check("throw_for_test", C.cmr_throw_for_test(C.int32_t(kind)))
}
