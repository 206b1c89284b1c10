package torch

// #cgo CFLAGS: -I${SRCDIR}/csrc
// #cgo LDFLAGS: -lcgotorch
// #include <stdlib.h>
// #include "cmrtorch.h"
import "C"

import (
	"fmt"
	"unsafe"
)

// Error is a failure reported by libtorch (a C++ exception) or by the
// runtime's own checks, with the operation that raised it.
type Error struct {
	Op  string
	Msg string
}

func (e *Error) Error() string { return "torch: " + e.Op + ": " + e.Msg }

// takeError converts a C error string into an *Error and frees the string.
func takeError(op string, msg *C.char) error {
	if msg == nil {
		return nil
	}
	s := C.GoString(msg)
	C.FreeString(msg)
	return &Error{Op: op, Msg: s}
}

// takeString copies and frees a string allocated by the shim.
func takeString(s *C.char) string {
	if s == nil {
		return ""
	}
	r := C.GoString(s)
	C.FreeString(s)
	return r
}

func int64Ptr(v []int64) *C.int64_t {
	if len(v) == 0 {
		return nil
	}
	return (*C.int64_t)(unsafe.Pointer(&v[0]))
}

func errorf(op, format string, args ...any) error {
	return &Error{Op: op, Msg: fmt.Sprintf(format, args...)}
}
