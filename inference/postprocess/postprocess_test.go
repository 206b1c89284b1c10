package postprocess

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"cmrseg/app/shareddata"
)

type vol struct {
	dims [3]int
	l    []uint8
}

func newVol(nx, ny, nz int) *vol {
	return &vol{dims: [3]int{nx, ny, nz}, l: make([]uint8, nx*ny*nz)}
}

func (v *vol) set(i, j, k int, c uint8) { v.l[i+v.dims[0]*(j+v.dims[1]*k)] = c }
func (v *vol) at(i, j, k int) uint8     { return v.l[i+v.dims[0]*(j+v.dims[1]*k)] }

func (v *vol) box(i0, j0, k0, i1, j1, k1 int, c uint8) {
	for k := k0; k < k1; k++ {
		for j := j0; j < j1; j++ {
			for i := i0; i < i1; i++ {
				v.set(i, j, k, c)
			}
		}
	}
}

// ring draws a one-pixel circle: its pixels touch only diagonally in places.
func (v *vol) ring(ci, cj, k int, r float64, c uint8) int {
	n := 0
	for j := 0; j < v.dims[1]; j++ {
		for i := 0; i < v.dims[0]; i++ {
			d := math.Hypot(float64(i-ci), float64(j-cj))
			if math.Abs(d-r) < 0.5 {
				v.set(i, j, k, c)
				n++
			}
		}
	}
	return n
}

func count(l []uint8, c uint8) int {
	n := 0
	for _, x := range l {
		if x == c {
			n++
		}
	}
	return n
}

func TestThinRingStaysWhole(t *testing.T) {
	v := newVol(40, 40, 2)
	n := v.ring(20, 20, 0, 12, 2)
	v.box(2, 2, 1, 4, 4, 2, 2) // an island of 4 voxels on the other slice
	removed := Spec{LargestClasses: []uint8{2}}.Apply(v.l, v.dims)
	if removed != 4 || count(v.l, 2) != n {
		t.Fatalf("removed %d voxels, %d of class 2 left; want the 4-voxel island removed and the %d-voxel ring kept", removed, count(v.l, 2), n)
	}
}

func TestComponentsJoinAcrossSlices(t *testing.T) {
	v := newVol(20, 20, 3)
	v.box(2, 2, 0, 6, 6, 1, 3)
	v.box(6, 6, 1, 9, 9, 2, 3) // touches the first only at a corner, one slice up
	v.box(15, 15, 2, 17, 17, 3, 3)
	if removed := (Spec{LargestClasses: []uint8{3}}).Apply(v.l, v.dims); removed != 4 {
		t.Fatalf("removed %d voxels, want only the separate 2x2 island (4)", removed)
	}
	if v.at(7, 7, 1) != 3 || v.at(3, 3, 0) != 3 || v.at(15, 15, 2) != 0 {
		t.Fatal("the corner-connected boxes must stay, the island must go")
	}
}

func TestForegroundThenClass(t *testing.T) {
	v := newVol(30, 30, 1)
	v.box(5, 5, 0, 15, 15, 1, 3)  // the heart: LV ...
	v.box(15, 5, 0, 20, 15, 1, 1) // ... next to RV
	v.box(8, 8, 0, 10, 10, 1, 1)  // an RV island inside the LV: same foreground component
	v.box(25, 25, 0, 28, 28, 1, 2)
	before := slices.Clone(v.l)
	s := Spec{LargestForeground: true, LargestClasses: []uint8{1}}
	removed := s.Apply(v.l, v.dims)
	if removed != 9+4 {
		t.Fatalf("removed %d, want the 9-voxel myocardium blob and the 4-voxel RV island", removed)
	}
	for i, x := range v.l {
		if x != before[i] && x != 0 {
			t.Fatalf("voxel %d changed %d -> %d: only background may be written", i, before[i], x)
		}
	}
	if again := s.Apply(v.l, v.dims); again != 0 {
		t.Fatalf("second pass removed %d voxels: Apply must be idempotent", again)
	}
}

func TestTieKeepsFirst(t *testing.T) {
	v := newVol(10, 10, 1)
	v.box(0, 0, 0, 2, 2, 1, 1)
	v.box(6, 6, 0, 8, 8, 1, 1)
	Spec{LargestClasses: []uint8{1}}.Apply(v.l, v.dims)
	if v.at(0, 0, 0) != 1 || v.at(6, 6, 0) != 0 {
		t.Fatal("equal components: the first in memory order must be kept")
	}
}

func TestValidateAndString(t *testing.T) {
	if err := (Spec{LargestClasses: []uint8{0}}).Validate(4); err == nil {
		t.Error("class 0 accepted")
	}
	if err := (Spec{LargestClasses: []uint8{4}}).Validate(4); err == nil {
		t.Error("class 4 of a 4-class model accepted")
	}
	if err := (Spec{LargestClasses: []uint8{1, 1}}).Validate(4); err == nil {
		t.Error("duplicate class accepted")
	}
	if err := (Spec{LargestForeground: true, LargestClasses: []uint8{1, 3}}).Validate(4); err != nil {
		t.Error(err)
	}
	if s := (Spec{}).String(); s != "none" {
		t.Errorf("zero spec reads %q", s)
	}
	if s := (Spec{LargestForeground: true, LargestClasses: []uint8{1, 3}}).String(); s != "largest foreground component; largest component of class 1, 3" {
		t.Errorf("spec reads %q", s)
	}
}

