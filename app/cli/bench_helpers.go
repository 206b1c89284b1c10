package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"cmrseg/inference/torch"
	"cmrseg/inference/unet"
	"cmrseg/inference/weights"
)

// writeRandomWeights saves a seeded, freshly initialised network, the common
// starting point of a Go/PyTorch benchmark pair.
func writeRandomWeights(cfg unet.Config, path string, threads int) error {
	w := torch.NewWorker(threads)
	defer w.Close()
	return w.Do(context.Background(), func(s *torch.Scope) error {
		s.ManualSeed(0)
		m, err := unet.New(s, cfg)
		if err != nil {
			return err
		}
		defer m.Free()
		ws, err := m.Export(s)
		if err != nil {
			return err
		}
		return weights.Write(path, ws, weights.F32, nil)
	})
}

// paramText is a parameter count for benchmark headers.
func paramText(c unet.Config) string {
	return fmt.Sprintf("%.2f M parameters", float64(c.Params())/1e6)
}

// timedChild runs one benchmark process and returns its median seconds per
// iteration (first iteration dropped) and its peak RSS in MB.
func timedChild(cmd *exec.Cmd) (float64, float64, error) {
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("%v: %s", err, strings.TrimSpace(errb.String()))
	}
	var ts []float64
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		if v, err := strconv.ParseFloat(strings.TrimSpace(sc.Text()), 64); err == nil {
			ts = append(ts, v)
		}
	}
	if len(ts) < 2 {
		return 0, 0, fmt.Errorf("no timings in output %q", out.String())
	}
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	rss := 0.0
	if ru != nil {
		rss = float64(ru.Maxrss) / 1024
	}
	return median(ts[1:]), rss, nil
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func findReference(flagPath string) (string, error) {
	cands := []string{flagPath}
	if exe, err := os.Executable(); err == nil {
		cands = append(cands, filepath.Join(filepath.Dir(exe), "..", "inference", "reference", "unet_ref.py"),
			filepath.Join(filepath.Dir(exe), "..", "share", "cmrseg", "unet_ref.py"))
	}
	cands = append(cands, filepath.Join("inference", "reference", "unet_ref.py"))
	for _, c := range cands {
		if c == "" {
			continue
		}
		if _, err := os.Stat(c); err == nil {
			return c, nil
		}
	}
	return "", fmt.Errorf("PyTorch reference script unet_ref.py not found; pass --reference")
}

// pairFlags are the flags of every Go/PyTorch benchmark.
type pairFlags struct {
	iters, rounds, threads *int
	ref, python            *string
}

func addPairFlags(fs *flag.FlagSet) pairFlags {
	return pairFlags{
		iters:   fs.Int("iters", 6, "iterations per process (the first is warm-up)"),
		rounds:  fs.Int("rounds", 3, "A/B rounds (each side once per round)"),
		threads: fs.Int("threads", 2, "intra-op threads on both sides"),
		ref:     fs.String("reference", "", "path of inference/reference/unet_ref.py (default: found from the binary or the working folder)"),
		python:  fs.String("python", "/usr/bin/python3", "Python with PyTorch"),
	}
}

// benchPair is what both sides of a Go/PyTorch benchmark read: the
// network's JSON config and its seeded random weights in a temporary
// folder, the PyTorch reference script, and this binary for the Go side.
type benchPair struct {
	Dir, Script, Exe, NetJSON, Weights string
}

// newBenchPair prepares a pair for net; ref is the --reference flag. Close
// removes the folder.
func newBenchPair(ref string, net unet.Config, threads int) (*benchPair, error) {
	script, err := findReference(ref)
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "cmrseg-bench")
	if err != nil {
		return nil, err
	}
	p := &benchPair{Dir: dir, Script: script, Exe: exe,
		NetJSON: filepath.Join(dir, "net.json"), Weights: filepath.Join(dir, "weights.safetensors")}
	nj, _ := json.Marshal(net)
	if err := os.WriteFile(p.NetJSON, nj, 0o644); err != nil {
		p.Close()
		return nil, err
	}
	if err := writeRandomWeights(net, p.Weights, threads); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func (p *benchPair) Close() { os.RemoveAll(p.Dir) }

// benchSide is one side of a benchmark: a process printing seconds per
// iteration, one per line.
type benchSide struct {
	name string
	cmd  func() *exec.Cmd
}

// alternate runs every side once per round, in turn, so that machine load
// hits all alike; it returns each side's seconds per iteration and peak
// RSS (MB), one value per round.
func alternate(rounds int, sides []benchSide) (secs, rss [][]float64, err error) {
	secs, rss = make([][]float64, len(sides)), make([][]float64, len(sides))
	for r := 0; r < rounds; r++ {
		for i, sd := range sides {
			t, m, err := timedChild(sd.cmd())
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", sd.name, err)
			}
			secs[i], rss[i] = append(secs[i], t), append(rss[i], m)
		}
	}
	return secs, rss, nil
}
