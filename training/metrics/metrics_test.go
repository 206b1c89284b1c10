package metrics

import (
	"bytes"
	"encoding/json"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"cmrseg/app/shareddata"
	"cmrseg/app/study"
)

func labels(dims [3]int, data []uint8) study.Labels {
	return study.Labels{Geometry: study.Geometry{Dims: dims, Spacing: [3]float64{1.5, 1.5, 10}}, Data: data}
}

func TestDiceByHand(t *testing.T) {
	ref := []uint8{0, 1, 1, 1, 2, 2, 0, 0}
	pred := []uint8{0, 1, 1, 0, 2, 3, 3, 0}
	// class 1: |R|=3 |P|=2 ∩=2 → 4/5; class 2: 2,1,1 → 2/3; class 3: 0,2,0 → 0.
	for c, want := range map[uint8]float64{1: 0.8, 2: 2.0 / 3, 3: 0} {
		if d, err := Dice(ref, pred, c); err != nil || math.Abs(d-want) > 1e-15 {
			t.Errorf("Dice class %d = %v (%v), want %v", c, d, err, want)
		}
	}
	if d, _ := Dice([]uint8{0, 0}, []uint8{0, 0}, 1); !math.IsNaN(d) {
		t.Errorf("both empty: %v, want NaN", d)
	}
	if _, err := Dice([]uint8{0}, []uint8{0, 0}, 1); err == nil {
		t.Error("length mismatch accepted")
	}
	d, err := VolumeDice(labels([3]int{4, 2, 1}, ref), labels([3]int{4, 2, 1}, pred))
	if err != nil || math.Abs(d[0]-0.8) > 1e-15 || math.Abs(d[1]-2.0/3) > 1e-15 || d[2] != 0 {
		t.Errorf("VolumeDice %v %v", d, err)
	}
	if _, err := VolumeDice(labels([3]int{4, 2, 1}, ref), labels([3]int{2, 4, 1}, pred)); err == nil {
		t.Error("grid mismatch accepted")
	}
	bad := append([]uint8(nil), pred...)
	bad[0] = 7
	if _, err := VolumeDice(labels([3]int{4, 2, 1}, ref), labels([3]int{4, 2, 1}, bad)); err == nil || !strings.Contains(err.Error(), "label") {
		t.Errorf("label 7 accepted: %v", err)
	}
	if m := Mean([]float64{1, math.NaN(), 0.5}); m != 0.75 {
		t.Errorf("Mean = %v", m)
	}
	if m := Mean([]float64{math.NaN()}); !math.IsNaN(m) {
		t.Errorf("Mean of NaN = %v", m)
	}
}

func TestEF(t *testing.T) {
	if ef, err := EF(150, 60); err != nil || ef != 60 {
		t.Errorf("EF(150,60) = %v %v", ef, err)
	}
	for _, k := range [][2]float64{{0, 1}, {-1, 0}, {100, -1}, {math.NaN(), 1}} {
		if _, err := EF(k[0], k[1]); err == nil {
			t.Errorf("EF%v accepted", k)
		}
	}
}

func TestAUROCByHand(t *testing.T) {
	cases := []struct {
		s    []float64
		p    []bool
		want float64
	}{
		{[]float64{0.1, 0.2, 0.8, 0.9}, []bool{false, false, true, true}, 1},
		{[]float64{0.1, 0.2, 0.8, 0.9}, []bool{true, true, false, false}, 0},
		{[]float64{1, 1, 1, 1}, []bool{true, false, true, false}, 0.5},
		// pos {0.5, 0.9}, neg {0.5, 0.1}: pairs 0.5v0.5 tie, 0.5>0.1, 0.9>both → 3.5/4.
		{[]float64{0.5, 0.9, 0.5, 0.1}, []bool{true, true, false, false}, 0.875},
	}
	for _, k := range cases {
		if a, err := AUROC(k.s, k.p); err != nil || math.Abs(a-k.want) > 1e-15 {
			t.Errorf("AUROC(%v,%v) = %v %v, want %v", k.s, k.p, a, err, k.want)
		}
	}
	if _, err := AUROC([]float64{1, 2}, []bool{true, true}); err == nil {
		t.Error("one class only accepted")
	}
	if _, err := AUROC([]float64{math.NaN(), 2}, []bool{true, false}); err == nil {
		t.Error("NaN score accepted")
	}
	if _, err := AUROC([]float64{1}, []bool{true, false}); err == nil {
		t.Error("length mismatch accepted")
	}
}

