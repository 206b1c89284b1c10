package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"cmrseg/app/dicomio"
	"cmrseg/app/exam"
	"cmrseg/app/studyio"
)

func init() {
	registerBench("exam", "peak RSS and time of listing and opening a large synthetic DICOM exam (lazy pixel loading)", runBenchExam)
	commands["bench-exam-child"] = command{"", runBenchExamChild} // hidden: one measured opening
}

// runBenchExam builds an exam of about --gb gigabytes around the Sunnybrook
// series (copies of its short-axis cine as further series, plus localiser,
// long-axis and other series) and measures, each in a child process of its
// own: `cmrseg info` (headers only), opening for segmentation (headers,
// then the chosen series decoded) and, with --eager, decoding every series
// as the series reader alone would.
func runBenchExam(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench exam", stderr)
	gb := fs.Float64("gb", 1, "exam size to build, in GB (10^9 bytes)")
	sb := fs.String("sunnybrook", filepath.Join("..", "shared", "data", "sunnybrook", "SCD0000101"), "the Sunnybrook short-axis series to build the exam from")
	keep := fs.String("keep", "", "build the exam here (kept) instead of a temporary folder")
	eager := fs.Bool("eager", false, "also measure decoding every series (the series reader without lazy loading)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var per int64
	ents, err := os.ReadDir(*sb)
	if err != nil {
		return fmt.Errorf("bench exam: %w", err)
	}
	for _, e := range ents {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
			per += info.Size()
		}
	}
	if per == 0 {
		return fmt.Errorf("bench exam: %s: no files", *sb)
	}
	dir := *keep
	if dir == "" {
		tmp, err := os.MkdirTemp("", "cmrseg-bench-exam-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = filepath.Join(tmp, "EXAM")
	}
	copies := max(0, int(*gb*1e9/float64(per)+0.5)-1)
	t0 := time.Now()
	series, err := exam.Synthesize(dir, *sb, exam.SynthOptions{Copies: copies, Salt: "bench"})
	if err != nil {
		return err
	}
	var size int64
	files := 0
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				size += info.Size()
				files++
			}
		}
		return nil
	})
	fmt.Fprintf(stdout, "exam %s: %d series, %d files, %.2f GB, built in %.1f s\n", dir, len(series), files, float64(size)/1e9, time.Since(t0).Seconds())
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	runs := []struct{ name, mode string }{
		{"floor: the program, nothing read", "none"},
		{"cmrseg info (headers only)", "info"},
		{"open: scan + decode the chosen series", "open"},
	}
	if *eager {
		runs = append(runs, struct{ name, mode string }{"eager: decode every series", "eager"})
	}
	fmt.Fprintf(stdout, "%-40s %10s %12s\n", "measured in a child process", "wall s", "peak RSS MB")
	for _, r := range runs {
		cmd := exec.Command(exe, "bench-exam-child", r.mode, dir)
		cmd.Stderr = stderr
		t := time.Now()
		out, err := cmd.Output()
		wall := time.Since(t).Seconds()
		peak := 0.0
		if cmd.ProcessState != nil {
			if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
				peak = float64(ru.Maxrss) / 1024 // KiB on Linux
			}
		}
		status := string(out)
		if err != nil {
			status = fmt.Sprintf("failed: %v %s", err, out)
		}
		fmt.Fprintf(stdout, "%-40s %10.1f %12.0f   %s", r.name, wall, peak, status)
	}
	return nil
}

// runBenchExamChild is one measured opening of an exam.
func runBenchExamChild(args []string, stdout, stderr io.Writer) error {
	if len(args) != 2 {
		return errors.New("usage: cmrseg bench-exam-child info|open|eager EXAM")
	}
	mode, dir := args[0], args[1]
	switch mode {
	case "none":
		fmt.Fprintln(stdout, "nothing read")
	case "info":
		ex, err := exam.Scan(dir)
		if err != nil {
			return err
		}
		if err := exam.Describe(io.Discard, ex); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d series listed\n", len(ex.Entries))
	case "open":
		st, err := studyio.Open(dir)
		if err != nil {
			return err
		}
		s := st.Series[0]
		fmt.Fprintf(stdout, "decoded %q %v × %d\n", s.Meta.SeriesDescription, s.Dims, s.NT)
	case "eager":
		st, err := dicomio.Open(dir)
		if err != nil {
			return err
		}
		n := 0
		for _, s := range st.Series {
			n += len(s.Data)
		}
		fmt.Fprintf(stdout, "decoded %d series, %d voxels\n", len(st.Series), n)
	default:
		return fmt.Errorf("bench-exam-child: unknown mode %q", mode)
	}
	return nil
}
