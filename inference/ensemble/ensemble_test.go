package ensemble

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"cmrseg/app/dataset"
	"cmrseg/app/geom"
	"cmrseg/app/nifti"
	"cmrseg/app/shareddata"
	"cmrseg/app/study"
	"cmrseg/inference/bundle"
	"cmrseg/inference/postprocess"
	"cmrseg/inference/torch"
	"cmrseg/inference/uncertainty"
	"cmrseg/inference/unet"
)

var worker *torch.Worker

func TestMain(m *testing.M) {
	worker = torch.NewWorker(2)
	code := m.Run()
	worker.Close()
	os.Exit(code)
}

// testNet is small enough for CPU tests yet has the real structure: five
// stages (divisor 16), two convs per stage.
var testNet = unet.Config{InChannels: 1, Classes: 4, Stages: 5, BaseFeatures: 8, MaxFeatures: 64, ConvsPerStage: 2}

// testManifest resamples ACDC's ~1.56 mm pixels to 2 mm, so the network
// grid differs from the input grid in both directions.
func testManifest() bundle.Manifest {
	return bundle.Manifest{
		Network:       testNet,
		Preprocessing: bundle.Preprocessing{SpacingMM: [2]float64{2, 2}, Normalization: "zscore", PatchSize: [2]int{160, 160}},
	}
}

func makeBundle(t *testing.T, n int, edit func(*bundle.Manifest)) string {
	t.Helper()
	m := testManifest()
	if edit != nil {
		edit(&m)
	}
	dir := filepath.Join(t.TempDir(), "bundle")
	if err := RandomBundle(worker, dir, m, n, 11); err != nil {
		t.Fatal(err)
	}
	return dir
}