func TestCalibrationEdges(t *testing.T) {
	// One bin: ECE = |accuracy − mean confidence|.
	dims := [3]int{2, 2, 1}
	ref := labels(dims, []uint8{1, 1, 0, 1})
	// class-major, 2 classes: voxel confidences 0.9, 0.6, 0.7, 0.8 for class 1,0,1,1.
	p := Probs{Dims: dims, Classes: 2, Data: []float32{0.1, 0.6, 0.3, 0.2, 0.9, 0.4, 0.7, 0.8}}
	// predictions 1,0,1,1 vs ref 1,1,0,1 → accuracy 0.5; mean conf 0.75.
	e, err := VolumeECE(p, ref, 1)
	if err != nil || math.Abs(e-25) > 1e-5 {
		t.Errorf("single-bin ECE %v %v, want 25", e, err)
	}
	// No reference foreground: NaN, no error (excluded from the mean).
	if e, err := VolumeECE(p, labels(dims, make([]uint8, 4)), 100); err != nil || !math.IsNaN(e) {
		t.Errorf("empty reference ECE %v %v", e, err)
	}
	if _, err := VolumeECE(p, labels([3]int{4, 1, 1}, make([]uint8, 4)), 100); err == nil {
		t.Error("grid mismatch accepted")
	}
	if _, err := VolumeECE(Probs{Dims: dims, Classes: 2, Data: p.Data[:7]}, ref, 100); err == nil {
		t.Error("short probabilities accepted")
	}
	if _, err := NewCalibration(0); err == nil {
		t.Error("0 bins accepted")
	}
	nan := append([]float32(nil), p.Data...)
	nan[0], nan[4] = float32(math.NaN()), float32(math.NaN())
	if _, err := VolumeECE(Probs{Dims: dims, Classes: 2, Data: nan}, ref, 10); err == nil || !strings.Contains(err.Error(), "(0,0,0)") {
		t.Errorf("NaN probability: %v", err)
	}
	// Perfectly calibrated in every bin: 10 voxels at confidence 0.8 with 8 right.
	c, _ := NewCalibration(10)
	for i := 0; i < 10; i++ {
		c.add(0.8, i < 8)
	}
	if e := c.ECE(); math.Abs(e) > 1e-12 {
		t.Errorf("calibrated ECE %v", e)
	}
	// Boundary: 0.8 belongs to bin (0.7, 0.8], index 7.
	if c.Count[7] != 10 {
		t.Errorf("bins %v", c.Count)
	}
}

func TestReliabilityPNG(t *testing.T) {
	c, _ := NewCalibration(10)
	for i := 0; i < 100; i++ {
		c.add(0.95, i < 60) // over-confident bin 9: accuracy 0.6
		c.add(0.55, true)   // under-confident bin 5: accuracy 1
	}
	path := filepath.Join(t.TempDir(), "rel.png")
	if err := SaveReliability(path, c, c.ECE()); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(path)
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 480 || b.Dy() != 480 {
		t.Fatalf("size %v", b)
	}
	at := func(x, y int) [3]uint32 {
		r, g, b, _ := img.At(x, y).RGBA()
		return [3]uint32{r >> 8, g >> 8, b >> 8}
	}
	// Plot x 50..450, y 40..440; bin 5 spans x 250..290.
	if got := at(270, 60); got != [3]uint32{60, 110, 200} {
		t.Errorf("bin 5 (accuracy 1) near the top is %v, want bar colour", got)
	}
	// Bin 9 (x 410..450): bar to 0.6 (y 200), gap shaded to 0.95 (y 60).
	if got := at(440, 300); got != [3]uint32{60, 110, 200} {
		t.Errorf("bin 9 below its accuracy is %v", got)
	}
	if got := at(440, 150); got != [3]uint32{230, 120, 100} {
		t.Errorf("bin 9 gap is %v", got)
	}
	if got := at(100, 100); got != [3]uint32{255, 255, 255} {
		t.Errorf("empty bin 1 is %v, want white", got)
	}
	if got := at(50+100, 440-1-100); got != [3]uint32{0, 0, 0} {
		t.Errorf("diagonal pixel is %v", got)
	}
	dark := 0 // the "ECE 40.00%" title in the top margin
	for y := 0; y < 35; y++ {
		for x := 0; x < 480; x++ {
			if at(x, y) == [3]uint32{0, 0, 0} {
				dark++
			}
		}
	}
	if dark < 100 {
		t.Errorf("title has %d dark pixels", dark)
	}
	if math.Abs(c.ECE()-40) > 1e-9 { // ½|0.6−0.95| + ½|1−0.55| = ½(0.35+0.45)
		t.Errorf("ECE %v", c.ECE())
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("%d files left", len(ents))
	}
	var buf bytes.Buffer
	if err := WriteReliability(&buf, c, math.NaN()); err != nil || buf.Len() == 0 {
		t.Error(err)
	}
}

