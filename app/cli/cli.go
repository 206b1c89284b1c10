// Package cli is cmrseg's command line: one file per command (cmd_*.go;
// `bench train` in cmd_bench_train.go), and the helpers they share in named
// files: flags.go (flag sets and usage errors), models.go (which model, via
// app/modelpath, and loading it), bench_helpers.go (timing child processes
// for the benchmarks). It is the one place that plugs the ensemble
// (inference) and the window (ui) together; the commands call packages for
// their logic (training/evaluation for `evaluate`) and only parse, wire and
// print.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"sort"
	"strings"

	_ "cmrseg/ui/startenv" // before Fyne initialises
)

// command is one CLI verb.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{}

func register(name, summary string, run func(args []string, stdout, stderr io.Writer) error) {
	commands[name] = command{summary, run}
}

// Run runs cmrseg with args (without the program name) and returns the
// process exit status.
func Run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		args = []string{"gui"}
	}
	name := args[0]
	if name == "-h" || name == "--help" || name == "help" {
		usage(stdout)
		return 0
	}
	cmd, ok := commands[name]
	if !ok && isPath(name) {
		// "cmrseg PATH…" opens the window on PATH, as "cmrseg gui PATH" does.
		name, cmd, ok = "gui", commands["gui"], true
		args = append([]string{"gui"}, args...)
	}
	if !ok {
		fmt.Fprintf(stderr, "cmrseg: %q is neither a command nor an existing file or folder\n\n", name)
		usage(stderr)
		return 2
	}
	if f := os.Getenv("CMRSEG_CPUPROFILE"); f != "" {
		// For developers: where a command's CPU time goes (go tool pprof).
		if stop, err := startCPUProfile(f); err != nil {
			fmt.Fprintf(stderr, "cmrseg: CMRSEG_CPUPROFILE: %v\n", err)
		} else {
			defer stop()
		}
	}
	if err := cmd.run(args[1:], stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		if !errors.Is(err, errUsage) {
			fmt.Fprintf(stderr, "cmrseg %s: %v\n", name, err)
		}
		return 1
	}
	return 0
}

// isPath reports whether word names an existing file or folder.
func isPath(word string) bool {
	if strings.HasPrefix(word, "-") {
		return false
	}
	_, err := os.Stat(word)
	return err == nil
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: cmrseg [command] [arguments]\n       cmrseg PATH      (open the window on a study file or folder)")
	fmt.Fprintln(w, "\nWithout a command, cmrseg opens on the embedded demo study.\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nResearch use only: not for clinical diagnosis.")
}

// startCPUProfile writes a CPU profile of the rest of the run to path.
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
