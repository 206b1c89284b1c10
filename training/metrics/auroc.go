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
