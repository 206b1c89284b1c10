package data

import (
	"math"
	"path/filepath"
	"testing"

	"cmrseg/app/dataset"
	"cmrseg/app/study"
	"cmrseg/training/augment"
)

// The end-systolic volume of each case is the one Info.cfg names ES
// (found from the labels alone: the smaller LV cavity).
func TestEndSystolicMatchesInfoCfg(t *testing.T) {
	ids := []string{"patient001", "patient021", "patient061", "patient081"}
	set, _ := loadSubset(t, ids...)
	src := acdcSubset(t, ids...)
	for vi, v := range set.Volumes {
		info, err := dataset.ReadInfo(filepath.Join(src, v.Case, "Info.cfg"))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := set.EndSystolic(vi), v.Frame == info.ES; got != want {
			t.Errorf("%s frame %d: end-systolic %v, Info.cfg ES is frame %d", v.Case, v.Frame, got, info.ES)
		}
	}
}

// Weighted draws follow the weights: with apical ×4 and ES ×3 the share
// of apical and of end-systolic draws is what the weights give, computed
// here from the slices directly.
func TestSliceWeightsSteerTheDraw(t *testing.T) {
	set, _ := loadSubset(t, "patient001", "patient021", "patient061")
	w := augment.SliceWeights{Basal: 1, Mid: 1, Apical: 4, ES: 3}
	var want [3]float64 // share of draws per position
	wantES, total := 0.0, 0.0
	for vi, v := range set.Volumes {
		pos, _ := study.SlicePositions(study.Labels{Geometry: v.Grid, Data: v.Labels})
		var n int
		for _, p := range pos {
			if p != study.PositionOutside {
				n++
			}
		}
		phase := 1.0
		if set.EndSystolic(vi) {
			phase = 3
		}
		for _, p := range pos {
			if p == study.PositionOutside {
				continue
			}
			x := [3]float64{1, 1, 4}[p] * phase / float64(n)
			want[p] += x
			total += x
			if set.EndSystolic(vi) {
				wantES += x
			}
		}
	}
	s := &Sampler{Set: set, Params: augment.DefaultParams(), PatchH: 64, PatchW: 64, BatchSize: 4, FGFraction: 0.5, Weights: w, Seed: 1}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	d := s.foregroundDraw(true)
	rng := RNG(1, 0, 0)
	const n = 200000
	var got [3]float64
	gotES := 0.0
	for range n {
		vi, k := d.pick(rng)
		pos, _ := study.SlicePositions(study.Labels{Geometry: set.Volumes[vi].Grid, Data: set.Volumes[vi].Labels})
		if pos[k] == study.PositionOutside {
			t.Fatalf("drew slice %d of %s frame %d, which has no foreground", k, set.Volumes[vi].Case, set.Volumes[vi].Frame)
		}
		got[pos[k]]++
		if set.EndSystolic(vi) {
			gotES++
		}
	}
	for p := range got {
		if g, e := got[p]/n, want[p]/total; math.Abs(g-e) > 0.006 {
			t.Errorf("%s share %.4f, want %.4f", [3]string{"basal", "mid", "apical"}[p], g, e)
		}
	}
	if g, e := gotES/n, wantES/total; math.Abs(g-e) > 0.006 || e < 0.7 {
		t.Errorf("end-systolic share %.4f, want %.4f (≈ 3/4)", g, e)
	}
	// The unweighted draw is the sampler's old one: no weighted draw.
	s.Weights = augment.SliceWeights{}
	if s.foregroundDraw(true) != nil {
		t.Error("zero weights changed the draw")
	}
}

func TestSliceWeightsValidate(t *testing.T) {
	for _, w := range []augment.SliceWeights{{ES: 1}, {Basal: 1, Mid: 1, Apical: 1}, {Basal: -1, Mid: 1, Apical: 1, ES: 1}, {Basal: math.NaN(), ES: 1}, {Basal: math.Inf(1), ES: 1}} {
		if w.Validate() == nil {
			t.Errorf("%+v accepted", w)
		}
	}
	if err := (augment.SliceWeights{Basal: 1, Mid: 1, Apical: 2, ES: 2}).Validate(); err != nil {
		t.Error(err)
	}
}
