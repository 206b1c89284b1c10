// Package contour turns expert contours (Sunnybrook "x y" point lists) into
// label masks on the grid of the series they were drawn on.
//
// Pixel-centre convention: contour point (x, y) is in pixel units with x
// along columns (i) and y along rows (j), and the centre of pixel (i, j)
// is at (x, y) = (i, j). A pixel belongs to a polygon when its centre is
// inside by the even-odd rule, with edges half-open so that a centre on a
// shared edge belongs to exactly one of two adjacent polygons. This is
// the convention of skimage.draw.polygon (r = y, c = x) and of
// matplotlib's Path.contains_points evaluated on the integer grid.
package contour

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"cmrseg/app/study"
)

// Point is a contour vertex in pixel units (x: column, y: row).
type Point struct{ X, Y float64 }

// Polygon is a closed contour; the last vertex connects to the first.
type Polygon []Point

// Contains reports whether the centre of pixel (i, j) is inside p.
func (p Polygon) Contains(i, j int) bool {
	x, y := float64(i), float64(j)
	in := false
	for a, b := 0, len(p)-1; a < len(p); b, a = a, a+1 {
		pa, pb := p[a], p[b]
		// Half-open in y: an edge counts when y is in [min, max).
		if (pa.Y > y) != (pb.Y > y) {
			xc := pa.X + (y-pa.Y)*(pb.X-pa.X)/(pb.Y-pa.Y)
			if x < xc {
				in = !in
			}
		}
	}
	return in
}

// Rasterize sets mask[i + cols*j] = true for every pixel centre inside p,
// scanning only p's bounding box.
func (p Polygon) Rasterize(mask []bool, cols, rows int) {
	if len(p) < 3 {
		return
	}
	minX, minY, maxX, maxY := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
	for _, q := range p {
		minX, maxX = math.Min(minX, q.X), math.Max(maxX, q.X)
		minY, maxY = math.Min(minY, q.Y), math.Max(maxY, q.Y)
	}
	i0, i1 := max(0, int(math.Ceil(minX))), min(cols-1, int(math.Floor(maxX)))
	j0, j1 := max(0, int(math.Ceil(minY))), min(rows-1, int(math.Floor(maxY)))
	for j := j0; j <= j1; j++ {
		for i := i0; i <= i1; i++ {
			if p.Contains(i, j) {
				mask[i+cols*j] = true
			}
		}
	}
}

// Contour is one expert contour file mapped onto its series.
type Contour struct {
	Path     string
	Inner    bool // endocardium (i-contour); false: epicardium (o-contour)
	Instance int  // InstanceNumber of the image it was drawn on
	Slice    int  // k in the series
	Phase    int  // t in the series
	Polygon  Polygon
}

// Reference holds expert labels for one series.
type Reference struct {
	// Phases[t] is the label map of phase t on the series geometry:
	// study.LV inside the i-contour, study.Myocardium between the o- and
	// i-contours (where both exist), background elsewhere.
	Phases []study.Labels
	// Cavity[k+nk*t] is true where slice k of phase t has an i-contour;
	// Myocardium[k+nk*t] where it has both contours. Only flagged images
	// were labelled: background elsewhere means "not contoured".
	Cavity, Myocardium []bool
	Contours           []Contour
}

// Contoured reports which structures slice k, phase t was labelled for.
func (r *Reference) Contoured(k, t int) (cavity, myocardium bool) {
	nk := r.Phases[0].Dims[2]
	return r.Cavity[k+nk*t], r.Myocardium[k+nk*t]
}

var sunnybrookName = regexp.MustCompile(`^IM-\d+-(\d+)-([io])contour-manual\.txt$`)

