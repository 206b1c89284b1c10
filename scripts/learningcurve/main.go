// Command learningcurve draws the learning-curve figure of the README
// (issue 16) from what scripts/learning-curve.sh wrote: `cmrseg evaluate
// --json` rows, in order, of each cycle's last checkpoint alone followed
// by its stage's ensemble, stage after stage. The x axis is cumulative
// training wall time, each stage's logged time (its bundle's
// training.wall_seconds) shared equally by its cycles.
//
//	go run ./scripts/learningcurve learning-curve.json out.png
package main

import (
	"encoding/json"
	"fmt"
	"image/png"
	"io"
	"math"
	"os"

	"cmrseg/app/atomicfile"
	"cmrseg/inference/bundle/manifest"
	"cmrseg/training/metrics"
)

type method struct {
	Name    string     `json:"name"`
	Bundle  string     `json:"bundle"`
	Kind    string     `json:"kind"`
	RawDice [3]float64 `json:"dice_raw"`
	ECE     float64    `json:"ece_percent"`
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: learningcurve LEARNING_CURVE_JSON OUT_PNG")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "learningcurve:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	raw, err := os.ReadFile(in)
	if err != nil {
		return err
	}
	var res struct{ Methods []method }
	if err := json.Unmarshal(raw, &res); err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	// One point per cycle: the single checkpoint, and on a stage's last
	// cycle its ensemble.
	var x []float64
	var one, ens [3][]float64
	var oneECE, ensECE []float64
	minutes := 0.0
	var cycles []method
	for _, m := range res.Methods {
		if m.Kind != "multi-modal" {
			cycles = append(cycles, m)
			continue
		}
		if len(cycles) == 0 {
			return fmt.Errorf("%s: stage ensemble %s has no cycle rows before it", in, m.Name)
		}
		mf, err := manifest.Read(m.Bundle)
		if err != nil {
			return err
		}
		per := mf.Training.WallSeconds / 60 / float64(len(cycles))
		for i, c := range cycles {
			minutes += per
			x = append(x, math.Round(minutes))
			last := i == len(cycles)-1
			for k := range 3 {
				one[k] = append(one[k], c.RawDice[k])
				ens[k] = append(ens[k], pick(last, m.RawDice[k]))
			}
			oneECE = append(oneECE, c.ECE)
			ensECE = append(ensECE, pick(last, m.ECE))
		}
		cycles = nil
	}
	if len(x) == 0 {
		return fmt.Errorf("%s: no stage ensemble rows", in)
	}
	names := [3]string{"RV", "MYO", "LV"}
	colours := [3]metrics.Series{{Color: metrics.ChartBlue}, {Color: metrics.ChartGreen}, {Color: metrics.ChartRed}}
	dice := func(title string, ys [3][]float64, bridge bool) metrics.Chart {
		c := metrics.Chart{Title: title, XLabel: "training, cumulative minutes", X: x, YMin: 0.68, YMax: 0.96}
		for k := range 3 {
			c.Series = append(c.Series, metrics.Series{Name: names[k], Y: ys[k], Color: colours[k].Color, Bridge: bridge})
		}
		return c
	}
	ece := metrics.Chart{Title: "ECE % (validation)", XLabel: "training, cumulative minutes", X: x, Series: []metrics.Series{
		{Name: "one checkpoint", Y: oneECE, Color: metrics.ChartOrange},
		{Name: "stage ensemble", Y: ensECE, Color: metrics.ChartPurple, Bridge: true},
	}}
	img := metrics.SideBySide(
		dice("raw Dice, each cycle's last checkpoint", one, false).Image(440, 320),
		dice("raw Dice, each stage's ensemble", ens, true).Image(440, 320),
		ece.Image(440, 320))
	return atomicfile.WriteWith(out, func(w io.Writer) error { return png.Encode(w, img) })
}

// pick is v where the point exists, NaN (no point) elsewhere.
func pick(exists bool, v float64) float64 {
	if exists {
		return v
	}
	return math.NaN()
}
