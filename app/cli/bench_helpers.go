package cli

import (
	"bufio"
	"bytes"
	"context"
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
