package cli

import (
	"fmt"
	"io"

	"cmrseg/app/studyio"
)

func init() {
	register("info", "describe studies: a DICOM exam's series and their class; dims, spacing, phases, ED/ES", runInfo)
}

func runInfo(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("info", stderr)
	series := fs.String("series", "", "describe this series of a DICOM exam (number in the listing, #SeriesNumber or SeriesInstanceUID) instead of the short-axis cine")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("usage: cmrseg info [--series N] PATH...")
	}
	failed := 0
	for _, p := range fs.Args() {
		// A DICOM exam is listed from its headers: nothing is decoded.
		if err := studyio.DescribePath(stdout, p, *series); err != nil {
			fmt.Fprintf(stderr, "cmrseg info: %v\n", err)
			failed++
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d inputs could not be read", failed, fs.NArg())
	}
	return nil
}
