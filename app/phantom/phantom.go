// Package phantom generates the synthetic cine short-axis study the app
// opens at start-up: a beating left and right ventricle in a bSSFP-like
// chest, with exact ACDC label maps and known volumes.
package phantom

import (
	"math"
	"math/rand/v2"
	"runtime"
	"sync"

	"cmrseg/app/study"
)

// Description is the phantom series' description.
const Description = "cmrseg demo phantom (synthetic)"

// The grid and cycle. ES falls at 360 ms of a 1000 ms RR interval.
const (
	nx, ny, nz = 192, 192, 10
	nt         = 25
	pixelMM    = 1.5
	sliceMM    = 8.0
	phaseMS    = 40.0
	esPhase    = 9
)

// Design of the heart (mm, in-plane coordinates u along i and v along j,
// centred on the image; v grows posterior).
const (
	lvU, lvV     = 18.0, 0.0 // LV centre
	lvEndoBase   = 27.0      // ED cavity radius at the base
	lvWall       = 8.5       // ED wall thickness
	lvEF         = 0.60      // design LV ejection fraction
	rvOffU       = -26.0     // RV outer circle centre relative to the LV
	rvOffV       = -6.0      //
	rvRadiusBase = 41.0      // ED RV outer radius at the base
	rvShrink     = 0.30      // RV radius shortening at ES
	rvPull       = 0.30      // RV centre moving toward the septum at ES
	rvLength     = 0.85      // RV spans this fraction of the LV's slices
	rvWall       = 3.0       //
	pericardFat  = 2.5       //
	noiseSigma   = 0.03      // relative to blood
	scale        = 600       // blood signal in image units
)

// Tissue signal relative to blood pool on bSSFP.
const (
	sigBlood  = 1.0
	sigMyo    = 0.30
	sigFat    = 0.85
	sigMuscle = 0.27
	sigTissue = 0.40
	sigLung   = 0.04
	sigSpine  = 0.18
)

// Options choose the random realisation and, optionally, a regional wall
// thinning; otherwise the anatomy is fixed.
type Options struct {
	// Seed drives the noise; the same seed gives the same study.
	Seed uint64
	// Thin makes the LV wall thinner in one sector of some slices (zero
	// value: no thinning), a known regional defect for wall-thickness tests.
	Thin Thinning
}

// Thinning thins the LV wall by MM at end-diastole in the angular sector
// [FromDeg, ToDeg) of slices FirstSlice..LastSlice (0-based, inclusive).
// Angles are in the image plane around the LV centre, atan2(v, u) in
// degrees with u along i (image right) and v along j (image down,
// posterior); the sector runs from FromDeg in the direction of increasing
// angle and may wrap through 360. The sector keeps its own myocardial
// area through the cycle, as the rest of the wall does, so it also
// thickens less in absolute terms. Truth.Design ignores the thinning.
type Thinning struct {
	FromDeg, ToDeg        float64
	FirstSlice, LastSlice int
	MM                    float64
}

// thinned returns the ED wall reduction (mm) at slice k and image angle a
// (degrees).
func (th Thinning) thinned(k int, a float64) float64 {
	if th.MM == 0 || k < th.FirstSlice || k > th.LastSlice {
		return 0
	}
	span := math.Mod(th.ToDeg-th.FromDeg+720, 360)
	if math.Mod(a-th.FromDeg+720, 360) < span {
		return th.MM
	}
	return 0
}

// MidSeptumDeg is the image angle (as in Thinning) from the LV centre to
// the RV centre: the RV meets the LV symmetrically about it in every slice
// and phase, so it is the mid-septal direction of the AHA model.
func MidSeptumDeg() float64 { return math.Atan2(rvOffV, rvOffU) * 180 / math.Pi }

// RadialWall is the analytic LV wall thickness (mm) of slice k (0-based,
// base first) at phase t along the ray from the LV centre at image angle
// angleDeg, with opt's thinning: the truth for wall-thickness measurements.
func RadialWall(opt Options, k, t int, angleDeg float64) float64 {
	endo, epi := wallAt(section(k, t), k, t, opt.Thin, angleDeg)
	return epi - endo
}

