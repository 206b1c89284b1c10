package torch

// #include "cmrtorch.h"
import "C"

import (
	"time"
	"unsafe"

	"github.com/wangkuiyi/gotorch"
)

// Scope owns the tensors created through it and frees them when it closes.
// It also holds the first error of its operations: after an error every
// further operation returns an invalid Tensor without calling libtorch, and
// Err reports what went wrong first.
//
// A Scope is obtained from Worker.Do (or Scope.Child) and must only be used on
// the worker's goroutine.
type Scope struct {
	owned   []*unsafe.Pointer
	err     error
	closed  bool
	opStart time.Time // start of the op in progress, when profiling (opprofile.go)
}

// Err returns the first error of this scope's operations.
func (s *Scope) Err() error { return s.err }

// Fail records err as the scope's error unless one is already recorded, so
// callers can stop a computation for a reason of their own (e.g. cancel).
func (s *Scope) Fail(err error) {
	if s.err == nil && err != nil {
		s.err = err
	}
}

// Len is the number of tensors the scope currently owns.
func (s *Scope) Len() int { return len(s.owned) }

func (s *Scope) track(c C.Tensor) Tensor {
	t := newHandle(c)
	s.owned = append(s.owned, t.g.T)
	return t
}

// Adopt takes a tensor created through gotorch's own Go API into the scope:
// its finalizer is removed and the scope frees it.
func (s *Scope) Adopt(g gotorch.Tensor) Tensor {
	t := adoptGotorch(g)
	if t.g.T != nil {
		s.owned = append(s.owned, t.g.T)
	}
	return t
}

// Keep releases tensors from the scope: the caller now owns them and frees
// them with Free (on the worker). Returns the first one for convenience.
func (s *Scope) Keep(ts ...Tensor) Tensor {
	for _, t := range ts {
		for i := len(s.owned) - 1; i >= 0; i-- {
			if s.owned[i] == t.g.T {
				s.owned = append(s.owned[:i], s.owned[i+1:]...)
				break
			}
		}
	}
	if len(ts) == 0 {
		return Tensor{}
	}
	return ts[0]
}

// Close frees every tensor the scope still owns, newest first.
func (s *Scope) Close() {
	for i := len(s.owned) - 1; i >= 0; i-- {
		p := s.owned[i]
		if *p != nil {
			C.cmr_free(C.Tensor(*p))
			*p = nil
		}
	}
	s.owned = nil
	s.closed = true
}

// Child runs fn with a child scope that is closed when fn returns, so the
// temporaries of one step or one slice are freed at once. Tensors fn wants
// to return must be moved out with child.Keep and are then owned by the
// caller. An error from fn or the child's operations is returned and also
// recorded in s.
func (s *Scope) Child(fn func(child *Scope) error) error {
	if s.err != nil {
		return s.err
	}
	child := &Scope{}
	defer child.Close()
	err := fn(child)
	if err == nil {
		err = child.err
	}
	s.Fail(err)
	return err
}

// ready checks the scope and the operands before an operation.
func (s *Scope) ready(op string, ts ...Tensor) bool {
	if s.err != nil {
		return false
	}
	if s.closed {
		s.err = errorf(op, "scope already closed")
		return false
	}
	for i, t := range ts {
		if !t.Valid() {
			s.err = errorf(op, "operand %d is not a live tensor (freed, or from a failed operation)", i)
			return false
		}
	}
	s.opBegin()
	return true
}

// result records the outcome of a C call that produced out.
func (s *Scope) result(op string, msg *C.char, out C.Tensor) Tensor {
	s.opEnd(op)
	if err := takeError(op, msg); err != nil {
		s.err = err
		if out != nil {
			C.cmr_free(out)
		}
		return Tensor{}
	}
	return s.track(out)
}

// check records the outcome of a C call with no tensor result.
func (s *Scope) check(op string, msg *C.char) bool {
	s.opEnd(op)
	if err := takeError(op, msg); err != nil {
		s.Fail(err)
		return false
	}
	return true
}
