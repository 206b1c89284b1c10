package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"os"
	"os/signal"
	"strings"

	"cmrseg/app/atomicfile"
	"cmrseg/app/study"
	"cmrseg/inference/ensemble"
	"cmrseg/inference/torch"
	"cmrseg/training/data"
	"cmrseg/training/evaluation"
	"cmrseg/training/metrics"
)

func init() {
	registerBench("anytime", "what an early answer is worth: validation Dice and ECE after k = 1…K posterior samples", runBenchAnytime)
}

// anytimeRow is the accuracy of the k-sample partial ensemble.
type anytimeRow struct {
	Samples int        `json:"samples"`
	Dice    [3]float64 `json:"dice_rv_myo_lv"`
	ESLV    float64    `json:"dice_lv_es"`
	// ECE as evaluate reports it (percent, per volume in the reference
	// foreground box, mean over volumes), and pooled over all volumes.
	ECE       float64 `json:"ece_percent"`
	ECEPooled float64 `json:"ece_pooled_percent"`
}

// runBenchAnytime segments labelled cases as the window does (ED and ES
// refined together, one checkpoint from each cycle in turn) and scores the
// partial ensemble after every sample: the curve that tells a reader what
// the contours shown after k of K checkpoints are worth.
func runBenchAnytime(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench anytime", stderr)
	model := fs.String("model", "", "model bundle (default: the bundled model)")
	dataDir := fs.String("data", "", "labelled data set folder(s), comma-separated (default: ../shared/data/acdc/training)")
	casesFlag := fs.String("cases", "", "case IDs, comma-separated (default: the bundle's validation cases)")
	threads := fs.Int("threads", 0, "torch threads (0: one per core)")
	tiling := fs.String("tiling", "auto", tilingHelp)
	jsonOut := fs.String("json", "", "also write the rows as JSON here")
	pngOut := fs.String("png", "", "also draw the rows as a PNG chart here (Dice and ECE against samples)")
	fromJSON := fs.String("from-json", "", "draw --png from rows this command wrote with --json, without segmenting")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *fromJSON != "" {
		if *pngOut == "" {
			return fmt.Errorf("--from-json needs --png")
		}
		raw, err := os.ReadFile(*fromJSON)
		if err != nil {
			return err
		}
		var rows []anytimeRow
		if err := json.Unmarshal(raw, &rows); err != nil || len(rows) == 0 {
			return fmt.Errorf("%s: not the rows of cmrseg bench anytime --json (%v)", *fromJSON, err)
		}
		return saveAnytimeChart(*pngOut, rows)
	}
	tile, err := parseTiling(*tiling)
	if err != nil {
		return err
	}
	dir, err := findModel(*model)
	if err != nil {
		return err
	}
	b, err := bundleOf(dir)
	if err != nil {
		return err
	}
	ids := b.Training.ValCases
	if *casesFlag != "" {
		ids = strings.Split(*casesFlag, ",")
	}
	if len(ids) == 0 && b.Training.CalibrationTwin != "" {
		// Its twin's held-out cases are training cases of this model.
		return fmt.Errorf("model %s trained on every case, so it has none held out: pass --cases, or give its twin %s as --model", dir, b.Training.CalibrationTwin)
	}
	if len(ids) == 0 {
		return fmt.Errorf("model %s names no validation cases: pass --cases", dir)
	}
	paths := []string{*dataDir}
	if *dataDir == "" {
		d := sharedData()
		if d == "" {
			return fmt.Errorf("no --data and no ../shared/data beside the repository")
		}
		paths = []string{d + "/acdc/training"}
	} else {
		paths = strings.Split(*dataDir, ",")
	}
	all, err := data.List(paths)
	if err != nil {
		return err
	}
	cases, err := data.Select(all, ids)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	w := torch.NewWorker(*threads)
	defer w.Close()
	p, err := ensemble.Load(w, dir, ensemble.Options{Tiling: tile})
	if err != nil {
		return err
	}
	defer p.Close()
	k := p.Samples()
	type acc struct {
		dice [3][]float64
		esLV []float64
		ece  []float64
		cal  *metrics.Calibration
	}
	per := make([]acc, k)
	for i := range per {
		per[i].cal, _ = metrics.NewCalibration(evaluation.ECEBins)
	}
	for ci, c := range cases {
		fmt.Fprintf(stderr, "\rcase %d/%d %s   ", ci+1, len(cases), c.ID)
		smp, err := c.Load()
		if err != nil {
			return err
		}
		var phases []int
		var refs []*study.Labels
		for t, ref := range smp.Labels {
			if ref != nil {
				phases, refs = append(phases, t), append(refs, ref)
			}
		}
		var scoreErr error
		_, err = p.Stream(ctx, smp.Series, phases, ensemble.Stream{Leading: len(phases), OnUpdate: func(u ensemble.Update) {
			ref := *refs[u.Index]
			a := &per[u.Samples-1]
			d, err := metrics.VolumeDice(ref, study.Labels{Geometry: ref.Geometry, Data: u.Result.Labels})
			probs := metrics.Probs{Dims: u.Result.Dims, Classes: u.Result.Classes, Data: u.Result.Prob}
			if err == nil {
				_, err = a.cal.AddVolume(probs, ref)
			}
			if err == nil {
				var e float64
				if e, err = metrics.VolumeECE(probs, ref, evaluation.ECEBins); err == nil {
					a.ece = append(a.ece, e)
				}
			}
			if err != nil && scoreErr == nil {
				scoreErr = fmt.Errorf("case %s phase %d: %w", c.ID, u.Phase+1, err)
			}
			for s := range d {
				a.dice[s] = append(a.dice[s], d[s])
			}
			if u.Phase == smp.Series.ES && smp.Series.ES != smp.Series.ED {
				a.esLV = append(a.esLV, d[2])
			}
		}})
		if err != nil {
			return err
		}
		if scoreErr != nil {
			return scoreErr
		}
	}
	fmt.Fprintf(stderr, "\r%s\r", strings.Repeat(" ", 60))
	fmt.Fprintf(stdout, "cmrseg bench anytime: %s, %d cases (ED and ES), tiling %s; partial ensembles in sample order %v\n\n", dir, len(cases), *tiling, p.Order())
	fmt.Fprintf(stdout, "%-8s %8s %8s %8s %10s %7s %9s\n", "samples", "Dice RV", "MYO", "LV", "LV at ES", "ECE %", "pooled %")
	rows := make([]anytimeRow, k)
	for i, a := range per {
		// ECE() is already in percent.
		r := anytimeRow{Samples: i + 1, ESLV: metrics.Mean(a.esLV), ECE: metrics.Mean(a.ece), ECEPooled: a.cal.ECE()}
		for s := range r.Dice {
			r.Dice[s] = metrics.Mean(a.dice[s])
		}
		rows[i] = r
		fmt.Fprintf(stdout, "%-8d %8.3f %8.3f %8.3f %10.3f %7.2f %9.2f\n", r.Samples, r.Dice[0], r.Dice[1], r.Dice[2], r.ESLV, r.ECE, r.ECEPooled)
	}
	if *jsonOut != "" {
		j, _ := json.MarshalIndent(rows, "", "  ")
		if err := atomicfile.Write(*jsonOut, append(j, '\n')); err != nil {
			return err
		}
	}
	if *pngOut != "" {
		return saveAnytimeChart(*pngOut, rows)
	}
	return nil
}

