package session

import (
	"math"
	"testing"

	"cmrseg/app/study"
	"cmrseg/inference/uncertainty"
)

// synthSeries is a 32x32x4 two-phase series (ED 0, ES 1) with anisotropic
// pixels and a bright blob where the LV cavity is.
func synthSeries() *study.Series {
	g := study.Geometry{Dims: [3]int{32, 32, 4}, Spacing: [3]float64{1.5, 1.5, 8}}
	g.Direction = [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}
	s := &study.Series{Geometry: g, NT: 2, ED: 0, ES: 1, Data: make([]float32, g.N()*2)}
	s.Meta.PatientID = "SYNTH"
	s.Meta.SourcePaths = []string{"/data/synth_frame01.nii.gz", "/data/synth_frame12.nii.gz"}
	for t := 0; t < 2; t++ {
		for k := 0; k < 4; k++ {
			for j := 0; j < 32; j++ {
				for i := 0; i < 32; i++ {
					r := math.Hypot(float64(i-14), float64(j-16))
					s.Data[i+32*(j+32*(k+4*t))] = float32(100 + 300*math.Exp(-r*r/40) + float64(i+j))
				}
			}
		}
	}
	return s
}

// synthResults simulates a 5-checkpoint ensemble: each checkpoint is
// confident (softmax of 5 x one-hot) but draws the LV, myocardium and RV
// with its own radii, so the boundaries are uncertain. On the apical slice 3
// only checkpoints 0 and 1 see an RV.
func synthResults(t testing.TB, s *study.Series) []*uncertainty.Result {
	t.Helper()
	const k = 5
	var out []*uncertainty.Result
	for phase := 0; phase < s.NT; phase++ {
		acc := uncertainty.NewAccumulator(s.Geometry, study.NumClasses)
		for m := 0; m < k; m++ {
			jit := float64(m-2) * 0.6
			shrink := 0.0
			if phase == 1 {
				shrink = 2
			}
			n := s.N()
			prob := make([]float32, n*study.NumClasses)
			for z := 0; z < 4; z++ {
				apex := float64(z) * 0.7
				for j := 0; j < 32; j++ {
					for i := 0; i < 32; i++ {
						r := math.Hypot(float64(i-14), float64(j-16))
						rv := math.Hypot(float64(i-25), float64(j-16))
						c := study.Background
						switch {
						case r <= 5+jit-shrink-apex:
							c = study.LV
						case r <= 8+jit-shrink/2-apex:
							c = study.Myocardium
						case rv <= 4-jit/2-shrink/2 && (z < 3 || m < 2):
							c = study.RV
						}
						v := i + 32*(j+32*z)
						e := math.Exp(5)
						for cl := 0; cl < study.NumClasses; cl++ {
							p := 1 / (e + 3)
							if uint8(cl) == c {
								p = e / (e + 3)
							}
							prob[cl*n+v] = float32(p)
						}
					}
				}
			}
			if err := acc.Add(prob); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, acc.Result())
	}
	return out
}

// handResult builds a result on geometry g from per-checkpoint, per-voxel
// probability vectors; voxels not listed are confident background.
func handResult(t testing.TB, g study.Geometry, checkpoints []map[int][4]float32) *uncertainty.Result {
	t.Helper()
	n := g.N()
	acc := uncertainty.NewAccumulator(g, 4)
	for _, cp := range checkpoints {
		prob := make([]float32, 4*n)
		for v := 0; v < n; v++ {
			p, ok := cp[v]
			if !ok {
				p = [4]float32{1, 0, 0, 0}
			}
			for c := 0; c < 4; c++ {
				prob[c*n+v] = p[c]
			}
		}
		if err := acc.Add(prob); err != nil {
			t.Fatal(err)
		}
	}
	return acc.Result()
}
