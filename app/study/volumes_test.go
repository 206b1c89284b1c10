package study

import (
	"math"
	"testing"
)

func TestLabelVolumes(t *testing.T) {
	l := Labels{Geometry: Geometry{Dims: [3]int{4, 2, 1}, Spacing: [3]float64{1.5, 1.5, 10}},
		Data: []uint8{0, 1, 1, 1, 2, 2, 3, 0, 9}} // 9: not a class, not counted
	if n := CountLabels(l.Data); n != [NumClasses]int{2, 3, 2, 1} {
		t.Errorf("counts %v", n)
	}
	v := l.VolumesML() // voxel = 1.5·1.5·10 mm³ = 0.0225 ml
	want := [NumClasses]float64{2 * 0.0225, 3 * 0.0225, 2 * 0.0225, 0.0225}
	for c := range want {
		if math.Abs(v[c]-want[c]) > 1e-15 {
			t.Errorf("class %d volume %v, want %v", c, v[c], want[c])
		}
	}
}
