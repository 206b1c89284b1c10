// Package aha divides the LV myocardium of a short-axis label map into the
// AHA 17-segment model and measures the wall thickness of each segment.
//
// The rules, all from the labels (ACDC convention) and the stack geometry:
//
//   - Levels: the slices holding both LV myocardium and LV cavity, ordered
//     from base to apex, are split into thirds by count: slice s of n goes
//     to level ⌊3s/n⌋ (basal, mid, apical). The base is the end of the stack
//     whose two outermost such slices have the larger LV area (cavity plus
//     myocardium). Slices beyond the apical end with myocardium but no
//     cavity form the apical cap, segment 17. It has no radial chord: its
//     thickness is the cap's extent along the stack axis, cap slices ×
//     slice spacing (so its resolution is one slice spacing). When no
//     slice beyond the most apical cavity slice shows a cap, segment 17
//     is not measured (NaN).
//   - RV insertion points, per slice: the LV myocardium pixels within
//     ContactMM of RV cavity form an arc around the LV cavity centroid; its
//     two ends are the insertion points. The one lying further toward the
//     patient's anterior (from the geometry's direction cosines) is the
//     anterior insertion. The mid-septum is the middle of the arc. Slices
//     without RV contact (the apex) take the stack's mean mid-septal
//     direction and anterior sense.
//   - Segments: angle θ from the mid-septum, positive toward the anterior
//     insertion. Basal and mid (6 of 60°): anteroseptal [0, 60),
//     anterior [60, 120), anterolateral [120, 180), inferolateral
//     [180, 240), inferior [240, 300), inferoseptal [300, 360). Apical
//     (4 of 90°): septal [−45, 45), anterior [45, 135), lateral
//     [135, 225), inferior [225, 315).
//   - Thickness: radial chords from the LV cavity centroid, one per degree;
//     each chord is the length of the first run of myocardium along the ray
//     (nearest-neighbour label lookup every fifth of a pixel). A segment's
//     thickness is the mean chord over its rays on all slices of its level.
package aha

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"cmrseg/app/study"
)

// Segment names, index = AHA number − 1.
var Names = [17]string{
	"basal anterior", "basal anteroseptal", "basal inferoseptal", "basal inferior", "basal inferolateral", "basal anterolateral",
	"mid anterior", "mid anteroseptal", "mid inferoseptal", "mid inferior", "mid inferolateral", "mid anterolateral",
	"apical anterior", "apical septal", "apical inferior", "apical lateral",
	"apex",
}

// Levels of a slice.
const (
	Basal = iota
	Mid
	Apical
	Apex // the cap beyond the cavity: segment 17
	None // no LV myocardium, or myocardium without cavity on the basal side
)

// ContactMM is how close LV myocardium must come to RV cavity to count as
// the septal contact whose ends are the insertion points.
const ContactMM = 3.0

// Slice is what the analysis found on one slice.
type Slice struct {
	K     int // slice index in the stack
	Level int // Basal, Mid, Apical, Apex or None
	// Centroid of the LV cavity in in-plane mm (i·spacing, j·spacing).
	Centroid [2]float64
	// Insertions: the RV insertion points were found on this slice; then
	// AnteriorDeg and InferiorDeg are their image angles (degrees,
	// atan2(Δj mm, Δi mm) from the centroid).
	Insertions               bool
	AnteriorDeg, InferiorDeg float64
	// SeptumDeg is the mid-septal image angle used for the segments.
	SeptumDeg float64
	// sgn is +1 when θ (toward the anterior insertion) grows with the
	// image angle on this slice, −1 otherwise.
	sgn float64
}

// Result is the segment model of one label map.
type Result struct {
	Slices []Slice
	// BaseFirst: the base is at slice 0 (otherwise at the last slice).
	BaseFirst bool
	// ThicknessMM per segment (index = number − 1); NaN where the segment
	// has no slice. Segment 17 is the apical cap's extent along the stack
	// (CapSlices × slice spacing), NaN without a cap.
	ThicknessMM [17]float64
	// Chords is the number of radial chords behind each thickness.
	Chords [17]int
	// CapSlices is the number of apical-cap slices (segment 17).
	CapSlices int
	// ApexInStack: the stack has a slice beyond the most apical cavity
	// slice, so it reaches past the cavity (with or without a cap of
	// myocardium there); false when the cavity runs to the stack's end.
	ApexInStack bool
	// apexK is the most apical slice with cavity; step goes toward the apex.
	apexK, step int
}

