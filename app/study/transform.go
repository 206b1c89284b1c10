package study

// WorldToVoxel maps LPS millimetres to continuous voxel indices, the
// inverse of VoxelToWorld. Directions need not be orthogonal; a singular
// geometry (which Series.Validate does not rule out) yields NaNs.
func (g Geometry) WorldToVoxel(p [3]float64) [3]float64 {
	// Columns of m are the scaled axis vectors: p - Origin = m · (i, j, k).
	var m [3][3]float64
	for a := 0; a < 3; a++ {
		for r := 0; r < 3; r++ {
			m[r][a] = g.Direction[a][r] * g.Spacing[a]
		}
	}
	d := [3]float64{p[0] - g.Origin[0], p[1] - g.Origin[1], p[2] - g.Origin[2]}
	det := m[0][0]*(m[1][1]*m[2][2]-m[1][2]*m[2][1]) -
		m[0][1]*(m[1][0]*m[2][2]-m[1][2]*m[2][0]) +
		m[0][2]*(m[1][0]*m[2][1]-m[1][1]*m[2][0])
	// Cramer's rule: component a replaces column a of m with d.
	var v [3]float64
	for a := 0; a < 3; a++ {
		c := m
		for r := 0; r < 3; r++ {
			c[r][a] = d[r]
		}
		v[a] = (c[0][0]*(c[1][1]*c[2][2]-c[1][2]*c[2][1]) -
			c[0][1]*(c[1][0]*c[2][2]-c[1][2]*c[2][0]) +
			c[0][2]*(c[1][0]*c[2][1]-c[1][1]*c[2][0])) / det
	}
	return v
}
