package cli

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"cmrseg/inference/torch"
	"cmrseg/inference/weights"
	"cmrseg/training/config"
	"cmrseg/training/data"
	"cmrseg/training/trainer"
)

func init() {
	registerBench("train", "training step of a config, Go vs PyTorch", runBenchTrain)
	commands["bench-train-child"] = command{"", runBenchTrainChild} // hidden: the Go side of one pair
}

// runBenchTrain times one training iteration of a config's network in Go
// (trainer.Stepper: forward, Dice+CE with deep supervision as configured,
// backward, clipping, SGD) and in PyTorch (unet_ref.py bench … train: the
// same network, Dice+CE on the full-resolution output, SGD), in
// alternating processes so machine load hits both alike.
func runBenchTrain(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench train", stderr)
	cfgPath := fs.String("config", "", "training config (default: the cpu preset)")
	pf := addPairFlags(fs)
	iters, rounds, threads, ref, python := pf.iters, pf.rounds, pf.threads, pf.ref, pf.python
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg := config.CPUPreset()
	if *cfgPath != "" {
		var err error
		if cfg, err = config.Load(*cfgPath); err != nil {
			return err
		}
	}
	net := trainer.NetworkConfig(cfg.Network)
	pair, err := newBenchPair(*ref, net, *threads)
	if err != nil {
		return err
	}
	defer pair.Close()
	tomlPath := filepath.Join(pair.Dir, "config.toml")
	if err := cfg.Save(tomlPath); err != nil {
		return err
	}
	b, ph, pw := cfg.Train.BatchSize, cfg.Train.Patch[0], cfg.Train.Patch[1]
	fmt.Fprintf(stdout, "training step: U-Net %d stages, base %d (%s), batch %d at %d×%d, %d threads; %d rounds A/B, %d iterations per process, first dropped\n",
		net.Stages, net.BaseFeatures, paramText(net), b, ph, pw, *threads, *rounds, *iters)
	fmt.Fprintf(stdout, "%-34s %10s %8s %10s %8s\n", "side", "s/it", "it/s", "peak RSS MB", "vs PyTorch")
	sides := []benchSide{
		{"PyTorch (no deep supervision)", func() *exec.Cmd {
			return exec.Command(*python, pair.Script, "bench", pair.NetJSON, pair.Weights, fmt.Sprintf("%d,1,%d,%d", b, ph, pw), "train", strconv.Itoa(*iters), strconv.Itoa(*threads))
		}},
		{"Go trainer, no deep supervision", func() *exec.Cmd {
			return exec.Command(pair.Exe, "bench-train-child", tomlPath, pair.Weights, strconv.Itoa(*iters), strconv.Itoa(*threads), "0")
		}},
	}
	if cfg.Network.DeepSupervision {
		sides = append(sides, benchSide{"Go trainer, as configured (DS)", func() *exec.Cmd {
			return exec.Command(pair.Exe, "bench-train-child", tomlPath, pair.Weights, strconv.Itoa(*iters), strconv.Itoa(*threads), "1")
		}})
	}
	ts, rss, err := alternate(*rounds, sides)
	if err != nil {
		return err
	}
	base := median(ts[0])
	for i, sd := range sides {
		t := median(ts[i])
		fmt.Fprintf(stdout, "%-34s %10.3f %8.3f %10.0f %8.2f×\n", sd.name, t, 1/t, median(rss[i]), t/base)
	}
	its := cfg.Schedule.Epochs * cfg.Train.ItersPerEpoch
	fmt.Fprintf(stdout, "this config: %d iterations ≈ %.0f min of optimizer steps in Go (validation and data loading extra)\n", its, float64(its)*median(ts[len(ts)-1])/60)
	return nil
}

// runBenchTrainChild is the Go side: CONFIG.toml WEIGHTS ITERS THREADS DS.
// It prints seconds per training step, one per line, like unet_ref.py.
func runBenchTrainChild(args []string, stdout, stderr io.Writer) error {
	if len(args) != 5 {
		return fmt.Errorf("bench-train-child CONFIG WEIGHTS ITERS THREADS DS")
	}
	cfg, err := config.Load(args[0])
	if err != nil {
		return err
	}
	cfg.Network.DeepSupervision = args[4] == "1"
	ws, _, err := weights.Read(args[1])
	if err != nil {
		return err
	}
	iters, _ := strconv.Atoi(args[2])
	threads, _ := strconv.Atoi(args[3])
	n, h, wd := cfg.Train.BatchSize, cfg.Train.Patch[0], cfg.Train.Patch[1]
	batch := &data.Batch{N: n, H: h, W: wd, Image: make([]float32, n*h*wd), Labels: make([]int64, n*h*wd)}
	rng := uint64(1)
	for i := range batch.Image {
		rng = rng*6364136223846793005 + 1442695040888963407
		batch.Image[i] = float32(int64(rng>>33)%2001-1000) / 500
		batch.Labels[i] = int64(rng>>20) % trainer.Classes
	}
	w := torch.NewWorker(threads)
	defer w.Close()
	return w.Do(context.Background(), func(s *torch.Scope) error {
		st, err := trainer.NewStepper(s, cfg, torch.CPU)
		if err != nil {
			return err
		}
		defer st.Close()
		if err := st.Model.Load(s, ws); err != nil {
			return err
		}
		st.SetLR(0.01)
		for i := 0; i < iters; i++ {
			t0 := time.Now()
			if _, err := st.Step(s, batch); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%.6f\n", time.Since(t0).Seconds())
		}
		return nil
	})
}