// TestChoose: an RV island is spurious (removing it helps) but the
// myocardium really has two pieces in the reference (removing one hurts),
// so Choose must take class 1 only, and not the whole-foreground step that
// would also erase the second myocardium piece.
func TestChoose(t *testing.T) {
	var vols []Volume
	for n := range 3 {
		ref := newVol(40, 40, 2)
		ref.box(5, 5, 0, 15, 15, 2, 3)
		ref.box(15, 5, 0, 22, 15, 2, 1)
		ref.box(5, 15, 0, 15, 18, 2, 2)
		ref.box(30, 30, 0, 34, 34, 2, 2) // second, real myocardium piece
		raw := &vol{dims: ref.dims, l: slices.Clone(ref.l)}
		raw.box(30, 2, n%2, 33, 5, n%2+1, 1) // spurious RV island
		r := ref.l
		vols = append(vols, Volume{Labels: raw.l, Dims: raw.dims, Score: func(pred []uint8) ([]float64, error) {
			d := make([]float64, 3)
			for c := uint8(1); c <= 3; c++ {
				inter, np, nr := 0, 0, 0
				for i := range pred {
					if pred[i] == c {
						np++
					}
					if r[i] == c {
						nr++
						if pred[i] == c {
							inter++
						}
					}
				}
				d[c-1] = 2 * float64(inter) / float64(np+nr)
			}
			return d, nil
		}})
	}
	ch, err := Choose(vols, 4)
	if err != nil {
		t.Fatal(err)
	}
	if ch.LargestForeground || !slices.Equal(ch.LargestClasses, []uint8{1}) {
		t.Fatalf("chose %v, want the RV's largest component only", ch.Spec)
	}
	if !(ch.After[0] > ch.Before[0]) || ch.After[1] != ch.Before[1] || ch.After[2] != 1 || ch.Volumes != 3 {
		t.Fatalf("before %v after %v over %d volumes", ch.Before, ch.After, ch.Volumes)
	}
	if empty, err := Choose(nil, 4); err != nil || !empty.IsZero() {
		t.Fatalf("no volumes: chose %v (%v)", empty.Spec, err)
	}
}

const scipyOracle = `
import sys, json, numpy as np
from scipy import ndimage
d = sys.argv[1]; meta = json.load(open(d + "/meta.json"))
for n, (nx, ny, nz) in enumerate(meta["dims"]):
    l = np.fromfile("%s/in%d.u8" % (d, n), np.uint8).reshape(nz, ny, nx)
    def keep(mask):
        lab, k = ndimage.label(mask, structure=np.ones((3, 3, 3)))
        if k < 2:
            return
        sizes = np.bincount(lab.ravel())[1:]
        l[(lab > 0) & (lab != np.argmax(sizes) + 1)] = 0
    keep(l != 0)
    for c in (1, 2, 3):
        keep(l == c)
    l.tofile("%s/out%d.u8" % (d, n))
`

// TestAgainstScipy compares Apply with scipy.ndimage.label (26-connectivity)
// on random blobby label maps.
func TestAgainstScipy(t *testing.T) {
	py := shareddata.Python(t, "numpy", "scipy")
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(7, 8))
	var dims [][3]int
	var ins [][]uint8
	for n := range 6 {
		d := [3]int{24 + n, 20 + 2*n, 2 + n%4}
		v := newVol(d[0], d[1], d[2])
		for range 10 + 4*n {
			i, j, k := rng.IntN(d[0]-3), rng.IntN(d[1]-3), rng.IntN(d[2])
			v.box(i, j, k, i+1+rng.IntN(3), j+1+rng.IntN(3), k+1, uint8(1+rng.IntN(3)))
		}
		dims = append(dims, d)
		ins = append(ins, v.l)
		shareddata.WriteRaw(t, filepath.Join(dir, "in"+string(rune('0'+n))+".u8"), v.l)
	}
	meta, _ := json.Marshal(map[string]any{"dims": dims})
	if err := os.WriteFile(filepath.Join(dir, "meta.json"), meta, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(py, "-c", scipyOracle, dir).CombinedOutput(); err != nil {
		t.Fatalf("scipy oracle: %v\n%s", err, out)
	}
	s := Spec{LargestForeground: true, LargestClasses: []uint8{1, 2, 3}}
	for n, l := range ins {
		want, err := os.ReadFile(filepath.Join(dir, "out"+string(rune('0'+n))+".u8"))
		if err != nil {
			t.Fatal(err)
		}
		got := slices.Clone(l)
		removed := s.Apply(got, dims[n])
		if !slices.Equal(got, want) {
			diff := 0
			for i := range got {
				if got[i] != want[i] {
					diff++
				}
			}
			t.Errorf("volume %d %v: %d voxels differ from scipy", n, dims[n], diff)
		}
		if removed == 0 && n > 0 {
			t.Errorf("volume %d: nothing removed; the test data should have islands", n)
		}
	}
}