// ErrNoSeptum is returned when no slice shows RV cavity against LV
// myocardium, so the segments cannot be oriented.
var ErrNoSeptum = errors.New("aha: no slice shows RV cavity against LV myocardium, so the septum (and the segments) cannot be placed")

// Analyze divides the myocardium of labels (one 3D label map on g) into
// the 17 segments and measures their thickness.
func Analyze(g study.Geometry, labels []uint8) (*Result, error) {
	nx, ny, nz := g.Dims[0], g.Dims[1], g.Dims[2]
	if nx <= 0 || ny <= 0 || nz <= 0 || len(labels) != g.N() || !(g.Spacing[0] > 0) || !(g.Spacing[1] > 0) {
		return nil, fmt.Errorf("aha: %d labels on dims %v spacing %v", len(labels), g.Dims, g.Spacing)
	}
	plane := nx * ny
	area := make([]int, nz) // cavity + myocardium pixels
	hasCav, hasMyo := make([]bool, nz), make([]bool, nz)
	for k := 0; k < nz; k++ {
		for _, l := range labels[k*plane : (k+1)*plane] {
			switch l {
			case study.LV:
				hasCav[k] = true
				area[k]++
			case study.Myocardium:
				hasMyo[k] = true
				area[k]++
			}
		}
	}
	var cav []int // slices with cavity and myocardium, stack order
	for k := 0; k < nz; k++ {
		if hasCav[k] && hasMyo[k] {
			cav = append(cav, k)
		}
	}
	if len(cav) == 0 {
		return nil, errors.New("aha: no slice holds both LV cavity and LV myocardium")
	}
	r := &Result{}
	outer := func(ks []int) int {
		s := 0
		for _, k := range ks {
			s += area[k]
		}
		return s
	}
	m := min(2, len(cav))
	r.BaseFirst = outer(cav[:m]) >= outer(cav[len(cav)-m:])
	order := slices.Clone(cav) // base to apex
	if !r.BaseFirst {
		slices.Reverse(order)
	}
	level := make([]int, nz)
	for k := range level {
		level[k] = None
	}
	for s, k := range order {
		level[k] = 3 * s / len(order)
	}
	// The cap: myocardium without cavity beyond the apical slice.
	apex := order[len(order)-1]
	step := 1
	if !r.BaseFirst {
		step = -1
	}
	for k := apex + step; k >= 0 && k < nz && hasMyo[k] && !hasCav[k]; k += step {
		level[k] = Apex
		r.CapSlices++
	}
	r.apexK, r.step = apex, step
	r.ApexInStack = apex+step >= 0 && apex+step < nz

	ant := anterior(g)
	sx, sy := g.Spacing[0], g.Spacing[1]
	var sumSin, sumCos, sumSense float64
	found := 0
	for k := 0; k < nz; k++ {
		if level[k] == None {
			continue
		}
		sl := Slice{K: k, Level: level[k]}
		if level[k] != Apex {
			lab := labels[k*plane : (k+1)*plane]
			sl.Centroid = centroid(lab, nx, sx, sy)
			if a, i, mid, ok := insertions(lab, nx, ny, sx, sy, sl.Centroid, ant); ok {
				sl.Insertions, sl.AnteriorDeg, sl.InferiorDeg, sl.SeptumDeg = true, a, i, mid
				rad := sl.SeptumDeg * math.Pi / 180
				sumSin, sumCos = sumSin+math.Sin(rad), sumCos+math.Cos(rad)
				sumSense += sense(sl)
				found++
			}
		}
		r.Slices = append(r.Slices, sl)
	}
	if found == 0 {
		return nil, ErrNoSeptum
	}
	meanSeptum := math.Atan2(sumSin, sumCos) * 180 / math.Pi
	meanSense := 1.0
	if sumSense < 0 {
		meanSense = -1
	}

	for n := range r.Slices {
		sl := &r.Slices[n]
		if sl.Insertions {
			sl.sgn = sense(*sl)
		} else {
			sl.sgn = meanSense
			sl.SeptumDeg = meanSeptum
		}
	}
	r.measure(g, labels)
	return r, nil
}

