package baseline

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cmrseg/app/dataset"
	"cmrseg/app/shareddata"
	"cmrseg/inference/bundle"
	"cmrseg/inference/ensemble"
	"cmrseg/inference/torch"
	"cmrseg/inference/unet"
	"cmrseg/inference/weights"
	"cmrseg/training/config"
	"cmrseg/training/trainer"
)

var worker *torch.Worker

func TestMain(m *testing.M) {
	worker = torch.NewWorker(1)
	code := m.Run()
	worker.Close()
	os.Exit(code)
}

var testNet = unet.Config{InChannels: 1, Classes: 4, Stages: 3, BaseFeatures: 4, MaxFeatures: 16, ConvsPerStage: 2}

// fakeRun writes a multi-modal bundle whose checkpoints (cycle, epoch) hold
// random weights, as a run's bundle folder would.
func fakeRun(t *testing.T, net unet.Config, seed int64, ckpts [][2]int) *bundle.Bundle {
	t.Helper()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	m := bundle.Manifest{
		Format: bundle.Format, Name: "fake", Kind: bundle.MultiModal, Network: net,
		Preprocessing: bundle.Preprocessing{SpacingMM: [2]float64{1.5, 1.5}, Normalization: "zscore", PatchSize: [2]int{64, 64}},
		Labels:        bundle.DefaultLabels(), Inference: bundle.Inference{Temperature: 1},
		Training: bundle.Provenance{Seed: seed, ValCases: []string{"patient001"}, TrainCases: []string{"patient002"}},
	}
	for _, ce := range ckpts {
		var ws []weights.Tensor
		for _, sp := range net.Specs() {
			n := 1
			for _, d := range sp.Shape {
				n *= int(d)
			}
			tw := weights.Tensor{Name: sp.Name, Shape: sp.Shape, Data: make([]float32, n)}
			for i := range tw.Data {
				tw.Data[i] = float32(rng.NormFloat64())
			}
			ws = append(ws, tw)
		}
		c, err := bundle.AddCheckpoint(dir, fmt.Sprintf("cycle%d-epoch%04d.safetensors", ce[0], ce[1]), ws, weights.F32, ce[0], ce[1])
		if err != nil {
			t.Fatal(err)
		}
		m.Checkpoints = append(m.Checkpoints, c)
	}
	if err := bundle.WriteManifest(dir, &m); err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var threeCycles = [][2]int{{0, 3}, {0, 4}, {1, 8}, {1, 9}, {2, 12}, {2, 13}, {2, 14}}

func TestSWAIsTheMeanOfTheLastCycle(t *testing.T) {
	src := fakeRun(t, testNet, 1, threeCycles)
	b, err := SWA(src, filepath.Join(t.TempDir(), "swa"))
	if err != nil {
		t.Fatal(err)
	}
	if b.Kind != bundle.SWA || len(b.Checkpoints) != 1 || b.Checkpoints[0].Epoch != 14 || b.Checkpoints[0].Cycle != 2 {
		t.Fatalf("SWA bundle: kind %q, checkpoints %+v", b.Kind, b.Checkpoints)
	}
	got, err := b.Weights(0)
	if err != nil {
		t.Fatal(err)
	}
	var members [][]weights.Tensor
	for _, i := range []int{4, 5, 6} { // cycle 2
		ws, _ := src.Weights(i)
		members = append(members, ws)
	}
	first, _ := src.Weights(0)
	differsFromAll := false
	for j, tw := range got {
		if tw.Name != members[0][j].Name {
			t.Fatalf("tensor %d is %s, want %s", j, tw.Name, members[0][j].Name)
		}
		for k, v := range tw.Data {
			want := float32((float64(members[0][j].Data[k]) + float64(members[1][j].Data[k]) + float64(members[2][j].Data[k])) / 3)
			if v != want {
				t.Fatalf("%s[%d] = %v, mean of the cycle-2 checkpoints is %v", tw.Name, k, v, want)
			}
			all := (float64(members[0][j].Data[k]) + float64(members[1][j].Data[k]) + float64(members[2][j].Data[k]) + float64(first[j].Data[k])) / 4
			differsFromAll = differsFromAll || float32(all) != v
		}
	}
	if !differsFromAll {
		t.Error("SWA equals the mean including an earlier cycle's checkpoint")
	}
}

func TestSingleAndSingleModalPickTheLastCycle(t *testing.T) {
	src := fakeRun(t, testNet, 2, threeCycles)
	single, err := Single(src, filepath.Join(t.TempDir(), "single"))
	if err != nil {
		t.Fatal(err)
	}
	if single.Kind != bundle.Single || len(single.Checkpoints) != 1 || single.Checkpoints[0].SHA256 != src.Checkpoints[6].SHA256 {
		t.Errorf("single: kind %q checkpoints %+v, want the epoch-14 file", single.Kind, single.Checkpoints)
	}
	sm, err := SingleModal(src, filepath.Join(t.TempDir(), "sm"))
	if err != nil {
		t.Fatal(err)
	}
	if sm.Kind != bundle.SingleModal || len(sm.Checkpoints) != 3 {
		t.Fatalf("single-modal: kind %q, %d checkpoints", sm.Kind, len(sm.Checkpoints))
	}
	for i, c := range sm.Checkpoints {
		if c.Cycle != 2 || c.SHA256 != src.Checkpoints[4+i].SHA256 {
			t.Errorf("single-modal checkpoint %d: %+v", i, c)
		}
	}
	// The multi-modal source keeps the provenance; derived bundles carry it on.
	if sm.Training.Seed != 2 || sm.Training.ValCases[0] != "patient001" {
		t.Errorf("provenance lost: %+v", sm.Training)
	}
	if _, err := Single(src, filepath.Dir(single.Dir+"/x")); err == nil || !strings.Contains(err.Error(), "already holds a bundle") {
		t.Errorf("overwriting a bundle: %v", err)
	}
}

func TestDeepEnsembleMergesSeeds(t *testing.T) {
	a := fakeRun(t, testNet, 1, [][2]int{{0, 4}, {0, 5}})
	b := fakeRun(t, testNet, 2, [][2]int{{0, 4}, {0, 5}})
	de, err := DeepEnsemble([]*bundle.Bundle{a, b}, filepath.Join(t.TempDir(), "de"))
	if err != nil {
		t.Fatal(err)
	}
	if de.Kind != bundle.DeepEnsemble || len(de.Checkpoints) != 2 ||
		de.Checkpoints[0].SHA256 != a.Checkpoints[1].SHA256 || de.Checkpoints[1].SHA256 != b.Checkpoints[1].SHA256 {
		t.Errorf("deep ensemble: %q %+v", de.Kind, de.Checkpoints)
	}
	if _, err := DeepEnsemble([]*bundle.Bundle{a, a}, filepath.Join(t.TempDir(), "x")); err == nil || !strings.Contains(err.Error(), "same seed") {
		t.Errorf("same run twice: %v", err)
	}
	other := testNet
	other.BaseFeatures = 8
	c := fakeRun(t, other, 3, [][2]int{{0, 5}})
	if _, err := DeepEnsemble([]*bundle.Bundle{a, c}, filepath.Join(t.TempDir(), "y")); err == nil || !strings.Contains(err.Error(), "network") {
		t.Errorf("different networks: %v", err)
	}
}

// TestFitTemperatureRecoversKnownT draws labels from softmax(l) and hands
// the fit l·T0: the NLL-optimal temperature is T0.
func TestFitTemperatureRecoversKnownT(t *testing.T) {
	for _, t0 := range []float64{0.5, 1, 2.5} {
		rng := rand.New(rand.NewPCG(9, uint64(t0*10)))
		const n, classes = 100_000, 4
		logits := make([]float32, n*classes)
		labels := make([]uint8, n)
		p := make([]float64, classes)
		for i := 0; i < n; i++ {
			s := 0.0
			for c := 0; c < classes; c++ {
				l := 2 * rng.NormFloat64()
				logits[i*classes+c] = float32(l * t0)
				p[c] = math.Exp(l)
				s += p[c]
			}
			u := rng.Float64() * s
			for c := 0; c < classes; c++ {
				if u -= p[c]; u <= 0 || c == classes-1 {
					labels[i] = uint8(c)
					break
				}
			}
		}
		got, err := FitTemperature(logits, labels, classes)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got-t0)/t0 > 0.02 {
			t.Errorf("fitted T = %.4f, true %.2f", got, t0)
		} else {
			t.Logf("T0 %.2f → fitted %.4f", t0, got)
		}
	}
	if _, err := FitTemperature([]float32{1, 2}, []uint8{2}, 2); err == nil {
		t.Error("label beyond the classes accepted")
	}
}

