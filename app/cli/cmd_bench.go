package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"

	"cmrseg/inference/torch"
	"cmrseg/inference/unet"
	"cmrseg/inference/weights"
)

// benchmarks are the subcommands of `cmrseg bench`; each file registers its
// own in init, so their order does not matter.
var benchmarks = map[string]command{}

func registerBench(name, summary string, run func(args []string, stdout, stderr io.Writer) error) {
	benchmarks[name] = command{summary, run}
}

func init() {
	register("bench", "benchmarks against PyTorch: cmrseg bench runtime|segment|train [flags]", runBench)
	registerBench("runtime", "U-Net forward and training step, Go vs PyTorch", runBenchRuntime)
	commands["bench-child"] = command{"", runBenchChild} // hidden: one side of a benchmark pair
}

func runBench(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		if b, ok := benchmarks[args[0]]; ok {
			return b.run(args[1:], stdout, stderr)
		}
	}
	names := make([]string, 0, len(benchmarks))
	for n := range benchmarks {
		names = append(names, n)
	}
	sort.Strings(names)
	msg := "usage: cmrseg bench BENCHMARK [flags]"
	for _, n := range names {
		msg += fmt.Sprintf("\n  %-8s %s", n, benchmarks[n].summary)
	}
	return fmt.Errorf("%s", msg)
}

func runBenchRuntime(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench runtime", stderr)
	size := fs.Int("size", 224, "input height and width")
	fwdBatch := fs.Int("forward-batch", 1, "batch size of the forward benchmark")
	trainBatch := fs.Int("train-batch", 8, "batch size of the training-step benchmark")
	base := fs.Int("base", 16, "U-Net base features")
	stages := fs.Int("stages", 5, "U-Net stages")
	pf := addPairFlags(fs)
	iters, rounds, threads, ref, python := pf.iters, pf.rounds, pf.threads, pf.ref, pf.python
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg := unet.Config{InChannels: 1, Classes: 4, Stages: *stages, BaseFeatures: *base, MaxFeatures: 512, ConvsPerStage: 2}
	pair, err := newBenchPair(*ref, cfg, *threads)
	if err != nil {
		return err
	}
	defer pair.Close()
	fmt.Fprintf(stdout, "U-Net %d stages, base %d, %d×%d, %d threads; %d rounds A/B (Go, then PyTorch), %d iterations per process, first dropped\n",
		*stages, *base, *size, *size, *threads, *rounds, *iters)
	fmt.Fprintf(stdout, "%-22s %12s %12s %8s %12s %12s %8s\n", "benchmark", "Go s/it", "PyTorch s/it", "ratio", "Go RSS MB", "Torch RSS MB", "ratio")
	for _, mode := range []string{"forward", "train"} {
		batch := *fwdBatch
		if mode == "train" {
			batch = *trainBatch
		}
		shape := fmt.Sprintf("%d,1,%d,%d", batch, *size, *size)
		secs, rss, err := alternate(*rounds, []benchSide{
			{"go " + mode, func() *exec.Cmd {
				return exec.Command(pair.Exe, "bench-child", mode, pair.NetJSON, pair.Weights, shape, strconv.Itoa(*iters), strconv.Itoa(*threads))
			}},
			{"pytorch " + mode, func() *exec.Cmd {
				return exec.Command(*python, pair.Script, "bench", pair.NetJSON, pair.Weights, shape, mode, strconv.Itoa(*iters), strconv.Itoa(*threads))
			}},
		})
		if err != nil {
			return err
		}
		gt, pt, gr, pr := median(secs[0]), median(secs[1]), median(rss[0]), median(rss[1])
		fmt.Fprintf(stdout, "%-22s %12.4f %12.4f %8.3f %12.1f %12.1f %8.3f\n",
			fmt.Sprintf("%s batch %d", mode, batch), gt, pt, gt/pt, gr, pr, gr/pr)
	}
	return nil
}

// runBenchChild is the Go side of one benchmark pair: the same protocol as
// unet_ref.py's bench mode (seconds per iteration, one per line).
func runBenchChild(args []string, stdout, stderr io.Writer) error {
	if len(args) != 6 {
		return fmt.Errorf("bench-child MODE CONFIG WEIGHTS SHAPE ITERS THREADS")
	}
	mode, cfgPath, wPath := args[0], args[1], args[2]
	var shape []int64
	for _, p := range strings.Split(args[3], ",") {
		v, err := strconv.ParseInt(p, 10, 64)
		if err != nil {
			return err
		}
		shape = append(shape, v)
	}
	iters, _ := strconv.Atoi(args[4])
	threads, _ := strconv.Atoi(args[5])
	var cfg unet.Config
	b, err := os.ReadFile(cfgPath)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		return err
	}
	ws, _, err := weights.Read(wPath)
	if err != nil {
		return err
	}
	w := torch.NewWorker(threads)
	defer w.Close()
	return w.Do(context.Background(), func(s *torch.Scope) error {
		s.ManualSeed(0)
		m, err := unet.New(s, cfg)
		if err != nil {
			return err
		}
		defer m.Free()
		if err := m.Load(s, ws); err != nil {
			return err
		}
		x := s.Randn(shape...)
		opt := s.NewSGD(m.Params(), 0.01, 0.99, 3e-5, true)
		defer opt.Close()
		target := s.To(s.Argmax(s.Randn(shape[0], int64(cfg.Classes), shape[2], shape[3]), 1), torch.CPU, torch.Int64)
		for i := 0; i < iters; i++ {
			t0 := time.Now()
			err := s.Child(func(c *torch.Scope) error {
				if mode == "forward" {
					c.NoGrad(func() { m.Forward(c, x, false, false) })
					return c.Err()
				}
				c.ZeroGrad(opt)
				out := m.Forward(c, x, true, false)
				if c.Err() != nil {
					return c.Err()
				}
				c.Backward(diceCE(c, out[0], target, cfg.Classes))
				c.Step(opt)
				return c.Err()
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%.6f\n", time.Since(t0).Seconds())
		}
		return nil
	})
}

// diceCE is the benchmark's loss, the same composition as unet_ref.py's.
func diceCE(s *torch.Scope, logits, target torch.Tensor, classes int) torch.Tensor {
	p := s.Softmax(logits, 1)
	oh := s.OneHot(target, classes)
	inter := s.SumDims(s.Mul(p, oh), false, 0, 2, 3)
	denom := s.Add(s.SumDims(p, false, 0, 2, 3), s.SumDims(oh, false, 0, 2, 3))
	dice := s.Div(s.AddScalar(s.MulScalar(inter, 2), 1e-5), s.AddScalar(denom, 1e-5))
	fg := s.Mean(s.Slice(dice, 0, 1, int64(classes)))
	return s.Add(s.CrossEntropy(logits, target), s.AddScalar(s.MulScalar(fg, -1), 1))
}
