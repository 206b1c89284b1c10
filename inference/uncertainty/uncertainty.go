// Package uncertainty turns the softmax outputs of a checkpoint ensemble into
// one segmentation with its uncertainty (Zhao et al., MICCAI 2022): the
// prediction is the mean of the checkpoints' softmax (Eq. 2), the predictive
// uncertainty the entropy of that mean (Eq. 3), and the epistemic part the
// mutual information, entropy of the mean minus mean of the entropies.
package uncertainty

import (
	"fmt"
	"math"
	"slices"

	"cmrseg/app/study"
)

// Tolerances for a checkpoint's softmax. Float32 softmax sums stay within
// 1e-5 of one; logits or unnormalised scores miss by far more than sumTol.
const (
	rangeTol = 1e-4
	sumTol   = 1e-3
)

// Result is the ensemble's segmentation of one 3D volume (one cardiac phase).
// All per-voxel slices use the study layout: i fastest, then j, then k.
type Result struct {
	study.Geometry
	// Classes is the number of classes (4: background, RV, myocardium, LV).
	Classes int
	// Prob is the mean softmax, class-major: Prob[c*N+i].
	Prob []float32
	// Labels is the argmax of Prob (ties go to the lower class), cleaned by
	// the bundle's post-processing where the ensemble applies one: a voxel
	// of a removed island is background although its argmax is not.
	Labels []uint8
	// Entropy is the entropy of Prob per voxel, in nats (0 … ln Classes).
	Entropy []float32
	// MutualInfo is Entropy minus the mean of the checkpoints' entropies,
	// in nats; never negative.
	MutualInfo []float32
	// SampleLabels[k] is the argmax of checkpoint k's softmax: the posterior
	// samples behind credible intervals and alternative hypotheses.
	SampleLabels [][]uint8
	// SliceScores[k] is the mean Entropy over the voxels of slice k that any
	// checkpoint labels foreground; 0 when no checkpoint sees foreground.
	// Restricting to the union of foreground keeps the large, confidently
	// empty background from diluting the score, and using the union (not the
	// mean's labels) keeps a structure that only some checkpoints find.
	SliceScores []float64
	// VolumeScore is the largest SliceScore: a volume is as doubtful as its
	// worst slice, which is what a reviewer has to look at.
	VolumeScore float64
	// Checkpoints is the number of ensemble members averaged.
	Checkpoints int
}

// Accumulator builds a Result from one checkpoint's softmax at a time, so
// memory grows by one label map per checkpoint, not one probability map.
type Accumulator struct {
	geom     study.Geometry
	classes  int
	sumProb  []float64 // class-major, like Prob
	sumEnt   []float64 // per voxel: sum over checkpoints of their entropy
	samples  [][]uint8
	n        int
	voxelBuf []float64
}

// NewAccumulator prepares to average softmax maps on geom with the given
// number of classes.
func NewAccumulator(geom study.Geometry, classes int) *Accumulator {
	n := geom.N()
	if n < 0 || classes < 0 {
		n, classes = 0, 0
	}
	return &Accumulator{
		geom:     geom,
		classes:  classes,
		sumProb:  make([]float64, n*classes),
		sumEnt:   make([]float64, n),
		voxelBuf: make([]float64, classes),
	}
}

// Add folds in one checkpoint's softmax output, class-major (prob[c*N+i]).
// It rejects, and leaves the accumulator unchanged on, maps of the wrong
// size, non-finite values, and voxels whose probabilities do not sum to one
// (logits passed by mistake).
func (a *Accumulator) Add(prob []float32) error {
	n := a.geom.N()
	if a.classes < 2 {
		return fmt.Errorf("uncertainty: %d classes, need at least 2", a.classes)
	}
	if n <= 0 {
		return fmt.Errorf("uncertainty: empty geometry %v", a.geom.Dims)
	}
	if a.classes > 256 {
		return fmt.Errorf("uncertainty: %d classes do not fit uint8 labels", a.classes)
	}
	if len(prob) != n*a.classes {
		return fmt.Errorf("uncertainty: checkpoint %d: %d probabilities, want %d classes x %d voxels",
			a.n+1, len(prob), a.classes, n)
	}
	for i := 0; i < n; i++ {
		s := 0.0
		for c := 0; c < a.classes; c++ {
			p := float64(prob[c*n+i])
			if math.IsNaN(p) || p < -rangeTol || p > 1+rangeTol {
				return fmt.Errorf("uncertainty: checkpoint %d: voxel %d class %d has probability %g (want softmax, not logits)",
					a.n+1, i, c, p)
			}
			s += p
		}
		if math.Abs(s-1) > sumTol {
			return fmt.Errorf("uncertainty: checkpoint %d: voxel %d probabilities sum to %g, want 1 (want softmax, not logits)",
				a.n+1, i, s)
		}
	}
	labels := make([]uint8, n)
	p := a.voxelBuf
	for i := 0; i < n; i++ {
		for c := range p {
			p[c] = clamp01(float64(prob[c*n+i]))
			a.sumProb[c*n+i] += p[c]
		}
		a.sumEnt[i] += Entropy(p)
		labels[i] = uint8(argmax(p))
	}
	a.samples = append(a.samples, labels)
	a.n++
	return nil
}

// Checkpoints is the number of softmax maps added so far.
func (a *Accumulator) Checkpoints() int { return a.n }

