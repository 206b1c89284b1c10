package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"cmrseg/app/atomicfile"
	"cmrseg/inference/ensemble"
	"cmrseg/inference/torch"
	"cmrseg/training/data"
	"cmrseg/training/evaluation"
	"cmrseg/training/metrics"
)

func init() {
	register("evaluate", "Dice, ECE, failure-detection AUROC and reliability diagrams of model bundles on labelled cases", runEvaluate)
}

func runEvaluate(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("evaluate", stderr)
	dataDir := fs.String("data", "", "labelled data set folder(s), comma-separated (ACDC or nnU-Net layout)")
	models := fs.String("model", "", "model bundle(s) or run folder(s), comma-separated: one row each")
	casesFlag := fs.String("cases", "", "case IDs to evaluate, comma-separated (default: every labelled case)")
	splitFrom := fs.String("split-from", "", "evaluate the validation cases of this run folder")
	jsonOut := fs.String("json", "", "write the results as JSON to this file")
	pngDir := fs.String("png-dir", "", "write a reliability diagram PNG per method into this folder")
	threads := fs.Int("threads", 0, "torch threads (0: one per core)")
	device := fs.String("device", "auto", "auto, cpu or cuda")
	tta := fs.Bool("tta", false, "test-time mirroring")
	tiling := fs.String("tiling", "auto", tilingHelp)
	calibratePP := fs.Bool("calibrate-postprocessing", false, "choose each bundle's largest-component post-processing on these cases (nnU-Net's rule) and store it in its model.toml")
	calibrateT := fs.Bool("calibrate-temperature", false, "fit one logit temperature for all of each bundle's checkpoints (NLL of their averaged softmax) on these cases, store it in its model.toml, then score the tempered bundle (give it with --calibrate-qc: the QC threshold depends on it)")
	calibrate := fs.Bool("calibrate-qc", false, "store each bundle's slice-flag threshold (best Youden J for failed slices on these cases) in its model.toml")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *models == "" {
		return fmt.Errorf("--model is required")
	}
	tile, err := parseTiling(*tiling)
	if err != nil {
		return err
	}
	if *casesFlag != "" && *splitFrom != "" {
		return fmt.Errorf("give --cases or --split-from, not both")
	}
	var paths []string
	if *dataDir != "" {
		paths = strings.Split(*dataDir, ",")
	}
	var ids []string
	switch {
	case *casesFlag != "":
		ids = strings.Split(*casesFlag, ",")
	case *splitFrom != "":
		sp, err := data.ReadSplit(filepath.Join(*splitFrom, data.SplitFile))
		if err != nil {
			return err
		}
		if len(sp.Val) == 0 {
			return fmt.Errorf("run %s has no validation cases", *splitFrom)
		}
		ids = sp.Val
		if len(paths) == 0 {
			paths = sp.Data
		}
	}
	if len(paths) == 0 {
		return fmt.Errorf("--data is required")
	}
	all, err := data.List(paths)
	if err != nil {
		return err
	}
	cases := all
	if ids != nil {
		if cases, err = data.Select(all, ids); err != nil {
			return err
		}
	}
	if *pngDir != "" {
		if err := os.MkdirAll(*pngDir, 0o755); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	w := torch.NewWorker(*threads)
	defer w.Close()

	// Load every case once; each method predicts the same volumes.
	vols, err := evaluation.LoadCases(cases)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "evaluating %d cases (%s) from %s\n", len(cases), caseSummary(cases), strings.Join(paths, ", "))

	opt := evaluation.Options{
		Device: *device, TTA: *tta, Tiling: tile,
		CalibratePostprocessing: *calibratePP, CalibrateQC: *calibrate, CalibrateTemperature: *calibrateT, PNGDir: *pngDir,
		Warn: func(msg string) { fmt.Fprintf(stderr, "warning: %s\n", msg) },
		OnCase: func(name string, i, n int, id string) {
			fmt.Fprintf(stdout, "\r%s: case %d/%d %s   ", name, i, n, id)
		},
		OnPredicted: func(string) { fmt.Fprintf(stdout, "\r%s\r", strings.Repeat(" ", 80)) },
	}
	var results []*evaluation.MethodScore
	for _, dir := range strings.Split(*models, ",") {
		b, err := bundleOf(dir)
		if err != nil {
			return err
		}
		ms, err := evaluation.Bundle(ctx, w, b, vols, opt)
		if err != nil {
			return err
		}
		results = append(results, ms)
	}
	printTables(stdout, results)
	for _, r := range results {
		printFailure(stdout, r)
	}
	if *jsonOut != "" {
		b, err := json.MarshalIndent(struct {
			Data    []string                  `json:"data"`
			Cases   []string                  `json:"cases"`
			Bins    int                       `json:"ece_bins"`
			Methods []*evaluation.MethodScore `json:"methods"`
		}{paths, caseIDs(cases), evaluation.ECEBins, results}, "", "  ")
		if err != nil {
			return err
		}
		if err := atomicfile.Write(*jsonOut, append(b, '\n')); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s\n", *jsonOut)
	}
	return nil
}

