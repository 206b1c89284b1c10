package evaluation

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"

	"cmrseg/app/shareddata"
	"cmrseg/app/study"
	"cmrseg/training/data"
	"cmrseg/training/metrics"
)

// labels makes an nx×ny×nz label map with 2×2×5 mm voxels (0.02 ml).
func labels(nx, ny, nz int) study.Labels {
	g := study.Geometry{Dims: [3]int{nx, ny, nz}, Spacing: [3]float64{2, 2, 5}}
	return study.Labels{Geometry: g, Data: make([]uint8, g.N())}
}

func set(l study.Labels, i, j, k int, v uint8) { l.Data[i+l.Dims[0]*(j+l.Dims[1]*k)] = v }

// fill sets columns 0..w-1 of rows 0..h-1 of slice k to v.
func fill(l study.Labels, k, w, h int, v uint8) {
	for j := range h {
		for i := range w {
			set(l, i, j, k, v)
		}
	}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

// Six foreground slices (k = 1..6) shrinking from k = 1: the base is
// slice 2 (1-based), two slices per third, k = 0 and 7 outside; the same
// heart upside down has its base at the last foreground slice.
func TestSlicePositions(t *testing.T) {
	l := labels(8, 8, 8)
	for k := 1; k <= 6; k++ {
		fill(l, k, 8-k, 8, study.LV)
	}
	pos, baseFirst := SlicePositions(l)
	want := []int{Outside, Basal, Basal, Mid, Mid, Apical, Apical, Outside}
	if !baseFirst || !slices.Equal(pos, want) {
		t.Errorf("base first %v, positions %v, want true %v", baseFirst, pos, want)
	}
	flip := labels(8, 8, 8)
	for k := 1; k <= 6; k++ {
		fill(flip, 7-k, 8-k, 8, study.LV)
	}
	pos, baseFirst = SlicePositions(flip)
	want = []int{Outside, Apical, Apical, Mid, Mid, Basal, Basal, Outside}
	if baseFirst || !slices.Equal(pos, want) {
		t.Errorf("flipped: base first %v, positions %v, want false %v", baseFirst, pos, want)
	}
	// Ten slices: 3 basal, 4 mid, 3 apical (the extra ones go to mid).
	ten := labels(12, 4, 10)
	for k := range 10 {
		fill(ten, k, 12-k, 4, study.RV)
	}
	pos, _ = SlicePositions(ten)
	if want := []int{0, 0, 0, 1, 1, 1, 1, 2, 2, 2}; !slices.Equal(pos, want) {
		t.Errorf("ten slices: %v, want %v", pos, want)
	}
	// No foreground: every slice outside.
	pos, _ = SlicePositions(labels(2, 2, 3))
	if !slices.Equal(pos, []int{Outside, Outside, Outside}) {
		t.Errorf("empty: %v", pos)
	}
}

// Islands are 26-connected components beyond the largest: a voxel touching
// the main blob only at a corner is part of it; two detached pieces are
// two islands; an LV piece inside the RV blob's reach is an LV island but
// not a foreground island.
func TestCountIslands(t *testing.T) {
	l := labels(10, 10, 4)
	for k := range 2 { // main RV blob: 3×3 on slices 1-2 (18 voxels)
		for j := range 3 {
			for i := range 3 {
				set(l, i, j, k, study.RV)
			}
		}
	}
	set(l, 3, 3, 1, study.RV)         // touches (2,2,1) at a corner: not an island
	set(l, 8, 8, 0, study.RV)         // island 1, basal slice: 1 voxel
	set(l, 8, 0, 3, study.RV)         // island 2, slice 4 (outside): 2 voxels
	set(l, 9, 0, 3, study.RV)         //
	set(l, 0, 3, 0, study.LV)         // LV main component (largest: 2 voxels) touching the RV blob
	set(l, 1, 3, 0, study.LV)         //
	set(l, 0, 5, 0, study.LV)         // LV island: 1 voxel, alone in the foreground too
	set(l, 5, 5, 2, study.Myocardium) // a lone MYO voxel is its own largest component
	pos := []int{Basal, Mid, Apical, Outside}
	ref := labels(10, 10, 4)
	set(ref, 9, 0, 3, study.RV) // one voxel of island 2 is right
	is := countIslands(l.Data, ref.Data, l.Geometry, pos)
	if is.Count != [3]int{2, 0, 1} {
		t.Errorf("island counts RV/MYO/LV %v, want [2 0 1]", is.Count)
	}
	if !near(is.ML[0], 0.06) || is.ML[1] != 0 || !near(is.ML[2], 0.02) {
		t.Errorf("island ml %v, want [0.06 0 0.02]", is.ML)
	}
	if !near(is.CorrectML[0], 0.02) || is.CorrectML[2] != 0 {
		t.Errorf("correct island ml %v, want [0.02 0 0]", is.CorrectML)
	}
	if !near(is.ByPosition[Basal][0], 0.02) || !near(is.ByPosition[Outside][0], 0.04) || !near(is.ByPosition[Basal][2], 0.02) {
		t.Errorf("island ml by position %v", is.ByPosition)
	}
	// Foreground: the blob with its LV neighbours is the largest; the RV
	// islands, the LV island and the MYO voxel are four more.
	if is.Foreground != 4 || !near(is.ForegroundML, 0.02*(1+2+1+1)) {
		t.Errorf("foreground islands %d (%.3f ml), want 4 (0.100 ml)", is.Foreground, is.ForegroundML)
	}
}

// Dice per position pools each third's voxels; a class absent from both
// reference and prediction in a third is undefined (NaN), one predicted
// where the reference has none scores 0.
func TestAnalyseVolumeDicePerPosition(t *testing.T) {
	ref := labels(4, 4, 3) // one slice per third, base at slice 1
	fill(ref, 0, 4, 4, study.LV)
	fill(ref, 1, 4, 3, study.LV)
	fill(ref, 2, 4, 2, study.LV)
	fill(ref, 0, 4, 1, study.RV) // basal RV: row 0
	raw := slices.Clone(ref.Data)
	post := slices.Clone(ref.Data)
	// Mid: the prediction misses one of the three LV rows (Dice 2·8/(12+8) = 0.8).
	for i := range 4 {
		raw[i+4*(2+4*1)] = 0
		post[i+4*(2+4*1)] = 0
	}
	// Apical: a raw RV voxel where the reference has none (Dice 0);
	// post-processing removed it (undefined).
	raw[3+4*(3+4*2)] = study.RV
	vf, err := analyseVolume(ref, raw, post)
	if err != nil {
		t.Fatal(err)
	}
	if !vf.BaseAtSlice1 {
		t.Error("base not found at slice 1")
	}
	for p, want := range [][]int{{1}, {2}, {3}} {
		if got := vf.Positions[p].Slices; !slices.Equal(got, want) {
			t.Errorf("%s slices %v, want %v", PositionNames[p], got, want)
		}
	}
	b, m, a := vf.Positions[Basal], vf.Positions[Mid], vf.Positions[Apical]
	if b.Dice[0] != 1 || b.Dice[2] != 1 || !math.IsNaN(b.Dice[1]) {
		t.Errorf("basal Dice %v, want [1 NaN 1]", b.Dice)
	}
	if !near(m.Dice[2], 0.8) || !near(m.RawDice[2], 0.8) || !math.IsNaN(m.Dice[0]) {
		t.Errorf("mid Dice %v raw %v, want LV 0.8, RV undefined", m.Dice, m.RawDice)
	}
	if a.RawDice[0] != 0 || !math.IsNaN(a.Dice[0]) || a.RawDice[2] != 1 || a.Dice[2] != 1 {
		t.Errorf("apical Dice %v raw %v, want RV NaN / raw 0, LV 1", a.Dice, a.RawDice)
	}
	if vf.Islands.Count[0] != 1 || vf.RefIslands.Count != [3]int{} || vf.RefIslands.Foreground != 0 {
		t.Errorf("islands %+v, reference islands %+v", vf.Islands, vf.RefIslands)
	}
	if _, err := analyseVolume(ref, raw[1:], post); err == nil {
		t.Error("a prediction of the wrong size was accepted")
	}
}

// Aggregates are means over the volumes of a group × phase, leaving
// undefined Dice out, and "all" pools the groups.
func TestAggregate(t *testing.T) {
	pos := func(d ...float64) [3]PositionScore {
		var ps [3]PositionScore
		for p := range ps {
			ps[p] = PositionScore{Position: PositionNames[p], Dice: Scores{d[0], d[1], d[2]}, RawDice: Scores{d[0] - 0.1, d[1], d[2]}}
		}
		return ps
	}
	fa := &FailureAnalysis{Volumes: []VolumeFailure{
		{Case: "a", Group: "HCM", Phase: "ES", Positions: pos(0.8, 0.6, math.NaN()), Islands: Islands{Count: [3]int{2, 0, 1}}},
		{Case: "b", Group: "HCM", Phase: "ES", Positions: pos(0.6, 0.8, 0.9)},
		{Case: "c", Group: "NOR", Phase: "ED", Positions: pos(1, 1, 1), Islands: Islands{Count: [3]int{0, 4, 0}, Foreground: 3}},
	}}
	fa.aggregate()
	c := fa.Cell("HCM", "ES", "apical")
	if c == nil || c.Volumes != 2 || !near(c.Dice[0], 0.7) || !near(c.RawDice[0], 0.6) || !near(c.Dice[2], 0.9) || c.Defined != [3]int{2, 2, 1} {
		t.Fatalf("HCM ES apical %+v", c)
	}
	if fa.Cell("HCM", "ED", "basal") != nil || fa.Cell("DCM", "ES", "mid") != nil {
		t.Error("rows for groups or phases without volumes")
	}
	if all := fa.Cell("all", "ED", "mid"); all == nil || all.Volumes != 1 || all.Dice != (Scores{1, 1, 1}) {
		t.Errorf("all ED mid %+v", all)
	}
	if len(fa.Groups) != 4*3 || len(fa.Islands) != 4 {
		t.Fatalf("%d group rows and %d island rows, want 12 and 4", len(fa.Groups), len(fa.Islands))
	}
	hcm := fa.Islands[0]
	if hcm.Group != "HCM" || hcm.Count != (Scores{1, 0, 0.5}) || hcm.With != [3]int{1, 0, 1} {
		t.Errorf("HCM ES islands %+v", hcm)
	}
	b, err := json.Marshal(fa)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"dice":[0.8,0.6,null]`) {
		t.Errorf("undefined Dice not written as null: %.300s", b)
	}
}

// On real labels: ACDC's base is slice 1 in all 200 labelled volumes (and
// at ED the basal third's slices hold more cavity than the apical third's); the
// position counts add up to the whole-volume Dice; reference labels have no
// islands (patient001's; a few other ACDC references do, logged). The "prediction" is the other phase's reference, a real,
// imperfect segmentation on the same grid.
func TestFailureAnalysisOnACDC(t *testing.T) {
	root := shareddata.Require(t, "acdc/training")
	cases, err := data.List([]string{root})
	if err != nil {
		t.Fatal(err)
	}
	refIslands := 0
	for _, c := range cases {
		smp, err := c.Load()
		if err != nil {
			t.Fatal(err)
		}
		var refs []study.Labels
		for _, l := range smp.Labels {
			if l != nil {
				refs = append(refs, *l)
			}
		}
		if len(refs) != 2 {
			t.Fatalf("%s: %d labelled phases, want ED and ES", c.ID, len(refs))
		}
		for i, ref := range refs {
			pos, baseFirst := SlicePositions(ref)
			if !baseFirst {
				t.Errorf("%s phase %d: base not at slice 1 (%v)", c.ID, i, pos)
			}
			var area [3]float64
			var n [3]int
			plane := ref.Dims[0] * ref.Dims[1]
			for v, l := range ref.Data {
				if p := pos[v/plane]; p != Outside && (l == study.RV || l == study.LV) {
					area[p]++
				}
			}
			for _, p := range pos {
				if p != Outside {
					n[p]++
				}
			}
			// At ES the basal slices can be mostly myocardium (patients 047
			// and 054), so the cavity check is made at ED.
			if i == 0 && area[Basal]/float64(n[Basal]) <= area[Apical]/float64(n[Apical]) {
				t.Errorf("%s phase %d: basal slices hold less cavity than apical ones (%v over %v slices)", c.ID, i, area, n)
			}
			if c.ID != "patient001" {
				is := countIslands(ref.Data, ref.Data, ref.Geometry, pos)
				for cl, k := range is.Count {
					refIslands += k
					if k > 0 {
						t.Logf("%s phase %d class %d: %d reference islands, %.2f ml %v", c.ID, i, cl, k, is.ML[cl], is.ByPosition)
					}
				}
				continue
			}
			pred := refs[1-i]
			vf, err := analyseVolume(ref, pred.Data, pred.Data)
			if err != nil {
				t.Fatal(err)
			}
			whole, err := metrics.VolumeDice(ref, pred)
			if err != nil {
				t.Fatal(err)
			}
			sum := positionOverlaps(ref, pred.Data, pos)
			for c := range 3 {
				var o Overlap
				for p := range sum {
					o.add(sum[p][c])
				}
				if o.Dice() != whole[c] {
					t.Errorf("patient001 phase %d class %d: positions add up to Dice %.6f, whole volume %.6f", i, c, o.Dice(), whole[c])
				}
			}
			if vf.RefIslands.Count != [3]int{} || vf.RefIslands.Foreground != 0 {
				t.Errorf("patient001 phase %d: reference islands %+v", i, vf.RefIslands)
			}
			self, _ := analyseVolume(ref, ref.Data, ref.Data)
			for _, ps := range self.Positions {
				for c, d := range ps.Dice {
					if !math.IsNaN(d) && d != 1 {
						t.Errorf("patient001 phase %d: reference against itself %s class %d Dice %v", i, ps.Position, c, d)
					}
				}
			}
		}
	}
	t.Logf("reference islands over the other 99 patients: %d", refIslands)
}
