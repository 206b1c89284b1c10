package metrics

import (
	"fmt"
	"math"

	"cmrseg/app/study"
)

// Probs holds per-class probabilities (e.g. the ensemble's mean softmax) on
// a 3D grid, class-major: Data[c*N + v] with v = i + Dims[0]*(j + Dims[1]*k),
// the voxel order of study.Labels.
type Probs struct {
	Dims    [3]int
	Classes int
	Data    []float32
}

// N is the number of voxels.
func (p Probs) N() int { return p.Dims[0] * p.Dims[1] * p.Dims[2] }

func (p Probs) check(ref study.Labels) error {
	if p.Classes < 2 {
		return fmt.Errorf("probabilities: %d classes, need at least 2", p.Classes)
	}
	if p.Dims != ref.Dims {
		return fmt.Errorf("probabilities: grid %v differs from reference grid %v", p.Dims, ref.Dims)
	}
	if len(p.Data) != p.Classes*p.N() {
		return fmt.Errorf("probabilities: %d values for %d classes on grid %v", len(p.Data), p.Classes, p.Dims)
	}
	if len(ref.Data) != ref.N() {
		return fmt.Errorf("reference: %d voxels for grid %v", len(ref.Data), ref.Dims)
	}
	return nil
}

// argmax returns the most probable class of voxel v (lowest index on ties,
// as numpy) and its probability.
func (p Probs) argmax(v int) (int, float64) {
	n := p.N()
	best, conf := 0, p.Data[v]
	for c := 1; c < p.Classes; c++ {
		if x := p.Data[c*n+v]; x > conf {
			best, conf = c, x
		}
	}
	return best, float64(conf)
}

// Entropy is the predictive entropy −Σ p log p (natural log) per voxel:
// the uncertainty map of the ensemble's mean softmax.
func Entropy(p Probs) ([]float32, error) {
	n := p.N()
	if p.Classes < 1 || len(p.Data) != p.Classes*n {
		return nil, fmt.Errorf("entropy: %d values for %d classes on grid %v", len(p.Data), p.Classes, p.Dims)
	}
	h := make([]float64, n)
	for c := 0; c < p.Classes; c++ {
		for v, x := range p.Data[c*n : (c+1)*n] {
			if x > 0 {
				h[v] -= float64(x) * math.Log(float64(x))
			}
		}
	}
	out := make([]float32, n)
	for v, x := range h {
		out[v] = float32(x)
	}
	return out, nil
}

// Calibration accumulates confidence and accuracy in equal-width bins over
// [0, 1]. A confidence c falls in bin ceil(c·B) − 1 (bins are (lo, hi];
// c = 0 goes to bin 0).
type Calibration struct {
	Count   []int64
	Correct []int64
	SumConf []float64
}

// NewCalibration makes an empty accumulator with the given number of bins
// (the paper uses 100).
func NewCalibration(bins int) (*Calibration, error) {
	if bins < 1 {
		return nil, fmt.Errorf("calibration: %d bins, need at least 1", bins)
	}
	return &Calibration{Count: make([]int64, bins), Correct: make([]int64, bins), SumConf: make([]float64, bins)}, nil
}

// Bins is the number of bins.
func (c *Calibration) Bins() int { return len(c.Count) }

func (c *Calibration) add(conf float64, correct bool) {
	b := int(math.Ceil(conf*float64(len(c.Count)))) - 1
	b = max(0, min(b, len(c.Count)-1))
	c.Count[b]++
	c.SumConf[b] += conf
	if correct {
		c.Correct[b]++
	}
}

// Merge adds another accumulator with the same number of bins.
func (c *Calibration) Merge(o *Calibration) error {
	if o.Bins() != c.Bins() {
		return fmt.Errorf("calibration: cannot merge %d bins into %d", o.Bins(), c.Bins())
	}
	for b := range c.Count {
		c.Count[b] += o.Count[b]
		c.Correct[b] += o.Correct[b]
		c.SumConf[b] += o.SumConf[b]
	}
	return nil
}

// Total is the number of voxels accumulated.
func (c *Calibration) Total() int64 {
	var n int64
	for _, x := range c.Count {
		n += x
	}
	return n
}

// Accuracy and Confidence of bin b; NaN for an empty bin.
func (c *Calibration) Accuracy(b int) float64 {
	if c.Count[b] == 0 {
		return math.NaN()
	}
	return float64(c.Correct[b]) / float64(c.Count[b])
}

// Confidence is the mean confidence of bin b; NaN for an empty bin.
func (c *Calibration) Confidence(b int) float64 {
	if c.Count[b] == 0 {
		return math.NaN()
	}
	return c.SumConf[b] / float64(c.Count[b])
}

// ECE is Σ_b (n_b/N)·|acc_b − conf_b| in percent; NaN when empty.
func (c *Calibration) ECE() float64 {
	n := c.Total()
	if n == 0 {
		return math.NaN()
	}
	e := 0.0
	for b, k := range c.Count {
		if k > 0 {
			e += float64(k) / float64(n) * math.Abs(c.Accuracy(b)-c.Confidence(b))
		}
	}
	return 100 * e
}

// ForegroundBox is the inclusive voxel bounding box of labels > 0 in ref;
// ok is false when ref has no foreground.
func ForegroundBox(ref study.Labels) (lo, hi [3]int, ok bool) {
	lo = ref.Dims
	hi = [3]int{-1, -1, -1}
	nx, ny := ref.Dims[0], ref.Dims[1]
	for v, l := range ref.Data {
		if l == 0 {
			continue
		}
		idx := [3]int{v % nx, (v / nx) % ny, v / (nx * ny)}
		for a := range idx {
			lo[a] = min(lo[a], idx[a])
			hi[a] = max(hi[a], idx[a])
		}
	}
	return lo, hi, hi[0] >= 0
}

// AddVolume accumulates the voxels of one volume inside the bounding box of
// the reference foreground (labels > 0; the prediction does not widen it,
// so a false positive far from the heart does not change the region, and
// the background-dominated rest of the field of view does not dilute the
// error). Confidence is the max class probability, correct means argmax
// equals the reference. It reports whether the reference had foreground.
func (c *Calibration) AddVolume(p Probs, ref study.Labels) (bool, error) {
	if err := p.check(ref); err != nil {
		return false, err
	}
	lo, hi, ok := ForegroundBox(ref)
	if !ok {
		return false, nil
	}
	nx, ny := p.Dims[0], p.Dims[1]
	for k := lo[2]; k <= hi[2]; k++ {
		for j := lo[1]; j <= hi[1]; j++ {
			for i := lo[0]; i <= hi[0]; i++ {
				v := i + nx*(j+ny*k)
				cls, conf := p.argmax(v)
				if math.IsNaN(conf) || conf < 0 || conf > 1+1e-6 {
					return false, fmt.Errorf("probabilities: voxel (%d,%d,%d) has confidence %g, outside [0, 1]", i, j, k, conf)
				}
				c.add(conf, cls == int(ref.Data[v]))
			}
		}
	}
	return true, nil
}

// VolumeECE is the ECE (%) of one volume over the reference foreground's
// bounding box with the given number of bins; NaN (and no error) when the
// reference has no foreground, so Mean excludes it. The paper's figure is
// Mean over volumes of VolumeECE with 100 bins.
func VolumeECE(p Probs, ref study.Labels, bins int) (float64, error) {
	c, err := NewCalibration(bins)
	if err != nil {
		return math.NaN(), err
	}
	if _, err := c.AddVolume(p, ref); err != nil {
		return math.NaN(), err
	}
	return c.ECE(), nil
}
