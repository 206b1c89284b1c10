package session

import (
	"errors"
	"math"
	"strings"
	"testing"

	"cmrseg/app/study"
	"cmrseg/inference/uncertainty"
)

// ringSlice draws a 24×24 mid-ventricular slice: LV cavity (r ≤ 3) in a
// myocardial ring (3 < r ≤ 5) around (10, 12), and RV at the left.
func ringSlice() (plane []uint8, nx, ny int) {
	nx, ny = 24, 24
	plane = make([]uint8, nx*ny)
	for j := 0; j < ny; j++ {
		for i := 0; i < nx; i++ {
			r := math.Hypot(float64(i-10), float64(j-12))
			switch {
			case r <= 3:
				plane[i+nx*j] = study.LV
			case r <= 5:
				plane[i+nx*j] = study.Myocardium
			case i <= 3 && j >= 8 && j <= 16:
				plane[i+nx*j] = study.RV
			}
		}
	}
	return plane, nx, ny
}

func TestSliceAnatomy(t *testing.T) {
	plane, nx, ny := ringSlice()
	a := SliceAnatomy(plane, nx, ny)
	if a.Components != [4]int{0, 1, 1, 1} || !a.RingClosed || a.Gap != 0 {
		t.Fatalf("ring slice: %+v", a)
	}
	// A background cut through the ring's right side opens it, puts
	// background against the cavity and (two cuts) splits the myocardium.
	cut := append([]uint8(nil), plane...)
	for i := 13; i <= 15; i++ {
		cut[i+nx*12] = study.Background
	}
	b := SliceAnatomy(cut, nx, ny)
	if why := b.Breaks(a); b.RingClosed || b.Gap == 0 || !strings.Contains(why, "opens the myocardial ring") || !strings.Contains(why, "background between") {
		t.Fatalf("one cut: %+v, %q", b, why)
	}
	for i := 5; i <= 7; i++ {
		cut[i+nx*12] = study.Background
	}
	if why := SliceAnatomy(cut, nx, ny).Breaks(a); !strings.Contains(why, "splits the LV myocardium into 2 pieces") {
		t.Fatalf("two cuts: %q", why)
	}
	// An RV island splits the RV; what was already so is not held against
	// a hypothesis.
	isl := append([]uint8(nil), plane...)
	isl[20+nx*20] = study.RV
	c := SliceAnatomy(isl, nx, ny)
	if why := c.Breaks(a); !strings.Contains(why, "splits the RV cavity into 2 pieces") {
		t.Fatalf("island: %q", why)
	}
	if why := c.Breaks(c); why != "" {
		t.Fatalf("unchanged slice breaks itself: %q", why)
	}
}

// The reported case: a click on an uncertain blob beside the heart whose
// region takes in part of the epicardial rim. Voxel by voxel the second
// class would cut the ring (rim → background) and make the blob an RV
// island; the click must give the coherent hypothesis of one checkpoint
// instead, and never impossible anatomy.
func TestClickKeepsTheRingClosed(t *testing.T) {
	plane, nx, ny := ringSlice()
	g := study.Geometry{Dims: [3]int{nx, ny, 1}, Spacing: [3]float64{1.5, 1.5, 8}}
	s := &study.Series{Geometry: g, NT: 1, ED: 0, ES: -1, Data: make([]float32, g.N())}
	one := [4]map[int][4]float32{{}, {}}
	var a, b = one[0], one[1]
	for v, c := range plane {
		var p [4]float32
		p[c] = 1
		a[v], b[v] = p, p
	}
	var region []int
	for j := 10; j <= 14; j++ {
		for i := 14; i <= 15; i++ { // the ring's full thickness on the right
			v := i + nx*j
			if plane[v] != study.Myocardium {
				continue
			}
			a[v] = [4]float32{0.45, 0, 0.55, 0}
			b[v] = [4]float32{0.3, 0, 0.7, 0}
			region = append(region, v)
		}
		for i := 16; i <= 17; i++ { // the blob outside it
			v := i + nx*j
			a[v] = [4]float32{0.6, 0.4, 0, 0}
			b[v] = [4]float32{0.35, 0.25, 0.4, 0}
			region = append(region, v)
		}
	}
	r := handResult(t, g, []map[int][4]float32{a, b})
	sess := mustOpen(t, s, []*uncertainty.Result{r}, Options{})
	before := SliceAnatomy(sess.Labels(0), nx, ny)
	if !before.RingClosed {
		t.Fatal("setup: the prediction's ring is open")
	}
	// What the per-voxel alternative alone would do.
	alt := append([]uint8(nil), sess.Labels(0)...)
	for _, v := range region {
		alt[v], _ = r.Alternative(v)
	}
	if why := SliceAnatomy(alt, nx, ny).Breaks(before); !strings.Contains(why, "opens the myocardial ring") {
		t.Fatalf("setup: the alternative does not break the ring (%q)", why)
	}

	c, err := sess.ClickCorrect(0, 0, 16, 12)
	if err != nil {
		t.Fatal(err)
	}
	after := SliceAnatomy(sess.Labels(0), nx, ny)
	if why := after.Breaks(before); why != "" || c.Empty() {
		t.Fatalf("click: %s (%d voxels changed): %s", c.Note, len(c.Voxels), why)
	}
	if !strings.Contains(c.Note, "posterior sample 2") {
		t.Fatalf("note %q: want checkpoint 2's hypothesis", c.Note)
	}
	t.Logf("%s", c.Note)

	// With no checkpoint offering a coherent view, and no core where the
	// alternative is safe, the click refuses and says why.
	for _, v := range region {
		b[v] = a[v]
	}
	r2 := handResult(t, g, []map[int][4]float32{a, b})
	sess2 := mustOpen(t, s, []*uncertainty.Result{r2}, Options{})
	_, err = sess2.ClickCorrect(0, 0, 15, 12)
	if err != nil && !errors.Is(err, ErrNoSafeHypothesis) {
		t.Fatal(err)
	}
	if why := SliceAnatomy(sess2.Labels(0), nx, ny).Breaks(before); why != "" {
		t.Fatalf("refusing click left %s", why)
	}
}