// oracleCase is one generated volume handed to numpy.
type oracleCase struct {
	Dims    [3]int
	Classes int
	ref     []uint8
	pred    []uint8
	probs   []float32
}

func genCase(rng *rand.Rand, dims [3]int, kind string) oracleCase {
	n := dims[0] * dims[1] * dims[2]
	c := oracleCase{Dims: dims, Classes: 4, ref: make([]uint8, n), pred: make([]uint8, n), probs: make([]float32, 4*n)}
	cx, cy := float64(dims[0])/2+rng.Float64()*3, float64(dims[1])/2+rng.Float64()*3
	for k := 0; k < dims[2]; k++ {
		r := 2 + float64(k%4) + rng.Float64()*2
		for j := 0; j < dims[1]; j++ {
			for i := 0; i < dims[0]; i++ {
				v := i + dims[0]*(j+dims[1]*k)
				d := math.Hypot(float64(i)-cx, float64(j)-cy)
				var l uint8
				switch {
				case d < r:
					l = 3
				case d < r+2:
					l = 2
				case float64(i) < cx-r-2 && d < r+6:
					l = 1
				}
				if kind == "no-rv" && l == 1 {
					l = 0
				}
				if kind == "empty" || (kind != "perfect" && k == dims[2]-1) {
					l = 0 // an empty apical slice
				}
				c.ref[v] = l
				p := l
				if kind != "perfect" && kind != "empty" && rng.Float64() < 0.15 {
					p = uint8(rng.IntN(4))
					if kind == "no-rv" && p == 1 {
						p = 0
					}
				}
				c.pred[v] = p
				// Softmax of random logits that favour p, in float32.
				var e [4]float64
				sum := 0.0
				for cl := range e {
					z := rng.NormFloat64()
					if uint8(cl) == p {
						z += 2.5 * rng.Float64() * 2
					}
					e[cl] = math.Exp(z)
					sum += e[cl]
				}
				for cl := range e {
					c.probs[cl*n+v] = float32(e[cl] / sum)
				}
				if rng.Float64() < 0.2 { // exactly on a bin edge: 0.75 or 0.5
					top := []float32{0.75, 0.5}[rng.IntN(2)]
					for cl := range e {
						c.probs[cl*n+v] = (1 - top) / 3
					}
					c.probs[int(p)*n+v] = top
				}
			}
		}
	}
	return c
}

