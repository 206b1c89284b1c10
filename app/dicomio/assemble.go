package dicomio

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"cmrseg/app/geom"
	"cmrseg/app/membudget"
	"cmrseg/app/study"
)

// frameRef is one 2D frame of a series: frame f of instance in.
type frameRef struct {
	in *instance
	f  int
}

func (r frameRef) info() *frameInfo { return &r.in.frames[r.f] }

func (r frameRef) name() string {
	if r.in.nFrames > 1 {
		return fmt.Sprintf("%s frame %d", filepath.Base(r.in.path), r.f+1)
	}
	return filepath.Base(r.in.path)
}

// names lists a few frames for an error message.
func names(refs []frameRef) string { return namesN(refs, 3) }

func namesN(refs []frameRef, show int) string {
	var s []string
	for i, r := range refs {
		if i == show {
			s = append(s, fmt.Sprintf("and %d more", len(refs)-show))
			break
		}
		s = append(s, r.name())
	}
	return strings.Join(s, ", ")
}

// Tolerances for "the same" in patient space.
const (
	samePlaneMM  = 0.05   // two frames within this distance along the normal share a slice
	samePointMM  = 0.1    // ... and must then share their position to this
	parallelCos  = 0.9999 // direction cosines agreeing to ~0.8 degrees
	gapTolerance = 0.1    // relative deviation of a slice gap from the mean
	shearMM      = 0.5    // allowed in-plane drift of slice origins
	maxCoordMM   = 1e5    // no patient coordinate or spacing is 100 m
)