// LoadSunnybrook reads dir/i-contours and dir/o-contours (files
// IM-0001-NNNN-{i,o}contour-manual.txt, NNNN the InstanceNumber of the
// image) and rasterises them onto s, which must come from a DICOM reader
// that kept instance numbers (Source *study.DICOMSource).
func LoadSunnybrook(dir string, s *study.Series) (*Reference, error) {
	src, ok := s.Source.(*study.DICOMSource)
	if !ok || src == nil {
		return nil, fmt.Errorf("contour: series %q has no DICOM instance numbers to match contours to", s.Meta.SeriesDescription)
	}
	var paths []string
	for _, sub := range []string{"i-contours", "o-contours"} {
		m, err := filepath.Glob(filepath.Join(dir, sub, "*contour-manual.txt"))
		if err != nil {
			return nil, err
		}
		paths = append(paths, m...)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("contour: no *contour-manual.txt files in %s/{i,o}-contours", dir)
	}
	sort.Strings(paths)
	cols, rows, nk := s.Dims[0], s.Dims[1], s.Dims[2]
	ref := &Reference{
		Cavity:     make([]bool, nk*s.NT),
		Myocardium: make([]bool, nk*s.NT),
	}
	inner := map[int]Polygon{} // by frame index k+nk*t
	outer := map[int]Polygon{}
	for _, p := range paths {
		m := sunnybrookName.FindStringSubmatch(filepath.Base(p))
		if m == nil {
			return nil, fmt.Errorf("contour: %s: name is not IM-xxxx-NNNN-{i,o}contour-manual.txt", p)
		}
		n, _ := strconv.Atoi(m[1])
		k, t, ok := src.ByInstance(n)
		if !ok {
			return nil, fmt.Errorf("contour: %s: the series has no image with InstanceNumber %d", p, n)
		}
		poly, err := readPoints(p, cols, rows)
		if err != nil {
			return nil, err
		}
		c := Contour{Path: p, Inner: m[2] == "i", Instance: n, Slice: k, Phase: t, Polygon: poly}
		byFrame := outer
		if c.Inner {
			byFrame = inner
		}
		if _, dup := byFrame[k+nk*t]; dup {
			return nil, fmt.Errorf("contour: %s: a second %scontour for slice %d, phase %d", p, m[2], k, t)
		}
		byFrame[k+nk*t] = poly
		ref.Contours = append(ref.Contours, c)
	}

	n := cols * rows
	ref.Phases = make([]study.Labels, s.NT)
	for t := range ref.Phases {
		ref.Phases[t] = study.Labels{Geometry: s.Geometry, Data: make([]uint8, s.N())}
	}
	in, out := make([]bool, n), make([]bool, n)
	for f := 0; f < nk*s.NT; f++ {
		pi, hasI := inner[f]
		po, hasO := outer[f]
		if !hasI {
			continue // an o-contour alone does not define the myocardium
		}
		k, t := f%nk, f/nk
		clear(in)
		pi.Rasterize(in, cols, rows)
		if hasO {
			clear(out)
			po.Rasterize(out, cols, rows)
		}
		lab := ref.Phases[t].Data[k*n : (k+1)*n]
		for i := range lab {
			switch {
			case in[i]:
				lab[i] = study.LV
			case hasO && out[i]:
				lab[i] = study.Myocardium
			}
		}
		ref.Cavity[f] = true
		ref.Myocardium[f] = hasO
	}
	return ref, nil
}

// readPoints reads one "x y" per line; points must lie on (or within a
// pixel of) the image.
func readPoints(path string, cols, rows int) (Polygon, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("contour: %w", err)
	}
	defer f.Close()
	var p Polygon
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 {
			continue
		}
		if len(fs) != 2 {
			return nil, fmt.Errorf("contour: %s:%d: want \"x y\", got %q", path, line, sc.Text())
		}
		x, err1 := strconv.ParseFloat(fs[0], 64)
		y, err2 := strconv.ParseFloat(fs[1], 64)
		if err1 != nil || err2 != nil || math.IsNaN(x) || math.IsNaN(y) {
			return nil, fmt.Errorf("contour: %s:%d: not two numbers: %q", path, line, sc.Text())
		}
		if x < -1 || y < -1 || x > float64(cols) || y > float64(rows) {
			return nil, fmt.Errorf("contour: %s:%d: point (%g, %g) is outside the %d×%d image", path, line, x, y, cols, rows)
		}
		p = append(p, Point{x, y})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("contour: %s: %w", path, err)
	}
	if len(p) < 3 {
		return nil, fmt.Errorf("contour: %s: %d points, a polygon needs 3", path, len(p))
	}
	return p, nil
}
