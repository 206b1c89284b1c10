package report

import (
	"math"

	"cmrseg/app/study"
)

// BasalRuleMin is the SCMR basal-slice rule (Schulz-Menger et al., JCMR
// 2020): a basal slice counts for the LV only where the blood pool is at
// least half surrounded by myocardium. Surrounded is measured on the
// labels as the fraction of the LV cavity's border (pixel edges between
// cavity and anything else) that borders LV myocardium.
const BasalRuleMin = 0.5

// BasalRuleDefault is the report's default for Input.BasalRule.
const BasalRuleDefault = true

// SurroundFraction is the fraction of the LV cavity's border on one slice
// (nx × ny labels) that borders LV myocardium; NaN without cavity. Edges at
// the image border count as not myocardium.
func SurroundFraction(lab []uint8, nx, ny int) float64 {
	edges, myo := 0, 0
	look := func(i, j int) {
		edges++
		if i >= 0 && j >= 0 && i < nx && j < ny && lab[i+nx*j] == study.Myocardium {
			myo++
		}
	}
	for j := 0; j < ny; j++ {
		for i := 0; i < nx; i++ {
			if lab[i+nx*j] != study.LV {
				continue
			}
			for _, d := range [4][2]int{{1, 0}, {-1, 0}, {0, 1}, {0, -1}} {
				ii, jj := i+d[0], j+d[1]
				if ii >= 0 && jj >= 0 && ii < nx && jj < ny && lab[ii+nx*jj] == study.LV {
					continue
				}
				look(ii, jj)
			}
		}
	}
	if edges == 0 {
		return math.NaN()
	}
	return float64(myo) / float64(edges)
}

// BasalExcluded lists the slices (0-based) whose LV cavity the basal-slice
// rule leaves out of the LV volume: walking from the base (study.BaseAtFirst)
// toward the apex, every slice with LV cavity less than half surrounded by
// myocardium, up to the first slice that passes. Slices further apical are
// never excluded: the rule is about the base.
func BasalExcluded(g study.Geometry, labels []uint8) []int {
	nx, ny, nz := g.Dims[0], g.Dims[1], g.Dims[2]
	plane := nx * ny
	if plane <= 0 || len(labels) != plane*nz {
		return nil
	}
	first, _ := study.BaseAtFirst(labels, g.Dims)
	var out []int
	for n := 0; n < nz; n++ {
		k := n
		if !first {
			k = nz - 1 - n
		}
		f := SurroundFraction(labels[k*plane:(k+1)*plane], nx, ny)
		if math.IsNaN(f) {
			if len(out) == 0 {
				continue // above the LV: no cavity yet
			}
			break
		}
		if f >= BasalRuleMin {
			break
		}
		out = append(out, k)
	}
	return out
}

// BasalEffect states what the basal-slice rule did to the LV volumes:
// the slices it left out at ED and ES and the LV EDV, ESV (ml) and EF (%)
// with and without it, from the current labels.
type BasalEffect struct {
	Applied            bool
	EDSlices, ESSlices []int // 0-based
	With, Without      [3]float64
}

// sliceMask marks the slices of ks in a mask of nz slices.
func sliceMask(ks []int, nz int) []bool {
	if len(ks) == 0 {
		return nil
	}
	m := make([]bool, nz)
	for _, k := range ks {
		m[k] = true
	}
	return m
}
