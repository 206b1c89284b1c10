package workspace

import (
	"image"
	"image/color"
	"math"

	"cmrseg/app/report"
)

// Colours of the volume–time plot.
var (
	CurveLV     = color.RGBA{220, 60, 50, 255}
	CurveRV     = color.RGBA{40, 110, 220, 255}
	curveLVBand = color.RGBA{245, 190, 185, 255}
	curveRVBand = color.RGBA{185, 210, 245, 255}
	curveMarker = color.RGBA{120, 120, 120, 255}
	curveAxis   = color.RGBA{60, 60, 60, 255}
)

// CurveLayout maps phases and volumes to pixels of a w×h plot: x runs over
// the series' phases (evenly: trigger times are close to even), y from 0
// ml at the bottom to YMax at the top.
type CurveLayout struct {
	W, H, NT int
	YMax     float64
	margin   int
}

// X is the pixel column of phase t.
func (l CurveLayout) X(t int) float64 {
	if l.NT <= 1 {
		return float64(l.W) / 2
	}
	return float64(l.margin) + float64(t)*float64(l.W-1-2*l.margin)/float64(l.NT-1)
}

// Y is the pixel row of volume v (ml).
func (l CurveLayout) Y(v float64) float64 {
	return float64(l.H-1-l.margin) - v/l.YMax*float64(l.H-1-2*l.margin)
}

// NewCurveLayout fits c into w×h pixels.
func NewCurveLayout(c *report.Curves, w, h int) CurveLayout {
	top := 0.0
	for _, p := range c.Points {
		for _, v := range []float64{p.LV, p.LVHigh, p.RV, p.RVHigh} {
			if !math.IsNaN(v) {
				top = math.Max(top, v)
			}
		}
	}
	if !(top > 0) {
		top = 1
	}
	return CurveLayout{W: w, H: h, NT: max(c.NT, 1), YMax: top * 1.1, margin: 3}
}

// RenderCurves draws the LV and RV volume–time curves of c on a w×h image:
// each curve as a line through the segmented phases (gaps where phases are
// missing are bridged, the points show what was measured) over its 95 %
// band, with the ED and ES phases as grey vertical lines.
func RenderCurves(c *report.Curves, ed, es, w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, max(w, 1), max(h, 1)))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	if c == nil || w < 8 || h < 8 {
		return img
	}
	l := NewCurveLayout(c, w, h)
	// Axes: the baseline (0 ml) and the left edge.
	for x := l.margin; x < w-l.margin; x++ {
		img.SetRGBA(x, int(math.Round(l.Y(0))), curveAxis)
	}
	for y := l.margin; y < h-l.margin; y++ {
		img.SetRGBA(l.margin, y, curveAxis)
	}
	for _, t := range []int{ed, es} {
		if t >= 0 && t < l.NT {
			x := int(math.Round(l.X(t)))
			for y := 0; y < h; y++ {
				if y%4 < 2 {
					img.SetRGBA(x, y, curveMarker)
				}
			}
		}
	}
	type series struct {
		v, lo, hi  func(p report.CurvePoint) float64
		line, band color.RGBA
	}
	all := []series{
		{func(p report.CurvePoint) float64 { return p.RV }, func(p report.CurvePoint) float64 { return p.RVLow },
			func(p report.CurvePoint) float64 { return p.RVHigh }, CurveRV, curveRVBand},
		{func(p report.CurvePoint) float64 { return p.LV }, func(p report.CurvePoint) float64 { return p.LVLow },
			func(p report.CurvePoint) float64 { return p.LVHigh }, CurveLV, curveLVBand},
	}
	pts := c.Points
	// Bands first, then lines, then points, so no band hides a measurement.
	for _, s := range all {
		// Band: fill between the interpolated low and high per column.
		for n := 0; n+1 < len(pts); n++ {
			a, b := pts[n], pts[n+1]
			if math.IsNaN(s.lo(a)) || math.IsNaN(s.lo(b)) {
				continue
			}
			x0, x1 := int(math.Round(l.X(a.Phase))), int(math.Round(l.X(b.Phase)))
			for x := x0; x <= x1; x++ {
				f := 0.0
				if x1 > x0 {
					f = float64(x-x0) / float64(x1-x0)
				}
				lo := s.lo(a) + f*(s.lo(b)-s.lo(a))
				hi := s.hi(a) + f*(s.hi(b)-s.hi(a))
				for y := int(math.Round(l.Y(hi))); y <= int(math.Round(l.Y(lo))); y++ {
					img.SetRGBA(x, y, s.band)
				}
			}
		}
	}
	for _, s := range all {
		for n := 0; n+1 < len(pts); n++ {
			line(img, l.X(pts[n].Phase), l.Y(s.v(pts[n])), l.X(pts[n+1].Phase), l.Y(s.v(pts[n+1])), s.line)
		}
	}
	for _, s := range all {
		for _, p := range pts {
			x, y := int(math.Round(l.X(p.Phase))), int(math.Round(l.Y(s.v(p))))
			for dy := -2; dy <= 2; dy++ {
				for dx := -2; dx <= 2; dx++ {
					img.SetRGBA(x+dx, y+dy, s.line)
				}
			}
		}
	}
	return img
}

// line draws a straight line by stepping along its longer axis.
func line(img *image.RGBA, x0, y0, x1, y1 float64, c color.RGBA) {
	n := int(math.Max(math.Abs(x1-x0), math.Abs(y1-y0))) + 1
	for i := 0; i <= n; i++ {
		f := float64(i) / float64(n)
		x, y := int(math.Round(x0+f*(x1-x0))), int(math.Round(y0+f*(y1-y0)))
		img.SetRGBA(x, y, c)
		img.SetRGBA(x, y+1, c)
	}
}
