package ui

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"cmrseg/app/trainingjob"
)

// plotSeries is one line of a plot.
type plotSeries struct {
	Name   string
	Points []trainingjob.Point
	Color  color.NRGBA
	Dots   bool // draw a dot per point (sparse series such as Dice)
}

// plotData is what one plot shows; the image is re-rendered from it, and
// tests read it back to see that events reached the plot.
type plotData struct {
	Series []plotSeries
	// XMin..XMax and YMin..YMax are the axes (YMax ≤ YMin: from the data).
	XMin, XMax, YMin, YMax float64
	// Marks are x positions drawn as vertical ticks (checkpoint epochs);
	// Filled marks are solid (checkpoints written), others hollow.
	Marks  []float64
	Filled map[float64]bool
	LogY   bool
}

// plot is a rendered line chart with its axis labels as Fyne text.
type plot struct {
	title  string
	img    *canvas.Image
	head   *widget.Label
	axis   *widget.Label
	data   plotData
	w, h   int
	object fyne.CanvasObject
}

func newPlot(title string, w, h int) *plot {
	p := &plot{title: title, w: w, h: h}
	p.img = canvas.NewImageFromImage(image.NewRGBA(image.Rect(0, 0, w, h)))
	p.img.FillMode = canvas.ImageFillStretch
	p.img.SetMinSize(fyne.NewSize(float32(w), float32(h)))
	p.head = widget.NewLabelWithStyle(title, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	p.axis = widget.NewLabel("")
	p.axis.TextStyle = fyne.TextStyle{Monospace: true}
	// Wrapped, so long legends and titles never widen the pane.
	p.axis.Wrapping = fyne.TextWrapWord
	p.head.Wrapping = fyne.TextWrapWord
	p.object = container.NewBorder(p.head, p.axis, nil, nil, p.img)
	return p
}

// set redraws the plot (GUI goroutine).
func (p *plot) set(d plotData) {
	p.data = d
	img, xr, yr := renderPlot(d, p.w, p.h)
	p.img.Image = img
	p.img.Refresh()
	legend := ""
	for _, s := range d.Series {
		if len(s.Points) > 0 {
			legend += fmt.Sprintf("  %s %s", swatchName(s.Color), s.Name)
		}
	}
	if xr[1] > xr[0] {
		p.axis.SetText(fmt.Sprintf("x %s … %s   y %s … %s%s", plotNum(xr[0]), plotNum(xr[1]), plotNum(yr[0]), plotNum(yr[1]), legend))
	} else {
		p.axis.SetText("no data yet")
	}
}

func plotNum(v float64) string {
	switch {
	case v == 0:
		return "0"
	case math.Abs(v) < 0.01 || math.Abs(v) >= 1e4:
		return fmt.Sprintf("%.1e", v)
	case math.Abs(v) < 10:
		return fmt.Sprintf("%.3g", v)
	}
	return fmt.Sprintf("%.0f", v)
}

// Series colours and the names the legend uses for them.
var (
	plotBlue   = color.NRGBA{0x4d, 0x9d, 0xe0, 0xff}
	plotOrange = color.NRGBA{0xf0, 0x9a, 0x3e, 0xff}
	plotRed    = color.NRGBA{0xe6, 0x50, 0x3c, 0xff}
	plotGreen  = color.NRGBA{0x50, 0xc8, 0x5a, 0xff}
	plotViolet = color.NRGBA{0xb0, 0x7c, 0xe8, 0xff}
	plotGrey   = color.NRGBA{0x70, 0x78, 0x80, 0xff}
)

func swatchName(c color.NRGBA) string {
	switch c {
	case plotBlue:
		return "(blue)"
	case plotOrange:
		return "(orange)"
	case plotRed:
		return "(red)"
	case plotGreen:
		return "(green)"
	case plotViolet:
		return "(violet)"
	}
	return "(grey)"
}

// renderPlot draws d into a w×h image and returns the axis ranges used.
func renderPlot(d plotData, w, h int) (*image.RGBA, [2]float64, [2]float64) {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), &image.Uniform{color.NRGBA{0x14, 0x16, 0x19, 0xff}}, image.Point{}, draw.Src)
	xr := [2]float64{d.XMin, d.XMax}
	yr := [2]float64{d.YMin, d.YMax}
	if !(xr[1] > xr[0]) || !(yr[1] > yr[0]) {
		first := true
		for _, s := range d.Series {
			for _, p := range s.Points {
				if math.IsNaN(p.Y) || math.IsInf(p.Y, 0) {
					continue
				}
				if !(d.XMax > d.XMin) {
					if first || p.X < xr[0] {
						xr[0] = p.X
					}
					if first || p.X > xr[1] {
						xr[1] = p.X
					}
				}
				if !(d.YMax > d.YMin) {
					if first || p.Y < yr[0] {
						yr[0] = p.Y
					}
					if first || p.Y > yr[1] {
						yr[1] = p.Y
					}
				}
				first = false
			}
		}
		if first {
			return img, [2]float64{}, [2]float64{}
		}
		if xr[1] <= xr[0] {
			xr[1] = xr[0] + 1
		}
		if yr[1] <= yr[0] {
			yr[0], yr[1] = yr[0]-0.5, yr[1]+0.5
		}
	}
	const pad = 6
	fy := func(y float64) float64 {
		a, b := yr[0], yr[1]
		if d.LogY && a > 0 {
			y, a, b = math.Log(math.Max(y, a)), math.Log(a), math.Log(b)
		}
		return float64(h-pad) - (y-a)/(b-a)*float64(h-2*pad)
	}
	fx := func(x float64) float64 { return pad + (x-xr[0])/(xr[1]-xr[0])*float64(w-2*pad) }
	grid := color.NRGBA{0x2a, 0x2e, 0x33, 0xff}
	for k := 0; k <= 4; k++ {
		y := int(pad + float64(k)/4*float64(h-2*pad))
		for x := pad; x < w-pad; x++ {
			img.Set(x, y, grid)
		}
	}
	for _, m := range d.Marks {
		x := int(math.Round(fx(m)))
		c := plotGrey
		for y := pad; y < h-pad; y += 3 {
			img.Set(x, y, c)
		}
		disc(img, float64(x), float64(h-pad-4), 3.5, plotViolet, d.Filled[m])
	}
	for _, s := range d.Series {
		var px, py float64
		have := false
		for _, p := range s.Points {
			if math.IsNaN(p.Y) || math.IsInf(p.Y, 0) {
				have = false
				continue
			}
			x, y := fx(p.X), fy(p.Y)
			if have {
				line(img, px, py, x, y, s.Color)
			}
			if s.Dots {
				disc(img, x, y, 2.5, s.Color, true)
			}
			px, py, have = x, y, true
		}
	}
	return img, xr, yr
}

func line(img *image.RGBA, x0, y0, x1, y1 float64, c color.NRGBA) {
	n := int(math.Max(math.Abs(x1-x0), math.Abs(y1-y0))) + 1
	for k := 0; k <= n; k++ {
		t := float64(k) / float64(n)
		x, y := int(math.Round(x0+(x1-x0)*t)), int(math.Round(y0+(y1-y0)*t))
		img.Set(x, y, c)
		img.Set(x, y+1, c)
	}
}

func disc(img *image.RGBA, cx, cy, r float64, c color.NRGBA, filled bool) {
	for y := int(cy - r - 1); y <= int(cy+r+1); y++ {
		for x := int(cx - r - 1); x <= int(cx+r+1); x++ {
			d := math.Hypot(float64(x)-cx, float64(y)-cy)
			if d <= r && (filled || d >= r-1.2) {
				img.Set(x, y, c)
			}
		}
	}
}
