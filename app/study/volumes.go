package study

// CountLabels counts the voxels of each label value (indexed by value:
// Background, RV, Myocardium, LV); values from NumClasses up are not
// counted. It is the one place cmrseg counts labels for volumes: the
// report, end-systole refinement, the phantom's truth and the metrics.
func CountLabels(labels []uint8) [NumClasses]int {
	var n [NumClasses]int
	for _, v := range labels {
		if int(v) < NumClasses {
			n[v]++
		}
	}
	return n
}

// VolumesML are the volumes in millilitres of each label value of l.
func (l Labels) VolumesML() [NumClasses]float64 {
	n := CountLabels(l.Data)
	var ml [NumClasses]float64
	vox := l.VoxelVolumeML()
	for c := range n {
		ml[c] = float64(n[c]) * vox
	}
	return ml
}
