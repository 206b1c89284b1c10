package workspace

import (
	"image"
	"image/color"
	"math"
)

// Bull's-eye rings (fractions of the radius): apex cap, apical, mid, basal.
var bullseyeRings = [4]float64{0.2, 0.45, 0.72, 1}

// BullseyeSegment is the AHA segment (1–17) drawn at offset (dx, dy) from
// the centre of a bull's-eye of radius r, in the standard layout: anterior
// at the top, septum on the left, basal segments outermost; 0 outside.
func BullseyeSegment(dx, dy, r float64) int {
	d := math.Hypot(dx, dy) / r
	if d > 1 {
		return 0
	}
	if d < bullseyeRings[0] {
		return 17
	}
	// Angle counterclockwise from the right, with y down on screen.
	a := math.Mod(math.Atan2(-dy, dx)*180/math.Pi+360, 360)
	if d < bullseyeRings[1] {
		// Apical: anterior 13 at the top, septal 14 left, inferior 15, lateral 16.
		return [4]int{13, 14, 15, 16}[int(math.Mod(a-45+360, 360)/90)]
	}
	// Basal and mid: 1 anterior at the top (60°–120°), then
	// counterclockwise 2 anteroseptal, 3 inferoseptal, 4 inferior,
	// 5 inferolateral, 6 anterolateral.
	n := 1 + int(math.Mod(a-60+360, 360)/60)
	if d < bullseyeRings[2] {
		return n + 6
	}
	return n
}

// ThicknessColour maps a wall thickness in mm to the bull's-eye colour:
// dark red at 2 mm and below through yellow (8 mm) to green at 14 mm and
// above; grey for NaN (not measured).
func ThicknessColour(mm float64) color.RGBA {
	if math.IsNaN(mm) {
		return color.RGBA{200, 200, 200, 255}
	}
	f := math.Min(1, math.Max(0, (mm-2)/12))
	lerp := func(a, b uint8, t float64) uint8 { return uint8(math.Round(float64(a) + t*(float64(b)-float64(a)))) }
	if f < 0.5 {
		t := f / 0.5
		return color.RGBA{lerp(150, 250, t), lerp(20, 220, t), lerp(20, 60, t), 255}
	}
	t := (f - 0.5) / 0.5
	return color.RGBA{lerp(250, 40, t), lerp(220, 160, t), lerp(60, 70, t), 255}
}

// RenderBullseye draws the 17 segments of values (mm, index = number − 1)
// as a bull's-eye on a size×size image, each segment in ThicknessColour,
// with dark borders between segments.
func RenderBullseye(values [17]float64, size int) *image.RGBA {
	size = max(size, 1)
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	c := float64(size-1) / 2
	r := c - 1
	if r < 4 {
		return img
	}
	border := color.RGBA{50, 50, 50, 255}
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			dx, dy := float64(x)-c, float64(y)-c
			s := BullseyeSegment(dx, dy, r)
			if s == 0 {
				continue
			}
			// A pixel whose neighbour lies in another segment is border.
			if BullseyeSegment(dx+1, dy, r) != s || BullseyeSegment(dx, dy+1, r) != s {
				img.SetRGBA(x, y, border)
				continue
			}
			img.SetRGBA(x, y, ThicknessColour(values[s-1]))
		}
	}
	return img
}