// assemble orders a series' frames into slices and phases and derives its
// geometry; it leaves the pixels to loadPixels.
func assemble(g []*instance) (*study.Series, error) {
	var refs []frameRef
	for _, in := range g {
		for f := range in.frames {
			refs = append(refs, frameRef{in, f})
		}
	}
	first := g[0]

	// One image size and pixel format.
	sizes := map[[2]int][]frameRef{}
	for _, r := range refs {
		k := [2]int{r.in.cols, r.in.rows}
		sizes[k] = append(sizes[k], r)
	}
	if len(sizes) > 1 {
		var parts []string
		for k, rs := range sizes {
			parts = append(parts, fmt.Sprintf("%d×%d in %s", k[0], k[1], names(rs)))
		}
		sort.Strings(parts)
		return nil, fmt.Errorf("mixed image sizes (columns×rows): %s", strings.Join(parts, "; "))
	}
	for _, in := range g {
		if in.samples != 1 {
			return nil, fmt.Errorf("%s: SamplesPerPixel %d (%s): colour images are not supported", filepath.Base(in.path), in.samples, in.photometric)
		}
	}

	// Geometry: all frames or none.
	var with, without []frameRef
	for _, r := range refs {
		if r.info().hasPos && r.info().hasOrient {
			with = append(with, r)
		} else {
			without = append(without, r)
		}
	}
	if len(with) > 0 && len(without) > 0 {
		return nil, fmt.Errorf("%d of %d frames lack ImagePositionPatient/ImageOrientationPatient: %s", len(without), len(refs), names(without))
	}
	known := len(with) > 0
	src := &study.DICOMSource{GeometryKnown: known}

	// Orientation, pixel spacing.
	f0 := refs[0].info()
	row := unit([3]float64{f0.orient[0], f0.orient[1], f0.orient[2]})
	col := unit([3]float64{f0.orient[3], f0.orient[4], f0.orient[5]})
	n, _ := f0.normal()
	if known {
		var off []frameRef
		for _, r := range refs {
			fi := r.info()
			rr := unit([3]float64{fi.orient[0], fi.orient[1], fi.orient[2]})
			cc := unit([3]float64{fi.orient[3], fi.orient[4], fi.orient[5]})
			if dot(rr, row) < parallelCos || dot(cc, col) < parallelCos {
				off = append(off, r)
			}
		}
		if len(off) > 0 {
			return nil, fmt.Errorf("slices are not parallel: %s differ in ImageOrientationPatient from %s", names(off), refs[0].name())
		}
	} else {
		row, col, n = [3]float64{1, 0, 0}, [3]float64{0, 1, 0}, [3]float64{0, 0, 1}
		src.Notes = append(src.Notes, "no ImagePositionPatient/ImageOrientationPatient: identity orientation assumed")
	}
	ps := f0.spacing
	if !f0.hasSpacing {
		ps = [2]float64{1, 1}
		src.GeometryKnown = false
		src.Notes = append(src.Notes, "no PixelSpacing: 1 mm assumed")
	}
	var mixed []frameRef
	for _, r := range refs {
		fi := r.info()
		if fi.hasSpacing != f0.hasSpacing || fi.hasSpacing &&
			(math.Abs(fi.spacing[0]-ps[0]) > 1e-4*ps[0] || math.Abs(fi.spacing[1]-ps[1]) > 1e-4*ps[1]) {
			mixed = append(mixed, r)
		}
	}
	if len(mixed) > 0 {
		m := mixed[0].info().spacing
		return nil, fmt.Errorf("mixed pixel spacing: %s has %g\\%g mm, %s has %g\\%g mm (%d frames differ)",
			mixed[0].name(), m[0], m[1], refs[0].name(), ps[0], ps[1], len(mixed))
	}

	// Slice positions along the normal.
	dist := func(r frameRef) float64 { return dot(r.info().pos, n) }
	sort.SliceStable(refs, func(a, b int) bool { return dist(refs[a]) < dist(refs[b]) })
	var slices [][]frameRef
	for _, r := range refs {
		if len(slices) > 0 {
			last := slices[len(slices)-1]
			if dist(r)-dist(last[0]) <= samePlaneMM {
				slices[len(slices)-1] = append(last, r)
				continue
			}
		}
		slices = append(slices, []frameRef{r})
	}
	for _, sl := range slices {
		p0 := sl[0].info().pos
		for _, r := range sl[1:] {
			if d := norm(sub(r.info().pos, p0)); d > samePointMM {
				return nil, geometryError([]frameRef{sl[0], r}, "frames in one slice plane have positions %.2f mm apart: %s and %s (two stacks in one series?)", d, sl[0].name(), r.name())
			}
		}
	}

	if err := checkCollapse(slices, known); err != nil {
		return nil, err
	}

	// Phases within each slice.
	for _, sl := range slices {
		orderPhases(sl)
	}
	// The usual count is the most common one; name a slice that differs.
	counts := map[int]int{}
	for _, sl := range slices {
		counts[len(sl)]++
	}
	nt := len(slices[0])
	for c, n := range counts {
		if n > counts[nt] || n == counts[nt] && c > nt {
			nt = c
		}
	}
	for k, sl := range slices {
		if len(sl) != nt {
			return nil, fmt.Errorf("unequal phase counts: slice %d of %d has %d frames (%s) where the others have %d",
				k+1, len(slices), len(sl), namesN(sl, 8), nt)
		}
	}

	// Slice spacing: regular gaps only.
	nk := len(slices)
	if err := checkDeclaredPhases(g, refs, nk, nt); err != nil {
		return nil, err
	}
	dz := 0.0
	if nk > 1 {
		// Compare each gap with the median gap, so the message points at
		// the gap that is off (a missing slice doubles one gap).
		gaps := make([]float64, nk-1)
		for k := 1; k < nk; k++ {
			gaps[k-1] = dist(slices[k][0]) - dist(slices[k-1][0])
		}
		sorted := append([]float64(nil), gaps...)
		sort.Float64s(sorted)
		med := sorted[len(sorted)/2]
		for k, gap := range gaps {
			if math.Abs(gap-med) > gapTolerance*med {
				return nil, fmt.Errorf("uneven slice gaps (missing slices?): %.3g mm between %s and %s where the usual gap is %.3g mm",
					gap, slices[k][0].name(), slices[k+1][0].name(), med)
			}
		}
		dz = (dist(slices[nk-1][0]) - dist(slices[0][0])) / float64(nk-1)
		o := slices[0][0].info().pos
		for k := 1; k < nk; k++ {
			v := sub(slices[k][0].info().pos, o)
			lat := norm(sub(v, scale(n, dot(v, n))))
			if lat > math.Max(shearMM, 0.5*math.Min(ps[0], ps[1])) {
				return nil, fmt.Errorf("slice %s is shifted %.2f mm in-plane from the stack through %s (sheared stack)", slices[k][0].name(), lat, slices[0][0].name())
			}
		}
	} else {
		switch {
		case f0.between > 0:
			dz = f0.between
		case f0.thickness > 0:
			dz = f0.thickness
		default:
			dz = 1
			src.Notes = append(src.Notes, "single slice without SliceThickness: 1 mm slice spacing assumed")
		}
	}

	grid := study.Geometry{
		Dims:    [3]int{first.cols, first.rows, nk},
		Spacing: [3]float64{ps[1], ps[0], dz},
		Origin:  slices[0][0].info().pos,
	}
	if err := geom.Plausible(grid, nt); err != nil {
		return nil, fmt.Errorf("%s: %w", refs[0].name(), err)
	}
	// Forged or broken headers can give absurd numbers; refuse them here
	// rather than hand NaN or 1e300 mm to the rest of the program.
	origin0 := slices[0][0].info().pos
	for a := 0; a < 3; a++ {
		if math.IsNaN(origin0[a]) || math.Abs(origin0[a]) > maxCoordMM {
			return nil, fmt.Errorf("implausible ImagePositionPatient %v in %s", origin0, slices[0][0].name())
		}
	}
	for _, v := range []float64{ps[0], ps[1], dz} {
		if !(v > 0 && v < maxCoordMM) {
			return nil, fmt.Errorf("implausible spacing %g\\%g mm, slice spacing %g mm", ps[0], ps[1], dz)
		}
	}

	s := &study.Series{
		Geometry: study.Geometry{
			Dims:      [3]int{first.cols, first.rows, nk},
			Spacing:   [3]float64{ps[1], ps[0], dz},
			Origin:    slices[0][0].info().pos,
			Direction: [3][3]float64{row, col, n},
		},
		NT: nt,
		ED: -1, ES: -1,
	}
	if !known {
		s.Origin = [3]float64{}
	}

	// Trigger times and the cine test: several distinct times per slice.
	allTrig := true
	for _, r := range refs {
		allTrig = allTrig && r.info().hasTrigger
	}
	cine := nt > 1
	for _, sl := range slices {
		distinct := map[float64]bool{}
		for _, r := range sl {
			if r.info().hasTrigger {
				distinct[r.info().trigger] = true
			}
		}
		cine = cine && len(distinct) > 1
	}
	if allTrig {
		s.TriggerTimes = make([]float64, nt)
		for t := 0; t < nt; t++ {
			for _, sl := range slices {
				s.TriggerTimes[t] += sl[t].info().trigger / float64(nk)
			}
		}
	}

	src.Cine = cine
	src.StudyInstanceUID = first.studyUID
	src.SeriesInstanceUID = first.seriesUID
	src.FrameOfReferenceUID = first.frameOfRef
	src.SeriesNumber = first.seriesNumber
	src.Modality = first.modality
	src.TransferSyntaxUID = first.syntaxUID
	src.PatientName, src.PatientID, src.PatientBirthDate, src.PatientSex = first.patientName, first.patientID, first.birthDate, first.sex
	src.StudyID, src.StudyDate, src.StudyTime, src.AccessionNumber = first.studyID, first.studyDate, first.studyTime, first.accession
	src.ReferringPhysicianName, src.StudyDescription = first.referring, first.studyDesc
	src.SliceThickness = f0.thickness
	src.Slices = nk
	src.Frames = make([]study.DICOMFrame, nk*nt)
	seen := map[string]bool{}
	for t := 0; t < nt; t++ {
		for k := 0; k < nk; k++ {
			r := slices[k][t]
			fi := r.info()
			src.Frames[k+nk*t] = study.DICOMFrame{
				Path: r.in.path, SOPClassUID: r.in.sopClass, SOPInstanceUID: r.in.sopInstance,
				InstanceNumber: r.in.number, Frame: r.f + 1, Position: fi.pos,
				TriggerTime: fi.trigger, HasTriggerTime: fi.hasTrigger,
			}
			if !seen[r.in.path] {
				seen[r.in.path] = true
				s.Meta.SourcePaths = append(s.Meta.SourcePaths, r.in.path)
			}
		}
	}
	s.Source = src
	s.Meta.PatientID = first.patientID
	s.Meta.PatientName = first.patientName
	s.Meta.StudyInstanceUID = first.studyUID
	s.Meta.SeriesInstanceUID = first.seriesUID
	s.Meta.StudyDate = parseDate(first.studyDate, first.studyTime)
	s.Meta.SeriesDescription = first.seriesDesc
	s.Meta.Manufacturer = first.manufacturer
	s.Meta.Model = first.model
	s.Meta.HeightM = first.heightM
	s.Meta.WeightKg = first.weightKg
	s.Meta.Sex = study.NormalizeSex(first.sex)
	s.Meta.AgeYears = study.AgeYears(first.age, first.birthDate, first.studyDate)
	return s, nil
}

