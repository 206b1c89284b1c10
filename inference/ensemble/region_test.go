package ensemble

import (
	"context"
	"slices"
	"testing"

	"cmrseg/app/study"
	"cmrseg/inference/bundle"
	"cmrseg/inference/postprocess"
	"cmrseg/inference/preprocess"
	"cmrseg/inference/uncertainty"
)

// TestSampleOrder: checkpoints are sampled one from each cycle in turn,
// the latest of each cycle first, so k samples span min(k, cycles) modes.
func TestSampleOrder(t *testing.T) {
	var m bundle.Manifest
	for c := 0; c < 3; c++ {
		for e := 0; e < 3; e++ {
			m.Checkpoints = append(m.Checkpoints, bundle.Checkpoint{Cycle: c, Epoch: 16*c + 13 + e})
		}
	}
	p := &Predictor{b: &bundle.Bundle{Manifest: m}}
	if got, want := p.order(), []int{8, 5, 2, 7, 4, 1, 6, 3, 0}; !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
}

// TestRegionTiling: a region gets overlapping patch tiles (at least two per
// axis where the slice allows), fewer than the whole slice's nine; every
// tiling covers its region and stays inside the slice.
func TestRegionTiling(t *testing.T) {
	for _, tc := range []struct {
		r          box
		tiles, th  int
		fitsInside bool
	}{
		{box{60, 150, 70, 160}, 4, 128, true},
		{box{40, 180, 50, 190}, 4, 128, true},
		{box{0, 224, 0, 240}, 9, 128, true},
		{box{0, 40, 200, 240}, 4, 128, true},
	} {
		tl := regionTiling(tc.r, 224, 240, 128, 128, 16)
		c := tl.covered()
		if tl.tiles() != tc.tiles || tl.th != tc.th {
			t.Errorf("region %v: %d tiles of %d×%d, want %d of %d", tc.r, tl.tiles(), tl.th, tl.tw, tc.tiles, tc.th)
		}
		if c.y0 > tc.r.y0 || c.y1 < tc.r.y1 || c.x0 > tc.r.x0 || c.x1 < tc.r.x1 {
			t.Errorf("region %v: tiles cover only %v", tc.r, c)
		}
		if c.y0 < 0 || c.x0 < 0 || c.y1 > 224 || c.x1 > 240 {
			t.Errorf("region %v: tiles %v leave the slice", tc.r, c)
		}
	}
}

// TestShiftedTiling: a region that fits one patch gets one tile per
// sample, every one covering the whole region inside the slice, with
// distinct shifts of at most maxShift; a region larger than a patch does
// not fit.
func TestShiftedTiling(t *testing.T) {
	for _, tc := range []struct {
		r        box
		h, w     int
		fits     bool
		distinct int
	}{
		{box{60, 150, 70, 160}, 224, 240, true, 9},  // 90×90: room to shift both ways
		{box{60, 188, 70, 160}, 224, 240, true, 3},  // 128 rows: no room along y
		{box{0, 60, 180, 240}, 224, 240, true, 1},   // in the slice's corner: no room
		{box{10, 70, 150, 210}, 224, 240, true, 4},  // near it: room one way per axis
		{box{0, 100, 0, 100}, 112, 100, true, 1},    // the slice is smaller than the patch
		{box{40, 180, 50, 190}, 224, 240, true, 9},  // 140×140: one 160² tile, ±10 px of room
		{box{10, 210, 20, 230}, 224, 240, false, 0}, // 200×210: beyond one and a half patches
	} {
		tl, ok := shiftedTiling(tc.r, tc.h, tc.w, 128, 128, 192, 192, 16)
		if ok != tc.fits {
			t.Errorf("region %v: fits %v, want %v", tc.r, ok, tc.fits)
			continue
		}
		if !ok {
			continue
		}
		seen := map[[2]int]bool{}
		for k := range tl.shifts {
			u := tl.sample(k)
			c := u.covered()
			if want := max(128, (tc.r.y1-tc.r.y0+maxShift+15)/16*16); u.tiles() != 1 || (tc.r.y1-tc.r.y0 > 128 && u.th != want) {
				t.Errorf("region %v sample %d: %d tile(s) of %d rows, want one of %d", tc.r, k, u.tiles(), u.th, want)
			}
			if u.tiles() != 1 {
				t.Errorf("region %v sample %d: %d tiles", tc.r, k, u.tiles())
			}
			if c.y0 > tc.r.y0 || c.y1 < tc.r.y1 || c.x0 > tc.r.x0 || c.x1 < tc.r.x1 {
				t.Errorf("region %v sample %d: tile %v does not cover it", tc.r, k, c)
			}
			if c.y0 < 0 || c.x0 < 0 || c.y1 > tc.h || c.x1 > tc.w {
				t.Errorf("region %v sample %d: tile %v leaves the slice", tc.r, k, c)
			}
			d := tl.shifts[k]
			if d[0] < -maxShift || d[0] > maxShift || d[1] < -maxShift || d[1] > maxShift {
				t.Errorf("region %v sample %d: shift %v beyond %d", tc.r, k, d, maxShift)
			}
			seen[[2]int{c.y0, c.x0}] = true
		}
		if len(seen) != tc.distinct {
			t.Errorf("region %v: %d distinct tiles, want %d", tc.r, len(seen), tc.distinct)
		}
		c := tl.covered()
		if c.y0 > tc.r.y0 || c.y1 < tc.r.y1 || c.x0 > tc.r.x0 || c.x1 < tc.r.x1 {
			t.Errorf("region %v: common cover %v", tc.r, c)
		}
	}
}

