// Package torch is cmrseg's runtime for libtorch: gotorch's Tensor handles
// and C shim, made safe for a long-running GUI process.
//
// gotorch frees tensors only from Go finalizers, which the Go GC runs too
// rarely to bound C++ memory, lets temporaries be finalized during a C call,
// double-frees optimizers, and lets C++ exceptions abort the process. This
// package replaces those behaviours while keeping gotorch's types and C code:
//
//   - Every tensor belongs to a Scope and is freed when the Scope closes (or
//     by an explicit Free); it never carries a finalizer, and gotorch tensors
//     adopted into a Scope have theirs removed, so nothing is freed twice.
//   - A freed tensor's handle is cleared, so a later use is a Go error, not a
//     use-after-free.
//   - Every C++ exception becomes a Go error. A Scope remembers the first
//     error and turns the operations after it into no-ops, so a network's
//     forward pass reads as straight-line code with one check at the end.
//   - All torch work runs on one Worker goroutine locked to its OS thread
//     (libtorch keeps grad mode and thread pools per thread), so callers such
//     as the Fyne main thread never block on it.
package torch
