package uncertainty

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"cmrseg/app/shareddata"
	"cmrseg/app/study"
)

func geom(nx, ny, nz int) study.Geometry {
	return study.Geometry{Dims: [3]int{nx, ny, nz}, Spacing: [3]float64{1, 1, 1}}
}

// voxelMaps builds a class-major map on n voxels from per-voxel vectors.
func voxelMaps(perVoxel ...[]float32) []float32 {
	n, nc := len(perVoxel), len(perVoxel[0])
	out := make([]float32, n*nc)
	for i, p := range perVoxel {
		for c, v := range p {
			out[c*n+i] = v
		}
	}
	return out
}

func softmax(logits []float64) []float32 {
	m := math.Inf(-1)
	for _, l := range logits {
		m = math.Max(m, l)
	}
	s := 0.0
	e := make([]float64, len(logits))
	for i, l := range logits {
		e[i] = math.Exp(l - m)
		s += e[i]
	}
	out := make([]float32, len(logits))
	for i := range e {
		out[i] = float32(e[i] / s)
	}
	return out
}

func mustResult(t *testing.T, g study.Geometry, classes int, maps ...[]float32) *Result {
	t.Helper()
	acc := NewAccumulator(g, classes)
	for k, m := range maps {
		if err := acc.Add(m); err != nil {
			t.Fatalf("Add(%d): %v", k, err)
		}
	}
	r := acc.Result()
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	return r
}

// The ensemble averages probabilities, not logits (Eq. 2). Here the mean
// logits favour class 0 while the mean softmax favours class 1.
func TestMeanOfSoftmaxNotLogits(t *testing.T) {
	la := []float64{0, 4, 0, 0}   // A: class 1 at ~0.95
	lb := []float64{3, -10, 0, 0} // B: class 0 at ~0.91, class 1 ~0
	meanLogits := make([]float64, 4)
	for c := range meanLogits {
		meanLogits[c] = (la[c] + lb[c]) / 2
	}
	// Mean logits: class 0 = 1.5, class 1 = -3: argmax class 0.
	// Mean softmax: class 1 = (0.948+0.000)/2 = 0.474, class 0 = (0.017+0.910)/2 = 0.464: argmax class 1.
	pa, pb := softmax(la), softmax(lb)
	if got := argmax([]float64{meanLogits[0], meanLogits[1], meanLogits[2], meanLogits[3]}); got != 0 {
		t.Fatalf("test setup: mean logits argmax %d, want 0", got)
	}
	r := mustResult(t, geom(1, 1, 1), 4, voxelMaps(pa), voxelMaps(pb))
	if r.Labels[0] != 1 {
		t.Fatalf("label %d, want 1 (argmax of mean softmax, not of mean logits)", r.Labels[0])
	}
	for c := 0; c < 4; c++ {
		want := (float64(pa[c]) + float64(pb[c])) / 2
		if math.Abs(float64(r.Prob[c])-want) > 1e-7 {
			t.Errorf("Prob[%d] = %v, want %v", c, r.Prob[c], want)
		}
	}
	if r.SampleLabels[0][0] != 1 || r.SampleLabels[1][0] != 0 {
		t.Errorf("sample labels %d,%d want 1,0", r.SampleLabels[0][0], r.SampleLabels[1][0])
	}
	if alt, _ := r.Ranked(0, 1); alt != 0 {
		t.Errorf("alternative hypothesis %d, want 0", alt)
	}
}

func TestEntropyClosedForms(t *testing.T) {
	g := geom(4, 1, 1)
	// Voxels: uniform, one-hot, 50/50, (0.9, 0.1).
	m := voxelMaps(
		[]float32{0.25, 0.25, 0.25, 0.25},
		[]float32{0, 0, 1, 0},
		[]float32{0.5, 0, 0, 0.5},
		[]float32{0.9, 0.1, 0, 0},
	)
	r := mustResult(t, g, 4, m)
	want := []float64{math.Log(4), 0, math.Log(2), -(0.9*math.Log(0.9) + 0.1*math.Log(0.1))}
	for i, w := range want {
		if math.Abs(float64(r.Entropy[i])-w) > 1e-6 {
			t.Errorf("voxel %d: entropy %v, want %v", i, r.Entropy[i], w)
		}
		if r.MutualInfo[i] != 0 {
			t.Errorf("voxel %d: single checkpoint MI %v, want 0", i, r.MutualInfo[i])
		}
	}
	// Two confident checkpoints that disagree: mean is 50/50, each entropy
	// 0, so all of the uncertainty is epistemic: MI = ln 2.
	a := voxelMaps([]float32{1, 0, 0, 0})
	b := voxelMaps([]float32{0, 1, 0, 0})
	r = mustResult(t, geom(1, 1, 1), 4, a, b)
	if math.Abs(float64(r.Entropy[0])-math.Ln2) > 1e-6 || math.Abs(float64(r.MutualInfo[0])-math.Ln2) > 1e-6 {
		t.Errorf("disagreeing one-hots: H=%v MI=%v, want ln2 both", r.Entropy[0], r.MutualInfo[0])
	}
}

