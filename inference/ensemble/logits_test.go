package ensemble

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"cmrseg/inference/bundle"
)

// softmaxAt is the softmax of class-major logits z at voxel i.
func softmaxAt(z []float32, classes, n, i int) []float64 {
	m := math.Inf(-1)
	for c := 0; c < classes; c++ {
		m = math.Max(m, float64(z[c*n+i]))
	}
	out := make([]float64, classes)
	s := 0.0
	for c := range out {
		out[c] = math.Exp(float64(z[c*n+i]) - m)
		s += out[c]
	}
	for c := range out {
		out[c] /= s
	}
	return out
}

// On whole slices at the series' own spacing (no blending, no resampling)
// the logits CheckpointLogits returns are exactly those behind the
// ensemble's per-checkpoint probabilities: their softmax is the map
// Predict accumulates for that checkpoint.
func TestCheckpointLogitsUnderlieTheSamples(t *testing.T) {
	_, s := acdcPatient(t)
	dir := makeBundle(t, 3, func(m *bundle.Manifest) {
		m.Preprocessing.SpacingMM = [2]float64{s.Spacing[0], s.Spacing[1]}
	})
	p := load(t, dir, Options{Device: "cpu", Tiling: TileNever})
	ctx := context.Background()
	prep, err := p.Prepare(s, s.ED)
	if err != nil {
		t.Fatal(err)
	}
	if prep.Grid.Dims != s.Dims {
		t.Fatalf("network grid %v, series %v: the test needs no resampling", prep.Grid.Dims, s.Dims)
	}
	samples, err := p.collect(ctx, prep, s.Geometry)
	if err != nil {
		t.Fatal(err)
	}
	n := s.N()
	for k, ci := range p.Order() {
		z, err := p.CheckpointLogits(ctx, s, s.ED, ci)
		if err != nil {
			t.Fatal(err)
		}
		worst := 0.0
		for i := 0; i < n; i++ {
			if !z.Inside[i] {
				t.Fatalf("voxel %d outside a whole-slice tiling", i)
			}
			for c, v := range softmaxAt(z.Data, z.Classes, n, i) {
				worst = max(worst, math.Abs(v-float64(samples[k][c*n+i])))
			}
		}
		if worst > 1e-5 {
			t.Errorf("checkpoint %d: softmax of its logits differs from its sample by %.3g", ci, worst)
		}
	}
	if _, err := p.CheckpointLogits(ctx, s, s.ED, 3); err == nil {
		t.Error("checkpoint 3 of 3 accepted")
	}
}

