package torch

// #include <stdlib.h>
// #include "cmrtorch.h"
import "C"

import (
	"unsafe"
)

// SGD is libtorch's SGD optimizer (gotorch's Optimizer type on the C side).
// Unlike gotorch's wrapper it has no finalizer, so Close frees it exactly
// once, and its step and zero_grad report C++ exceptions as errors.
type SGD struct {
	opt C.Optimizer
}

// NewSGD creates an optimizer over params (leaf tensors with gradients).
func (s *Scope) NewSGD(params []Tensor, lr, momentum, weightDecay float64, nesterov bool) *SGD {
	if !s.ready("sgd", params...) {
		return nil
	}
	if len(params) == 0 {
		s.err = errorf("sgd", "no parameters")
		return nil
	}
	hs := make([]C.Tensor, len(params))
	for i, p := range params {
		hs[i] = p.c()
	}
	var o C.Optimizer
	msg := C.cmr_sgd_new(&hs[0], C.int64_t(len(hs)), C.double(lr), C.double(momentum), C.double(weightDecay), C.bool(nesterov), &o)
	alive(params...)
	if !s.check("sgd", msg) {
		return nil
	}
	return &SGD{opt: o}
}

// SetLR changes the learning rate of every parameter group.
func (o *SGD) SetLR(lr float64) {
	if o != nil && o.opt != nil {
		C.Optimizer_SetLR(o.opt, C.double(lr))
	}
}

// ZeroGrad clears the parameters' gradients.
func (s *Scope) ZeroGrad(o *SGD) {
	if s.ready("zero_grad") {
		if o == nil || o.opt == nil {
			s.err = errorf("zero_grad", "optimizer closed")
			return
		}
		s.check("zero_grad", C.cmr_optimizer_zero_grad(o.opt))
	}
}

// Step applies one update.
func (s *Scope) Step(o *SGD) {
	if s.ready("step") {
		if o == nil || o.opt == nil {
			s.err = errorf("step", "optimizer closed")
			return
		}
		s.check("step", C.cmr_optimizer_step(o.opt))
	}
}

// SaveState serialises the optimizer's state (momentum buffers).
func (s *Scope) SaveState(o *SGD) []byte {
	if !s.ready("optimizer_save") {
		return nil
	}
	if o == nil || o.opt == nil {
		s.err = errorf("optimizer_save", "optimizer closed")
		return nil
	}
	var buf *C.char
	var n C.int64_t
	if !s.check("optimizer_save", C.cmr_optimizer_save(o.opt, &buf, &n)) {
		return nil
	}
	defer C.cmr_free_bytes(buf)
	return C.GoBytes(unsafe.Pointer(buf), C.int(n))
}

// LoadState restores state written by SaveState for the same parameters.
func (s *Scope) LoadState(o *SGD, state []byte) {
	if !s.ready("optimizer_load") {
		return
	}
	if o == nil || o.opt == nil {
		s.err = errorf("optimizer_load", "optimizer closed")
		return
	}
	if len(state) == 0 {
		s.err = errorf("optimizer_load", "empty state")
		return
	}
	s.check("optimizer_load", C.cmr_optimizer_load(o.opt, (*C.char)(unsafe.Pointer(&state[0])), C.int64_t(len(state))))
}

// Close frees the optimizer; later calls are no-ops.
func (o *SGD) Close() {
	if o != nil && o.opt != nil {
		C.Optimizer_Close(o.opt)
		o.opt = nil
	}
}

// RNGState serialises torch's CPU random generator.
func (s *Scope) RNGState() []byte {
	if !s.ready("rng_save") {
		return nil
	}
	var buf *C.char
	var n C.int64_t
	if !s.check("rng_save", C.cmr_rng_save(&buf, &n)) {
		return nil
	}
	defer C.cmr_free_bytes(buf)
	return C.GoBytes(unsafe.Pointer(buf), C.int(n))
}

// SetRNGState restores a state from RNGState.
func (s *Scope) SetRNGState(state []byte) {
	if !s.ready("rng_load") {
		return
	}
	if len(state) == 0 {
		s.err = errorf("rng_load", "empty state")
		return
	}
	s.check("rng_load", C.cmr_rng_load((*C.char)(unsafe.Pointer(&state[0])), C.int64_t(len(state))))
}

// ManualSeed seeds torch's generators (CPU and CUDA).
func (s *Scope) ManualSeed(seed uint64) { C.cmr_manual_seed(C.uint64_t(seed)) }
