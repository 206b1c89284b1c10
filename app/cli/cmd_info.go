package cli

import (
	"fmt"
	"io"

	"cmrseg/app/studyio"
)

func init() {
	register("info", "describe studies: series, dims, spacing, phases, ED/ES", runInfo)
}

func runInfo(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("info", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("usage: cmrseg info PATH...")
	}
	failed := 0
	for _, p := range fs.Args() {
		st, err := studyio.Open(p)
		if err == nil {
			err = studyio.Describe(stdout, st)
		}
		if err != nil {
			fmt.Fprintf(stderr, "cmrseg info: %v\n", err)
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d inputs could not be read", failed, fs.NArg())
	}
	return nil
}
