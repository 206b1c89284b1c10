// Package metrics evaluates segmentations the way the paper reports them:
// Dice per class, expected calibration error, AUROC of an uncertainty
// score for failed slices, reliability diagrams, and clinical volumes.
package metrics

import (
	"fmt"
	"math"

	"cmrseg/app/study"
)

// Foreground classes in ACDC order: RV cavity, LV myocardium, LV cavity.
var Foreground = [3]uint8{study.RV, study.Myocardium, study.LV}

// Dice is 2|R∩P|/(|R|+|P|) for one class over equal-length label arrays.
// When the class is absent from both it is NaN (nnU-Net's convention), so
// Mean leaves it out instead of counting a trivial 1.
func Dice(ref, pred []uint8, class uint8) (float64, error) {
	if len(ref) != len(pred) {
		return math.NaN(), fmt.Errorf("dice: reference has %d voxels, prediction %d", len(ref), len(pred))
	}
	var inter, nr, np int
	for i, r := range ref {
		p := pred[i]
		if r == class {
			nr++
			if p == class {
				inter++
			}
		}
		if p == class {
			np++
		}
	}
	return diceOf(inter, nr, np), nil
}

func diceOf(inter, nr, np int) float64 {
	if nr+np == 0 {
		return math.NaN()
	}
	return 2 * float64(inter) / float64(nr+np)
}

// VolumeDice is Dice of RV, MYO and LV (index 0, 1, 2) for two label maps
// on the same grid.
func VolumeDice(ref, pred study.Labels) ([3]float64, error) {
	nan := [3]float64{math.NaN(), math.NaN(), math.NaN()}
	if ref.Dims != pred.Dims {
		return nan, fmt.Errorf("dice: reference grid %v differs from prediction grid %v", ref.Dims, pred.Dims)
	}
	if len(ref.Data) != ref.N() || len(pred.Data) != pred.N() {
		return nan, fmt.Errorf("dice: %d and %d voxels for grid %v", len(ref.Data), len(pred.Data), ref.Dims)
	}
	var inter, nr, np [study.NumClasses]int
	for i, r := range ref.Data {
		p := pred.Data[i]
		if r >= study.NumClasses || p >= study.NumClasses {
			return nan, fmt.Errorf("dice: voxel %d has label %d/%d, outside 0..%d", i, r, p, study.NumClasses-1)
		}
		nr[r]++
		np[p]++
		if r == p {
			inter[r]++
		}
	}
	var d [3]float64
	for i, c := range Foreground {
		d[i] = diceOf(inter[c], nr[c], np[c])
	}
	return d, nil
}

// Mean averages the values that are not NaN; NaN when there are none.
func Mean(xs []float64) float64 {
	s, n := 0.0, 0
	for _, x := range xs {
		if !math.IsNaN(x) {
			s += x
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return s / float64(n)
}

// EF is the ejection fraction in % from end-diastolic and end-systolic
// cavity volumes.
func EF(edv, esv float64) (float64, error) {
	if !(edv > 0) || math.IsInf(edv, 0) {
		return math.NaN(), fmt.Errorf("ejection fraction: end-diastolic volume must be positive, got %g ml", edv)
	}
	if !(esv >= 0) || math.IsInf(esv, 0) {
		return math.NaN(), fmt.Errorf("ejection fraction: end-systolic volume must be non-negative, got %g ml", esv)
	}
	return (edv - esv) / edv * 100, nil
}
