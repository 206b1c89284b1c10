package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"cmrseg/app/atomicfile"
	"cmrseg/app/contour"
	"cmrseg/app/studyio"
	"cmrseg/inference/ensemble"
	"cmrseg/inference/torch"
	"cmrseg/training/evaluation"
)

func init() {
	register("evaluate-contours", "LV cavity and myocardium Dice of model bundles against expert contours on a DICOM series (Sunnybrook format)", runEvaluateContours)
}

// runEvaluateContours scores bundles on a series whose expert labels are
// contours of some images only: only contoured images count, so a slice
// the expert skipped cannot be scored as a false positive.
func runEvaluateContours(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("evaluate-contours", stderr)
	series := fs.String("dicom", "", "DICOM series folder (e.g. ../shared/data/sunnybrook/SCD0000101)")
	contours := fs.String("contours", "", "folder with i-contours/ and o-contours/ (Sunnybrook *contour-manual.txt)")
	models := fs.String("model", "", "model bundle(s) or run folder(s), comma-separated (default: the bundled model)")
	jsonOut := fs.String("json", "", "write the results as JSON to this file")
	threads := fs.Int("threads", 0, "torch threads (0: one per core)")
	device := fs.String("device", "auto", "auto, cpu or cuda")
	tilingName := fs.String("tiling", "auto", tilingHelp)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	tiling, err := parseTiling(*tilingName)
	if err != nil {
		return err
	}
	if *series == "" || *contours == "" {
		return fmt.Errorf("--dicom and --contours are required")
	}
	st, err := studyio.Open(*series)
	if err != nil {
		return err
	}
	s := st.Series[0]
	ref, err := contour.LoadSunnybrook(*contours, s)
	if err != nil {
		return err
	}
	phases := evaluation.ContouredPhases(ref, s)
	if len(phases) == 0 {
		return fmt.Errorf("%s: no contour matches an image of %s", *contours, *series)
	}
	var dirs []string
	if *models == "" {
		d, err := findModel("")
		if err != nil {
			return err
		}
		dirs = []string{d}
	} else {
		dirs = strings.Split(*models, ",")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	w := torch.NewWorker(*threads)
	defer w.Close()

	fmt.Fprintf(stdout, "%s: %d phases with contours (%v)\n", *series, len(phases), oneBased(phases))
	var results []*evaluation.ContourScore
	for _, dir := range dirs {
		b, err := bundleOf(dir)
		if err != nil {
			return err
		}
		p, err := ensemble.Load(w, b.Dir, ensemble.Options{Device: *device, Tiling: tiling})
		if err != nil {
			return err
		}
		t0 := time.Now()
		rs, err := p.Predict(ctx, s, phases, nil)
		p.Close()
		if err != nil {
			return err
		}
		cs := &evaluation.ContourScore{Name: evaluation.MethodName(b.Dir, b.Kind), Bundle: b.Dir, Seconds: time.Since(t0).Seconds()}
		evaluation.ScoreContours(cs, s, ref, phases, rs)
		results = append(results, cs)
	}
	fmt.Fprintf(stdout, "\n%-22s %18s %18s %9s %9s %8s\n", "method", "LV cavity Dice", "LV myo Dice", "cav pool", "myo pool", "seconds")
	for _, r := range results {
		fmt.Fprintf(stdout, "%-22s %8.3f ± %.3f %-3d %8.3f ± %.3f %-3d %9.3f %9.3f %8.1f\n", r.Name,
			r.CavityDice, r.CavityDiceSD, r.CavityImages, r.MyocardiumDice, r.MyocardiumDiceSD, r.MyocardiumImages,
			r.CavityPooled, r.MyocardiumPooled, r.Seconds)
	}
	fmt.Fprintln(stdout, "(mean ± SD over contoured images, image count; pooled = one Dice over all contoured pixels)")
	if *jsonOut != "" {
		data, err := json.MarshalIndent(results, "", "  ")
		if err != nil {
			return err
		}
		if err := atomicfile.Write(*jsonOut, append(data, '\n')); err != nil {
			return err
		}
	}
	return nil
}

// oneBased turns phase indices into the numbers people read.
func oneBased(ts []int) []int {
	out := make([]int, len(ts))
	for i, t := range ts {
		out[i] = t + 1
	}
	return out
}