// wallAt gives the endo- and epicardial radii at image angle a: the
// section's, or in the thinned sector an epicardium that keeps the
// sector's own (reduced) ED myocardial area through the cycle.
func wallAt(h heart, k, t int, th Thinning, a float64) (endo, epi float64) {
	d := th.thinned(k, a)
	if d == 0 {
		return h.endo, h.epi
	}
	ed := section(k, 0)
	w := ed.epi - ed.endo - d
	if w <= 0 {
		return h.endo, h.endo
	}
	area := (ed.endo+w)*(ed.endo+w) - ed.endo*ed.endo // epi² − endo²: twice the area per radian, conserved
	return h.endo, math.Sqrt(h.endo*h.endo + area)
}

// Volumes are ventricular volumes in mL and ejection fractions in percent.
type Volumes struct {
	LVEDV, LVESV, LVEF float64
	RVEDV, RVESV, RVEF float64
	// MyoVolume is the LV myocardial volume at ED.
	MyoVolume float64
}

// Truth is what the phantom's measurements should give.
type Truth struct {
	ED, ES int
	// Labels are computed from the generated label maps (voxel counts);
	// a perfect segmentation reproduces these exactly.
	Labels Volumes
	// Design are the analytic values of the continuous shapes (slice
	// areas times slice thickness); Labels differ only by pixelisation.
	Design Volumes
}

// Generate builds the phantom: the series (NT phases), one label map per
// phase, and the true volumes.
func Generate(opt Options) (*study.Series, []study.Labels, Truth) {
	g := geometry()
	s := &study.Series{
		Geometry:     g,
		NT:           nt,
		Data:         make([]float32, g.N()*nt),
		TriggerTimes: make([]float64, nt),
		ED:           0,
		ES:           esPhase,
		Meta: study.Metadata{
			PatientID:         "PHANTOM",
			PatientName:       "Demo^Phantom",
			SeriesDescription: Description,
			Manufacturer:      "cmrseg",
			Model:             "synthetic bSSFP",
			HeightM:           1.75,
			WeightKg:          70,
		},
	}
	for t := range s.TriggerTimes {
		s.TriggerTimes[t] = phaseMS * float64(t)
	}
	labels := make([]study.Labels, nt)
	chest := background()

	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for t := range next {
				labels[t] = study.Labels{Geometry: g, Data: make([]uint8, g.N())}
				render(t, chest, s.Phase(t), labels[t].Data, opt.Thin, rand.New(rand.NewPCG(opt.Seed, uint64(t))))
			}
		}()
	}
	for t := 0; t < nt; t++ {
		next <- t
	}
	close(next)
	wg.Wait()
	return s, labels, Truth{ED: 0, ES: esPhase, Labels: measure(labels, g), Design: design()}
}

// geometry is an oblique short-axis stack: slices step from base to apex
// along the LV long axis (toward patient left, anterior, inferior), with
// rows running toward patient left so the RV lies on the image's left.
func geometry() study.Geometry {
	n := unit([3]float64{0.6, -0.45, -0.65})
	left := [3]float64{1, 0, 0}
	d := dot(left, n)
	i := unit([3]float64{left[0] - d*n[0], left[1] - d*n[1], left[2] - d*n[2]})
	j := cross(n, i)
	if j[1] < 0 { // j should point posterior (down on screen)
		j = [3]float64{-j[0], -j[1], -j[2]}
	}
	centre := [3]float64{12, -20, 40}
	g := study.Geometry{
		Dims:      [3]int{nx, ny, nz},
		Spacing:   [3]float64{pixelMM, pixelMM, sliceMM},
		Direction: [3][3]float64{i, j, n},
	}
	for a := 0; a < 3; a++ {
		g.Origin[a] = centre[a] - i[a]*pixelMM*(nx-1)/2 - j[a]*pixelMM*(ny-1)/2 - n[a]*sliceMM*(nz-1)/2
	}
	return g
}

// cycle is the contraction, 0 at ED and 1 at ES.
func cycle(t int) float64 {
	if t <= esPhase {
		return 0.5 * (1 - math.Cos(math.Pi*float64(t)/esPhase))
	}
	return 0.5 * (1 + math.Cos(math.Pi*float64(t-esPhase)/float64(nt-esPhase)))
}