// Result returns the ensemble prediction, or nil when no checkpoint was
// added. The accumulator may keep receiving checkpoints afterwards.
func (a *Accumulator) Result() *Result {
	if a.n == 0 {
		return nil
	}
	n, nc := a.geom.N(), a.classes
	r := &Result{
		Geometry:   a.geom,
		Classes:    nc,
		Prob:       make([]float32, n*nc),
		Labels:     make([]uint8, n),
		Entropy:    make([]float32, n),
		MutualInfo: make([]float32, n),
		// Sample maps are never written after Add, so sharing them is safe.
		SampleLabels: slices.Clone(a.samples),
		Checkpoints:  a.n,
	}
	inv := 1 / float64(a.n)
	p := make([]float64, nc)
	for i := 0; i < n; i++ {
		for c := range p {
			p[c] = a.sumProb[c*n+i] * inv
			r.Prob[c*n+i] = float32(p[c])
		}
		h := Entropy(p)
		r.Labels[i] = uint8(argmax(p))
		r.Entropy[i] = float32(h)
		// Jensen makes MI non-negative; rounding can dip a hair below.
		r.MutualInfo[i] = float32(math.Max(0, h-a.sumEnt[i]*inv))
	}
	r.SliceScores, r.VolumeScore = sliceScores(r)
	return r
}

func sliceScores(r *Result) ([]float64, float64) {
	nx, ny, nz := r.Dims[0], r.Dims[1], r.Dims[2]
	plane := nx * ny
	scores := make([]float64, nz)
	best := 0.0
	for k := 0; k < nz; k++ {
		sum, count := 0.0, 0
		for i := k * plane; i < (k+1)*plane; i++ {
			fg := false
			for _, s := range r.SampleLabels {
				if s[i] != 0 {
					fg = true
					break
				}
			}
			if fg {
				sum += float64(r.Entropy[i])
				count++
			}
		}
		if count > 0 {
			scores[k] = sum / float64(count)
		}
		best = math.Max(best, scores[k])
	}
	return scores, best
}

// Entropy is -Σ p log p in nats, with 0·log 0 = 0.
func Entropy(p []float64) float64 {
	h := 0.0
	for _, v := range p {
		if v > 0 {
			h -= v * math.Log(v)
		}
	}
	return math.Max(0, h)
}

// Ranked returns the class with the rank-th largest mean probability at
// voxel i: rank 0 is Labels[i], rank 1 the ensemble's alternative
// hypothesis. Ties go to the lower class. ok is false when out of range.
func (r *Result) Ranked(i, rank int) (class uint8, ok bool) {
	n := r.N()
	if i < 0 || i >= n || rank < 0 || rank >= r.Classes || len(r.Prob) != n*r.Classes {
		return 0, false
	}
	var taken [256]bool
	for range rank + 1 {
		best := -1
		for c := 0; c < r.Classes; c++ {
			if !taken[c] && (best < 0 || r.Prob[c*n+i] > r.Prob[best*n+i]) {
				best = c
			}
		}
		taken[best] = true
		class = uint8(best)
	}
	return class, true
}

// Alternative is the ensemble's alternative hypothesis at voxel i: the
// most probable class where Labels disagrees with it (post-processing
// removed an island there), otherwise the second most probable.
func (r *Result) Alternative(i int) (class uint8, ok bool) {
	top, ok := r.Ranked(i, 0)
	if !ok || i >= len(r.Labels) {
		return 0, false
	}
	if r.Labels[i] != top {
		return top, true
	}
	return r.Ranked(i, 1)
}

// Validate checks that the slices agree with the geometry, so callers can
// index freely; a Result from elsewhere (a file, a test) should pass it first.
func (r *Result) Validate() error {
	n := r.N()
	switch {
	case n <= 0:
		return fmt.Errorf("uncertainty: result has empty geometry %v", r.Dims)
	case r.Classes < 2 || r.Classes > 256:
		return fmt.Errorf("uncertainty: result has %d classes", r.Classes)
	case len(r.Prob) != n*r.Classes:
		return fmt.Errorf("uncertainty: result has %d probabilities, want %d", len(r.Prob), n*r.Classes)
	case len(r.Labels) != n || len(r.Entropy) != n || len(r.MutualInfo) != n:
		return fmt.Errorf("uncertainty: result maps have %d/%d/%d voxels, want %d",
			len(r.Labels), len(r.Entropy), len(r.MutualInfo), n)
	case len(r.SliceScores) != r.Dims[2]:
		return fmt.Errorf("uncertainty: result has %d slice scores for %d slices", len(r.SliceScores), r.Dims[2])
	case r.Checkpoints != len(r.SampleLabels):
		return fmt.Errorf("uncertainty: result claims %d checkpoints but has %d samples", r.Checkpoints, len(r.SampleLabels))
	}
	for k, s := range r.SampleLabels {
		if len(s) != n {
			return fmt.Errorf("uncertainty: sample %d has %d voxels, want %d", k, len(s), n)
		}
	}
	for k, s := range append([][]uint8{r.Labels}, r.SampleLabels...) {
		for i, l := range s {
			if int(l) >= r.Classes {
				return fmt.Errorf("uncertainty: label map %d has class %d at voxel %d, only %d classes", k, l, i, r.Classes)
			}
		}
	}
	return nil
}

func argmax(p []float64) int {
	best := 0
	for c := 1; c < len(p); c++ {
		if p[c] > p[best] {
			best = c
		}
	}
	return best
}

func clamp01(v float64) float64 {
	return math.Min(1, math.Max(0, v))
}