// bundled loads the shipped model (trained weights: a heart to find).
func bundled(t *testing.T, opts Options) *Predictor {
	t.Helper()
	return load(t, "../../assets/model", opts)
}

// TestRegionNeverCutsTheHeart starts heart-region inference from a
// deliberately wrong first estimate: a small box off the heart's centre.
// The region must grow until no foreground touches its border: no voxel
// that full sliding-window inference calls heart may be left outside it
// (background with probability 1). Inside, the labels agree with full
// tiling as well as any two tilings do (patient001 ED, RV and MYO Dice
// .966–.990 between full tiling, the region window and shifted single
// tiles, grown or located; LV .99).
func TestRegionNeverCutsTheHeart(t *testing.T) {
	_, s := acdcPatient(t)
	ctx := context.Background()
	full := bundled(t, Options{Device: "cpu", Tiling: TileFull})
	want, err := full.Predict(ctx, s, []int{s.ED}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fullEvals := full.Evaluations()
	for name, mode := range map[string]Tiling{"auto": TileAuto, "region-window": TileRegionWindow} {
		t.Run(name, func(t *testing.T) { regionNeverCuts(t, s, mode, want, fullEvals) })
	}
}

func regionNeverCuts(t *testing.T, s *study.Series, mode Tiling, full []*uncertainty.Result, fullEvals int) {
	ctx := context.Background()
	p := bundled(t, Options{Device: "cpu", Tiling: mode})
	prep, err := p.Prepare(s, s.ED)
	if err != nil {
		t.Fatal(err)
	}
	// 32×32 px, 40 px up and left of the slice centre: the heart of
	// patient001 is larger and elsewhere.
	cy, cx := prep.Height/2-40, prep.Width/2-40
	p.startRegion = &box{cy - 16, cy + 16, cx - 16, cx + 16}
	got, err := p.Predict(ctx, s, []int{s.ED}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("grown: %s; %d network evaluations (full tiling %d)", p.Region(), p.Evaluations(), fullEvals)
	if !p.regions[0].region {
		t.Fatal("the region grew into the whole slice; the test needs a region")
	}
	outside, heart := 0, 0
	for i, l := range full[0].Labels {
		if l != 0 {
			heart++
			if got[0].Prob[i] == 1 { // background by being outside the region
				outside++
			}
		}
	}
	if outside > 0 {
		t.Errorf("%d of %d foreground voxels of full tiling lie outside the grown region", outside, heart)
	}
	for c := uint8(1); c <= 3; c++ {
		if d := dice(full[0].Labels, got[0].Labels, c); d < 0.95 {
			t.Errorf("class %d: Dice %.4f against full tiling", c, d)
		}
	}
	if p.Evaluations() >= fullEvals {
		t.Errorf("region inference took %d evaluations, full tiling %d", p.Evaluations(), fullEvals)
	}
}

// TestAnytimeUpdates: the leading phases are refined sample by sample (one
// update per sample per phase, in order) and the last update is the final
// result, identical to Predict's, post-processed samples included (the
// anytime path cleans each sample once and reuses it in later updates).
func TestAnytimeUpdates(t *testing.T) {
	_, s := acdcPatient(t)
	p := load(t, makeBundle(t, 3, func(m *bundle.Manifest) {
		m.Inference.Postprocess = postprocess.Spec{LargestForeground: true, LargestClasses: []uint8{1, 2, 3}}
	}), Options{Device: "cpu"})
	phases := []int{s.ED, s.ES}
	var ups []Update
	rs, err := p.Stream(context.Background(), s, phases, Stream{Leading: 2, OnUpdate: func(u Update) { ups = append(ups, u) }})
	if err != nil {
		t.Fatal(err)
	}
	next := map[int]int{}
	var last [2]*uncertainty.Result
	for _, u := range ups {
		next[u.Index]++
		if u.Samples != next[u.Index] || u.Total != 3 || u.Phase != phases[u.Index] || u.Result.Checkpoints != u.Samples {
			t.Fatalf("update %+v out of order", u)
		}
		last[u.Index] = u.Result
	}
	if next[0] != 3 || next[1] != 3 {
		t.Fatalf("updates per phase %v, want 3 each", next)
	}
	want, err := p.Predict(context.Background(), s, phases, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range phases {
		if last[i] != rs[i] || !same(rs[i].Prob, want[i].Prob) || !slices.Equal(rs[i].Labels, want[i].Labels) {
			t.Fatalf("phase %d: the final update differs from the result", phases[i])
		}
		for k := range want[i].SampleLabels {
			if !slices.Equal(rs[i].SampleLabels[k], want[i].SampleLabels[k]) {
				t.Fatalf("phase %d sample %d: the anytime path's post-processed sample differs from Predict's", phases[i], k)
			}
		}
	}
}

func dice(a, b []uint8, c uint8) float64 {
	var inter, na, nb int
	for i := range a {
		x, y := a[i] == c, b[i] == c
		if x {
			na++
		}
		if y {
			nb++
		}
		if x && y {
			inter++
		}
	}
	if na+nb == 0 {
		return 1
	}
	return 2 * float64(inter) / float64(na+nb)
}

func countNonZero(l []uint8) int {
	n := 0
	for _, v := range l {
		if v != 0 {
			n++
		}
	}
	return n
}

// An island at the region's border is no cut heart: only the heart's own
// components (heartOnly) make the region grow.
func TestIslandsDoNotGrowTheRegion(t *testing.T) {
	const ni, nj, nk, classes = 64, 64, 3, 4
	g := study.Geometry{Dims: [3]int{ni, nj, nk}, Spacing: [3]float64{1.5, 1.5, 10}}
	prep := &Prepared{Volume: preprocess.Volume{Grid: g}, Height: ni, Width: nj}
	cov := box{8, 56, 8, 56}
	n := ni * nj * nk
	mapWith := func(fg func(i, j int) bool) []float32 {
		pr := make([]float32, classes*n)
		for k := range nk {
			for j := range nj {
				for i := range ni {
					x := (k*nj+j)*ni + i
					pr[x] = 0.9 // background
					if fg(i, j) {
						pr[x], pr[2*n+x] = 0.1, 0.9
					}
				}
			}
		}
		return pr
	}
	heart := func(i, j int) bool { return i >= 20 && i < 44 && j >= 20 && j < 44 }
	island := func(i, j int) bool { return i >= 52 && i < 55 && j >= 30 && j < 33 } // right border band
	top, bottom, left, right := reachesBorder(mapWith(func(i, j int) bool { return heart(i, j) || island(i, j) }), classes, g, prep, cov)
	if top || bottom || left || right {
		t.Errorf("an island at the border grows the region: %v %v %v %v", top, bottom, left, right)
	}
	// The same heart reaching the right border does.
	wide := func(i, j int) bool { return i >= 20 && i < 54 && j >= 20 && j < 44 }
	if _, _, _, right := reachesBorder(mapWith(wide), classes, g, prep, cov); !right {
		t.Error("a heart reaching the right border does not grow the region")
	}
}