// heart is the cross-section of slice k at phase t.
type heart struct {
	endo, epi     float64 // LV radii
	rvU, rvV, rvR float64 // RV outer circle; rvR 0 when the RV is absent
	pericardium   bool
}

func section(k, t int) heart {
	z := (float64(k) + 0.5) / nz
	c := cycle(t)
	endoED := lvEndoBase * math.Sqrt(1-0.8*z*z)
	wall := lvWall * (1 - 0.25*z)
	myoArea := math.Pi * ((endoED+wall)*(endoED+wall) - endoED*endoED)
	h := heart{endo: endoED * math.Sqrt(1-lvEF*c)}
	h.epi = math.Sqrt(h.endo*h.endo + myoArea/math.Pi)
	if z < rvLength {
		h.rvR = rvRadiusBase * math.Sqrt(1-(z/rvLength)*(z/rvLength)) * (1 - rvShrink*c)
		h.rvU = lvU + rvOffU*(1-rvPull*c)
		h.rvV = lvV + rvOffV*(1-rvPull*c)
	}
	return h
}

// chest holds the static anatomy of one slice (the same in every phase):
// signal before shading and the coil shading field.
type chest struct {
	signal, shading []float32
}

func background() []chest {
	out := make([]chest, nz)
	for k := range out {
		c := chest{signal: make([]float32, nx*ny), shading: make([]float32, nx*ny)}
		for j := 0; j < ny; j++ {
			for i := 0; i < nx; i++ {
				u, v := pos(i, j)
				s := 0.0
				s = over(s, sigFat, ellipse(u, v, 0, 8, 135, 105))
				s = over(s, sigMuscle, ellipse(u, v, 0, 8, 125, 95))
				s = over(s, sigTissue, ellipse(u, v, 0, 8, 117, 87))
				s = over(s, sigLung, ellipse(u, v, -85, 5, 30, 62-2*float64(k)))
				s = over(s, sigLung, ellipse(u, v, 95, 5, 24, 58-2*float64(k)))
				s = over(s, sigSpine, ellipse(u, v, 0, 80, 15, 14))
				s = over(s, sigBlood, ellipse(u, v, 32, 62, 11, 11)) // descending aorta
				c.signal[i+nx*j] = float32(s)
				// Receive coils on the anterior chest: brighter near the front.
				c.shading[i+nx*j] = float32(0.7 + 0.45*math.Exp(-((u+15)*(u+15)+(v+120)*(v+120))/(2*120*120)))
			}
		}
		out[k] = c
	}
	return out
}

func render(t int, bg []chest, img []float32, lab []uint8, th Thinning, rng *rand.Rand) {
	for k := 0; k < nz; k++ {
		h := section(k, t)
		for j := 0; j < ny; j++ {
			for i := 0; i < nx; i++ {
				idx := i + nx*j
				u, v := pos(i, j)
				s := float64(bg[k].signal[idx])
				dLV := math.Sqrt((u-lvU)*(u-lvU) + (v-lvV)*(v-lvV))
				endo, epi := wallAt(h, k, t, th, math.Atan2(v-lvV, u-lvU)*180/math.Pi)
				dRV := math.Inf(1)
				if h.rvR > 0 {
					dRV = math.Sqrt((u-h.rvU)*(u-h.rvU) + (v-h.rvV)*(v-h.rvV))
				}
				if dLV < h.epi+30 || dRV < h.rvR+10 {
					s = over(s, sigFat, edge(dRV-h.rvR-rvWall-pericardFat))
					s = over(s, sigFat, edge(dLV-epi-pericardFat))
					s = over(s, sigMyo, edge(dRV-h.rvR-rvWall))
					s = over(s, sigBlood, edge(dRV-h.rvR))
					s = over(s, sigMyo, edge(dLV-epi))
					s = over(s, sigBlood, edge(dLV-endo))
				}
				var l uint8
				switch {
				case dLV < endo:
					l = study.LV
				case dLV < epi:
					l = study.Myocardium
				case dRV < h.rvR:
					l = study.RV
				}
				lab[idx+nx*ny*k] = l
				// Magnitude of a complex signal with Gaussian noise: Rician.
				m := s * float64(bg[k].shading[idx])
				re, im := m+noiseSigma*rng.NormFloat64(), noiseSigma*rng.NormFloat64()
				img[idx+nx*ny*k] = float32(scale * math.Sqrt(re*re+im*im))
			}
		}
	}
}

