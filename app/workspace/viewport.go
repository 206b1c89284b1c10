package workspace

import (
	"math"
	"sort"
	"strings"
)

// Viewport maps between widget pixels and the voxels of one slice for a
// zoom and pan. The image is drawn with i to the right and j down; at Zoom
// 1 it fits the widget with its physical aspect ratio (anisotropic pixels
// are drawn as rectangles), centred.
//
// Continuous voxel coordinates put voxel centres at whole numbers, so voxel
// (i, j) covers [i-½, i+½) × [j-½, j+½).
type Viewport struct {
	// W and H are the widget size in screen pixels.
	W, H float64
	// Cols and Rows are the slice size in voxels (Dims[0], Dims[1]).
	Cols, Rows int
	// SpacingI and SpacingJ are the pixel spacing in mm (for the aspect).
	SpacingI, SpacingJ float64
	// Zoom is relative to fit; PanX and PanY are the voxel coordinates of
	// the widget centre relative to the slice centre.
	Zoom, PanX, PanY float64
}

// Scale returns the screen pixels per voxel along i and j.
func (v Viewport) Scale() (sx, sy float64) {
	si, sj := v.SpacingI, v.SpacingJ
	if !(si > 0) || !(sj > 0) {
		si, sj = 1, 1
	}
	if v.Cols <= 0 || v.Rows <= 0 || v.W <= 0 || v.H <= 0 {
		return 1, 1
	}
	z := v.Zoom
	if !(z > 0) {
		z = 1
	}
	mm := math.Min(v.W/(float64(v.Cols)*si), v.H/(float64(v.Rows)*sj)) // screen px per mm at fit
	return mm * si * z, mm * sj * z
}

func (v Viewport) centre() (ci, cj float64) {
	return float64(v.Cols-1)/2 + v.PanX, float64(v.Rows-1)/2 + v.PanY
}

// ToVoxel maps a widget position (pixels from the top-left corner) to
// continuous voxel coordinates.
func (v Viewport) ToVoxel(x, y float64) (fi, fj float64) {
	sx, sy := v.Scale()
	ci, cj := v.centre()
	return ci + (x-v.W/2)/sx, cj + (y-v.H/2)/sy
}

// Voxel returns the voxel under widget position (x, y); ok is false
// outside the slice.
func (v Viewport) Voxel(x, y float64) (i, j int, ok bool) {
	fi, fj := v.ToVoxel(x, y)
	i, j = int(math.Floor(fi+0.5)), int(math.Floor(fj+0.5))
	return i, j, i >= 0 && j >= 0 && i < v.Cols && j < v.Rows
}

// ToScreen maps continuous voxel coordinates to a widget position.
func (v Viewport) ToScreen(fi, fj float64) (x, y float64) {
	sx, sy := v.Scale()
	ci, cj := v.centre()
	return v.W/2 + (fi-ci)*sx, v.H/2 + (fj-cj)*sy
}

// ZoomAt returns the viewport zoomed by factor about widget position
// (x, y), which keeps showing the same point of the image.
func (v Viewport) ZoomAt(x, y, factor float64) Viewport {
	fi, fj := v.ToVoxel(x, y)
	z := v.Zoom
	if !(z > 0) {
		z = 1
	}
	v.Zoom = math.Min(math.Max(z*factor, MinZoom), MaxZoom)
	// Solve for the pan that puts (fi, fj) back under (x, y).
	sx, sy := v.Scale()
	v.PanX = fi - (x-v.W/2)/sx - float64(v.Cols-1)/2
	v.PanY = fj - (y-v.H/2)/sy - float64(v.Rows-1)/2
	return v
}

// PanBy returns the viewport moved so the image follows a drag of (dx, dy)
// screen pixels.
func (v Viewport) PanBy(dx, dy float64) Viewport {
	sx, sy := v.Scale()
	v.PanX -= dx / sx
	v.PanY -= dy / sy
	return v
}

// Zoom limits.
const (
	MinZoom = 0.25
	MaxZoom = 32
)

// Orientation returns the patient-direction letters of an LPS vector, the
// way DICOM viewers label image edges: L/R, P/A and H/F, strongest first,
// leaving out components under 0.25 ("L", "LA", "LAF"); "" for a zero vector.
func Orientation(d [3]float64) string {
	type comp struct {
		mag    float64
		letter string
	}
	letters := [3][2]string{{"L", "R"}, {"P", "A"}, {"H", "F"}}
	var cs []comp
	for a := 0; a < 3; a++ {
		if math.Abs(d[a]) < 0.25 {
			continue
		}
		l := letters[a][0]
		if d[a] < 0 {
			l = letters[a][1]
		}
		cs = append(cs, comp{math.Abs(d[a]), l})
	}
	sort.SliceStable(cs, func(x, y int) bool { return cs[x].mag > cs[y].mag })
	var b strings.Builder
	for _, c := range cs {
		b.WriteString(c.letter)
	}
	return b.String()
}

// Neg is the opposite direction.
func Neg(d [3]float64) [3]float64 { return [3]float64{-d[0], -d[1], -d[2]} }
