package metrics

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Series is one line of a Chart: Y[i] at the chart's X[i] (NaN: no point).
// A missing point breaks the line unless Bridge joins the points either
// side (a series measured at only some x, like a stage's ensemble).
type Series struct {
	Name   string
	Y      []float64
	Color  color.RGBA
	Bridge bool
}

// Chart is a line chart of a few series over shared x values, for the
// figures the README shows (accuracy against samples, against training
// time). YMin and YMax fix the y range; both zero picks it from the data.
type Chart struct {
	Title, XLabel string
	X             []float64
	Series        []Series
	YMin, YMax    float64
}

// Colours for chart series, distinguishable in print.
var (
	ChartBlue   = color.RGBA{40, 110, 220, 255}
	ChartRed    = color.RGBA{210, 60, 50, 255}
	ChartGreen  = color.RGBA{40, 150, 70, 255}
	ChartOrange = color.RGBA{230, 140, 20, 255}
	ChartPurple = color.RGBA{130, 70, 170, 255}
)

// Image draws c on a w × h image: frame, y grid with labels, x ticks at
// every x value (thinned when crowded), lines with dots, title and legend.
func (c Chart) Image(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Rect, image.NewUniform(white), image.Point{}, draw.Src)
	lo, hi := c.YMin, c.YMax
	if lo == 0 && hi == 0 {
		lo, hi = math.Inf(1), math.Inf(-1)
		for _, s := range c.Series {
			for _, v := range s.Y {
				if !math.IsNaN(v) {
					lo, hi = math.Min(lo, v), math.Max(hi, v)
				}
			}
		}
		if math.IsInf(lo, 1) {
			lo, hi = 0, 1
		}
		pad := math.Max((hi-lo)*0.1, 1e-3)
		lo, hi = lo-pad, hi+pad
	}
	xlo, xhi := 0.0, 1.0
	if len(c.X) > 0 {
		xlo, xhi = c.X[0], c.X[len(c.X)-1]
		for _, x := range c.X {
			xlo, xhi = math.Min(xlo, x), math.Max(xhi, x)
		}
		if xhi == xlo {
			xhi = xlo + 1
		}
	}
	plot := image.Rect(56, 40, w-16, h-44)
	px := func(x float64) int {
		return plot.Min.X + int(math.Round((x-xlo)/(xhi-xlo)*float64(plot.Dx()-1)))
	}
	py := func(y float64) int {
		return plot.Max.Y - 1 - int(math.Round((y-lo)/(hi-lo)*float64(plot.Dy()-1)))
	}
	// y grid and labels at a round step.
	step := niceStep((hi - lo) / 5)
	for v := math.Ceil(lo/step) * step; v <= hi+1e-12; v += step {
		y := py(v)
		fill(img, image.Rect(plot.Min.X, y, plot.Max.X, y+1), grey)
		label(img, 4, y+4, trimNumber(v, step))
	}
	// x ticks at every value; a label only where it clears the last one
	// drawn (uneven x, like training time, crowd in places).
	right := math.MinInt
	for _, x := range c.X {
		fill(img, image.Rect(px(x), plot.Max.Y, px(x)+1, plot.Max.Y+4), black)
		s := trimNumber(x, 1)
		if left := px(x) - len(s)*7/2; left >= right+6 {
			label(img, left, plot.Max.Y+16, s)
			right = left + len(s)*7
		}
	}
	// Frame.
	fill(img, image.Rect(plot.Min.X-1, plot.Min.Y-1, plot.Max.X+1, plot.Min.Y), black)
	fill(img, image.Rect(plot.Min.X-1, plot.Max.Y, plot.Max.X+1, plot.Max.Y+1), black)
	fill(img, image.Rect(plot.Min.X-1, plot.Min.Y-1, plot.Min.X, plot.Max.Y+1), black)
	fill(img, image.Rect(plot.Max.X, plot.Min.Y-1, plot.Max.X+1, plot.Max.Y+1), black)
	// Lines, then dots on top.
	for _, s := range c.Series {
		prev := -1 // the last point drawn
		for i := 0; i < len(s.Y) && i < len(c.X); i++ {
			if math.IsNaN(s.Y[i]) {
				continue
			}
			if prev >= 0 && (prev == i-1 || s.Bridge) {
				segment(img, px(c.X[prev]), py(s.Y[prev]), px(c.X[i]), py(s.Y[i]), s.Color)
			}
			prev = i
		}
		for i, v := range s.Y {
			if i < len(c.X) && !math.IsNaN(v) {
				x, y := px(c.X[i]), py(v)
				fill(img, image.Rect(x-2, y-2, x+3, y+3), s.Color)
			}
		}
	}
	label(img, plot.Min.X, 16, c.Title)
	label(img, plot.Min.X+plot.Dx()/2-len(c.XLabel)*7/2, h-8, c.XLabel)
	// Legend along the top, right of the title.
	x := plot.Max.X
	for i := len(c.Series) - 1; i >= 0; i-- {
		s := c.Series[i]
		x -= len(s.Name)*7 + 24
		fill(img, image.Rect(x, 27, x+14, 30), s.Color)
		label(img, x+18, 33, s.Name)
	}
	return img
}

// SideBySide puts images next to each other on one white canvas.
func SideBySide(imgs ...*image.RGBA) *image.RGBA {
	w, h := 0, 0
	for _, m := range imgs {
		w += m.Rect.Dx()
		h = max(h, m.Rect.Dy())
	}
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(out, out.Rect, image.NewUniform(white), image.Point{}, draw.Src)
	x := 0
	for _, m := range imgs {
		draw.Draw(out, m.Rect.Add(image.Pt(x, 0)), m, m.Rect.Min, draw.Src)
		x += m.Rect.Dx()
	}
	return out
}

// niceStep rounds a raw grid step to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if !(raw > 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if raw <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// trimNumber prints v with as many decimals as step needs.
func trimNumber(v, step float64) string {
	d := max(0, int(math.Ceil(-math.Log10(step)-1e-9)))
	return fmt.Sprintf("%.*f", d, v)
}

// label writes s in the 7×13 basic font with its baseline at y.
func label(img *image.RGBA, x, y int, s string) {
	d := &font.Drawer{Dst: img, Src: image.NewUniform(black), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

// segment draws a line by stepping along its longer axis, two pixels wide.
func segment(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	n := max(abs(x1-x0), abs(y1-y0), 1)
	for i := 0; i <= n; i++ {
		x := x0 + (x1-x0)*i/n
		y := y0 + (y1-y0)*i/n
		img.SetRGBA(x, y, c)
		img.SetRGBA(x, y+1, c)
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
