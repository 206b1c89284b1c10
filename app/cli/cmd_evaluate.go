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
	"regexp"
	"slices"
	"strings"
	"time"

	"cmrseg/app/atomicfile"
	"cmrseg/app/study"
	"cmrseg/inference/bundle"
	"cmrseg/inference/ensemble"
	"cmrseg/inference/postprocess"
	"cmrseg/inference/torch"
	"cmrseg/training/data"
	"cmrseg/training/metrics"
	"cmrseg/training/trainer"
)

func init() {
	register("evaluate", "Dice, ECE, failure-detection AUROC and reliability diagrams of model bundles on labelled cases", runEvaluate)
}

// ECEBins is the paper's binning for Table 2.
const ECEBins = 100

// volumeScore is one labelled volume's evaluation.
type volumeScore struct {
	Case    string     `json:"case"`
	Phase   int        `json:"phase"`
	Dice    [3]float64 `json:"dice"`     // RV, MYO, LV, post-processed; NaN → null
	RawDice [3]float64 `json:"dice_raw"` // the same without post-processing
	ECE     float64    `json:"ece_percent"`
}

// methodScore is one bundle's row of the tables.
type methodScore struct {
	Name         string                    `json:"name"`
	Bundle       string                    `json:"bundle"`
	Kind         string                    `json:"kind"`
	Checkpoints  int                       `json:"checkpoints"`
	Samples      int                       `json:"samples"`
	Dice         [3]float64                `json:"dice"` // mean over volumes: RV, MYO, LV, post-processed
	RawDice      [3]float64                `json:"dice_raw"`
	Postprocess  string                    `json:"postprocess"`
	ECE          float64                   `json:"ece_percent"`
	AUROC        float64                   `json:"failure_auroc"`
	FailedSlices int                       `json:"failed_slices"`
	Slices       int                       `json:"slices"`
	Seconds      float64                   `json:"seconds"`
	Reliability  string                    `json:"reliability_png,omitempty"`
	QC           *metrics.QCOperatingPoint `json:"qc_calibration,omitempty"`
	Volumes      []volumeScore             `json:"volumes"`
	Warnings     []string                  `json:"warnings,omitempty"`
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
	tiling := fs.String("tiling", "auto", "auto (the sliding window whenever a slice exceeds the training patch), whole, or sliding (always)")
	calibratePP := fs.Bool("calibrate-postprocessing", false, "choose each bundle's largest-component post-processing on these cases (nnU-Net's rule) and store it in its model.toml")
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
	type labelled struct {
		id     string
		series *study.Series
		phases []int
		refs   []*study.Labels
	}
	var vols []labelled
	for _, c := range cases {
		smp, err := c.Load()
		if err != nil {
			return err
		}
		l := labelled{id: c.ID, series: smp.Series}
		for t, ref := range smp.Labels {
			if ref != nil {
				l.phases = append(l.phases, t)
				l.refs = append(l.refs, ref)
			}
		}
		vols = append(vols, l)
	}
	fmt.Fprintf(stdout, "evaluating %d cases (%s) from %s\n", len(cases), caseSummary(cases), strings.Join(paths, ", "))

	var results []*methodScore
	for _, dir := range strings.Split(*models, ",") {
		b, err := bundleOf(dir)
		if err != nil {
			return err
		}
		ms := &methodScore{Name: methodName(b.Dir, b.Kind), Bundle: b.Dir, Kind: b.Kind, Checkpoints: len(b.Checkpoints)}
		train := map[string]bool{}
		for _, id := range b.Training.TrainCases {
			train[id] = true
		}
		var leaked []string
		for _, c := range cases {
			if train[c.ID] {
				leaked = append(leaked, c.ID)
			}
		}
		if len(leaked) > 0 {
			msg := fmt.Sprintf("%d evaluation case(s) were training cases of %s (e.g. %s): scores are optimistic", len(leaked), b.Dir, leaked[0])
			ms.Warnings = append(ms.Warnings, msg)
			fmt.Fprintf(stderr, "warning: %s\n", msg)
		}
		// Raw argmax maps: the bundle's post-processing (or the one chosen
		// here) is applied below, so both are scored from one prediction.
		p, err := ensemble.Load(w, b.Dir, ensemble.Options{Device: *device, TTA: *tta, Tiling: tile, RawLabels: true, OnWarning: func(m string) { ms.Warnings = append(ms.Warnings, m) }})
		if err != nil {
			return err
		}
		ms.Samples = p.Samples()
		cal, _ := metrics.NewCalibration(ECEBins)
		type predicted struct {
			id     string
			phase  int
			ref    study.Labels
			raw    []uint8
			ece    float64
			scores []float64
		}
		var preds []predicted
		t0 := time.Now()
		for vi, v := range vols {
			fmt.Fprintf(stdout, "\r%s: case %d/%d %s   ", ms.Name, vi+1, len(vols), v.id)
			rs, err := p.Predict(ctx, v.series, v.phases, nil)
			if err != nil {
				p.Close()
				return err
			}
			for i, r := range rs {
				ref := *v.refs[i]
				probs := metrics.Probs{Dims: r.Dims, Classes: r.Classes, Data: r.Prob}
				ece, err := metrics.VolumeECE(probs, ref, ECEBins)
				if err != nil {
					p.Close()
					return fmt.Errorf("case %s phase %d: %w", v.id, v.phases[i], err)
				}
				if _, err := cal.AddVolume(probs, ref); err != nil {
					p.Close()
					return err
				}
				preds = append(preds, predicted{v.id, v.phases[i], ref, r.Labels, ece, r.SliceScores})
			}
		}
		p.Close()
		fmt.Fprintf(stdout, "\r%s\r", strings.Repeat(" ", 80))
		ms.Seconds = time.Since(t0).Seconds()

		spec := b.Inference.Postprocess
		if *calibratePP {
			pv := make([]postprocess.Volume, len(preds))
			for i, pr := range preds {
				ref := pr.ref
				pv[i] = postprocess.Volume{Labels: pr.raw, Dims: ref.Dims, Score: func(l []uint8) ([]float64, error) {
					d, err := metrics.VolumeDice(ref, study.Labels{Geometry: ref.Geometry, Data: l})
					return d[:], err
				}}
			}
			ch, err := postprocess.Choose(pv, b.Network.Classes)
			if err != nil {
				return err
			}
			spec = ch.Spec
			spec.Decision = fmt.Sprintf("nnU-Net-style choice on %d volumes of %d cases: mean Dice RV/MYO/LV %s without, %s with; %s",
				ch.Volumes, len(cases), fmtDice(ch.Before), fmtDice(ch.After), time.Now().UTC().Format(time.RFC3339))
			b.Inference.Postprocess = spec
			if err := bundle.WriteManifest(b.Dir, &b.Manifest); err != nil {
				return fmt.Errorf("calibrate-postprocessing: %w", err)
			}
		}
		ms.Postprocess = spec.String()
		var dice, rawDice [3][]float64
		var eces, sliceDice, sliceScore []float64
		for _, pr := range preds {
			rd, err := metrics.VolumeDice(pr.ref, study.Labels{Geometry: pr.ref.Geometry, Data: pr.raw})
			if err != nil {
				return fmt.Errorf("case %s phase %d: %w", pr.id, pr.phase, err)
			}
			labels := slices.Clone(pr.raw)
			spec.Apply(labels, pr.ref.Dims)
			pred := study.Labels{Geometry: pr.ref.Geometry, Data: labels}
			d, err := metrics.VolumeDice(pr.ref, pred)
			if err != nil {
				return fmt.Errorf("case %s phase %d: %w", pr.id, pr.phase, err)
			}
			sd, err := metrics.SliceDice(pr.ref, pred)
			if err != nil {
				return err
			}
			sliceDice = append(sliceDice, sd...)
			sliceScore = append(sliceScore, pr.scores...)
			for c := range d {
				dice[c] = append(dice[c], d[c])
				rawDice[c] = append(rawDice[c], rd[c])
			}
			eces = append(eces, pr.ece)
			ms.Volumes = append(ms.Volumes, volumeScore{Case: pr.id, Phase: pr.phase, Dice: d, RawDice: rd, ECE: pr.ece})
		}
		for c := range dice {
			ms.Dice[c] = metrics.Mean(dice[c])
			ms.RawDice[c] = metrics.Mean(rawDice[c])
		}
		ms.ECE = metrics.Mean(eces)
		for _, d := range sliceDice {
			if !math.IsNaN(d) {
				ms.Slices++
				if d < metrics.FailureDice {
					ms.FailedSlices++
				}
			}
		}
		if ms.AUROC, err = metrics.FailureAUROC(sliceDice, sliceScore); err != nil {
			ms.AUROC = math.NaN()
			ms.Warnings = append(ms.Warnings, "failure AUROC undefined: "+err.Error())
		}
		if op, err := metrics.CalibrateQC(sliceDice, sliceScore); err != nil {
			ms.Warnings = append(ms.Warnings, "QC threshold not calibrated: "+err.Error())
		} else {
			ms.QC = &op
			if *calibrate {
				b.Inference.QCThreshold = op.Threshold
				b.Inference.QCCalibration = fmt.Sprintf("best Youden J for slices with Dice < %.2f on %d slices (%d failed) of %d cases: sensitivity %.3f, specificity %.3f; %s",
					metrics.FailureDice, op.Slices, op.Failed, len(cases), op.Sensitivity, op.Specificity, time.Now().UTC().Format(time.RFC3339))
				if err := bundle.WriteManifest(b.Dir, &b.Manifest); err != nil {
					return fmt.Errorf("calibrate-qc: %w", err)
				}
			}
		}
		if *pngDir != "" {
			ms.Reliability = filepath.Join(*pngDir, fileSafe(ms.Name)+"-reliability.png")
			if err := metrics.SaveReliability(ms.Reliability, cal, ms.ECE); err != nil {
				return err
			}
		}
		results = append(results, ms)
	}
	printTables(stdout, results)
	if *jsonOut != "" {
		b, err := json.MarshalIndent(struct {
			Data    []string       `json:"data"`
			Cases   []string       `json:"cases"`
			Bins    int            `json:"ece_bins"`
			Methods []*methodScore `json:"methods"`
		}{paths, caseIDs(cases), ECEBins, results}, "", "  ")
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

func printTables(w io.Writer, rs []*methodScore) {
	fmt.Fprintf(w, "\nTable 1: Dice (mean over volumes)   Table 2: ECE %% (%d bins, reference-foreground box, mean over volumes)\n", ECEBins)
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
	fmt.Fprintf(w, "AUROC: per-slice uncertainty (mean entropy over the slice's predicted foreground) against slices with mean foreground Dice < %.1f\n", metrics.FailureDice)
	for _, r := range rs {
		if r.QC != nil {
			fmt.Fprintf(w, "QC flag threshold %-22s %.3f nats: sensitivity %.3f, specificity %.3f (best Youden J)\n", r.Name, r.QC.Threshold, r.QC.Sensitivity, r.QC.Specificity)
		}
	}
}

// MarshalJSON writes NaN as null (JSON has no NaN).
func (v volumeScore) MarshalJSON() ([]byte, error) {
	type plain struct {
		Case    string      `json:"case"`
		Phase   int         `json:"phase"`
		Dice    [3]*float64 `json:"dice"`
		RawDice [3]*float64 `json:"dice_raw"`
		ECE     *float64    `json:"ece_percent"`
	}
	return json.Marshal(plain{v.Case, v.Phase, nums(v.Dice), nums(v.RawDice), num(v.ECE)})
}

// MarshalJSON writes NaN as null.
func (m methodScore) MarshalJSON() ([]byte, error) {
	type alias methodScore
	return json.Marshal(struct {
		alias
		Dice    [3]*float64 `json:"dice"`
		RawDice [3]*float64 `json:"dice_raw"`
		ECE     *float64    `json:"ece_percent"`
		AUROC   *float64    `json:"failure_auroc"`
	}{alias(m), nums(m.Dice), nums(m.RawDice), num(m.ECE), num(m.AUROC)})
}

func nums(d [3]float64) [3]*float64 { return [3]*float64{num(d[0]), num(d[1]), num(d[2])} }

func fmtDice(d []float64) string {
	parts := make([]string, len(d))
	for i, x := range d {
		parts[i] = fmt.Sprintf("%.4f", x)
	}
	return strings.Join(parts, "/")
}

func num(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

func methodName(dir, kind string) string {
	base := filepath.Base(filepath.Clean(dir))
	if base == trainer.BundleDir {
		base = filepath.Base(filepath.Dir(filepath.Clean(dir)))
	}
	return kind + " (" + base + ")"
}

var evalNameChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func fileSafe(s string) string { return strings.Trim(evalNameChars.ReplaceAllString(s, "_"), "_") }

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

// parseTiling maps the --tiling flag to the ensemble's choice.
func parseTiling(s string) (ensemble.Tiling, error) {
	switch s {
	case "", "auto":
		return ensemble.TileAuto, nil
	case "whole":
		return ensemble.TileNever, nil
	case "sliding":
		return ensemble.TileAlways, nil
	}
	return 0, fmt.Errorf("--tiling %q: want auto, whole or sliding", s)
}
