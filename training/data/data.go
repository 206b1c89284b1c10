// Package data turns labelled data set folders into training batches: it
// lists the cases (ACDC patient folders or nnU-Net raw data sets), splits
// them by patient, preprocesses every labelled frame once (z-score per
// volume, in-plane resampling to the target spacing: image bilinear,
// labels nearest), keeps the 2D slices in memory, and draws augmented
// batches on background goroutines. A batch depends only on (seed, epoch,
// iteration), so a resumed run draws exactly the batches it would have.
package data

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"sync"

	"cmrseg/app/dataset"
	"cmrseg/app/geom"
	"cmrseg/app/study"
	"cmrseg/inference/preprocess"
	"cmrseg/training/augment"
)

// Case is one labelled case of a data set.
type Case struct {
	dataset.Case
	// Patient groups the cases of one person (ACDC: the case itself;
	// nnU-Net conversions of ACDC: "patient001" for "patient001_frame01"),
	// so a split never puts one patient's frames on both sides.
	Patient string
	// Source is the data set folder the case was listed from.
	Source string
}

var frameSuffix = regexp.MustCompile(`^(.+)_frame\d+$`)

// List opens every folder and returns its labelled cases sorted by ID. An
// ID present in two folders is an error naming both.
func List(paths []string) ([]Case, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("data: no data set folder given")
	}
	seen := map[string]string{}
	var out []Case
	for _, p := range paths {
		d, err := dataset.Open(p)
		if err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		n := 0
		for _, c := range d.Cases {
			labelled := false
			for _, l := range c.LabelPaths {
				labelled = labelled || l != ""
			}
			if !labelled {
				continue
			}
			if prev, dup := seen[c.ID]; dup {
				return nil, fmt.Errorf("data: case %s is in both %s and %s", c.ID, prev, p)
			}
			seen[c.ID] = p
			patient := c.ID
			if m := frameSuffix.FindStringSubmatch(c.ID); m != nil && d.Layout == dataset.NNUNet {
				patient = m[1]
			}
			out = append(out, Case{Case: c, Patient: patient, Source: p})
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("data: %s has no labelled cases", p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Volume is one preprocessed labelled 3D frame on the training grid.
type Volume struct {
	Case  string // case ID
	Phase int    // phase index within the case's series
	Frame int    // ACDC frame number (1-based); 0 for nnU-Net cases
	// Grid is the resampled grid (in-plane spacing as close to the target
	// as whole pixels allow); Image and Labels lie on it.
	Grid   study.Geometry
	Image  []float32 // z-scored
	Labels []uint8
	// Original is the grid the frame was acquired on.
	Original study.Geometry
}

// Slices is the number of 2D slices.
func (v *Volume) Slices() int { return v.Grid.Dims[2] }

// Slice returns slice k as an augment.Slice aliasing the volume's memory.
func (v *Volume) Slice(k int) augment.Slice {
	w, h := v.Grid.Dims[0], v.Grid.Dims[1]
	n := w * h
	return augment.Slice{W: w, H: h, Image: v.Image[k*n : (k+1)*n], Labels: v.Labels[k*n : (k+1)*n]}
}

// Preprocess z-scores one 3D volume and resamples it bilinearly onto the
// in-plane grid of the given spacing: package preprocess, the one
// implementation inference uses too.
func Preprocess(img []float32, g study.Geometry, spacingMM float64) ([]float32, study.Geometry, error) {
	v, err := preprocess.Resample(img, g, [2]float64{spacingMM, spacingMM})
	if err != nil {
		return nil, g, fmt.Errorf("data: %w", err)
	}
	return v.Image, v.Grid, nil
}

// Set is a preprocessed collection of volumes with an index of their
// slices.
type Set struct {
	Volumes []*Volume
	// fgSlices[v] lists the slices of volume v with any foreground;
	// fgPos[v] gives each one's position from the base
	// (study.SlicePositions).
	fgSlices [][]int
	fgPos    [][]int
	// endSystolic[v]: volume v is its case's smaller-LV labelled phase
	// (of two or more).
	endSystolic []bool

	drawMu sync.Mutex
	draws  map[augment.SliceWeights]*weightedDraw // Sampler's weighted draws, by weights
}

// Slices counts the 2D slices of all volumes.
func (s *Set) Slices() int {
	n := 0
	for _, v := range s.Volumes {
		n += v.Slices()
	}
	return n
}

// Cases lists the case IDs in the set, sorted, once each.
func (s *Set) Cases() []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s.Volumes {
		if !seen[v.Case] {
			seen[v.Case] = true
			out = append(out, v.Case)
		}
	}
	sort.Strings(out)
	return out
}

// Load reads the cases and preprocesses every labelled phase on up to
// workers goroutines (≤ 0: one per CPU). classes bounds the label values;
// a label outside 0..classes−1 is an error naming the file. The result is
// in case order, then phase order, whatever the scheduling.
func Load(ctx context.Context, cases []Case, spacingMM float64, classes, workers int) (*Set, error) {
	if !(spacingMM > 0) {
		return nil, fmt.Errorf("data: target spacing %g mm must be positive", spacingMM)
	}
	if workers <= 0 {
		workers = runtime.NumCPU()
	}
	results := make([][]*Volume, len(cases))
	errs := make([]error, len(cases))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(workers, max(1, len(cases))); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				results[i], errs[i] = loadCase(cases[i], spacingMM, classes)
			}
		}()
	}