// saveAnytimeChart draws Dice (left) and ECE (right) against the number of
// samples, the README's figure of what an early answer is worth.
func saveAnytimeChart(path string, rows []anytimeRow) error {
	x := make([]float64, len(rows))
	col := func(f func(anytimeRow) float64) []float64 {
		v := make([]float64, len(rows))
		for i, r := range rows {
			v[i] = f(r)
		}
		return v
	}
	for i, r := range rows {
		x[i] = float64(r.Samples)
	}
	dice := metrics.Chart{Title: "Dice (validation)", XLabel: "checkpoints in the ensemble", X: x, Series: []metrics.Series{
		{Name: "RV", Y: col(func(r anytimeRow) float64 { return r.Dice[0] }), Color: metrics.ChartBlue},
		{Name: "MYO", Y: col(func(r anytimeRow) float64 { return r.Dice[1] }), Color: metrics.ChartGreen},
		{Name: "LV", Y: col(func(r anytimeRow) float64 { return r.Dice[2] }), Color: metrics.ChartRed},
		{Name: "LV at ES", Y: col(func(r anytimeRow) float64 { return r.ESLV }), Color: metrics.ChartOrange},
	}}
	ece := metrics.Chart{Title: "ECE % (validation)", XLabel: "checkpoints in the ensemble", X: x, Series: []metrics.Series{
		{Name: "per volume", Y: col(func(r anytimeRow) float64 { return r.ECE }), Color: metrics.ChartPurple},
		{Name: "pooled", Y: col(func(r anytimeRow) float64 { return r.ECEPooled }), Color: metrics.ChartBlue},
	}}
	img := metrics.SideBySide(dice.Image(520, 340), ece.Image(420, 340))
	return atomicfile.WriteWith(path, func(w io.Writer) error { return png.Encode(w, img) })
}
