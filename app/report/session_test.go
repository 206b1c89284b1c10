package report

import (
	"math"
	"testing"

	"cmrseg/app/session"
	"cmrseg/app/study"
	"cmrseg/inference/uncertainty"
)

// ringSession is a two-phase 24x24x3 study whose 4 checkpoints draw a disc
// of LV cavity inside a myocardial ring with radii that differ by checkpoint.
func ringSession(t *testing.T) *session.Session {
	g := study.Geometry{Dims: [3]int{24, 24, 3}, Spacing: [3]float64{2, 2, 5}}
	s := &study.Series{Geometry: g, NT: 2, ED: 0, ES: 1, Data: make([]float32, 2*g.N())}
	s.Meta = study.Metadata{PatientID: "RING", HeightM: 1.7, WeightKg: 70}
	n := g.N()
	var results []*uncertainty.Result
	for ph, base := range []float64{7, 5} {
		acc := uncertainty.NewAccumulator(g, 4)
		for m := 0; m < 4; m++ {
			prob := make([]float32, 4*n)
			for v := 0; v < n; v++ {
				i, j := v%24, (v/24)%24
				r := math.Hypot(float64(i)-12, float64(j)-12)
				c := 0
				switch {
				case r <= base+float64(m)*0.5:
					c = 3
				case r <= base+3:
					c = 2
				case math.Abs(float64(i)-3) < 2 && math.Abs(float64(j)-12) < 3+float64(ph):
					c = 1
				}
				prob[c*n+v] = 1
			}
			if err := acc.Add(prob); err != nil {
				t.Fatal(err)
			}
		}
		results = append(results, acc.Result())
	}
	sess, err := session.Open(s, results, session.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return sess
}

func TestFromSessionFollowsCorrections(t *testing.T) {
	sess := ringSession(t)
	r0, err := FromSession(sess)
	if err != nil {
		t.Fatal(err)
	}
	edv := mustIndex(t, r0, LVEDV)
	if r0.Checkpoints != 4 || !(edv.Low < edv.High) {
		t.Fatalf("LV EDV %v [%v, %v] from %d checkpoints: want a non-empty interval", edv.Value, edv.Low, edv.High, r0.Checkpoints)
	}
	// Paint LV over background in a corner of the ED volume: EDV grows by
	// exactly the painted voxels.
	c, err := sess.Paint(0, 1, []session.Point{{I: 20, J: 20}}, 2.5, study.LV)
	if err != nil {
		t.Fatal(err)
	}
	painted := 0
	for _, v := range c.Voxels {
		if v.Old == 0 {
			painted++
		}
	}
	if painted == 0 {
		t.Fatal("setup: painted nothing new")
	}
	r1, _ := FromSession(sess)
	if got, want := mustIndex(t, r1, LVEDV).Value, edv.Value+float64(painted)*0.02; math.Abs(got-want) > 1e-9 {
		t.Fatalf("LV EDV after painting %d voxels = %v, want %v", painted, got, want)
	}
	// The painted voxels count in every sample too.
	if got := mustIndex(t, r1, LVEDV).Low; math.Abs(got-(edv.Low+float64(painted)*0.02)) > 1e-9 {
		t.Errorf("interval low %v did not move with the correction (was %v)", got, edv.Low)
	}
	// Accepting every slice of ED and ES settles the labels: intervals
	// collapse onto the values.
	for ph := 0; ph < 2; ph++ {
		for k := 0; k < 3; k++ {
			if err := sess.Accept(ph, k, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	r2, _ := FromSession(sess)
	for _, ix := range r2.Indices {
		if math.IsNaN(ix.Value) {
			continue
		}
		if math.Abs(ix.Low-ix.Value) > 1e-9 || math.Abs(ix.High-ix.Value) > 1e-9 {
			t.Errorf("%s: %v [%v, %v] with all slices accepted", ix.Key, ix.Value, ix.Low, ix.High)
		}
	}
	if !(r2.BSA > 0) {
		t.Error("BSA missing")
	}
	// ED unknown: a clear error.
	sess.Series.ED = -1
	if _, err := FromSession(sess); err == nil {
		t.Error("report without ED accepted")
	}
}