// orderPhases sorts one slice's frames by trigger time when every frame
// has one, otherwise by temporal position index, InstanceNumber and frame.
func orderPhases(sl []frameRef) {
	allTrig := true
	for _, r := range sl {
		allTrig = allTrig && r.info().hasTrigger
	}
	sort.SliceStable(sl, func(a, b int) bool {
		fa, fb := sl[a].info(), sl[b].info()
		if allTrig && fa.trigger != fb.trigger {
			return fa.trigger < fb.trigger
		}
		if fa.temporal != fb.temporal {
			return fa.temporal < fb.temporal
		}
		if sl[a].in.number != sl[b].in.number {
			return sl[a].in.number < sl[b].in.number
		}
		return sl[a].f < sl[b].f
	})
}

func sub(a, b [3]float64) [3]float64 { return [3]float64{a[0] - b[0], a[1] - b[1], a[2] - b[2]} }

// parseDate reads a DA (and optional TM) value; old-style "1995.06.26"
// dates occur too. The zero time means unknown.
func parseDate(da, tm string) time.Time {
	da = strings.ReplaceAll(da, ".", "")
	d, err := time.Parse("20060102", da)
	if err != nil {
		return time.Time{}
	}
	tm = strings.ReplaceAll(tm, ":", "")
	if i := strings.IndexByte(tm, '.'); i >= 0 {
		tm = tm[:i]
	}
	for _, layout := range []string{"150405", "1504", "15"} {
		if t, err := time.Parse(layout, tm); err == nil && len(tm) == len(layout) {
			return d.Add(time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute + time.Duration(t.Second())*time.Second)
		}
	}
	return d
}

