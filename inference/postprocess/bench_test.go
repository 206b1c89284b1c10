package postprocess

import "testing"

// cineVolume is a label map the size of an ACDC short-axis volume (216 ×
// 256 × 10) with a heart of rings and a few islands, as the ensemble
// produces it: foreground is a few per cent of the voxels.
func cineVolume() ([]uint8, [3]int) {
	dims := [3]int{216, 256, 10}
	l := make([]uint8, dims[0]*dims[1]*dims[2])
	for k := 0; k < dims[2]; k++ {
		for j := 0; j < dims[1]; j++ {
			for i := 0; i < dims[0]; i++ {
				di, dj := float64(i-110), float64(j-120)
				r2 := di*di + dj*dj
				v := i + dims[0]*(j+dims[1]*k)
				switch {
				case r2 < 15*15:
					l[v] = 3
				case r2 < 22*22:
					l[v] = 2
				case r2 < 34*34 && di < -10:
					l[v] = 1
				}
				if (i-50)*(i-50)+(j-60)*(j-60) < 9 || (i-170)*(i-170)+(j-180)*(j-180) < 16 {
					l[v] = uint8(1 + k%3) // islands inside the heart region, as tiles there leave them
				}
			}
		}
	}
	return l, dims
}

// BenchmarkApply is the post-processing every anytime update of the
// window runs on the prediction and on each new sample: on the
// foreground's box (Apply) against the whole volume (the reference, as
// before).
func BenchmarkApply(b *testing.B) {
	src, dims := cineVolume()
	s := Spec{LargestForeground: true, LargestClasses: []uint8{1, 2, 3}}
	for _, c := range []struct {
		name string
		f    func([]uint8, [3]int) int
	}{{"box", s.Apply}, {"whole-volume", s.apply}} {
		b.Run(c.name, func(b *testing.B) {
			l := make([]uint8, len(src))
			for range b.N {
				copy(l, src)
				c.f(l, dims)
			}
		})
	}
}

// Apply on the foreground's bounding box removes exactly what the whole
// volume's pass removes, islands and ties included.
func TestApplyOnTheBoxMatchesTheWholeVolume(t *testing.T) {
	src, dims := cineVolume()
	rng := uint32(7)
	next := func() uint32 { rng = rng*1664525 + 1013904223; return rng >> 8 }
	for trial := range 20 {
		l := append([]uint8(nil), src...)
		if trial > 0 {
			// Random speckle of every class, some of it touching the heart.
			for range 400 * trial {
				l[int(next())%len(l)] = uint8(next() % 4)
			}
		}
		for _, s := range []Spec{{LargestForeground: true}, {LargestClasses: []uint8{2}}, {LargestForeground: true, LargestClasses: []uint8{1, 2, 3}}} {
			got, want := append([]uint8(nil), l...), append([]uint8(nil), l...)
			n1, n2 := s.Apply(got, dims), s.apply(want, dims)
			if n1 != n2 || string(got) != string(want) {
				t.Fatalf("trial %d, %v: the box pass removed %d voxels, the whole volume's %d (maps equal: %v)", trial, s, n1, n2, string(got) == string(want))
			}
		}
	}
}
