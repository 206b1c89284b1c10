package cli

import (
	"bufio"
	"bytes"
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
	profile := fs.Bool("profile", false, "also profile the forward per op kind, Go and PyTorch side by side, at batch 1, --forward-batch and --profile-batch")
	profBatch := fs.Int("profile-batch", 8, "the larger batch of --profile")
	pf := addPairFlags(fs)
	iters, rounds, threads, ref, python := pf.iters, pf.rounds, pf.threads, pf.ref, pf.python
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *profile && *iters < 2 {
		return fmt.Errorf("--profile needs --iters 2 or more (the first is warm-up)")
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
	if !*profile {
		return nil
	}
	batches := []int{1}
	for _, b := range []int{*fwdBatch, *profBatch} {
		if b != batches[len(batches)-1] && b != 1 {
			batches = append(batches, b)
		}
	}
	for _, batch := range batches {
		shape := fmt.Sprintf("%d,1,%d,%d", batch, *size, *size)
		g, err := profiledChild(exec.Command(pair.Exe, "bench-child", "forward", pair.NetJSON, pair.Weights, shape, strconv.Itoa(*iters), strconv.Itoa(*threads), "profile"))
		if err != nil {
			return fmt.Errorf("go forward profile: %w", err)
		}
		p, err := profiledChild(exec.Command(*python, pair.Script, "bench", pair.NetJSON, pair.Weights, shape, "forward", strconv.Itoa(*iters), strconv.Itoa(*threads), "profile"))
		if err != nil {
			return fmt.Errorf("pytorch forward profile: %w", err)
		}
		fmt.Fprintf(stdout, "\nper-op profile, forward batch %d: ms per forward, mean of %d forwards after a warm-up, one process per side\n", batch, *iters-1)
		printOpProfiles(stdout, g, p)
	}
	return nil
}

// opProfile is what a profiled bench child reports: its mean wall time per
// iteration and, per op kind, seconds and calls per iteration.
type opProfile struct {
	wall  float64
	ops   map[string]opCost
	order []string // most time first, as the child printed them
}

type opCost struct{ secs, calls float64 }

// profiledChild runs a bench child in profile mode: timing lines as
// timedChild reads them, then "op NAME SECONDS_PER_ITER CALLS_PER_ITER".
func profiledChild(cmd *exec.Cmd) (opProfile, error) {
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return opProfile{}, fmt.Errorf("%v: %s", err, strings.TrimSpace(errb.String()))
	}
	p := opProfile{ops: map[string]opCost{}}
	var ts []float64
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 1:
			if v, err := strconv.ParseFloat(f[0], 64); err == nil {
				ts = append(ts, v)
			}
		case len(f) == 4 && f[0] == "op":
			secs, err1 := strconv.ParseFloat(f[2], 64)
			calls, err2 := strconv.ParseFloat(f[3], 64)
			if err1 != nil || err2 != nil {
				return opProfile{}, fmt.Errorf("bad profile line %q", sc.Text())
			}
			p.ops[f[1]] = opCost{secs, calls}
			p.order = append(p.order, f[1])
		}
	}
	if len(ts) < 2 || len(p.ops) == 0 {
		return opProfile{}, fmt.Errorf("no profile in output %q", out.String())
	}
	// The mean, not the median: the op times are sums over the same
	// iterations (the first, warm-up, is outside the profile).
	for _, t := range ts[1:] {
		p.wall += t
	}
	p.wall /= float64(len(ts) - 1)
	return p, nil
}

// printOpProfiles prints the Go and PyTorch profiles side by side, Go's
// costliest ops first; what neither side's ops account for is the time
// spent between them (Go: scope bookkeeping, freeing tensors, the
// network's own Go code; PyTorch: the interpreter and the profiler).
func printOpProfiles(w io.Writer, g, p opProfile) {
	names := append([]string(nil), g.order...)
	for _, n := range p.order {
		if _, ok := g.ops[n]; !ok {
			names = append(names, n)
		}
	}
	ms := func(v float64) string { return fmt.Sprintf("%.3f", v*1e3) }
	pct := func(v, total float64) string { return fmt.Sprintf("%.1f%%", 100*v/total) }
	row := func(name, gms, gpct, pms, ppct, ratio, gc, pc string) {
		fmt.Fprintf(w, "%-20s %10s %7s %10s %7s %7s %8s %8s\n", name, gms, gpct, pms, ppct, ratio, gc, pc)
	}
	row("op", "Go ms", "Go %", "Torch ms", "Torch %", "ratio", "Go n", "Torch n")
	var gsum, psum float64
	for _, n := range names {
		gc, gok := g.ops[n]
		pc, pok := p.ops[n]
		gms, gp, gn, pms, pp, pn, ratio := "-", "-", "-", "-", "-", "-", "-"
		if gok {
			gsum += gc.secs
			gms, gp, gn = ms(gc.secs), pct(gc.secs, g.wall), fmt.Sprintf("%g", gc.calls)
		}
		if pok {
			psum += pc.secs
			pms, pp, pn = ms(pc.secs), pct(pc.secs, p.wall), fmt.Sprintf("%g", pc.calls)
		}
		if gok && pok && pc.secs > 0 {
			ratio = fmt.Sprintf("%.2f", gc.secs/pc.secs)
		}
		row(n, gms, gp, pms, pp, ratio, gn, pn)
	}
	line := func(name string, gv, pv float64) {
		row(name, ms(gv), pct(gv, g.wall), ms(pv), pct(pv, p.wall), fmt.Sprintf("%.2f", gv/pv), "", "")
	}
	line("sum of listed ops", gsum, psum)
	line("outside listed ops", g.wall-gsum, p.wall-psum)
	line("total (wall)", g.wall, p.wall)
}

// runBenchChild is the Go side of one benchmark pair: the same protocol as
// unet_ref.py's bench mode (seconds per iteration, one per line; with
// "profile", the per-op lines of the iterations after the first follow).
func runBenchChild(args []string, stdout, stderr io.Writer) error {
	profile := len(args) == 7 && args[6] == "profile"
	if len(args) != 6 && !profile {
		return fmt.Errorf("bench-child MODE CONFIG WEIGHTS SHAPE ITERS THREADS [profile]")
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
		var stop func() []torch.OpStat
		for i := 0; i < iters; i++ {
			if profile && i == 1 { // the first iteration is warm-up
				stop = torch.EnableOpProfile()
			}
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
		if stop != nil {
			n := float64(iters - 1)
			for _, st := range stop() {
				fmt.Fprintf(stdout, "op %s %.6f %g\n", st.Name, st.Time.Seconds()/n, float64(st.Calls)/n)
			}
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
