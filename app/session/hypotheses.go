package session

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// ErrNoSafeHypothesis is returned by ClickCorrect where every hypothesis
// but the prediction would leave impossible anatomy.
var ErrNoSafeHypothesis = errors.New("no anatomically possible hypothesis here")

// hypotheses returns the labels each hypothesis gives the region (index 0
// the prediction) and their names, none breaking the anatomy of slice k.
// With only the prediction left, names[0] says why the others were
// refused.
func (s *Session) hypotheses(t, k, seed int, region []int) ([][]uint8, []string) {
	r := s.results[t]
	pred := make([]uint8, len(region))
	alt := make([]uint8, len(region))
	for n, v := range region {
		pred[n] = r.Labels[v]
		alt[n], _ = r.Alternative(v)
	}
	hyps := [][]uint8{pred}
	names := []string{"ensemble prediction"}
	check := s.anatomyCheck(t, k, region, pred)

	// Posterior samples that change the region, most different first.
	type cand struct {
		m, diff int
		labels  []uint8
	}
	var samples []cand
	for m, sample := range r.SampleLabels {
		h := make([]uint8, len(region))
		diff := 0
		for n, v := range region {
			h[n] = sample[v]
			if h[n] != pred[n] {
				diff++
			}
		}
		if diff > 0 {
			samples = append(samples, cand{m, diff, h})
		}
	}
	sort.SliceStable(samples, func(a, b int) bool { return samples[a].diff > samples[b].diff })

	why := check(alt)
	switch {
	case why == "":
		hyps = append(hyps, alt)
		names = append(names, "alternative hypothesis (second most probable class)")
	default:
		found := false
		for _, c := range samples {
			if check(c.labels) == "" {
				hyps = append(hyps, c.labels)
				names = append(names, fmt.Sprintf("posterior sample %d (the per-voxel alternative %s)", c.m+1, why))
				found = true
				break
			}
		}
		if !found {
			if core, n := s.coreAlternative(t, seed, region, pred, alt, check); core != nil {
				hyps = append(hyps, core)
				names = append(names, fmt.Sprintf("alternative hypothesis on the %d-voxel core of the region (on all of it, it %s)", n, why))
				found = true
			}
		}
		if !found {
			return hyps, []string{"would break the anatomy (the alternative " + why + ")"}
		}
	}

	// Hypothesis 2: the most different sample that is neither of the above.
	for _, c := range samples {
		if same(c.labels, hyps[1]) || check(c.labels) != "" {
			continue
		}
		hyps = append(hyps, c.labels)
		names = append(names, fmt.Sprintf("posterior sample %d (most different checkpoint)", c.m+1))
		break
	}
	return hyps, names
}

// coreAlternative shrinks the region to the voxels around the seed above
// rising entropy thresholds and returns, for the first core on which the
// alternative keeps the anatomy, the region's labels (alternative on the
// core, prediction elsewhere) and the core's size.
func (s *Session) coreAlternative(t, seed int, region []int, pred, alt []uint8, check func([]uint8) string) ([]uint8, int) {
	r := s.results[t]
	pos := make(map[int]int, len(region))
	for n, v := range region {
		pos[v] = n
	}
	k := seed / (s.Series.Dims[0] * s.Series.Dims[1])
	thr := s.opts.UncertainThreshold
	for step := 1; step <= 8; step++ {
		// Up to the entropy of a uniform 4-class softmax, ln 4.
		level := thr + (math.Log(4)-thr)*float64(step)/9
		if !(float64(r.Entropy[seed]) > level) {
			break
		}
		core := s.region(k, seed, func(v int) bool {
			_, in := pos[v]
			return in && float64(r.Entropy[v]) > level
		})
		h := append([]uint8(nil), pred...)
		changed := false
		for _, v := range core {
			n := pos[v]
			h[n] = alt[n]
			changed = changed || alt[n] != pred[n]
		}
		if changed && check(h) == "" {
			return h, len(core)
		}
	}
	return nil, 0
}

// anatomyCheck returns a function that says how region labels h would
// break slice k of phase t compared with the prediction there ("" when
// they do not).
func (s *Session) anatomyCheck(t, k int, region []int, pred []uint8) func(h []uint8) string {
	nx, ny := s.Series.Dims[0], s.Series.Dims[1]
	base := k * nx * ny
	plane := append([]uint8(nil), s.labels[t][base:base+nx*ny]...)
	for n, v := range region {
		plane[v-base] = pred[n]
	}
	before := SliceAnatomy(plane, nx, ny)
	work := make([]uint8, len(plane))
	return func(h []uint8) string {
		copy(work, plane)
		for n, v := range region {
			work[v-base] = h[n]
		}
		return SliceAnatomy(work, nx, ny).Breaks(before)
	}
}

func same(a, b []uint8) bool {
	for n := range a {
		if a[n] != b[n] {
			return false
		}
	}
	return true
}