// LossyNote is the DICOMSource note for a series decoded from lossy JPEG
// or JPEG 2000:
// its pixel values are not the scanner's, so segmentation and uncertainty
// measured on it are less trustworthy than on the original images.
const LossyNote = "WARNING: pixels decoded from lossy JPEG (baseline/DCT, or irreversible or truncated JPEG 2000): values differ from the scanner's; segmentation of lossy images is less reliable"

// maxVoxels bounds one series in memory (2 GiB of float32).
const maxVoxels = 1 << 29

// loadPixels reads each source file once more, this time with its pixel
// data, and decodes the frames the series uses into s.Data.
func loadPixels(s *study.Series, g []*instance) error {
	src := s.Source.(*study.DICOMSource)
	n := s.Dims[0] * s.Dims[1]
	total := int64(n) * int64(len(src.Frames))
	if total > maxVoxels {
		return fmt.Errorf("series of %d voxels is more than the %d this reader loads", total, maxVoxels)
	}
	if err := membudget.Check(fmt.Sprintf("series %v × %d as float32", s.Dims, s.NT), membudget.Mul(total, 4)); err != nil {
		return err
	}
	byPath := map[string][]int{}
	var order []string
	for i, fr := range src.Frames {
		if _, ok := byPath[fr.Path]; !ok {
			order = append(order, fr.Path)
		}
		byPath[fr.Path] = append(byPath[fr.Path], i)
	}
	s.Data = make([]float32, total)
	lossy := false
	for _, p := range order {
		data, err := readDICOM(p)
		if err != nil {
			return err
		}
		in, err := parseFile(p, data, true)
		if err != nil {
			return err
		}
		for _, i := range byPath[p] {
			f := src.Frames[i].Frame - 1
			if f >= len(in.frames) || in.rows*in.cols != n {
				return fmt.Errorf("%s: changed while reading", p)
			}
			if err := in.decodeFrame(f, s.Data[i*n:(i+1)*n]); err != nil {
				return err
			}
		}
		lossy = lossy || in.lossy
	}
	if lossy {
		src.Notes = append(src.Notes, LossyNote)
	}
	return s.Validate()
}