feed:
	for i := range cases {
		select {
		case jobs <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	set := &Set{}
	for i := range cases {
		if errs[i] != nil {
			return nil, errs[i]
		}
		set.Volumes = append(set.Volumes, results[i]...)
	}
	if len(set.Volumes) == 0 {
		return nil, fmt.Errorf("data: none of the %d cases has a labelled frame", len(cases))
	}
	set.index()
	return set, nil
}

func (s *Set) index() {
	s.fgSlices = make([][]int, len(s.Volumes))
	s.fgPos = make([][]int, len(s.Volumes))
	s.endSystolic = make([]bool, len(s.Volumes))
	lv := make([]int, len(s.Volumes))
	smallest := map[string]int{} // case → volume of least LV
	phases := map[string]int{}
	for vi, v := range s.Volumes {
		pos, _ := study.SlicePositions(study.Labels{Geometry: v.Grid, Data: v.Labels})
		for k, p := range pos {
			if p != study.PositionOutside {
				s.fgSlices[vi] = append(s.fgSlices[vi], k)
				s.fgPos[vi] = append(s.fgPos[vi], p)
			}
		}
		for _, l := range v.Labels {
			if l == study.LV {
				lv[vi]++
			}
		}
		phases[v.Case]++
		if o, ok := smallest[v.Case]; !ok || lv[vi] < lv[o] {
			smallest[v.Case] = vi
		}
	}
	for c, vi := range smallest {
		s.endSystolic[vi] = phases[c] >= 2
	}
}

// EndSystolic says whether volume v is its case's end-systolic labelled
// phase: the one of least LV cavity, when the case has two or more.
func (s *Set) EndSystolic(v int) bool { return s.endSystolic[v] }

func loadCase(c Case, spacingMM float64, classes int) ([]*Volume, error) {
	smp, err := c.Load()
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	s := smp.Series
	var out []*Volume
	for t, l := range smp.Labels {
		if l == nil {
			continue
		}
		path := labelPath(c, t)
		for i, v := range l.Data {
			if int(v) >= classes {
				d := l.Dims
				return nil, fmt.Errorf("data: %s: label %d at voxel (%d,%d,%d) is outside 0..%d", path, v, i%d[0], (i/d[0])%d[1], i/(d[0]*d[1]), classes-1)
			}
		}
		img, grid, err := Preprocess(s.Phase(t), s.Geometry, spacingMM)
		if err != nil {
			return nil, fmt.Errorf("data: case %s phase %d: %w", c.ID, t, err)
		}
		lab, err := geom.Labels(l, grid)
		if err != nil {
			return nil, fmt.Errorf("data: %s: %w", path, err)
		}
		frame := 0
		if t < len(s.PhaseNumbers) {
			frame = s.PhaseNumbers[t]
		}
		out = append(out, &Volume{Case: c.ID, Phase: t, Frame: frame, Grid: grid, Image: img, Labels: lab.Data, Original: s.Geometry})
	}
	return out, nil
}

func labelPath(c Case, t int) string {
	if t < len(c.LabelPaths) && c.LabelPaths[t] != "" {
		return c.LabelPaths[t]
	}
	return filepath.Join(c.Source, c.ID)
}