const oracle = `
import sys, json, numpy as np
d = sys.argv[1]
meta = json.load(open(d + "/meta.json"))
out = {"cases": []}
def dice(r, p, c):
    a, b = (r == c), (p == c)
    s = a.sum() + b.sum()
    return None if s == 0 else 2.0 * (a & b).sum() / s
for i, (nx, ny, nz) in enumerate(meta["dims"]):
    ref = np.fromfile(f"{d}/ref{i}.u8", np.uint8).reshape(nz, ny, nx)
    pred = np.fromfile(f"{d}/pred{i}.u8", np.uint8).reshape(nz, ny, nx)
    pr = np.fromfile(f"{d}/probs{i}.f32", "<f4").reshape(4, nz, ny, nx)
    res = {"dice": [dice(ref, pred, c) for c in (1, 2, 3)]}
    fg = np.argwhere(ref > 0)
    ece = {}
    for B in (1, 10, 100):
        if len(fg) == 0:
            ece[str(B)] = None; continue
        lo, hi = fg.min(0), fg.max(0) + 1
        sl = tuple(slice(a, b) for a, b in zip(lo, hi))
        p = pr[(slice(None),) + sl]
        conf = p.max(0).astype(np.float64).ravel()
        ok = (p.argmax(0) == ref[sl]).ravel()
        b = np.clip(np.ceil(conf * B) - 1, 0, B - 1).astype(int)
        e = 0.0
        for k in range(B):
            m = b == k
            if m.any():
                e += m.sum() / conf.size * abs(ok[m].mean() - conf[m].mean())
        ece[str(B)] = 100 * e
    res["ece"] = ece
    sd = []
    for z in range(nz):
        v = [x for x in (dice(ref[z], pred[z], c) for c in (1, 2, 3)) if x is not None]
        sd.append(float(np.mean(v)) if v else None)
    res["slice_dice"] = sd
    p64 = pr.astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(p64 > 0, p64 * np.log(p64), 0).sum(0)
    res["entropy_sum"] = float(h.astype(np.float32).astype(np.float64).sum())
    su = []
    for z in range(nz):
        m = pred[z] > 0
        hz = h.astype(np.float32)[z].astype(np.float64)
        su.append(float(hz[m].mean() if m.any() else hz.mean()))
    res["slice_unc"] = su
    out["cases"].append(res)
s = np.fromfile(d + "/scores.f64", "<f8"); y = np.fromfile(d + "/pos.u8", np.uint8).astype(bool)
P, N = s[y], s[~y]
out["auroc"] = float(((P[:, None] > N[None, :]).sum() + 0.5 * (P[:, None] == N[None, :]).sum()) / (P.size * N.size))
print(json.dumps(out))
`

// TestAgainstNumpy runs the same generated volumes through an independent
// numpy implementation and compares every number to 1e-9.
func TestAgainstNumpy(t *testing.T) {
	py := shareddata.Python(t, "numpy")
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	kinds := []string{"random", "random", "no-rv", "perfect", "empty", "random"}
	var cases []oracleCase
	var dims [][3]int
	for i, k := range kinds {
		c := genCase(rng, [3]int{20 + 3*i, 18 + i, 3 + i%3}, k)
		cases = append(cases, c)
		dims = append(dims, c.Dims)
		shareddata.WriteRaw(t, filepath.Join(dir, "ref"+strconv.Itoa(i)+".u8"), c.ref)
		shareddata.WriteRaw(t, filepath.Join(dir, "pred"+strconv.Itoa(i)+".u8"), c.pred)
		shareddata.WriteRaw(t, filepath.Join(dir, "probs"+strconv.Itoa(i)+".f32"), c.probs)
	}
	meta, _ := json.Marshal(map[string]any{"dims": dims})
	os.WriteFile(filepath.Join(dir, "meta.json"), meta, 0o644)
	scores := make([]float64, 300)
	pos := make([]uint8, 300)
	posB := make([]bool, 300)
	for i := range scores {
		scores[i] = float64(rng.IntN(12)) / 7 // many ties
		if rng.Float64() < 0.3+0.04*scores[i] {
			pos[i], posB[i] = 1, true
		}
	}
	shareddata.WriteRaw(t, filepath.Join(dir, "scores.f64"), scores)
	shareddata.WriteRaw(t, filepath.Join(dir, "pos.u8"), pos)

	out, err := exec.Command(py, "-c", oracle, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("numpy oracle: %v\n%s", err, out)
	}
	var want struct {
		Cases []struct {
			Dice       []*float64
			ECE        map[string]*float64
			SliceDice  []*float64 `json:"slice_dice"`
			EntropySum float64    `json:"entropy_sum"`
			SliceUnc   []float64  `json:"slice_unc"`
		}
		AUROC float64
	}
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	same := func(what string, got float64, w *float64) {
		t.Helper()
		if w == nil {
			if !math.IsNaN(got) {
				t.Errorf("%s = %v, numpy says undefined (NaN)", what, got)
			}
			return
		}
		if math.Abs(got-*w) > 1e-9 {
			t.Errorf("%s = %.12g, numpy %.12g", what, got, *w)
		}
	}
	nanSeen := 0
	for i, c := range cases {
		ref, pred := labels(c.Dims, c.ref), labels(c.Dims, c.pred)
		d, err := VolumeDice(ref, pred)
		if err != nil {
			t.Fatal(err)
		}
		for k := range d {
			same(kinds[i]+" dice class "+strconv.Itoa(k+1), d[k], want.Cases[i].Dice[k])
			if math.IsNaN(d[k]) {
				nanSeen++
			}
		}
		p := Probs{Dims: c.Dims, Classes: 4, Data: c.probs}
		for _, b := range []int{1, 10, 100} {
			e, err := VolumeECE(p, ref, b)
			if err != nil {
				t.Fatal(err)
			}
			same(kinds[i]+" ECE bins "+strconv.Itoa(b), e, want.Cases[i].ECE[strconv.Itoa(b)])
		}
		sd, err := SliceDice(ref, pred)
		if err != nil {
			t.Fatal(err)
		}
		for k := range sd {
			same(kinds[i]+" slice dice "+strconv.Itoa(k), sd[k], want.Cases[i].SliceDice[k])
		}
		h, err := Entropy(p)
		if err != nil {
			t.Fatal(err)
		}
		sum := 0.0
		for _, x := range h {
			sum += float64(x)
		}
		same(kinds[i]+" entropy sum", sum, &want.Cases[i].EntropySum)
		su, err := SliceUncertainty(h, pred)
		if err != nil {
			t.Fatal(err)
		}
		for k := range su {
			same(kinds[i]+" slice uncertainty", su[k], &want.Cases[i].SliceUnc[k])
		}
	}
	if nanSeen != 4 { // class 1 of no-rv, all three of empty
		t.Errorf("only %d NaN Dice values: the empty-class cases did not happen", nanSeen)
	}
	a, err := AUROC(scores, posB)
	if err != nil {
		t.Fatal(err)
	}
	same("AUROC", a, &want.AUROC)
	if d := want.Cases[3].Dice; *d[0] != 1 || *d[1] != 1 || *d[2] != 1 {
		t.Errorf("perfect case Dice %v", d)
	}
}

