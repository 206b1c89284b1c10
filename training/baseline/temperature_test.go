package baseline

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"cmrseg/app/shareddata"
	"cmrseg/inference/bundle"
	"cmrseg/inference/ensemble"
	"cmrseg/training/data"
	"cmrseg/training/metrics"
)

// deployedNLL is the mean negative log-likelihood of the reference labels
// inside each labelled phase's foreground bounding box under the
// probabilities inference/ensemble predicts with the bundle in dir, as the
// window and `cmrseg segment` predict them.
func deployedNLL(t *testing.T, dir string, cases []data.Case) float64 {
	t.Helper()
	p, err := ensemble.Load(worker, dir, ensemble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	sum, count := 0.0, 0
	for _, c := range cases {
		smp, err := c.Load()
		if err != nil {
			t.Fatal(err)
		}
		for ph, ref := range smp.Labels {
			if ref == nil {
				continue
			}
			rs, err := p.Predict(context.Background(), smp.Series, []int{ph}, nil)
			if err != nil {
				t.Fatal(err)
			}
			lo, hi, ok := metrics.ForegroundBox(*ref)
			if !ok {
				continue
			}
			nx, ny, n := ref.Dims[0], ref.Dims[1], len(ref.Data)
			for k := lo[2]; k <= hi[2]; k++ {
				for j := lo[1]; j <= hi[1]; j++ {
					for i := lo[0]; i <= hi[0]; i++ {
						v := i + nx*(j+ny*k)
						// Voxels outside the heart region are background
						// with probability 1 whatever T: a constant here.
						sum -= math.Log(math.Max(float64(rs[0].Prob[int(ref.Data[v])*n+v]), 1e-12))
						count++
					}
				}
			}
		}
	}
	return sum / float64(count)
}

// TestTemperatureOnTheDeployedPath fits the temperature of the bundled
// model's last checkpoint on a validation case through the deployed
// heart-region path, and checks that the fitted T lowers the negative
// log-likelihood of the probabilities the ensemble then predicts with it.
func TestTemperatureOnTheDeployedPath(t *testing.T) {
	acdc := shareddata.Require(t, "acdc/training")
	src, err := bundle.Load("../../assets/model")
	if err != nil {
		t.Fatal(err)
	}
	cases, err := data.List([]string{acdc})
	if err != nil {
		t.Fatal(err)
	}
	val, err := data.Select(cases, src.Training.ValCases[:1])
	if err != nil {
		t.Fatal(err)
	}
	single, err := Single(src, filepath.Join(t.TempDir(), "single"))
	if err != nil {
		t.Fatal(err)
	}
	if single.Inference.Temperature != 0 && single.Inference.Temperature != 1 {
		t.Fatalf("the single model starts at T = %g", single.Inference.Temperature)
	}
	logits, labels, volumes, err := DeployedLogits(context.Background(), worker, single.Dir, val)
	if err != nil {
		t.Fatal(err)
	}
	T, err := FitTemperature(logits, labels, single.Network.Classes)
	if err != nil {
		t.Fatal(err)
	}
	if math.IsNaN(T) || math.IsInf(T, 0) || !(T > 0.2 && T < 5) {
		t.Fatalf("fitted T = %g", T)
	}
	before := deployedNLL(t, single.Dir, val)
	single.Inference.Temperature = T
	if err := bundle.WriteManifest(single.Dir, &single.Manifest); err != nil {
		t.Fatal(err)
	}
	after := deployedNLL(t, single.Dir, val)
	t.Logf("%s: T = %.4f fitted on %d voxels of %d volumes; deployed NLL %.4f at T = 1, %.4f at T", val[0].ID, T, len(labels), volumes, before, after)
	if !(after < before) {
		t.Errorf("the fitted temperature does not lower the deployed NLL: %.5f at T = 1, %.5f at T = %.4f", before, after, T)
	}
}
