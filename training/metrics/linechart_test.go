package metrics

import (
	"image/color"
	"math"
	"testing"
)

// The chart puts each series' points where its values say: a rising
// series has its first dot low and its last dot high, in its own colour,
// and a NaN leaves no dot.
func TestChartPlotsTheValues(t *testing.T) {
	c := Chart{Title: "Dice", XLabel: "samples", X: []float64{1, 2, 3},
		Series: []Series{{Name: "LV", Y: []float64{0.90, math.NaN(), 0.95}, Color: ChartRed}}, YMin: 0.85, YMax: 1}
	img := c.Image(400, 300)
	// Rows of red in the columns of the first and last x.
	redRows := func(x int) []int {
		var rows []int
		for y := 0; y < 300; y++ {
			if img.RGBAAt(x, y) == ChartRed {
				rows = append(rows, y)
			}
		}
		return rows
	}
	plotLeft, plotRight := 56, 400-16-1
	first, last := redRows(plotLeft), redRows(plotRight)
	if len(first) == 0 || len(last) == 0 {
		t.Fatalf("no dot at the first or last x (%d, %d red pixels)", len(first), len(last))
	}
	if !(first[0] > last[0]) {
		t.Fatalf("0.90 is drawn at row %d, 0.95 at row %d: not rising", first[0], last[0])
	}
	// The middle value is NaN: no dot in its column, away from any line.
	mid := (plotLeft + plotRight) / 2
	for y := 0; y < 300; y++ {
		if img.RGBAAt(mid, y) == ChartRed {
			t.Fatalf("a dot or line at the NaN point (row %d)", y)
		}
	}
	if img.RGBAAt(0, 0) != (color.RGBA{255, 255, 255, 255}) {
		t.Fatal("the background is not white")
	}
}

func TestNiceStep(t *testing.T) {
	for raw, want := range map[float64]float64{0.013: 0.02, 0.3: 0.5, 7: 10, 1: 1} {
		if got := niceStep(raw); math.Abs(got-want) > 1e-12 {
			t.Errorf("niceStep(%g) = %g, want %g", raw, got, want)
		}
	}
}

// Bridge joins the points either side of a missing one; without it the
// line breaks there (TestChartPlotsTheValues).
func TestChartBridgesMissingPoints(t *testing.T) {
	c := Chart{X: []float64{1, 2, 3}, YMin: 0, YMax: 1,
		Series: []Series{{Name: "ensemble", Y: []float64{0.5, math.NaN(), 0.5}, Color: ChartBlue, Bridge: true}}}
	img := c.Image(400, 300)
	mid, hits := (56+400-16-1)/2, 0
	for y := 0; y < 300; y++ {
		if img.RGBAAt(mid, y) == ChartBlue {
			hits++
		}
	}
	if hits == 0 {
		t.Fatal("no line through the missing middle point")
	}
}