// pos is the in-plane position of pixel (i, j) in mm from the image centre.
func pos(i, j int) (u, v float64) {
	return (float64(i) - (nx-1)/2.0) * pixelMM, (float64(j) - (ny-1)/2.0) * pixelMM
}

// edge is the coverage of a pixel by a shape whose signed distance (mm,
// negative inside) at the pixel centre is sd: a one-pixel ramp that
// mimics partial volume.
func edge(sd float64) float64 {
	return min(1, max(0, 0.5-sd/pixelMM))
}

// ellipse is the coverage of an axis-aligned ellipse (approximate signed
// distance).
func ellipse(u, v, cu, cv, a, b float64) float64 {
	if a <= 0 || b <= 0 {
		return 0
	}
	r := math.Sqrt((u-cu)*(u-cu)/(a*a) + (v-cv)*(v-cv)/(b*b))
	return edge((r - 1) * min(a, b))
}

func over(dst, src, alpha float64) float64 { return dst*(1-alpha) + src*alpha }

// measure takes the volumes of the label maps at ED (phase 0) and ES.
func measure(labels []study.Labels, g study.Geometry) Volumes {
	ed := study.Labels{Geometry: g, Data: labels[0].Data}.VolumesML()
	es := study.Labels{Geometry: g, Data: labels[esPhase].Data}.VolumesML()
	return volumes(ed[study.LV], es[study.LV], ed[study.RV], es[study.RV], ed[study.Myocardium])
}

// design integrates the continuous shapes slice by slice.
func design() Volumes {
	area := func(t int, what uint8) float64 {
		sum := 0.0
		for k := 0; k < nz; k++ {
			h := section(k, t)
			switch what {
			case study.LV:
				sum += math.Pi * h.endo * h.endo
			case study.Myocardium:
				sum += math.Pi * (h.epi*h.epi - h.endo*h.endo)
			case study.RV:
				if h.rvR > 0 {
					d := math.Hypot(h.rvU-lvU, h.rvV-lvV)
					sum += math.Pi*h.rvR*h.rvR - lens(h.rvR, h.epi, d)
				}
			}
		}
		return sum * sliceMM / 1000
	}
	return volumes(area(0, study.LV), area(esPhase, study.LV), area(0, study.RV), area(esPhase, study.RV), area(0, study.Myocardium))
}

func volumes(lvED, lvES, rvED, rvES, myo float64) Volumes {
	return Volumes{
		LVEDV: lvED, LVESV: lvES, LVEF: 100 * (lvED - lvES) / lvED,
		RVEDV: rvED, RVESV: rvES, RVEF: 100 * (rvED - rvES) / rvED,
		MyoVolume: myo,
	}
}

// lens is the area where two discs of radii r1, r2 with centres d apart overlap.
func lens(r1, r2, d float64) float64 {
	switch {
	case d >= r1+r2:
		return 0
	case d <= math.Abs(r1-r2):
		r := min(r1, r2)
		return math.Pi * r * r
	}
	a1 := r1 * r1 * math.Acos((d*d+r1*r1-r2*r2)/(2*d*r1))
	a2 := r2 * r2 * math.Acos((d*d+r2*r2-r1*r1)/(2*d*r2))
	a3 := 0.5 * math.Sqrt((-d+r1+r2)*(d+r1-r2)*(d-r1+r2)*(d+r1+r2))
	return a1 + a2 - a3
}

func unit(a [3]float64) [3]float64 {
	n := math.Sqrt(dot(a, a))
	return [3]float64{a[0] / n, a[1] / n, a[2] / n}
}

func dot(a, b [3]float64) float64 { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }

func cross(a, b [3]float64) [3]float64 {
	return [3]float64{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}
