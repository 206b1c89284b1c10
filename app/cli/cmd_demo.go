package cli

import (
	"fmt"
	"io"

	"cmrseg/app/phantom"
	"cmrseg/app/study"
	"cmrseg/app/studyio"
)

func init() {
	register("demo", "headless demo on the embedded synthetic phantom study", runDemo)
}

// runDemo describes the embedded demo study and its known truth. The
// review window replaces it as the default command once it exists.
func runDemo(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", stderr)
	seed := fs.Uint64("seed", 1, "phantom seed")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	s, _, truth := phantom.Generate(phantom.Options{Seed: *seed})
	if err := studyio.Describe(stdout, &study.Study{Path: "embedded demo phantom", Series: []*study.Series{s}}); err != nil {
		return err
	}
	v := truth.Labels
	fmt.Fprintf(stdout, "  truth      LV EDV %.1f ml, ESV %.1f ml, EF %.1f %%; RV EF %.1f %%\n", v.LVEDV, v.LVESV, v.LVEF, v.RVEF)
	return nil
}