// AnalyzeOn measures labels on the segment layout of ref (an analysis of
// the same stack, e.g. of the reviewed labels): the same slices per level,
// the same septal directions, only each slice's cavity centroid and the
// chords taken from labels. The posterior samples are measured this way,
// so their spread is that of the wall, not of which slice a sample happens
// to call apical. A slice where labels have no cavity adds no chords.
func AnalyzeOn(g study.Geometry, labels []uint8, ref *Result) (*Result, error) {
	if len(labels) != g.N() || g.N() <= 0 || !(g.Spacing[0] > 0) || !(g.Spacing[1] > 0) {
		return nil, fmt.Errorf("aha: %d labels on dims %v spacing %v", len(labels), g.Dims, g.Spacing)
	}
	if ref == nil {
		return nil, errors.New("aha: no reference layout")
	}
	r := &Result{BaseFirst: ref.BaseFirst, Slices: slices.Clone(ref.Slices), ApexInStack: ref.ApexInStack, apexK: ref.apexK, step: ref.step}
	plane := g.Dims[0] * g.Dims[1]
	for n := range r.Slices {
		sl := &r.Slices[n]
		if sl.K >= g.Dims[2] {
			return nil, fmt.Errorf("aha: reference slice %d outside %d slices", sl.K+1, g.Dims[2])
		}
		if sl.Level != Apex {
			sl.Centroid = centroid(labels[sl.K*plane:(sl.K+1)*plane], g.Dims[0], g.Spacing[0], g.Spacing[1])
		}
	}
	// The cap is the sample's own: its myocardium-only slices beyond the
	// reference's most apical cavity slice.
	if ref.step != 0 {
		for k := ref.apexK + ref.step; k >= 0 && k < g.Dims[2]; k += ref.step {
			myo, cav := false, false
			for _, l := range labels[k*plane : (k+1)*plane] {
				myo = myo || l == study.Myocardium
				cav = cav || l == study.LV
			}
			if !myo || cav {
				break
			}
			r.CapSlices++
		}
	}
	r.measure(g, labels)
	return r, nil
}

// measure casts the chords of every slice from its centroid and averages
// them per segment.
func (r *Result) measure(g study.Geometry, labels []uint8) {
	nx, ny := g.Dims[0], g.Dims[1]
	sx, sy := g.Spacing[0], g.Spacing[1]
	plane := nx * ny
	var sum [17]float64
	for _, sl := range r.Slices {
		if sl.Level == Apex || math.IsNaN(sl.Centroid[0]) {
			continue // the cap, or no cavity on this slice of a sample
		}
		lab := labels[sl.K*plane : (sl.K+1)*plane]
		for deg := 0; deg < 360; deg++ {
			c := chord(lab, nx, ny, sx, sy, sl.Centroid, float64(deg))
			if !(c > 0) {
				continue
			}
			theta := wrap360(sl.sgn * (float64(deg) - sl.SeptumDeg))
			seg := segment(sl.Level, theta)
			sum[seg-1] += c
			r.Chords[seg-1]++
		}
	}
	for s := range r.ThicknessMM {
		r.ThicknessMM[s] = math.NaN()
		if r.Chords[s] > 0 {
			r.ThicknessMM[s] = sum[s] / float64(r.Chords[s])
		}
	}
	if r.CapSlices > 0 && g.Spacing[2] > 0 {
		r.ThicknessMM[16] = float64(r.CapSlices) * g.Spacing[2]
	}
}

// segment is the AHA number (1–16) of angle theta (degrees from the
// mid-septum toward the anterior insertion, 0–360) on a level.
func segment(level int, theta float64) int {
	if level == Apical {
		// septal 14, anterior 13, lateral 16, inferior 15
		return [4]int{14, 13, 16, 15}[int(wrap360(theta+45)/90)%4]
	}
	// anteroseptal, anterior, anterolateral, inferolateral, inferior, inferoseptal
	base := [6]int{2, 1, 6, 5, 4, 3}[int(theta/60)%6]
	return base + 6*level
}

// sense is +1 when the anterior insertion lies at larger image angle than
// the mid-septum, −1 otherwise.
func sense(sl Slice) float64 {
	if wrap180(sl.AnteriorDeg-sl.SeptumDeg) >= 0 {
		return 1
	}
	return -1
}

