package ui

import (
	"path/filepath"
	"testing"

	"cmrseg/app/dataset"
	"cmrseg/app/shareddata"
	"cmrseg/app/study"
)

// TestBasalEnd: the end of the stack with more foreground is the
// base, on a synthetic tapering ventricle either way up and on a real ACDC
// patient (whose slices run from base to apex).
func TestBasalEnd(t *testing.T) {
	const nx, ny, nz = 20, 20, 8
	cone := make([]uint8, nx*ny*nz)
	for k := 1; k < nz-1; k++ { // empty first and last slices, as above the base
		r := 8 - k
		for j := 10 - r; j < 10+r; j++ {
			for i := 10 - r; i < 10+r; i++ {
				cone[k*nx*ny+j*nx+i] = 3
			}
		}
	}
	if first, ok := study.BaseAtFirst(cone, [3]int{nx, ny, nz}); !ok || !first {
		t.Fatalf("cone widest at slice 2: base first %v (ok %v)", first, ok)
	}
	flipped := make([]uint8, len(cone))
	for k := 0; k < nz; k++ {
		copy(flipped[k*nx*ny:(k+1)*nx*ny], cone[(nz-1-k)*nx*ny:(nz-k)*nx*ny])
	}
	if first, ok := study.BaseAtFirst(flipped, [3]int{nx, ny, nz}); !ok || first {
		t.Fatalf("flipped cone: base first %v (ok %v)", first, ok)
	}
	if _, ok := study.BaseAtFirst(make([]uint8, nx*ny*nz), [3]int{nx, ny, nz}); ok {
		t.Fatal("no cavity, yet a base was named")
	}

	src := shareddata.Require(t, "acdc/training")
	p, err := dataset.ReadPatient(filepath.Join(src, "patient001"))
	if err != nil {
		t.Fatal(err)
	}
	smp, err := p.Load()
	if err != nil {
		t.Fatal(err)
	}
	s := smp.Series
	for _, ph := range []int{s.ED, s.ES} {
		if first, ok := study.BaseAtFirst(smp.Labels[ph].Data, s.Dims); !ok || !first {
			t.Fatalf("patient001 phase %d: base first %v (ok %v), want slice 1 basal", ph+1, first, ok)
		}
	}
}