func randomSoftmax(rng *rand.Rand, n, nc int, sharp float64) []float32 {
	out := make([]float32, n*nc)
	l := make([]float64, nc)
	for i := 0; i < n; i++ {
		for c := range l {
			l[c] = rng.NormFloat64() * sharp
		}
		p := softmax(l)
		for c := range p {
			out[c*n+i] = p[c]
		}
	}
	return out
}

func TestMutualInformationProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	g := geom(7, 5, 3)
	n := g.N()
	for trial := 0; trial < 50; trial++ {
		k := 1 + rng.IntN(8)
		sharp := []float64{0.1, 1, 5, 30}[trial%4]
		acc := NewAccumulator(g, 4)
		for range k {
			if err := acc.Add(randomSoftmax(rng, n, 4, sharp)); err != nil {
				t.Fatal(err)
			}
		}
		r := acc.Result()
		for i := 0; i < n; i++ {
			if r.MutualInfo[i] < 0 || r.MutualInfo[i] > r.Entropy[i]+1e-6 {
				t.Fatalf("trial %d voxel %d: MI %v outside [0, H=%v]", trial, i, r.MutualInfo[i], r.Entropy[i])
			}
			if r.Entropy[i] < 0 || float64(r.Entropy[i]) > math.Log(4)+1e-6 {
				t.Fatalf("trial %d voxel %d: H %v outside [0, ln4]", trial, i, r.Entropy[i])
			}
		}
		if k == 1 {
			for i := 0; i < n; i++ {
				if r.MutualInfo[i] > 1e-6 {
					t.Fatalf("single checkpoint: MI %v at %d", r.MutualInfo[i], i)
				}
			}
		}
	}
	// Identical checkpoints carry no epistemic uncertainty.
	m := randomSoftmax(rng, n, 4, 1)
	r := mustResult(t, g, 4, m, m, m, m, m)
	for i := 0; i < n; i++ {
		if r.MutualInfo[i] > 1e-6 {
			t.Fatalf("identical checkpoints: MI %v at %d", r.MutualInfo[i], i)
		}
	}
}

func TestAddRejectsBadInput(t *testing.T) {
	g := geom(2, 1, 1)
	acc := NewAccumulator(g, 4)
	good := voxelMaps([]float32{1, 0, 0, 0}, []float32{0.25, 0.25, 0.25, 0.25})
	cases := map[string][]float32{
		"size":   good[:7],
		"logits": voxelMaps([]float32{3, -1, 0, 2}, []float32{0.25, 0.25, 0.25, 0.25}),
		"nan":    voxelMaps([]float32{float32(math.NaN()), 0, 0, 1}, []float32{0.25, 0.25, 0.25, 0.25}),
		"sum":    voxelMaps([]float32{0.5, 0.2, 0, 0}, []float32{0.25, 0.25, 0.25, 0.25}),
	}
	for name, m := range cases {
		if err := acc.Add(m); err == nil {
			t.Errorf("%s: Add accepted bad input", name)
		}
	}
	if acc.Checkpoints() != 0 || acc.Result() != nil {
		t.Fatal("rejected input changed the accumulator")
	}
	if err := acc.Add(good); err != nil {
		t.Fatal(err)
	}
	if err := NewAccumulator(study.Geometry{}, 4).Add(nil); err == nil {
		t.Error("empty geometry accepted")
	}
	if err := NewAccumulator(g, 1).Add(good[:2]); err == nil {
		t.Error("one class accepted")
	}
}

func TestSliceScores(t *testing.T) {
	// 2x1 voxels x 2 slices. Slice 0: voxel 0 background for both
	// checkpoints (excluded), voxel 1 class 1 vs 2 (H = ln2). Slice 1: all
	// confident background: score 0.
	g := geom(2, 1, 2)
	a := voxelMaps([]float32{1, 0, 0, 0}, []float32{0, 1, 0, 0}, []float32{1, 0, 0, 0}, []float32{1, 0, 0, 0})
	b := voxelMaps([]float32{1, 0, 0, 0}, []float32{0, 0, 1, 0}, []float32{1, 0, 0, 0}, []float32{1, 0, 0, 0})
	r := mustResult(t, g, 4, a, b)
	if math.Abs(r.SliceScores[0]-math.Ln2) > 1e-6 || r.SliceScores[1] != 0 {
		t.Fatalf("slice scores %v, want [ln2 0]", r.SliceScores)
	}
	if r.VolumeScore != r.SliceScores[0] {
		t.Fatalf("volume score %v, want max slice %v", r.VolumeScore, r.SliceScores[0])
	}
}

