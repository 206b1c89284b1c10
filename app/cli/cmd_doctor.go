package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"

	"cmrseg/app/modelpath"
	"cmrseg/inference/torch"
)

func init() {
	register("doctor", "check the torch runtime (libtorch version, devices, threads, BLAS) and say which model is active and why", runDoctor)
}

func runDoctor(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("doctor", stderr)
	threads := fs.Int("threads", 0, "intra-op threads (0: one per core)")
	model := fs.String("model", "", "model bundle folder to report on (default: the one commands would use)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	exe, _ := os.Executable()
	shim := filepath.Join(filepath.Dir(exe), "lib", "libcgotorch.so")
	w := torch.NewWorker(*threads)
	defer w.Close()
	var info torch.Info
	err := w.Do(context.Background(), func(s *torch.Scope) error {
		info = s.Describe()
		// A real computation, so a broken BLAS or libtorch shows here.
		x := s.Randn(2, 8)
		v := s.Item(s.Sum(s.Mul(x, x)))
		if s.Err() == nil && !(v > 0) {
			return fmt.Errorf("libtorch computed %g for a sum of squares", v)
		}
		if info.CUDA {
			y := s.To(x, torch.CUDA(0), torch.Float32)
			s.Item(s.Sum(y))
			if err := s.Err(); err != nil {
				return fmt.Errorf("CUDA reported available but a tensor could not be used there: %w", err)
			}
		}
		return s.Err()
	})
	fmt.Fprintf(stdout, "cmrseg doctor\n")
	fmt.Fprintf(stdout, "  shim        %s%s\n", shim, exists(shim))
	fmt.Fprintf(stdout, "  libtorch    %s\n", info.Version)
	fmt.Fprintf(stdout, "  CUDA        %v (%d device(s))\n", yesNo(info.CUDA), info.CUDADevices)
	fmt.Fprintf(stdout, "  threads     %d intra-op (of %d CPU cores)\n", info.Threads, runtime.NumCPU())
	fmt.Fprintf(stdout, "  BLAS        %s\n", info.BLAS())
	fmt.Fprintf(stdout, "  CPU         %s\n", info.CPUCapability())
	fmt.Fprintf(stdout, "  model       %s\n", describeModel(resolveModel(*model)))
	if err != nil {
		return fmt.Errorf("libtorch loaded but does not work: %w", err)
	}
	fmt.Fprintf(stdout, "  status      ok\n")
	return nil
}

func exists(p string) string {
	if _, err := os.Stat(p); err != nil {
		return " (not beside the binary: found through the system library path)"
	}
	return ""
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// describeModel says which model commands and the window use, and why.
func describeModel(c modelpath.Choice, err error) string {
	switch {
	case err != nil:
		return "none: " + err.Error()
	case c.Demo:
		return "demo segmenter (" + c.Why + ")"
	}
	return fmt.Sprintf("%s (%s: %s)", c.Dir, c.Source, c.Why)
}
