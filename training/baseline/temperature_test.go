package baseline

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
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

// bundledFirstValidationCase is the bundled model and its first
// validation case (its twin's, for a model trained on every case).
func bundledFirstValidationCase(t *testing.T) (*bundle.Bundle, []data.Case) {
	t.Helper()
	acdc := shareddata.Require(t, "acdc/training")
	src, err := bundle.Load("../../assets/model")
	if err != nil {
		t.Fatal(err)
	}
	cases, err := data.List([]string{acdc})
	if err != nil {
		t.Fatal(err)
	}
	held := src.Training.HeldOutCases()
	if len(held) == 0 {
		t.Fatal("the bundled model names no held-out cases")
	}
	val, err := data.Select(cases, held[:1])
	if err != nil {
		t.Fatal(err)
	}
	return src, val
}

// TestTemperatureOnTheDeployedPath fits the temperature of the bundled
// model's last checkpoint on a validation case through the deployed
// heart-region path, and checks that the fitted T lowers the negative
// log-likelihood of the probabilities the ensemble then predicts with it.
func TestTemperatureOnTheDeployedPath(t *testing.T) {
	src, val := bundledFirstValidationCase(t)
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

// softmaxSample draws a label from mean_k softmax(z_k / t).
func softmaxSample(rng *rand.Rand, zs [][]float64, t float64) uint8 {
	p := make([]float64, len(zs[0]))
	for _, z := range zs {
		m, s := math.Inf(-1), 0.0
		for _, v := range z {
			m = math.Max(m, v/t)
		}
		e := make([]float64, len(z))
		for c, v := range z {
			e[c] = math.Exp(v/t - m)
			s += e[c]
		}
		for c := range p {
			p[c] += e[c] / s / float64(len(zs))
		}
	}
	u := rng.Float64()
	for c, v := range p {
		if u -= v; u < 0 {
			return uint8(c)
		}
	}
	return uint8(len(p) - 1)
}

// Labels drawn from a three-member ensemble's averaged softmax at a known
// temperature: the fit recovers it, on either side of 1.
func TestFitEnsembleTemperatureRecoversTheGeneratingTemperature(t *testing.T) {
	const classes, members, n = 4, 3, 40000
	for _, want := range []float64{0.6, 1.7} {
		rng := rand.New(rand.NewPCG(7, uint64(want*10)))
		logits := make([][]float32, members)
		labels := make([]uint8, n)
		for i := range labels {
			base := make([]float64, classes)
			for c := range base {
				base[c] = 3 * rng.NormFloat64()
			}
			zs := make([][]float64, members)
			for k := range zs {
				zs[k] = make([]float64, classes)
				for c := range zs[k] {
					zs[k][c] = base[c] + rng.NormFloat64() // members disagree
					logits[k] = append(logits[k], float32(zs[k][c]))
				}
			}
			labels[i] = softmaxSample(rng, zs, want)
		}
		got, err := FitEnsembleTemperature(logits, labels, classes)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got-want) > 0.05*want {
			t.Errorf("generated at T = %g, fitted %g", want, got)
		}
		// A single member's fit differs: averaging softens, so the shared
		// temperature is not the members' own.
		single, err := FitTemperature(logits[0], labels, classes)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("T = %g: ensemble fit %.4f, first member alone %.4f", want, got, single)
	}
}

// With one checkpoint the mixture is that checkpoint's softmax: the same
// T as FitTemperature's Newton fit, found by a different search.
func TestFitEnsembleTemperatureOfOneCheckpointIsFitTemperature(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const classes, n = 3, 20000
	var logits []float32
	labels := make([]uint8, n)
	for i := range labels {
		z := make([]float64, classes)
		for c := range z {
			z[c] = 2 * rng.NormFloat64()
			logits = append(logits, float32(z[c]))
		}
		labels[i] = softmaxSample(rng, [][]float64{z}, 1.3)
	}
	newton, err := FitTemperature(logits, labels, classes)
	if err != nil {
		t.Fatal(err)
	}
	golden, err := FitEnsembleTemperature([][]float32{logits}, labels, classes)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(newton-golden) > 1e-3 {
		t.Errorf("FitTemperature %g, FitEnsembleTemperature %g", newton, golden)
	}
	if _, err := FitEnsembleTemperature([][]float32{logits, logits[:9]}, labels, classes); err == nil || !strings.Contains(err.Error(), "checkpoint 1") {
		t.Errorf("a short checkpoint: %v", err)
	}
}

// The bundled ensemble's shared temperature, fitted along the deployed
// path on a validation case, lowers the negative log-likelihood of what
// the ensemble then predicts there.
func TestEnsembleTemperatureOnTheDeployedPath(t *testing.T) {
	src, val := bundledFirstValidationCase(t)
	dir := filepath.Join(t.TempDir(), "bundle")
	os.Mkdir(dir, 0o755)
	for _, c := range src.Checkpoints {
		abs, _ := filepath.Abs(filepath.Join(src.Dir, c.File))
		os.Symlink(abs, filepath.Join(dir, c.File))
	}
	m := src.Manifest
	m.Inference.Temperature = 1
	if err := bundle.WriteManifest(dir, &m); err != nil {
		t.Fatal(err)
	}
	smp, err := val[0].Load()
	if err != nil {
		t.Fatal(err)
	}
	var vols []Volume
	for ph, ref := range smp.Labels {
		if ref != nil {
			vols = append(vols, Volume{ID: val[0].ID, Series: smp.Series, Phase: ph, Ref: *ref})
		}
	}
	p, err := ensemble.Load(worker, dir, ensemble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	logits, labels, volumes, err := CheckpointLogits(context.Background(), p, vols, 200_000)
	p.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(logits) != len(src.Checkpoints) || volumes != 2 || len(labels) > 200_000 || len(logits[0]) != len(labels)*src.Network.Classes {
		t.Fatalf("%d checkpoints' logits, %d volumes, %d labels", len(logits), volumes, len(labels))
	}
	T, err := FitEnsembleTemperature(logits, labels, src.Network.Classes)
	if err != nil {
		t.Fatal(err)
	}
	before := deployedNLL(t, dir, val)
	m.Inference.Temperature = T
	if err := bundle.WriteManifest(dir, &m); err != nil {
		t.Fatal(err)
	}
	after := deployedNLL(t, dir, val)
	t.Logf("%s: shared T = %.4f for %d checkpoints on %d voxels; deployed NLL %.4f at T = 1, %.4f at T", val[0].ID, T, len(logits), len(labels), before, after)
	if !(after < before) {
		t.Errorf("the fitted temperature does not lower the deployed NLL: %.5f at T = 1, %.5f at T = %.4f", before, after, T)
	}
}