func TestRanked(t *testing.T) {
	r := mustResult(t, geom(1, 1, 1), 4, voxelMaps([]float32{0.1, 0.4, 0.3, 0.2}))
	want := []uint8{1, 2, 3, 0}
	for rank, w := range want {
		if c, ok := r.Ranked(0, rank); !ok || c != w {
			t.Errorf("rank %d: %d, want %d", rank, c, w)
		}
	}
	if _, ok := r.Ranked(0, 4); ok {
		t.Error("rank 4 of 4 classes accepted")
	}
	if _, ok := r.Ranked(1, 0); ok {
		t.Error("voxel out of range accepted")
	}
	if c, ok := r.Alternative(0); !ok || c != 2 {
		t.Errorf("alternative of the argmax label: %d, want the second class 2", c)
	}
	r.Labels[0] = 0 // as if post-processing removed an island here
	if c, ok := r.Alternative(0); !ok || c != 1 {
		t.Errorf("alternative of a removed island: %d, want its argmax 1", c)
	}
	if _, ok := r.Alternative(1); ok {
		t.Error("alternative of a voxel out of range accepted")
	}
}

// TestAgainstNumpy checks mean, argmax, entropy, MI and slice scores on
// random data against an independent numpy computation.
func TestAgainstNumpy(t *testing.T) {
	py := shareddata.Python(t, "numpy")
	rng := rand.New(rand.NewPCG(7, 7))
	g := geom(9, 8, 3)
	n, nc, k := g.N(), 4, 5
	dir := t.TempDir()
	acc := NewAccumulator(g, nc)
	var all []float32
	for j := 0; j < k; j++ {
		m := randomSoftmax(rng, n, nc, []float64{0.5, 2, 8}[j%3])
		// Some exact zeros to exercise 0·log0.
		for i := 0; i < n; i += 11 {
			for c := 0; c < nc; c++ {
				m[c*n+i] = 0
			}
			m[(j%nc)*n+i] = 1
		}
		if err := acc.Add(m); err != nil {
			t.Fatal(err)
		}
		all = append(all, m...)
	}
	r := acc.Result()
	shareddata.WriteRaw(t, filepath.Join(dir, "in.f32"), all)
	script := `
import numpy as np, sys
d, k, nc, nx, ny, nz = sys.argv[1], *map(int, sys.argv[2:])
n = nx*ny*nz
p = np.fromfile(d + "/in.f32", dtype="<f4").astype(np.float64).reshape(k, nc, n)
p = np.clip(p, 0, 1)
def ent(q):
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(q > 0, q*np.log(q), 0.0)
    return -t.sum(axis=-2)
m = p.mean(axis=0)
h = ent(m)
mi = h - ent(p).mean(axis=0)
lab = m.argmax(axis=0)
fg = (p.argmax(axis=1) != 0).any(axis=0).reshape(nz, ny*nx)
hs = h.reshape(nz, ny*nx)
sc = np.array([hs[z][fg[z]].mean() if fg[z].any() else 0.0 for z in range(nz)])
m.astype("<f8").tofile(d + "/mean.f64"); h.astype("<f8").tofile(d + "/h.f64")
mi.astype("<f8").tofile(d + "/mi.f64"); lab.astype("u1").tofile(d + "/lab.u8")
sc.astype("<f8").tofile(d + "/sc.f64")
`
	cmd := exec.Command(py, "-c", script, dir, itoa(k), itoa(nc), itoa(g.Dims[0]), itoa(g.Dims[1]), itoa(g.Dims[2]))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("numpy: %v\n%s", err, out)
	}
	mean, h, mi, sc := readF64(t, dir+"/mean.f64"), readF64(t, dir+"/h.f64"), readF64(t, dir+"/mi.f64"), readF64(t, dir+"/sc.f64")
	lab, err := os.ReadFile(dir + "/lab.u8")
	if err != nil {
		t.Fatal(err)
	}
	const tol = 1e-6
	for i := range mean {
		if math.Abs(float64(r.Prob[i])-mean[i]) > tol {
			t.Fatalf("Prob[%d] = %v, numpy %v", i, r.Prob[i], mean[i])
		}
	}
	for i := 0; i < n; i++ {
		if math.Abs(float64(r.Entropy[i])-h[i]) > tol || math.Abs(float64(r.MutualInfo[i])-math.Max(0, mi[i])) > tol {
			t.Fatalf("voxel %d: H %v MI %v, numpy %v %v", i, r.Entropy[i], r.MutualInfo[i], h[i], mi[i])
		}
		if r.Labels[i] != lab[i] {
			t.Fatalf("voxel %d: label %d, numpy %d", i, r.Labels[i], lab[i])
		}
	}
	for z := range sc {
		if math.Abs(r.SliceScores[z]-sc[z]) > tol {
			t.Fatalf("slice %d score %v, numpy %v", z, r.SliceScores[z], sc[z])
		}
	}
}

func itoa(v int) string { return strconv.Itoa(v) }

func readF64(t *testing.T, path string) []float64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float64, len(b)/8)
	for i := range v {
		v[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
	}
	return v
}