func printTables(w io.Writer, rs []*evaluation.MethodScore) {
	fmt.Fprintf(w, "\nTable 1: Dice (mean over volumes)   Table 2: ECE %% (%d bins, reference-foreground box, mean over volumes)\n", evaluation.ECEBins)
	fmt.Fprintf(w, "%-34s %6s %7s %7s %7s %7s %8s %8s %10s\n", "method", "samples", "RV", "MYO", "LV", "mean", "ECE %", "AUROC", "failed")
	for _, r := range rs {
		mean := (r.Dice[0] + r.Dice[1] + r.Dice[2]) / 3
		fmt.Fprintf(w, "%-34s %6d %7.3f %7.3f %7.3f %7.3f %8.2f %8.3f %5d/%-4d\n",
			r.Name, r.Samples, r.Dice[0], r.Dice[1], r.Dice[2], mean, r.ECE, r.AUROC, r.FailedSlices, r.Slices)
	}
	for _, r := range rs {
		if r.Postprocess != "none" {
			fmt.Fprintf(w, "post-processing %-24s %s; without it RV/MYO/LV %.3f/%.3f/%.3f\n", r.Name, r.Postprocess, r.RawDice[0], r.RawDice[1], r.RawDice[2])
		}
	}
	for _, r := range rs {
		if r.Temperature != 0 {
			fmt.Fprintf(w, "temperature %-28s %.4f (logits of every checkpoint divided by it before the softmax)\n", r.Name, r.Temperature)
		}
	}
	fmt.Fprintf(w, "AUROC: per-slice uncertainty (mean entropy over the slice's predicted foreground) against slices with mean foreground Dice < %.1f\n", metrics.FailureDice)
	for _, r := range rs {
		if r.QC != nil {
			fmt.Fprintf(w, "QC flag threshold %-22s %.3f nats: sensitivity %.3f, specificity %.3f (best Youden J)\n", r.Name, r.QC.Threshold, r.QC.Sensitivity, r.QC.Specificity)
		}
	}
}

// printFailure prints the failure analysis compactly: Dice per group ×
// phase × slice position, and the raw prediction's islands.
func printFailure(w io.Writer, r *evaluation.MethodScore) {
	fa := r.Failure
	if fa == nil || len(fa.Groups) == 0 {
		return
	}
	fmt.Fprintf(w, "\nFailure analysis %s: Dice RV/MYO/LV by slice position from the base (thirds of the reference's slices), post-processed [raw];\n", r.Name)
	fmt.Fprintf(w, "islands: raw 26-connected components beyond the largest, mean per volume (ml)\n")
	fmt.Fprintf(w, "%-5s %-5s %3s  %-31s %-31s %-31s  %s\n", "group", "phase", "n", "basal", "mid", "apical", "islands RV/MYO/LV")
	for _, is := range fa.Islands {
		fmt.Fprintf(w, "%-5s %-5s %3d ", is.Group, is.Phase, is.Volumes)
		for _, pos := range evaluation.PositionNames[:3] {
			c := fa.Cell(is.Group, is.Phase, pos)
			fmt.Fprintf(w, " %s [%s]", dice3(c.Dice), dice3(c.RawDice))
		}
		fmt.Fprintf(w, "  %.1f/%.1f/%.1f (%.1f/%.1f/%.1f ml)\n", is.Count[0], is.Count[1], is.Count[2], is.ML[0], is.ML[1], is.ML[2])
	}
}

// dice3 formats three Dice values as .xx, "  -" where undefined.
func dice3(d evaluation.Scores) string {
	parts := make([]string, 3)
	for i, x := range d {
		if math.IsNaN(x) {
			parts[i] = "   -"
		} else {
			parts[i] = fmt.Sprintf("%4s", strings.TrimPrefix(fmt.Sprintf("%.2f", x), "0"))
		}
	}
	return strings.Join(parts, " ")
}

func caseIDs(cs []data.Case) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.ID
	}
	return out
}

func caseSummary(cs []data.Case) string {
	groups := map[string]int{}
	for _, c := range cs {
		groups[c.Group]++
	}
	var parts []string
	for _, g := range []string{"DCM", "HCM", "MINF", "NOR", "RV", ""} {
		if n := groups[g]; n > 0 {
			name := g
			if name == "" {
				name = "no group"
			}
			parts = append(parts, fmt.Sprintf("%s %d", name, n))
		}
	}
	return strings.Join(parts, ", ")
}

const tilingHelp = "auto (heart region: one checkpoint locates the heart, the ensemble runs on it, one tile per checkpoint shifted per checkpoint when it fits a patch), region-window (heart region with the sliding window over it), full (the sliding window over the whole slice whenever it exceeds the training patch), whole, or sliding (always)"

// parseTiling maps the --tiling flag to the ensemble's choice.
func parseTiling(s string) (ensemble.Tiling, error) {
	switch s {
	case "", "auto":
		return ensemble.TileAuto, nil
	case "whole":
		return ensemble.TileNever, nil
	case "sliding":
		return ensemble.TileAlways, nil
	case "full":
		return ensemble.TileFull, nil
	case "region-window":
		return ensemble.TileRegionWindow, nil
	}
	return 0, fmt.Errorf("--tiling %q: want auto, region-window, full, whole or sliding", s)
}