// TestBaselinesFromATrainedRun trains a tiny network with dropout on real
// ACDC cases and derives the MC-Dropout and temperature-scaled baselines
// from its bundle; both must load and predict with inference/ensemble.
func TestBaselinesFromATrainedRun(t *testing.T) {
	src, err := filepath.Abs(shareddata.Require(t, "acdc/training"))
	if err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	for _, id := range []string{"patient001", "patient021", "patient041", "patient061"} {
		os.Symlink(filepath.Join(src, id), filepath.Join(dataDir, id))
	}
	cfg := config.CPUPreset()
	cfg.Data.Paths = []string{dataDir}
	cfg.Split = config.Default().Split
	cfg.Split.ValFraction, cfg.Split.ValCount = 0, 1
	cfg.Network = config.Network{Stages: 3, BaseFeatures: 4, MaxFeatures: 16, DeepSupervision: true, Dropout: 0.2}
	cfg.Train.Patch, cfg.Train.BatchSize, cfg.Train.ItersPerEpoch = [2]int{64, 64}, 4, 3
	cfg.Schedule.Epochs, cfg.Schedule.Cycles, cfg.Schedule.KeepPerCycle = 4, 2, 1
	cfg.Run.Threads = 1
	run := filepath.Join(t.TempDir(), "run")
	res, err := trainer.Train(context.Background(), cfg, run, trainer.Options{Worker: worker}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mm, err := bundle.Load(res.BundleDir)
	if err != nil {
		t.Fatal(err)
	}
	mc, err := MCDropout(mm, filepath.Join(t.TempDir(), "mc"), 4)
	if err != nil {
		t.Fatal(err)
	}
	if mc.Kind != bundle.MCDropout || mc.Inference.DropoutSamples != 4 || mc.Network.Dropout != 0.2 {
		t.Errorf("mc-dropout bundle: %q %+v %+v", mc.Kind, mc.Inference, mc.Network)
	}
	ts, T, err := Temperature(context.Background(), worker, mm, nil, filepath.Join(t.TempDir(), "ts"))
	if err != nil {
		t.Fatal(err)
	}
	if !(T > 0.05 && T < 20) || ts.Inference.Temperature != T || ts.Kind != bundle.Single {
		t.Errorf("temperature bundle: T %g, %q %+v", T, ts.Kind, ts.Inference)
	}
	t.Logf("fitted T = %.3f; %s", T, ts.Description)
	noDrop := fakeRun(t, testNet, 5, [][2]int{{0, 1}})
	if _, err := MCDropout(noDrop, filepath.Join(t.TempDir(), "x"), 4); err == nil || !strings.Contains(err.Error(), "dropout") {
		t.Errorf("MC-Dropout from a network without dropout: %v", err)
	}
	// Both predict through the inference package on a validation case.
	d, err := dataset.Open(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := d.Case(mm.Training.ValCases[0])
	smp, err := c.Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []*bundle.Bundle{mc, ts} {
		p, err := ensemble.Load(worker, b.Dir, ensemble.Options{Device: "cpu"})
		if err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		rs, err := p.Predict(context.Background(), smp.Series, []int{0}, nil)
		p.Close()
		if err != nil {
			t.Fatal(err)
		}
		if rs[0].Dims != smp.Series.Dims || rs[0].Checkpoints != p.Samples() {
			t.Errorf("%s: result on %v with %d samples; series %v, %d expected", b.Kind, rs[0].Dims, rs[0].Checkpoints, smp.Series.Dims, p.Samples())
		}
		t.Logf("%s: %d samples predicted in %v", b.Kind, rs[0].Checkpoints, time.Since(t0))
	}
}

// SingleAt picks the checkpoint of the epoch asked for, and names the
// kept epochs when the run did not keep that one.
func TestSingleAtPicksTheEpoch(t *testing.T) {
	src := fakeRun(t, testNet, 2, threeCycles)
	want := src.Checkpoints[2]
	b, err := SingleAt(src, filepath.Join(t.TempDir(), "at"), want.Epoch)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Checkpoints) != 1 || b.Checkpoints[0].SHA256 != want.SHA256 || b.Checkpoints[0].Epoch != want.Epoch {
		t.Fatalf("checkpoint %+v, want the epoch-%d file", b.Checkpoints, want.Epoch)
	}
	if _, err := SingleAt(src, filepath.Join(t.TempDir(), "none"), 999); err == nil || !strings.Contains(err.Error(), "keeps no checkpoint of epoch 999") {
		t.Fatalf("a missing epoch: %v", err)
	}
}

// A run whose ensemble was given a temperature (evaluate
// --calibrate-temperature) hands none to the baselines derived from it:
// that T was fitted for the nine-checkpoint mixture.
func TestBaselinesDoNotInheritTheEnsembleTemperature(t *testing.T) {
	src := fakeRun(t, testNet, 2, threeCycles)
	src.Inference.Temperature = 1.42
	src.Inference.TemperatureCalibration = "fitted on the ensemble"
	if err := bundle.WriteManifest(src.Dir, &src.Manifest); err != nil {
		t.Fatal(err)
	}
	for kind, derive := range map[string]func(*bundle.Bundle, string) (*bundle.Bundle, error){"single": Single, "swa": SWA, "single-modal": SingleModal} {
		b, err := derive(src, filepath.Join(t.TempDir(), kind))
		if err != nil {
			t.Fatal(err)
		}
		if b.Inference.Temperature != 1 || b.Inference.TemperatureCalibration != "" {
			t.Errorf("%s: temperature %g (%q), want 1 and no calibration", kind, b.Inference.Temperature, b.Inference.TemperatureCalibration)
		}
	}
}
