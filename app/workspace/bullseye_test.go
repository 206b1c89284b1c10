package workspace

import (
	"math"
	"testing"
)

// TestBullseyeLayout: the standard AHA bull's-eye (Cerqueira et al. 2002):
// anterior at the top, septum on the left, basal outside, apex in the
// middle; checked at the middle of each segment.
func TestBullseyeLayout(t *testing.T) {
	at := func(deg, frac float64) (float64, float64) {
		// deg counterclockwise from the right; screen y grows downward.
		return frac * 100 * math.Cos(deg*math.Pi/180), -frac * 100 * math.Sin(deg*math.Pi/180)
	}
	cases := []struct {
		deg, frac float64
		want      int
	}{
		{90, 0.86, 1}, {150, 0.86, 2}, {210, 0.86, 3}, {270, 0.86, 4}, {330, 0.86, 5}, {30, 0.86, 6},
		{90, 0.6, 7}, {150, 0.6, 8}, {210, 0.6, 9}, {270, 0.6, 10}, {330, 0.6, 11}, {30, 0.6, 12},
		{90, 0.33, 13}, {180, 0.33, 14}, {270, 0.33, 15}, {0, 0.33, 16},
		{45, 0.1, 17}, {0, 1.2, 0},
	}
	for _, c := range cases {
		dx, dy := at(c.deg, c.frac)
		if got := BullseyeSegment(dx, dy, 100); got != c.want {
			t.Errorf("%.0f° at %.2f r: segment %d, want %d", c.deg, c.frac, got, c.want)
		}
	}
	// Rendering: each segment's middle has its value's colour.
	var v [17]float64
	for s := range v {
		v[s] = 2 + float64(s)*0.7
	}
	v[16] = math.NaN()
	const size = 201
	img := RenderBullseye(v, size)
	for _, c := range cases[:17] {
		dx, dy := at(c.deg, c.frac)
		x, y := int(math.Round(100+dx*99/100)), int(math.Round(100+dy*99/100))
		if got := img.RGBAAt(x, y); got != ThicknessColour(v[c.want-1]) {
			t.Errorf("segment %d at (%d, %d): colour %v, want %v", c.want, x, y, got, ThicknessColour(v[c.want-1]))
		}
	}
	if ThicknessColour(2) == ThicknessColour(14) || ThicknessColour(math.NaN()) == ThicknessColour(8) {
		t.Error("colour scale does not separate thin, thick and unmeasured")
	}
	RenderBullseye(v, 0) // no room: no panic
}
