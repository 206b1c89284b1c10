package unet

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	"cmrseg/inference/torch"
)

// rssMB reads the process's resident set from /proc.
func rssMB(t testing.TB) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "VmRSS:") {
			var kb float64
			fmt.Sscanf(strings.TrimPrefix(sc.Text(), "VmRSS:"), "%f", &kb)
			return kb / 1024
		}
	}
	t.Fatal("VmRSS not found")
	return 0
}

// TestSoakMemoryIsFlat runs many forward passes and training steps of a
// 5-level base-16 U-Net at 224×224 in one process and checks that resident
// memory stops growing: the mean RSS of the last window is within 5 % of
// the first window after warm-up. gotorch alone grew to 22 GB here.
// CMRSEG_SOAK=full runs the full 1 000 iterations of each.
func TestSoakMemoryIsFlat(t *testing.T) {
	forwards, steps, window, warm := 80, 40, 15, 10
	if os.Getenv("CMRSEG_SOAK") == "full" {
		forwards, steps, window, warm = 1000, 1000, 100, 50
	} else if testing.Short() {
		t.Skip("soak skipped in -short mode")
	}
	cfg := Config{InChannels: 1, Classes: 4, Stages: 5, BaseFeatures: 16, MaxFeatures: 512, ConvsPerStage: 2}
	run := func(name string, iters int, train bool) {
		var samples []float64
		err := worker.Do(context.Background(), func(s *torch.Scope) error {
			s.ManualSeed(1)
			m, err := New(s, cfg)
			if err != nil {
				return err
			}
			defer m.Free()
			opt := s.NewSGD(m.Params(), 1e-3, 0.99, 3e-5, true)
			defer opt.Close()
			for i := 0; i < iters; i++ {
				err := s.Child(func(c *torch.Scope) error {
					x := c.Randn(1, 1, 224, 224)
					if train {
						c.ZeroGrad(opt)
						target := c.To(c.Argmax(c.Randn(1, 4, 224, 224), 1), torch.CPU, torch.Int64)
						out := m.Forward(c, x, true, false)
						if c.Err() != nil {
							return c.Err()
						}
						c.Backward(c.CrossEntropy(out[0], target))
						c.Step(opt)
					} else {
						c.NoGrad(func() { m.Forward(c, x, false, false) })
					}
					return c.Err()
				})
				if err != nil {
					return err
				}
				if i%10 == 0 {
					runtime.GC() // Go's own garbage is not what this measures
				}
				samples = append(samples, rssMB(t))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		mean := func(v []float64) float64 {
			s := 0.0
			for _, x := range v {
				s += x
			}
			return s / float64(len(v))
		}
		first := mean(samples[warm : warm+window])
		last := mean(samples[len(samples)-window:])
		t.Logf("%s: %d iterations, RSS first window %.1f MB, last window %.1f MB (%+.2f %%), peak %.1f MB",
			name, iters, first, last, 100*(last-first)/first, maxOf(samples))
		if last > first*1.05 {
			t.Errorf("%s: RSS grew from %.1f to %.1f MB", name, first, last)
		}
	}
	run("forward", forwards, false)
	run("train step", steps, true)
}

func maxOf(v []float64) float64 {
	m := v[0]
	for _, x := range v {
		m = max(m, x)
	}
	return m
}
