package torch

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/wangkuiyi/gotorch"
)

func TestCxxExceptionsBecomeErrors(t *testing.T) {
	for kind, want := range []string{"test c10::Error", "test std::runtime_error", "unknown C++ exception"} {
		err := testWorker.Do(context.Background(), func(s *Scope) error {
			s.throwForTest(kind)
			return nil
		})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("kind %d: got %v, want error containing %q", kind, err, want)
		}
	}
	// Real libtorch failures: shape mismatch, backward of a non-scalar,
	// gradient of a tensor that has none, an optimizer over nothing.
	cases := map[string]func(s *Scope){
		"conv2d": func(s *Scope) {
			s.Conv2d(s.Randn(1, 3, 8, 8), s.Randn(4, 5, 3, 3), Tensor{}, 1, 1)
		},
		"backward": func(s *Scope) {
			x := s.Randn(3, 3)
			s.SetRequiresGrad(x, true)
			s.Backward(s.MulScalar(x, 2))
		},
		"grad": func(s *Scope) { s.Grad(s.Randn(2)) },
		"copy_float32": func(s *Scope) {
			s.CopyFloat32(s.Randn(2, 2), make([]float32, 3))
		},
		"from_float32": func(s *Scope) { s.FromFloat32(make([]float32, 5), 2, 2) },
		"step": func(s *Scope) {
			x := s.Randn(4)
			s.SetRequiresGrad(x, true)
			o := s.NewSGD([]Tensor{x}, -1, 0.9, 0, true) // negative LR: libtorch throws
			defer o.Close()
		},
	}
	for op, fn := range cases {
		err := testWorker.Do(context.Background(), func(s *Scope) error { fn(s); return nil })
		var te *Error
		if !errors.As(err, &te) {
			t.Errorf("%s: got %v, want a *torch.Error", op, err)
			continue
		}
		t.Logf("%s: %v", op, firstLine(err.Error()))
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func TestStickyErrorSkipsLaterOps(t *testing.T) {
	err := testWorker.Do(context.Background(), func(s *Scope) error {
		bad := s.FromFloat32([]float32{1, 2, 3}, 2, 2)
		if bad.Valid() || s.Err() == nil {
			t.Fatal("mismatched shape accepted")
		}
		n := s.Len()
		y := s.Exp(s.Randn(3))
		if y.Valid() || s.Len() != n {
			t.Fatal("operation ran after an error")
		}
		s.Fail(nil) // keeps the first error
		if !strings.Contains(s.Err().Error(), "from_float32") {
			t.Fatalf("first error lost: %v", s.Err())
		}
		return nil // Do reports the scope's error
	})
	if err == nil {
		t.Fatal("Do did not report the scope's error")
	}
}

func TestUseAfterFreeIsAnError(t *testing.T) {
	var kept Tensor
	do(t, func(s *Scope) error {
		kept = s.Keep(s.Randn(4))
		return nil
	})
	if !kept.Valid() {
		t.Fatal("kept tensor freed with its scope")
	}
	err := testWorker.Do(context.Background(), func(s *Scope) error {
		kept.Free()
		kept.Free() // idempotent: no double delete
		s.Exp(kept)
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "not a live tensor") {
		t.Fatalf("use after free: got %v", err)
	}
	// A copy of a freed handle is freed too.
	var copyOf Tensor
	do(t, func(s *Scope) error {
		a := s.Randn(2)
		copyOf = a
		a.Free()
		if copyOf.Valid() {
			t.Error("copy still valid after Free")
		}
		return nil
	})
	err = testWorker.Do(context.Background(), func(s *Scope) error { s.Float32s(copyOf); return nil })
	if err == nil {
		t.Fatal("freed copy read without error")
	}
}

func TestScopeClosesFreeTensors(t *testing.T) {
	var inner, outer Tensor
	do(t, func(s *Scope) error {
		outer = s.Randn(3)
		err := s.Child(func(c *Scope) error {
			inner = c.Randn(5)
			return nil
		})
		if err != nil {
			return err
		}
		if inner.Valid() {
			t.Error("child scope left its tensor alive")
		}
		if !outer.Valid() {
			t.Error("parent tensor freed by child")
		}
		return nil
	})
	if outer.Valid() {
		t.Error("Do left a tensor alive")
	}
}

// A tensor made by gotorch's Go API carries a finalizer that deletes it;
// adopting removes that finalizer, so an explicit free followed by GC
// cannot delete it twice (gotorch's hazard 3 for tensors).
func TestAdoptedGotorchTensorIsFreedOnce(t *testing.T) {
	for i := 0; i < 50; i++ {
		do(t, func(s *Scope) error {
			g := gotorch.RandN([]int64{64, 64}, false)
			a := s.Adopt(g)
			if n := len(s.Float32s(a)); n != 64*64 {
				t.Fatalf("adopted tensor has %d values", n)
			}
			a.Free()
			return nil
		})
		runtime.GC()
	}
	runtime.GC()
	runtime.GC()
}

func TestNoGradIsScoped(t *testing.T) {
	err := testWorker.Do(context.Background(), func(s *Scope) error {
		if !s.GradEnabled() {
			t.Fatal("grad disabled by default")
		}
		s.NoGrad(func() {
			if s.GradEnabled() {
				t.Error("grad enabled inside NoGrad")
			}
			x := s.Randn(3)
			s.SetRequiresGrad(x, true)
			y := s.MulScalar(x, 2)
			// y does not require grad, so backward fails cleanly.
			s.Backward(s.Sum(y))
		})
		if s.Err() == nil {
			t.Error("backward through a no-grad result succeeded")
		}
		if !s.GradEnabled() {
			t.Error("grad mode not restored")
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "does not require grad") {
		t.Fatalf("got %v", err)
	}
}

func TestWorkerThreadsAndInfo(t *testing.T) {
	do(t, func(s *Scope) error {
		info := s.Describe()
		if info.Threads != 2 {
			t.Errorf("worker has %d threads, want 2", info.Threads)
		}
		if !strings.HasPrefix(info.Version, "1.") && !strings.HasPrefix(info.Version, "2.") {
			t.Errorf("version %q", info.Version)
		}
		t.Logf("libtorch %s, CUDA %v, BLAS %s, CPU %s", info.Version, info.CUDA, info.BLAS(), info.CPUCapability())
		return nil
	})
}

func TestWorkerConcurrentCallersPanicsAndCancel(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			errs <- testWorker.Do(context.Background(), func(s *Scope) error {
				v := s.Float32s(s.AddScalar(s.Zeros(Float32, CPU, 8), float64(g)))
				for _, x := range v {
					if x != float32(g) {
						return errors.New("cross-talk between jobs")
					}
				}
				return nil
			})
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	err := testWorker.Do(context.Background(), func(s *Scope) error { panic("boom") })
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("panic not converted: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w := NewWorker(1)
	block, started := make(chan struct{}), make(chan struct{})
	go w.Do(context.Background(), func(s *Scope) error { close(started); <-block; return nil })
	<-started
	if err := w.Do(ctx, func(s *Scope) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Do: %v", err)
	}
	close(block)
	w.Close()
	if err := w.Do(context.Background(), func(s *Scope) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Fatalf("Do after Close: %v", err)
	}
}

func TestOptimizerAndRNGStateRoundTrip(t *testing.T) {
	do(t, func(s *Scope) error {
		s.ManualSeed(3)
		train := func(w Tensor, o *SGD, steps int) {
			for i := 0; i < steps; i++ {
				s.ZeroGrad(o)
				s.Backward(s.Sum(s.Mul(w, w)))
				s.Step(o)
			}
		}
		a := s.Randn(16)
		s.SetRequiresGrad(a, true)
		b := s.Clone(s.Detach(a))
		s.SetRequiresGrad(b, true)
		oa := s.NewSGD([]Tensor{a}, 0.1, 0.99, 3e-5, true)
		defer oa.Close()
		train(a, oa, 3)
		state := s.SaveState(oa)
		// b follows the same path with the momentum restored midway.
		ob := s.NewSGD([]Tensor{b}, 0.1, 0.99, 3e-5, true)
		train(b, ob, 3)
		ob.Close()
		ob.Close() // idempotent
		ob2 := s.NewSGD([]Tensor{b}, 0.1, 0.99, 3e-5, true)
		defer ob2.Close()
		s.LoadState(ob2, state)
		train(a, oa, 2)
		train(b, ob2, 2)
		va, vb := s.Float32s(a), s.Float32s(b)
		for i := range va {
			if va[i] != vb[i] {
				t.Fatalf("restored optimizer diverges at %d: %v vs %v", i, va[i], vb[i])
			}
		}
		rng := s.RNGState()
		x := s.Float32s(s.Randn(8))
		s.SetRNGState(rng)
		y := s.Float32s(s.Randn(8))
		for i := range x {
			if x[i] != y[i] {
				t.Fatal("RNG state not restored")
			}
		}
		return nil
	})
}