// With the bundled model on a validation case the logits come from the
// heart region Predict runs on (same localisation, same tiles); inside it
// their softmax matches the deployed probabilities up to blending and
// resampling order, outside it Predict says background.
func TestCheckpointLogitsFollowTheHeartRegion(t *testing.T) {
	_, s := acdcPatient(t)
	src, err := bundle.Load("../../assets/model")
	if err != nil {
		t.Fatal(err)
	}
	// A one-checkpoint copy, so Predict's probabilities are that
	// checkpoint's alone.
	m := src.Manifest
	m.Checkpoints = m.Checkpoints[len(m.Checkpoints)-1:]
	m.Kind = bundle.Single
	m.Inference.Temperature = 1 // the bundle's is its ensemble's; logits are untempered
	dir := subsetBundle(t, src, m)
	p := load(t, dir, Options{Device: "cpu", RawLabels: true})
	ctx := context.Background()
	rs, err := p.Predict(ctx, s, []int{s.ED}, nil)
	if err != nil {
		t.Fatal(err)
	}
	region := p.Region()
	z, err := p.CheckpointLogits(ctx, s, s.ED, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Predict: %s; CheckpointLogits: %s", region, z.Region)
	if z.Region != region || !p.regions[0].region {
		t.Fatalf("logits ran on %q, Predict on %q", z.Region, region)
	}
	n, pr := s.N(), rs[0].Prob
	inside, agree, sumDiff := 0, 0, 0.0
	for i := 0; i < n; i++ {
		if !z.Inside[i] {
			// Certain background, or (in the band that resampling mixes
			// with the region's edge, a margin off the heart) nearly so.
			if pr[i] < 0.99 {
				t.Fatalf("voxel %d outside the region: background probability %g", i, pr[i])
			}
			continue
		}
		inside++
		q := softmaxAt(z.Data, z.Classes, n, i)
		best, arg := -1.0, 0
		for c := range q {
			sumDiff += math.Abs(q[c] - float64(pr[c*n+i]))
			if q[c] > best {
				best, arg = q[c], c
			}
		}
		if uint8(arg) == rs[0].Labels[i] {
			agree++
		}
	}
	mean := sumDiff / float64(inside*z.Classes)
	t.Logf("%d of %d voxels inside; argmax agreement %.4f; mean |softmax(logits) − p| %.2g", inside, n, float64(agree)/float64(inside), mean)
	if inside == 0 || inside == n {
		t.Fatalf("%d of %d voxels inside the region", inside, n)
	}
	if float64(agree) < 0.995*float64(inside) || mean > 0.01 {
		t.Errorf("softmax of the logits is not the deployed prediction: agreement %d of %d, mean difference %.3g", agree, inside, mean)
	}
}

// AllCheckpointLogits shares one preparation and localisation across the
// checkpoints; each result must be exactly the single call's, shifted
// tile and region growth included (three of the bundled checkpoints on a
// real case, heart-region tiling).
func TestAllCheckpointLogitsEqualTheSingleCalls(t *testing.T) {
	_, s := acdcPatient(t)
	src, err := bundle.Load("../../assets/model")
	if err != nil {
		t.Fatal(err)
	}
	m := src.Manifest
	m.Checkpoints = m.Checkpoints[:3]
	dir := subsetBundle(t, src, m)
	p := load(t, dir, Options{Device: "cpu"})
	ctx := context.Background()
	all, err := p.AllCheckpointLogits(ctx, s, s.ES)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 {
		t.Fatalf("%d results for 3 checkpoints", len(all))
	}
	for ci, got := range all {
		want, err := p.CheckpointLogits(ctx, s, s.ES, ci)
		if err != nil {
			t.Fatal(err)
		}
		if got.Region != want.Region || got.Classes != want.Classes {
			t.Errorf("checkpoint %d: region %q, classes %d; single call %q, %d", ci, got.Region, got.Classes, want.Region, want.Classes)
		}
		if !slices.Equal(got.Data, want.Data) || !slices.Equal(got.Inside, want.Inside) {
			t.Errorf("checkpoint %d: logits or inside mask differ from the single call's", ci)
		}
	}
	if !p.regions[0].region {
		t.Error("the test meant to exercise the heart region, but the tiling covers whole slices")
	}
}

// subsetBundle writes manifest m, whose checkpoints are some of src's,
// with those checkpoint files into a temporary bundle folder.
func subsetBundle(t *testing.T, src *bundle.Bundle, m bundle.Manifest) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "subset")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range m.Checkpoints {
		raw, err := os.ReadFile(filepath.Join(src.Dir, c.File))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, c.File), raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := bundle.WriteManifest(dir, &m); err != nil {
		t.Fatal(err)
	}
	return dir
}

// The temperature fit's per-volume cost: every checkpoint's logits of one
// ED or ES volume, one call per checkpoint (each preparing and locating
// the heart again) against one shared call. Bundled model, patient001 ES.
func BenchmarkCheckpointLogits(b *testing.B) {
	_, s := acdcPatient(b)
	p := load(b, "../../assets/model", Options{Device: "cpu"})
	ctx := context.Background()
	b.Run("one-call-per-checkpoint", func(b *testing.B) {
		for b.Loop() {
			for ci := 0; ci < p.Checkpoints(); ci++ {
				if _, err := p.CheckpointLogits(ctx, s, s.ES, ci); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("all-checkpoints", func(b *testing.B) {
		for b.Loop() {
			if _, err := p.AllCheckpointLogits(ctx, s, s.ES); err != nil {
				b.Fatal(err)
			}
		}
	})
}
