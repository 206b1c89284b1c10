package resultcache

import (
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"testing"

	"cmrseg/app/study"
	"cmrseg/inference/uncertainty"
)

func randomResult(t *testing.T) *uncertainty.Result {
	t.Helper()
	g := study.Geometry{Dims: [3]int{20, 16, 3}, Spacing: [3]float64{1.5, 1.5, 8}}
	acc := uncertainty.NewAccumulator(g, 4)
	rng := rand.New(rand.NewPCG(1, 2))
	n := g.N()
	for m := 0; m < 3; m++ {
		p := make([]float32, 4*n)
		for i := 0; i < n; i++ {
			var s float64
			w := make([]float64, 4)
			for c := range w {
				w[c] = rng.ExpFloat64()
				s += w[c]
			}
			for c := range w {
				p[c*n+i] = float32(w[c] / s)
			}
		}
		if err := acc.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	return acc.Result()
}

// TestRoundTrip: what Put returns is what Get returns; labels, samples and
// scores are exact, the maps within their 16-bit step.
func TestRoundTrip(t *testing.T) {
	r := randomResult(t)
	c := New(t.TempDir(), "model A")
	shown, err := c.Put(4, r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Get(4, r.Geometry)
	if err != nil || got == nil {
		t.Fatalf("get: %v, %v", got, err)
	}
	if !slices.Equal(got.Labels, r.Labels) || !slices.Equal(got.SliceScores, r.SliceScores) || got.VolumeScore != r.VolumeScore {
		t.Fatal("labels or scores changed")
	}
	for k := range r.SampleLabels {
		if !slices.Equal(got.SampleLabels[k], r.SampleLabels[k]) {
			t.Fatalf("sample %d changed", k)
		}
	}
	if !slices.Equal(got.Prob, shown.Prob) || !slices.Equal(got.Entropy, shown.Entropy) || !slices.Equal(got.MutualInfo, shown.MutualInfo) {
		t.Fatal("Get differs from what Put returned")
	}
	for i := range r.Prob {
		if math.Abs(float64(got.Prob[i]-r.Prob[i])) > 1e-5 {
			t.Fatalf("prob %d: %g, stored %g", i, got.Prob[i], r.Prob[i])
		}
	}
	for i := range r.Entropy {
		if math.Abs(float64(got.Entropy[i]-r.Entropy[i])) > 3e-5 {
			t.Fatalf("entropy %d: %g, stored %g", i, got.Entropy[i], r.Entropy[i])
		}
	}
	// Another model's cache misses; another phase misses.
	if o, err := New(c.dir[:len(c.dir)-len("results-")-16], "model B").Get(4, r.Geometry); o != nil || err != nil {
		t.Fatalf("another key: %v, %v", o, err)
	}
	if o, err := c.Get(5, r.Geometry); o != nil || err != nil {
		t.Fatalf("another phase: %v, %v", o, err)
	}
	// A damaged file is an error, not a result.
	b, _ := os.ReadFile(c.path(4))
	os.WriteFile(c.path(4), b[:len(b)/2], 0o644)
	if o, err := c.Get(4, r.Geometry); o != nil || err == nil {
		t.Fatalf("damaged file: %v, %v", o, err)
	}
	// Another grid is refused.
	g := r.Geometry
	g.Dims[0]++
	c.Put(6, r)
	if o, err := c.Get(6, g); o != nil || err == nil {
		t.Fatalf("another grid: %v, %v", o, err)
	}
}
