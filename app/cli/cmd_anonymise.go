package cli

import (
	"fmt"
	"io"
	"os"

	"cmrseg/app/anonymise"
)

func init() {
	register("anonymise", "de-identify a DICOM series or study folder (PS3.15 Basic Profile, dates shifted)", runAnonymise)
}

func runAnonymise(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("anonymise", stderr)
	keyFile := fs.String("key", "", "file holding a secret (at least 16 bytes) to give the same pseudonyms, UIDs and date shifts in every export; default: a random key kept only in memory")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: cmrseg anonymise [--key FILE] IN OUT")
		fmt.Fprintln(stderr, "\nIN is a DICOM file or a folder (searched recursively: images, SEG objects); OUT a new or empty folder.")
		fmt.Fprintln(stderr, "Follows DICOM PS3.15 Annex E, Basic Application Level Confidentiality Profile with the Retain")
		fmt.Fprintln(stderr, "Longitudinal Temporal Information with Modified Dates Option: names, IDs, addresses, comments and")
		fmt.Fprintln(stderr, "private attributes removed or replaced, patient name and ID replaced by a pseudonym, every date")
		fmt.Fprintln(stderr, "moved by the same number of days per patient (times kept), every instance UID replaced consistently")
		fmt.Fprintln(stderr, "(a SEG still refers to its images). Files whose BurnedInAnnotation is YES are refused. Output files")
		fmt.Fprintln(stderr, "are named IM00001.dcm, ... (source names often carry the patient's name).\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		fs.Usage()
		return errUsage
	}
	var key []byte
	if *keyFile != "" {
		k, err := os.ReadFile(*keyFile)
		if err != nil {
			return fmt.Errorf("--key: %w", err)
		}
		key = k
	}
	a, err := anonymise.New(key)
	if err != nil {
		return err
	}
	in, out := fs.Arg(0), fs.Arg(1)
	res, err := a.Dir(in, out)
	if res != nil {
		r := res.Report
		fmt.Fprintf(stdout, "%s -> %s: %d file(s) written, %d skipped, %d refused\n", in, out, len(res.Written), len(res.Skipped), len(res.Refused))
		fmt.Fprintf(stdout, "  attributes removed %d, emptied %d, replaced by dummies %d, private removed %d\n", r.Removed, r.Emptied, r.Dummied, r.Private)
		fmt.Fprintf(stdout, "  UIDs replaced %d, dates shifted %d, partial/placeholder dates emptied %d\n", r.UIDs, r.Dates, r.DatesDropped)
		for _, s := range res.Skipped {
			fmt.Fprintf(stdout, "  skipped %s\n", s)
		}
		for _, w := range r.Warnings {
			fmt.Fprintf(stderr, "cmrseg anonymise: warning: %s\n", w)
		}
	}
	return err
}
