package workspace

import (
	"image"
	"image/color"
	"math"

	"cmrseg/app/session"
	"cmrseg/app/study"
)

// LabelColors are the overlay colours of the label values (index = value):
// RV blue, myocardium green, LV cavity red, the usual CMR convention of red
// endocardium and green epicardium.
var LabelColors = [study.NumClasses]color.RGBA{
	{0, 0, 0, 0},
	{64, 160, 255, 255},
	{60, 210, 100, 255},
	{255, 64, 56, 255},
}

// HeatMax in nats is the top of the uncertainty colour scale: ln 2, the
// entropy of an even split between two classes. Larger values saturate.
var HeatMax = math.Ln2

// MIHeatMax is the top of the mutual-information scale. Mutual information
// (the checkpoints' disagreement) is a fraction of the entropy, mostly below
// 0.1 nats on real slices; on the entropy scale it was nearly invisible.
const MIHeatMax = 0.25

// ScaleMax is the top of the colour scale of overlay o, in nats.
func ScaleMax(o session.Overlay) float64 {
	if o == session.OverlayMutualInfo {
		return MIHeatMax
	}
	return HeatMax
}

// The heat map fades in from heatFloor (fraction of HeatMax, where it is
// transparent) to heatFull (fully at the chosen opacity), so confident
// tissue stays unobscured.
const (
	heatFloor = 0.05
	heatFull  = 0.35
)

// Display holds the overlay choices that are not part of session.View.
type Display struct {
	// Hidden[c] hides label c.
	Hidden [study.NumClasses]bool
	// Fill draws labels as translucent fills instead of contours.
	Fill bool
	// ContourWidth in screen pixels; 0 picks 1 to 3 by the magnification.
	ContourWidth int
}

// Heat maps t in [0, 1] to the inferno colour map (black, purple, orange,
// pale yellow), piecewise linear through 9 stops.
func Heat(t float64) color.RGBA {
	stops := [...][3]float64{
		{0, 0, 4}, {31, 12, 72}, {85, 15, 109}, {136, 34, 106}, {186, 54, 85},
		{227, 89, 51}, {249, 140, 10}, {249, 201, 50}, {252, 255, 164},
	}
	if !(t > 0) {
		t = 0
	}
	if t > 1 {
		t = 1
	}
	x := t * float64(len(stops)-1)
	k := int(x)
	if k >= len(stops)-1 {
		k = len(stops) - 2
	}
	f := x - float64(k)
	var c color.RGBA
	c.R = uint8(stops[k][0] + f*(stops[k+1][0]-stops[k][0]) + 0.5)
	c.G = uint8(stops[k][1] + f*(stops[k+1][1]-stops[k][1]) + 0.5)
	c.B = uint8(stops[k][2] + f*(stops[k+1][2]-stops[k][2]) + 0.5)
	c.A = 255
	return c
}

// Frame is what one rendering shows: the image slice and its overlays.
type Frame struct {
	Series *study.Series
	Phase  int
	Slice  int
	View   session.View
	// Labels and Uncertainty of the phase; nil when not segmented or hidden.
	Labels      []uint8
	Uncertainty []float32
	Display     Display
	// Preview maps the voxels a click would change (volume index) to
	// their new label; drawn as a checkerboard of that label's colour.
	Preview map[int]uint8
}