func load(t testing.TB, dir string, opts Options) *Predictor {
	t.Helper()
	p, err := Load(worker, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// acdcPatient returns patient001's folder and its ED+ES series.
func acdcPatient(t testing.TB) (string, *study.Series) {
	t.Helper()
	dir := filepath.Join(shareddata.Require(t, "acdc/training"), "patient001")
	c, err := dataset.ReadPatient(dir)
	if err != nil {
		t.Fatal(err)
	}
	smp, err := c.Load()
	if err != nil {
		t.Fatal(err)
	}
	return dir, smp.Series
}

// meanOf averages the per-sample class-major maps.
func meanOf(samples [][]float32) []float32 {
	out := make([]float32, len(samples[0]))
	for i := range out {
		s := 0.0
		for _, p := range samples {
			s += float64(p[i])
		}
		out[i] = float32(s / float64(len(samples)))
	}
	return out
}

// TestMatchesPyTorch runs a 3-checkpoint ensemble on ACDC patient001's ED
// frame in Go and in the independent functional PyTorch implementation
// (unet_ref.py predict) on the same preprocessed slices, and compares the
// mean probabilities on the network grid: mirroring with temperature
// scaling, chunked batches, and the sliding window.
func TestMatchesPyTorch(t *testing.T) {
	py := shareddata.Python(t, "torch", "numpy")
	_, s := acdcPatient(t)
	cases := []struct {
		name  string
		edit  func(*bundle.Manifest)
		opts  Options
		tiled bool
	}{
		{"mirroring+temperature", func(m *bundle.Manifest) { m.Inference.Temperature = 1.7 }, Options{TTA: true, BatchSlices: 4, Tiling: TileNever}, false},
		{"sliding-window", nil, Options{BatchSlices: 6, Tiling: TileAlways}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := makeBundle(t, 3, tc.edit)
			p := load(t, dir, tc.opts)
			prep, err := p.Prepare(s, s.ED)
			if err != nil {
				t.Fatal(err)
			}
			g := prep.Grid
			if g.Dims == s.Dims {
				t.Fatalf("network grid %v equals the input grid: the test should resample", g.Dims)
			}
			if prep.Height%16 != 0 || prep.Width%16 != 0 || prep.Height < 160 || prep.Width < 160 {
				t.Fatalf("padded slices %dx%d", prep.Height, prep.Width)
			}
			if tc.tiled && prep.Height == 160 && prep.Width == 160 {
				t.Fatal("sliding window test needs more than one tile")
			}
			samples, err := p.collect(context.Background(), prep, g)
			if err != nil {
				t.Fatal(err)
			}
			got := meanOf(samples)

			tmp := t.TempDir()
			shareddata.WriteRaw(t, filepath.Join(tmp, "x.f32"), prep.Slices)
			cfg, _ := json.Marshal(p.b.Network)
			os.WriteFile(filepath.Join(tmp, "cfg.json"), cfg, 0o644)
			var ckpts []string
			for _, c := range p.b.Checkpoints {
				ckpts = append(ckpts, filepath.Join(dir, c.File))
			}
			spec := map[string]any{
				"config": filepath.Join(tmp, "cfg.json"), "checkpoints": ckpts,
				"input": filepath.Join(tmp, "x.f32"), "shape": []int{g.Dims[2], 1, prep.Height, prep.Width},
				"crop": []int{prep.PadTop, prep.PadLeft, g.Dims[1], g.Dims[0]},
				"tta":  p.TTA(), "temperature": p.b.Inference.Temperature, "out": filepath.Join(tmp, "y.f32"),
			}
			if tc.tiled {
				th, tw, _ := p.tile()
				spec["tile"] = []int{th, tw}
			}
			js, _ := json.Marshal(spec)
			os.WriteFile(filepath.Join(tmp, "spec.json"), js, 0o644)
			if out, err := exec.Command(py, "../reference/unet_ref.py", "predict", filepath.Join(tmp, "spec.json")).CombinedOutput(); err != nil {
				t.Fatalf("reference: %v\n%s", err, out)
			}
			want := shareddata.ReadFloat32(t, filepath.Join(tmp, "y.f32"))
			if len(want) != len(got) {
				t.Fatalf("PyTorch gave %d values, Go %d", len(want), len(got))
			}
			maxErr, spread := 0.0, 0.0
			for i := range want {
				maxErr = max(maxErr, math.Abs(float64(got[i]-want[i])))
				spread = max(spread, math.Abs(float64(want[i])-0.25))
			}
			t.Logf("%s: %d checkpoints, grid %v padded %dx%d: max |Go − PyTorch| mean probability = %.3g (max |p − 1/4| %.3g)",
				tc.name, len(samples), g.Dims, prep.Height, prep.Width, maxErr, spread)
			if maxErr > 1e-4 {
				t.Fatalf("max abs difference %.3g > 1e-4", maxErr)
			}
			if spread < 0.05 {
				t.Fatalf("probabilities all near 1/4 (max deviation %.3g): the comparison would prove little", spread)
			}
		})
	}
}

// TestPrepare checks the preprocessing against a direct computation:
// zero mean and unit variance over the volume, padding of zeros around the
// resampled image.
func TestPrepare(t *testing.T) {
	_, s := acdcPatient(t)
	pre := testManifest().Preprocessing
	prep, err := prepare(s, 1, pre, 16)
	if err != nil {
		t.Fatal(err)
	}
	g := prep.Grid
	if want := geom.InPlaneGrid(s.Geometry, pre.SpacingMM); g != want {
		t.Fatalf("grid %+v, want %+v", g, want)
	}
	// Mean and std recomputed from the raw voxels.
	var sum, sq float64
	for _, v := range s.Phase(1) {
		sum += float64(v)
	}
	mean := sum / float64(s.N())
	for _, v := range s.Phase(1) {
		sq += (float64(v) - mean) * (float64(v) - mean)
	}
	if std := math.Sqrt(sq / float64(s.N())); math.Abs(prep.Mean-mean) > 1e-9*math.Abs(mean) || math.Abs(prep.Std-std) > 1e-9*std {
		t.Fatalf("z-score stats %g/%g, want %g/%g", prep.Mean, prep.Std, mean, std)
	}
	var inside, outside float64
	var nIn int
	for k := 0; k < g.Dims[2]; k++ {
		for y := 0; y < prep.Height; y++ {
			for x := 0; x < prep.Width; x++ {
				v := float64(prep.Slices[(k*prep.Height+y)*prep.Width+x])
				if y >= prep.PadTop && y < prep.PadTop+g.Dims[1] && x >= prep.PadLeft && x < prep.PadLeft+g.Dims[0] {
					inside += v
					nIn++
				} else {
					outside = max(outside, math.Abs(v))
				}
			}
		}
	}
	if outside != 0 {
		t.Fatalf("padding holds %g, want 0", outside)
	}
	// Bilinear resampling keeps the mean of a smooth image close to 0.
	if m := inside / float64(nIn); math.Abs(m) > 0.02 {
		t.Fatalf("mean of the resampled z-scored volume %g", m)
	}
	if top, left := prep.PadTop, prep.PadLeft; top != (prep.Height-g.Dims[1])/2 || left != (prep.Width-g.Dims[0])/2 {
		t.Fatalf("padding not symmetric: top %d left %d for %dx%d in %dx%d", top, left, g.Dims[1], g.Dims[0], prep.Height, prep.Width)
	}
}

// TestPredictOnInputGrid runs the public API on patient001's ED and ES:
// results on the input grid, probabilities summing to one, labels the
// argmax, progress reaching its total, and the device-side resampling back
// equal to app/geom's.
func TestPredictOnInputGrid(t *testing.T) {
	_, s := acdcPatient(t)
	p := load(t, makeBundle(t, 3, nil), Options{Device: "auto"})
	if p.Device() != "CPU (2 threads)" && !strings.HasPrefix(p.Device(), "CUDA") {
		t.Errorf("device %q", p.Device())
	}
	var calls, last, total int
	rs, err := p.Predict(context.Background(), s, []int{s.ES, s.ED}, func(done, tot int) {
		calls++
		if done < last || done > tot {
			t.Errorf("progress %d/%d after %d", done, tot, last)
		}
		last, total = done, tot
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || last != total || calls != total || total == 0 {
		t.Fatalf("%d results, progress %d/%d in %d calls", len(rs), last, total, calls)
	}
	tm := p.LastTimings()
	t.Logf("device %s, progress steps %d, timings prepare %v network %v combine %v", p.Device(), total, tm.Prepare, tm.Network, tm.Combine)
	n := s.N()
	for _, r := range rs {
		if err := r.Validate(); err != nil {
			t.Fatal(err)
		}
		if r.Geometry != s.Geometry || r.Checkpoints != 3 {
			t.Fatalf("result on %v with %d checkpoints", r.Dims, r.Checkpoints)
		}
		worst := 0.0
		for i := 0; i < n; i++ {
			sum := 0.0
			best := 0
			for c := 0; c < r.Classes; c++ {
				sum += float64(r.Prob[c*n+i])
				if r.Prob[c*n+i] > r.Prob[best*n+i] {
					best = c
				}
			}
			worst = max(worst, math.Abs(sum-1))
			// Labels come from the float64 mean: a float32 tie may go either way.
			if l := r.Labels[i]; r.Prob[int(l)*n+i] != r.Prob[best*n+i] {
				t.Fatalf("voxel %d: label %d (p %g), argmax %d (p %g)", i, l, r.Prob[int(l)*n+i], best, r.Prob[best*n+i])
			}
		}
		if worst > 1e-5 {
			t.Fatalf("probabilities sum to 1 ± %.3g", worst)
		}
	}
	// The phases came back in the order asked for.
	if same(rs[0].Prob, rs[1].Prob) {
		t.Fatal("ED and ES results are identical")
	}

	// Resampling back on the device (torch bilinear) against app/geom.
	prep, err := p.Prepare(s, s.ED)
	if err != nil {
		t.Fatal(err)
	}
	onNet, err := p.collect(context.Background(), prep, prep.Grid)
	if err != nil {
		t.Fatal(err)
	}
	onInput, err := p.collect(context.Background(), prep, s.Geometry)
	if err != nil {
		t.Fatal(err)
	}
	pr := geom.Probs{Geometry: prep.Grid, Classes: 4, Data: onNet[1]}
	back, err := pr.Resample(s.Geometry)
	if err != nil {
		t.Fatal(err)
	}
	maxErr := 0.0
	for i := range back.Data {
		maxErr = max(maxErr, math.Abs(float64(back.Data[i]-onInput[1][i])))
	}
	t.Logf("resampling back: max |torch − app/geom| = %.3g", maxErr)
	if maxErr > 1e-5 {
		t.Fatalf("device resampling differs from app/geom by %.3g", maxErr)
	}
	// And the public result is the accumulation of exactly these maps.
	acc := uncertainty.NewAccumulator(s.Geometry, 4)
	for _, m := range onInput {
		if err := acc.Add(m); err != nil {
			t.Fatal(err)
		}
	}
	if r := acc.Result(); !same(r.Prob, rs[1].Prob) {
		t.Fatal("Predict's ED result differs from the accumulated network output")
	}
}

func same(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestSingleCheckpointHasNoMutualInformation: with one checkpoint the mean
// is that checkpoint, so the epistemic part vanishes while entropy remains.
func TestSingleCheckpointHasNoMutualInformation(t *testing.T) {
	_, s := acdcPatient(t)
	p := load(t, makeBundle(t, 1, nil), Options{Device: "cpu"})
	rs, err := p.Predict(context.Background(), s, []int{s.ED}, nil)
	if err != nil {
		t.Fatal(err)
	}
	maxMI, maxH := 0.0, 0.0
	for i := range rs[0].MutualInfo {
		maxMI = max(maxMI, float64(rs[0].MutualInfo[i]))
		maxH = max(maxH, float64(rs[0].Entropy[i]))
	}
	t.Logf("1 checkpoint: max MI %.3g, max entropy %.3g", maxMI, maxH)
	if maxMI > 1e-6 || maxH < 0.1 {
		t.Fatalf("max MI %g (want 0), max entropy %g (want > 0)", maxMI, maxH)
	}
}

// TestMCDropout samples a dropout network several times: one sample per
// pass, different passes, and mutual information where they disagree.
func TestMCDropout(t *testing.T) {
	_, s := acdcPatient(t)
	dir := makeBundle(t, 1, func(m *bundle.Manifest) {
		m.Kind = bundle.MCDropout
		m.Network.Dropout = 0.3
		m.Inference.DropoutSamples = 3
	})
	p := load(t, dir, Options{Device: "cpu"})
	if p.Samples() != 3 {
		t.Fatalf("%d samples, want 3", p.Samples())
	}
	rs, err := p.Predict(context.Background(), s, []int{s.ED}, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := rs[0]
	maxMI := 0.0
	for _, v := range r.MutualInfo {
		maxMI = max(maxMI, float64(v))
	}
	if r.Checkpoints != 3 || maxMI < 1e-3 {
		t.Fatalf("%d samples, max MI %g: dropout passes do not differ", r.Checkpoints, maxMI)
	}
	// Reproducible: the worker seeds torch per prediction.
	again, err := p.Predict(context.Background(), s, []int{s.ED}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !same(r.Prob, again[0].Prob) {
		t.Fatal("two MC-Dropout predictions of the same phase differ")
	}
}

// TestCancel cancels from the progress callback after the first sample:
// Predict stops at the next batch boundary and returns ctx's error.
func TestCancel(t *testing.T) {
	_, s := acdcPatient(t)
	p := load(t, makeBundle(t, 2, nil), Options{Device: "cpu", BatchSlices: 1})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var steps, total int
	_, err := p.Predict(ctx, s, []int{0, 1}, func(done, tot int) {
		steps, total = done, tot
		cancel()
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	// The batch in flight (both phases) finishes its sample; nothing after
	// it runs.
	if steps > 2 || total != 2*2 {
		t.Fatalf("ran %d of %d steps after cancelling", steps, total)
	}
	// The predictor still works afterwards.
	if _, err := p.Predict(context.Background(), s, []int{0}, nil); err != nil {
		t.Fatal(err)
	}
}

// TestBadBundles: corrupt or unusable bundles give errors that name the
// file; nothing panics.
func TestBadBundles(t *testing.T) {
	dir := makeBundle(t, 3, nil)
	ck := filepath.Join(dir, "checkpoint_01.safetensors")
	b, err := os.ReadFile(ck)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	os.WriteFile(ck, b, 0o644)
	_, err = Load(worker, dir, Options{})
	if err == nil || !strings.Contains(err.Error(), "checkpoint_01.safetensors") {
		t.Fatalf("corrupt checkpoint: %v", err)
	}
	t.Log(err)

	os.Remove(ck)
	if _, err = Load(worker, dir, Options{}); err == nil || !strings.Contains(err.Error(), "checkpoint") {
		t.Fatalf("missing checkpoint: %v", err)
	}

	empty := t.TempDir()
	if _, err = Load(worker, empty, Options{}); err == nil || !strings.Contains(err.Error(), filepath.Join(empty, "model.toml")) {
		t.Fatalf("no manifest: %v", err)
	}
	garbage := t.TempDir()
	os.WriteFile(filepath.Join(garbage, "model.toml"), []byte("format = [unclosed"), 0o644)
	if _, err = Load(worker, garbage, Options{}); err == nil || !strings.Contains(err.Error(), "model.toml") {
		t.Fatalf("garbage manifest: %v", err)
	}
	if _, err = Load(worker, makeBundle(t, 1, nil), Options{Device: "tpu"}); err == nil || !strings.Contains(err.Error(), "tpu") {
		t.Fatalf("bad device: %v", err)
	}
	odd := makeBundle(t, 1, nil)
	mf := filepath.Join(odd, "model.toml")
	toml, _ := os.ReadFile(mf)
	toml = []byte(strings.Replace(string(toml), "[inference.postprocess]\n", "[inference.postprocess]\n    largest_classes = [7]\n", 1))
	os.WriteFile(mf, toml, 0o644)
	if _, err = Load(worker, odd, Options{}); err == nil || !strings.Contains(err.Error(), "class 7") || !strings.Contains(err.Error(), "model.toml") {
		t.Fatalf("post-processing of a class the model lacks: %v", err)
	}
}

// TestCUDARequest: asking for CUDA on a CPU-only libtorch is a clear
// error, never a crash; with CUDA the ensemble lands there.
func TestCUDARequest(t *testing.T) {
	var cuda bool
	worker.Do(context.Background(), func(s *torch.Scope) error { cuda = s.CUDAAvailable(); return nil })
	p, err := Load(worker, makeBundle(t, 1, nil), Options{Device: "cuda"})
	if cuda {
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		if !strings.HasPrefix(p.Device(), "CUDA") {
			t.Fatalf("device %q with CUDA available", p.Device())
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), "CUDA") {
		t.Fatalf("CUDA request without CUDA: %v", err)
	}
	t.Log(err)
}

// TestBadSeries: invalid series and phases are errors naming the problem.
func TestBadSeries(t *testing.T) {
	p := load(t, makeBundle(t, 1, nil), Options{Device: "cpu"})
	s := &study.Series{Geometry: study.Geometry{Dims: [3]int{8, 8, 2}, Spacing: [3]float64{1, 1, 5},
		Direction: [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}, NT: 1, Data: make([]float32, 128)}
	s.Meta.SeriesDescription = "tiny"
	if _, err := p.Predict(context.Background(), s, []int{1}, nil); err == nil || !strings.Contains(err.Error(), "phase 1") {
		t.Fatalf("phase out of range: %v", err)
	}
	s.Data[5] = float32(math.NaN())
	if _, err := p.Predict(context.Background(), s, []int{0}, nil); err == nil || !strings.Contains(err.Error(), "non-finite") {
		t.Fatalf("NaN voxel: %v", err)
	}
	s.Data = s.Data[:10]
	if _, err := p.Predict(context.Background(), s, []int{0}, nil); err == nil || !strings.Contains(err.Error(), "tiny") {
		t.Fatalf("short data: %v", err)
	}
	// A constant image (std 0) is fine: it normalises to zeros.
	s.Data = make([]float32, 128)
	rs, err := p.Predict(context.Background(), s, []int{0}, nil)
	if err != nil || rs[0].Dims != s.Dims {
		t.Fatalf("constant image: %v", err)
	}
}

func TestRefineES(t *testing.T) {
	g := study.Geometry{Dims: [3]int{4, 1, 1}, Spacing: [3]float64{10, 10, 10}}
	res := func(lv int) *uncertainty.Result {
		r := &uncertainty.Result{Geometry: g, Classes: 4, Labels: make([]uint8, 4)}
		for i := 0; i < lv; i++ {
			r.Labels[i] = study.LV
		}
		return r
	}
	rs := []*uncertainty.Result{res(4), res(3), res(1), res(2)}
	s := &study.Series{Geometry: g, NT: 4, ED: 0, ES: 1, ESProvisional: true}
	if !RefineES(s, []int{0, 1, 2, 3}, rs) || s.ES != 2 || s.ESProvisional {
		t.Fatalf("refined ES %d provisional %v, want 2 false", s.ES, s.ESProvisional)
	}
	s = &study.Series{Geometry: g, NT: 4, ES: 1, ESProvisional: true}
	if RefineES(s, []int{0, 1, 2}, rs[:3]) || s.ES != 1 {
		t.Fatal("refined ES without every phase")
	}
	s = &study.Series{Geometry: g, NT: 4, ES: 1}
	if RefineES(s, []int{0, 1, 2, 3}, rs) || s.ES != 1 {
		t.Fatal("replaced an ES the source gave")
	}
	if v := Volumes(res(3)); v[study.LV] != 3 || v[0] != 1 {
		t.Fatalf("volumes %v ml, want LV 3 background 1 (1 ml voxels)", v)
	}
}

// TestWindowSteps pins nnU-Net's tile offsets and weight map.
func TestWindowSteps(t *testing.T) {
	for _, tc := range []struct {
		size, tile int
		want       []int
	}{{160, 160, []int{0}}, {208, 160, []int{0, 48}}, {320, 160, []int{0, 80, 160}}, {336, 160, []int{0, 59, 117, 176}}} {
		if got := steps(tc.size, tc.tile); !equalInts(got, tc.want) {
			t.Errorf("steps(%d, %d) = %v, want %v", tc.size, tc.tile, got, tc.want)
		}
	}
	g := gaussian(160, 160)
	if g[80*160+80] != 1 || g[0] <= 0 || g[0] > 1e-3 {
		t.Fatalf("gaussian peak %g corner %g", g[80*160+80], g[0])
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestNIfTIRoundTrip writes the prediction with app/nifti on the input's
// header and reads it back: same grid, same labels.
func TestNIfTIRoundTrip(t *testing.T) {
	dir, _ := acdcPatient(t)
	s, err := nifti.Read(filepath.Join(dir, "patient001_frame12.nii.gz"))
	if err != nil {
		t.Fatal(err)
	}
	p := load(t, makeBundle(t, 1, nil), Options{Device: "cpu"})
	rs, err := p.Predict(context.Background(), s, []int{0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "seg.nii.gz")
	if err := nifti.WriteLabels(out, s, &study.Labels{Geometry: s.Geometry, Data: rs[0].Labels}); err != nil {
		t.Fatal(err)
	}
	l, err := nifti.ReadLabels(out)
	if err != nil {
		t.Fatal(err)
	}
	if l.Geometry != s.Geometry || !equalBytes(l.Data, rs[0].Labels) {
		t.Fatal("labels did not round-trip on the input grid")
	}
}

func equalBytes(a, b []uint8) bool { return string(a) == string(b) }

// TestPostprocessing: a bundle's inference.postprocess cleans the labels and
// every posterior sample exactly as postprocess.Spec.Apply does on the raw
// maps, leaves the probabilities alone, and RawLabels turns it off.
func TestPostprocessing(t *testing.T) {
	_, s := acdcPatient(t)
	spec := postprocess.Spec{LargestForeground: true, LargestClasses: []uint8{1, 2, 3}}
	dir := makeBundle(t, 2, func(m *bundle.Manifest) { m.Inference.Postprocess = spec })
	predict := func(raw bool) *uncertainty.Result {
		rs, err := load(t, dir, Options{Device: "cpu", RawLabels: raw}).Predict(context.Background(), s, []int{s.ED}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return rs[0]
	}
	raw, clean := predict(true), predict(false)
	for i, l := range raw.Labels {
		if top, _ := raw.Ranked(i, 0); l != top {
			t.Fatalf("raw voxel %d: label %d, argmax %d", i, l, top)
		}
	}
	want := slices.Clone(raw.Labels)
	if removed := spec.Apply(want, raw.Dims); removed == 0 {
		t.Fatal("the random network's segmentation has no islands; the test needs some")
	}
	if !slices.Equal(clean.Labels, want) {
		t.Fatal("post-processed labels differ from Spec.Apply on the raw labels")
	}
	for k := range raw.SampleLabels {
		w := slices.Clone(raw.SampleLabels[k])
		spec.Apply(w, raw.Dims)
		if !slices.Equal(clean.SampleLabels[k], w) {
			t.Fatalf("sample %d is not post-processed like the labels", k)
		}
	}
	if !slices.Equal(clean.Prob, raw.Prob) || !slices.Equal(clean.SliceScores, raw.SliceScores) {
		t.Fatal("post-processing changed probabilities or slice scores")
	}
}
