package torch

// #include "cmrtorch.h"
import "C"

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
	"time"
)

// Worker runs torch work on one goroutine locked to one OS thread. libtorch
// keeps grad mode, thread pools and allocator caches per thread; pinning
// keeps them coherent and keeps torch off the GUI's main thread.
type Worker struct {
	jobs    chan func()
	quit    chan struct{}
	done    chan struct{}
	once    sync.Once
	threads int
}

// ErrClosed is returned by Do after Close.
var ErrClosed = errors.New("torch: worker closed")

// NewWorker starts a worker whose intra-op thread pool has the given size
// (≤ 0: one per CPU core). gotorch's init sets half the cores, which on a
// 2-core machine halves the speed, so the worker always sets it.
func NewWorker(threads int) *Worker {
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	w := &Worker{jobs: make(chan func()), quit: make(chan struct{}), done: make(chan struct{}), threads: threads}
	started := make(chan struct{})
	go w.loop(started)
	<-started
	return w
}

func (w *Worker) loop(started chan<- struct{}) {
	runtime.LockOSThread()
	defer close(w.done)
	C.cmr_set_num_threads(C.int32_t(w.threads))
	close(started)
	// Freed tensor memory stays in the process while work comes (see
	// tuneMalloc) and goes back to the kernel once the worker has been
	// idle for a moment.
	idle := time.NewTimer(time.Hour)
	idle.Stop()
	for {
		select {
		case job := <-w.jobs:
			job()
			idle.Reset(idleRelease)
		case <-idle.C:
			releaseMemory()
		case <-w.quit:
			return
		}
	}
}

// idleRelease is how long a worker waits after a job before it returns
// free memory to the kernel: longer than the gap between the jobs of one
// segmentation or training epoch.
const idleRelease = 2 * time.Second

// Threads is the intra-op thread count the worker set.
func (w *Worker) Threads() int { return w.threads }

// Do runs fn on the worker with a fresh Scope that is closed (all its
// tensors freed) when fn returns. It returns fn's error, else the scope's
// first error; a panic in fn becomes an error. Do waits for a job that has
// started even if ctx is cancelled meanwhile (fn should watch ctx itself),
// so no tensor outlives the call that owns it.
func (w *Worker) Do(ctx context.Context, fn func(s *Scope) error) error {
	result := make(chan error, 1)
	job := func() {
		s := &Scope{}
		var err error
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("torch: panic in worker job: %v\n%s", r, debug.Stack())
			}
			s.Close()
			result <- err
		}()
		err = fn(s)
		if err == nil {
			err = s.err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case w.jobs <- job:
	case <-ctx.Done():
		return ctx.Err()
	case <-w.quit:
		return ErrClosed
	}
	return <-result
}

// Close stops the worker after the job in progress. Tensors kept outside
// scopes must have been freed (through Do) before.
func (w *Worker) Close() {
	w.once.Do(func() { close(w.quit) })
	<-w.done
}