// anterior is the patient's anterior direction projected onto the image
// plane, in (i, j) components: LPS anterior is −P = (0, −1, 0).
func anterior(g study.Geometry) [2]float64 {
	a := [2]float64{-g.Direction[0][1], -g.Direction[1][1]}
	if a == [2]float64{} {
		// No direction cosines (a default geometry): image up is anterior,
		// the radiological display convention.
		a = [2]float64{0, -1}
	}
	return a
}

// centroid is the LV cavity's centroid in mm; NaN when the slice has none.
func centroid(lab []uint8, nx int, sx, sy float64) [2]float64 {
	var su, sv float64
	n := 0
	for p, l := range lab {
		if l == study.LV {
			su += float64(p%nx) * sx
			sv += float64(p/nx) * sy
			n++
		}
	}
	return [2]float64{su / float64(n), sv / float64(n)}
}

// contactAngles are the image angles (degrees) of the LV myocardium pixels
// within ContactMM of RV cavity, seen from c.
func contactAngles(lab []uint8, nx, ny int, sx, sy float64, c [2]float64) []float64 {
	ri, rj := int(math.Ceil(ContactMM/sx)), int(math.Ceil(ContactMM/sy))
	var out []float64
	for j := 0; j < ny; j++ {
		for i := 0; i < nx; i++ {
			if lab[i+nx*j] != study.Myocardium {
				continue
			}
			touch := false
			for dj := -rj; dj <= rj && !touch; dj++ {
				for di := -ri; di <= ri && !touch; di++ {
					ii, jj := i+di, j+dj
					if ii < 0 || jj < 0 || ii >= nx || jj >= ny || lab[ii+nx*jj] != study.RV {
						continue
					}
					du, dv := float64(di)*sx, float64(dj)*sy
					touch = du*du+dv*dv <= ContactMM*ContactMM
				}
			}
			if touch {
				out = append(out, math.Atan2(float64(j)*sy-c[1], float64(i)*sx-c[0])*180/math.Pi)
			}
		}
	}
	return out
}

// insertions finds the two ends of the contact arc and its middle: the
// arc is the complement of the largest angular gap between contact pixels.
// It needs an arc of 20° to 300° to be believable.
func insertions(lab []uint8, nx, ny int, sx, sy float64, c, ant [2]float64) (anteriorDeg, inferiorDeg, midDeg float64, ok bool) {
	a := contactAngles(lab, nx, ny, sx, sy, c)
	if len(a) < 3 {
		return 0, 0, 0, false
	}
	for n := range a {
		a[n] = wrap360(a[n])
	}
	slices.Sort(a)
	gap, after := a[0]+360-a[len(a)-1], 0 // wrap gap; arc starts at a[after]
	for n := 1; n < len(a); n++ {
		if d := a[n] - a[n-1]; d > gap {
			gap, after = d, n
		}
	}
	arc := 360 - gap
	if arc < 20 || arc > 300 {
		return 0, 0, 0, false
	}
	// The arc runs from start through increasing angles to end.
	start := a[after]
	end := a[(after+len(a)-1)%len(a)]
	mid := wrap360(start + arc/2)
	dir := func(d float64) float64 {
		rad := d * math.Pi / 180
		return math.Cos(rad)*ant[0] + math.Sin(rad)*ant[1]
	}
	if dir(start) >= dir(end) {
		return start, end, mid, true
	}
	return end, start, mid, true
}

// chord is the length (mm) of the first run of myocardium along the ray
// from c at image angle deg; 0 when the ray meets none inside the image.
func chord(lab []uint8, nx, ny int, sx, sy float64, c [2]float64, deg float64) float64 {
	rad := deg * math.Pi / 180
	du, dv := math.Cos(rad), math.Sin(rad)
	h := min(sx, sy) / 5
	entry := -1.0
	for r := 0.0; ; r += h {
		i, j := int(math.Round((c[0]+r*du)/sx)), int(math.Round((c[1]+r*dv)/sy))
		if i < 0 || j < 0 || i >= nx || j >= ny {
			return 0 // left the image inside or before the wall
		}
		myo := lab[i+nx*j] == study.Myocardium
		switch {
		case myo && entry < 0:
			entry = r
		case !myo && entry >= 0:
			return r - entry
		}
	}
}

func wrap360(d float64) float64 {
	d = math.Mod(d, 360)
	if d < 0 {
		d += 360
	}
	return d
}

func wrap180(d float64) float64 { return wrap360(d+180) - 180 }