// Render composes the frame into a w×h image for the viewport vp:
// nearest-neighbour grey levels under the window/level, then the
// uncertainty heat map, then the label contours or fills. Outside the
// image is black.
func Render(f Frame, vp Viewport, w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	s := f.Series
	if s == nil || w <= 0 || h <= 0 {
		return img
	}
	nx, ny := s.Dims[0], s.Dims[1]
	k, t := f.Slice, f.Phase
	if k < 0 || k >= s.Dims[2] || t < 0 || t >= s.NT {
		return img
	}
	plane := nx * ny
	vol := s.Phase(t)[k*plane : (k+1)*plane]
	var lab []uint8
	if f.View.ShowLabels && len(f.Labels) == s.N() {
		lab = f.Labels[k*plane : (k+1)*plane]
	}
	var unc []float32
	if f.View.ShowUncertainty && len(f.Uncertainty) == s.N() {
		unc = f.Uncertainty[k*plane : (k+1)*plane]
	}

	// Voxel index per screen column and row (-1 outside).
	cols := make([]int, w)
	rows := make([]int, h)
	for x := range cols {
		fi, _ := vp.ToVoxel(float64(x)+0.5, 0)
		i := int(math.Floor(fi + 0.5))
		if i < 0 || i >= nx {
			i = -1
		}
		cols[x] = i
	}
	for y := range rows {
		_, fj := vp.ToVoxel(0, float64(y)+0.5)
		j := int(math.Floor(fj + 0.5))
		if j < 0 || j >= ny {
			j = -1
		}
		rows[y] = j
	}

	win := f.View.Window
	if !(win > 0) {
		win = 1
	}
	lo := f.View.Level - win/2
	uop := clamp01(f.View.UncertaintyOpacity)
	lop := clamp01(f.View.LabelOpacity)
	heatMax := ScaleMax(f.View.Overlay)
	labelAt := func(x, y int) int {
		if x < 0 || y < 0 || x >= w || y >= h || cols[x] < 0 || rows[y] < 0 {
			return -1
		}
		return int(lab[cols[x]+nx*rows[y]])
	}
	cw := f.Display.ContourWidth
	if cw <= 0 { // automatic: thicker lines on magnified voxels
		sx, _ := vp.Scale()
		cw = min(max(int(sx/3+0.5), 1), 3)
	}
	for y := 0; y < h; y++ {
		j := rows[y]
		line := img.Pix[y*img.Stride : y*img.Stride+4*w]
		for x := 0; x < w; x++ {
			px := line[4*x : 4*x+4 : 4*x+4]
			i := cols[x]
			if i < 0 || j < 0 {
				px[0], px[1], px[2], px[3] = 0, 0, 0, 255
				continue
			}
			v := i + nx*j
			g := (float64(vol[v]) - lo) / win
			r, gg, b := grey(g), grey(g), grey(g)
			if unc != nil {
				u := float64(unc[v]) / heatMax
				if u > heatFloor {
					c := Heat(u)
					a := uop * math.Min(1, (u-heatFloor)/(heatFull-heatFloor))
					r = r*(1-a) + float64(c.R)*a
					gg = gg*(1-a) + float64(c.G)*a
					b = b*(1-a) + float64(c.B)*a
				}
			}
			if lab != nil {
				l := lab[v]
				if l != study.Background && int(l) < study.NumClasses && !f.Display.Hidden[l] {
					c := LabelColors[l]
					a := 0.0
					if f.Display.Fill {
						a = lop
					} else if onContour(labelAt, x, y, int(l), cw) {
						a = 1
					}
					if a > 0 {
						r = r*(1-a) + float64(c.R)*a
						gg = gg*(1-a) + float64(c.G)*a
						b = b*(1-a) + float64(c.B)*a
					}
				}
			}
			if nl, ok := f.Preview[v+k*plane]; ok && (x+y)%2 == 0 {
				// The checkerboard says "not applied yet"; background
				// (a region the click would clear) shows dark.
				c := color.RGBA{20, 20, 20, 255}
				if nl != study.Background && int(nl) < study.NumClasses {
					c = LabelColors[nl]
				}
				r, gg, b = float64(c.R), float64(c.G), float64(c.B)
			}
			px[0], px[1], px[2], px[3] = uint8(r+0.5), uint8(gg+0.5), uint8(b+0.5), 255
		}
	}
	return img
}

// onContour reports whether screen pixel (x, y), showing label l, lies
// within width pixels of a pixel showing another structure. The myocardium
// draws only its epicardial border (not the one it shares with the LV
// cavity, which the LV contour draws).
func onContour(labelAt func(x, y int) int, x, y, l, width int) bool {
	for d := 1; d <= width; d++ {
		for _, o := range [4][2]int{{d, 0}, {-d, 0}, {0, d}, {0, -d}} {
			n := labelAt(x+o[0], y+o[1])
			if n == l || n == -1 {
				continue
			}
			if l == int(study.Myocardium) && n == int(study.LV) {
				continue
			}
			return true
		}
	}
	return false
}

func grey(g float64) float64 {
	if !(g > 0) {
		return 0
	}
	if g > 1 {
		return 255
	}
	return g * 255
}

func clamp01(v float64) float64 {
	if !(v > 0) {
		return 0
	}
	if v > 1 {
		return 1
	}
	return v
}

// Thumbnail renders slice k of phase t of s at size×size with the labels as
// fills (when given), for the slice strip.
func Thumbnail(s *study.Series, t, k int, v session.View, labels []uint8, size int) *image.RGBA {
	vp := Viewport{W: float64(size), H: float64(size), Cols: s.Dims[0], Rows: s.Dims[1],
		SpacingI: s.Spacing[0], SpacingJ: s.Spacing[1], Zoom: 1.4}
	v.ShowUncertainty = false
	v.ShowLabels = labels != nil
	v.LabelOpacity = 0.45
	return Render(Frame{Series: s, Phase: t, Slice: k, View: v, Labels: labels, Display: Display{Fill: true}}, vp, size, size)
}
