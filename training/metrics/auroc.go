package metrics

import (
	"fmt"
	"math"
	"sort"

	"cmrseg/app/study"
)

// FailureDice is the per-slice mean foreground Dice below which a slice
// counts as failed.
const FailureDice = 0.7

// AUROC is the area under the ROC curve of scores for telling positives
// (failed slices) from negatives, by the Mann–Whitney U statistic with
// tied scores given their average rank: P(score_pos > score_neg) + ½P(tie).
func AUROC(scores []float64, positive []bool) (float64, error) {
	if len(scores) != len(positive) {
		return math.NaN(), fmt.Errorf("auroc: %d scores for %d labels", len(scores), len(positive))
	}
	idx := make([]int, len(scores))
	var npos, nneg int
	for i, s := range scores {
		if math.IsNaN(s) {
			return math.NaN(), fmt.Errorf("auroc: score %d is NaN", i)
		}
		idx[i] = i
		if positive[i] {
			npos++
		} else {
			nneg++
		}
	}
	if npos == 0 || nneg == 0 {
		return math.NaN(), fmt.Errorf("auroc: needs both classes, got %d positive and %d negative", npos, nneg)
	}
	sort.Slice(idx, func(a, b int) bool { return scores[idx[a]] < scores[idx[b]] })
	rankSum := 0.0 // sum of 1-based ranks of the positives
	for i := 0; i < len(idx); {
		j := i
		for j < len(idx) && scores[idx[j]] == scores[idx[i]] {
			j++
		}
		avg := float64(i+1+j) / 2 // mean of ranks i+1 .. j
		for _, v := range idx[i:j] {
			if positive[v] {
				rankSum += avg
			}
		}
		i = j
	}
	u := rankSum - float64(npos)*float64(npos+1)/2
	return u / (float64(npos) * float64(nneg)), nil
}

// SliceDice is the mean foreground Dice of every slice k (classes absent
// from both excluded); NaN for a slice with no foreground in either map.
func SliceDice(ref, pred study.Labels) ([]float64, error) {
	if ref.Dims != pred.Dims || len(ref.Data) != ref.N() || len(pred.Data) != pred.N() {
		return nil, fmt.Errorf("slice dice: grids %v (%d voxels) and %v (%d voxels) differ", ref.Dims, len(ref.Data), pred.Dims, len(pred.Data))
	}
	plane := ref.Dims[0] * ref.Dims[1]
	out := make([]float64, ref.Dims[2])
	for k := range out {
		r := ref.Data[k*plane : (k+1)*plane]
		p := pred.Data[k*plane : (k+1)*plane]
		var d [3]float64
		for i, c := range Foreground {
			d[i], _ = Dice(r, p, c)
		}
		out[k] = Mean(d[:])
	}
	return out, nil
}

// SliceUncertainty scores each slice k by the mean entropy over the voxels
// predicted as foreground (the uncertainty that matters for the contours),
// or over the whole slice when nothing is predicted there.
func SliceUncertainty(entropy []float32, pred study.Labels) ([]float64, error) {
	if len(entropy) != pred.N() || len(pred.Data) != pred.N() {
		return nil, fmt.Errorf("slice uncertainty: %d entropy values and %d labels for grid %v", len(entropy), len(pred.Data), pred.Dims)
	}
	plane := pred.Dims[0] * pred.Dims[1]
	out := make([]float64, pred.Dims[2])
	for k := range out {
		var fg, all float64
		nfg := 0
		for v := k * plane; v < (k+1)*plane; v++ {
			all += float64(entropy[v])
			if pred.Data[v] > 0 {
				fg += float64(entropy[v])
				nfg++
			}
		}
		if nfg > 0 {
			out[k] = fg / float64(nfg)
		} else {
			out[k] = all / float64(plane)
		}
	}
	return out, nil
}

// FailureAUROC pools slices from many volumes: a slice with defined Dice
// is positive when its Dice < FailureDice; slices with NaN Dice (no
// foreground in either map) are left out.
func FailureAUROC(sliceDice, sliceScore []float64) (float64, error) {
	if len(sliceDice) != len(sliceScore) {
		return math.NaN(), fmt.Errorf("failure auroc: %d slice Dice values for %d scores", len(sliceDice), len(sliceScore))
	}
	var s []float64
	var pos []bool
	for i, d := range sliceDice {
		if math.IsNaN(d) {
			continue
		}
		s = append(s, sliceScore[i])
		pos = append(pos, d < FailureDice)
	}
	return AUROC(s, pos)
}

// QCOperatingPoint is a slice-flag threshold with how it performs on the
// slices it was chosen on.
type QCOperatingPoint struct {
	Threshold   float64 // flag a slice whose score is above this
	Sensitivity float64 // failed slices flagged / failed slices
	Specificity float64 // good slices not flagged / good slices
	Failed      int     // failed slices (Dice < FailureDice)
	Slices      int     // slices with defined Dice
}

// CalibrateQC picks the slice-score threshold that flags failed slices
// (Dice < FailureDice) best by Youden's J (sensitivity + specificity − 1).
// Candidate thresholds are midpoints between consecutive distinct scores,
// so the threshold never sits exactly on a calibration slice; among equal
// J the higher threshold wins (fewer flags for the reader to clear).
func CalibrateQC(sliceDice, sliceScore []float64) (QCOperatingPoint, error) {
	if len(sliceDice) != len(sliceScore) {
		return QCOperatingPoint{}, fmt.Errorf("qc calibration: %d slice Dice values for %d scores", len(sliceDice), len(sliceScore))
	}
	type sl struct {
		score  float64
		failed bool
	}
	var xs []sl
	var nf int
	for i, d := range sliceDice {
		if math.IsNaN(d) || math.IsNaN(sliceScore[i]) {
			continue
		}
		xs = append(xs, sl{sliceScore[i], d < FailureDice})
		if d < FailureDice {
			nf++
		}
	}
	ng := len(xs) - nf
	if nf == 0 || ng == 0 {
		return QCOperatingPoint{}, fmt.Errorf("qc calibration: needs failed and good slices, got %d failed of %d", nf, len(xs))
	}
	sort.Slice(xs, func(a, b int) bool { return xs[a].score < xs[b].score })
	// Walk thresholds from high to low: below index i everything is
	// unflagged, from i on everything is flagged.
	best := QCOperatingPoint{Threshold: math.Inf(1), Failed: nf, Slices: len(xs), Specificity: 1}
	bestJ := 0.0
	tp, fp := 0, 0
	for i := len(xs) - 1; i >= 1; i-- {
		if xs[i].failed {
			tp++
		} else {
			fp++
		}
		if xs[i].score == xs[i-1].score {
			continue
		}
		sens, spec := float64(tp)/float64(nf), 1-float64(fp)/float64(ng)
		if j := sens + spec - 1; j > bestJ {
			bestJ = j
			best.Threshold = (xs[i].score + xs[i-1].score) / 2
			best.Sensitivity, best.Specificity = sens, spec
		}
	}
	if math.IsInf(best.Threshold, 1) {
		return best, fmt.Errorf("qc calibration: no threshold separates failed from good slices better than chance")
	}
	return best, nil
}