func TestFailureAUROC(t *testing.T) {
	// Slices: Dice .95 (good), .5 (failed), NaN (left out), .69 (failed), .9 (good).
	dice := []float64{0.95, 0.5, math.NaN(), 0.69, 0.9}
	score := []float64{0.1, 0.8, 99, 0.3, 0.35}
	// positives {0.8, 0.3}, negatives {0.1, 0.35}: 0.8 beats both, 0.3 beats 0.1 → 3/4.
	a, err := FailureAUROC(dice, score)
	if err != nil || math.Abs(a-0.75) > 1e-15 {
		t.Errorf("FailureAUROC %v %v", a, err)
	}
	if _, err := FailureAUROC(dice, score[:2]); err == nil {
		t.Error("length mismatch accepted")
	}
}

func TestCalibrateQC(t *testing.T) {
	// Failed slices (Dice < 0.7) mostly score high; one failed slice
	// scores low and one good slice high, so the best cut is between
	// 0.3 and 0.5: sensitivity 3/4, specificity 4/5.
	dice := []float64{0.9, 0.95, 0.8, 0.85, 0.9, 0.5, 0.4, 0.2, 0.6, math.NaN()}
	score := []float64{0.1, 0.05, 0.2, 0.6, 0.3, 0.5, 0.7, 0.9, 0.15, 5}
	op, err := CalibrateQC(dice, score)
	if err != nil {
		t.Fatal(err)
	}
	if op.Threshold != 0.4 || op.Sensitivity != 0.75 || op.Specificity != 0.8 || op.Failed != 4 || op.Slices != 9 {
		t.Errorf("operating point %+v, want threshold 0.4, sensitivity 0.75, specificity 0.8, 4 of 9 failed", op)
	}
	// Brute force: no threshold on the grid beats its Youden J.
	bestJ := op.Sensitivity + op.Specificity - 1
	for thr := 0.0; thr < 1; thr += 0.001 {
		var tp, fp int
		for i, d := range dice[:9] {
			if score[i] > thr {
				if d < FailureDice {
					tp++
				} else {
					fp++
				}
			}
		}
		if j := float64(tp)/4 + 1 - float64(fp)/5 - 1; j > bestJ+1e-12 {
			t.Fatalf("threshold %.3f has J %.3f > %.3f", thr, j, bestJ)
		}
	}
	if _, err := CalibrateQC([]float64{0.9, 0.8}, []float64{0.1, 0.2}); err == nil {
		t.Error("calibration without failed slices succeeded")
	}
	if _, err := CalibrateQC([]float64{0.9}, []float64{0.1, 0.2}); err == nil {
		t.Error("length mismatch accepted")
	}
}
