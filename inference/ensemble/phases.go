package ensemble

import (
	"cmrseg/app/study"
	"cmrseg/inference/uncertainty"
)

// Volumes are the volumes in millilitres of each label of r's prediction,
// indexed by label value (study.RV, study.Myocardium, study.LV); see
// study.CountLabels.
func Volumes(r *uncertainty.Result) []float64 {
	v := study.Labels{Geometry: r.Geometry, Data: r.Labels}.VolumesML()
	return v[:]
}

// RefineES replaces a provisional end-systole (Series.ESProvisional: the
// source did not say, and ES was guessed from timing) by the phase of
// smallest LV cavity (label 3) volume, once every phase has been segmented:
// results[i] is the segmentation of phase phases[i]. It reports whether it
// set ES; the series is then no longer provisional. Nothing changes when
// ES came from the source, when some phase is missing, or when no phase
// shows any LV cavity.
func RefineES(s *study.Series, phases []int, results []*uncertainty.Result) bool {
	if !s.ESProvisional || len(phases) != len(results) {
		return false
	}
	vol := make([]int, s.NT)
	seen := make([]bool, s.NT)
	for i, t := range phases {
		if t < 0 || t >= s.NT || results[i] == nil {
			return false
		}
		seen[t] = true
		vol[t] = study.CountLabels(results[i].Labels)[study.LV]
	}
	best, found := -1, false
	for t := 0; t < s.NT; t++ {
		if !seen[t] {
			return false
		}
		if vol[t] > 0 {
			found = true
			if best < 0 || vol[t] < vol[best] {
				best = t
			}
		}
	}
	if !found {
		return false
	}
	s.ES, s.ESProvisional = best, false
	return true
}
