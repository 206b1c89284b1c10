package reportpdf

import (
	"fmt"
	"math"
	"strings"

	"cmrseg/app/report"
	"cmrseg/app/session"
	"cmrseg/app/study"
)

// FromSession gathers the PDF's input from a review session and its
// report (report.FromSessionWith): the key image is the end-diastolic
// mid-ventricular slice (the middle of the slices holding LV cavity) with
// the current labels and the ensemble's entropy, and the QC flags are the
// slices above the session's uncertainty threshold.
func FromSession(s *session.Session, r *report.Report, model, source string) Input {
	se := s.Series
	in := Input{Report: r, Meta: se.Meta, NT: se.NT, PhaseNumbers: se.PhaseNumbers, Source: source, Model: model}
	// One line per phase: a cine can flag dozens of slices.
	byPhase := map[int][]session.Flag{}
	var order []int
	for _, f := range s.Flags() {
		if byPhase[f.Phase] == nil {
			order = append(order, f.Phase)
		}
		byPhase[f.Phase] = append(byPhase[f.Phase], f)
	}
	for _, t := range order {
		var ks []string
		worst, open := 0.0, 0
		for _, f := range byPhase[t] {
			ks = append(ks, fmt.Sprint(f.Slice+1))
			worst = math.Max(worst, f.Score)
			if !f.Accepted {
				open++
			}
		}
		in.QC = append(in.QC, fmt.Sprintf("phase %d: slices %s above the uncertainty threshold %.2f nats (worst %.2f); %d not yet accepted by the reviewer",
			phaseNumber(se, t), strings.Join(ks, ", "), s.Options().QCThreshold, worst, open))
	}
	if s.Final() {
		in.QC = append(in.QC, "The reviewer marked the study final.")
	}
	if t := se.ED; s.Segmented(t) {
		k := KeySlice(se.Geometry, s.Labels(t))
		in.Key = Key(se, t, k, s.Labels(t), s.Result(t).Entropy, s.Options().QCThreshold)
	}
	return in
}

func phaseNumber(se *study.Series, t int) int {
	if t < len(se.PhaseNumbers) {
		return se.PhaseNumbers[t]
	}
	return t + 1
}

// KeySlice is the middle of the slices holding LV cavity (the stack's
// middle when none does).
func KeySlice(g study.Geometry, labels []uint8) int {
	plane := g.Dims[0] * g.Dims[1]
	var ks []int
	for k := 0; k < g.Dims[2]; k++ {
		for _, l := range labels[k*plane : (k+1)*plane] {
			if l == study.LV {
				ks = append(ks, k)
				break
			}
		}
	}
	if len(ks) == 0 {
		return g.Dims[2] / 2
	}
	return ks[len(ks)/2]
}

// Key cuts slice k of phase t out of the series with its labels and
// entropy (entropy may be nil) as the key image.
func Key(se *study.Series, t, k int, labels []uint8, entropy []float32, qc float64) *KeyImage {
	nx, ny := se.Dims[0], se.Dims[1]
	plane := nx * ny
	if k < 0 || k >= se.Dims[2] || len(labels) != se.N() {
		return nil
	}
	img := se.Phase(t)
	key := &KeyImage{
		Caption: fmt.Sprintf("End-diastole (phase %d), slice %d of %d", phaseNumber(se, t), k+1, se.Dims[2]),
		NX:      nx, NY: ny, SX: se.Spacing[0], SY: se.Spacing[1],
		Pixels: img[k*plane : (k+1)*plane], Labels: labels[k*plane : (k+1)*plane],
		MaxNats: math.Log(study.NumClasses), QCThresh: qc,
	}
	if len(entropy) == se.N() {
		key.Entropy = entropy[k*plane : (k+1)*plane]
	}
	return key
}
