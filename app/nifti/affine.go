package nifti

import (
	"fmt"
	"math"

	"cmrseg/app/study"
)

// Affine maps voxel indices (i, j, k, 1) to millimetres; Affine values in
// this package are RAS+ (the NIfTI convention), like nibabel's img.affine.
type Affine [4][4]float64

// quaternToAffine is nifti_quatern_to_mat44 of the NIfTI-1 reference
// library (nifti1_io.c): a = sqrt(1-b²-c²-d²), or a 180° rotation with
// (b,c,d) normalised when that is below 1e-7; non-positive voxel sizes
// count as 1; qfac < 0 flips the k column.
func quaternToAffine(b, c, d, qx, qy, qz, dx, dy, dz, qfac float64) Affine {
	a := 1 - (b*b + c*c + d*d)
	if a < 1e-7 {
		n := math.Sqrt(b*b + c*c + d*d)
		if n > 0 {
			b, c, d = b/n, c/n, d/n
		}
		a = 0
	} else {
		a = math.Sqrt(a)
	}
	if !(dx > 0) {
		dx = 1
	}
	if !(dy > 0) {
		dy = 1
	}
	if !(dz > 0) {
		dz = 1
	}
	if qfac < 0 {
		dz = -dz
	}
	return Affine{
		{(a*a + b*b - c*c - d*d) * dx, 2 * (b*c - a*d) * dy, 2 * (b*d + a*c) * dz, qx},
		{2 * (b*c + a*d) * dx, (a*a + c*c - b*b - d*d) * dy, 2 * (c*d - a*b) * dz, qy},
		{2 * (b*d - a*c) * dx, 2 * (c*d + a*b) * dy, (a*a + d*d - c*c - b*b) * dz, qz},
		{0, 0, 0, 1},
	}
}

// affineToQuatern is nifti_mat44_to_quatern for a matrix whose columns
// are orthogonal (any Geometry this project builds): it returns the
// quaternion (b, c, d), the offsets, the voxel sizes and qfac.
func affineToQuatern(m Affine) (b, c, d, qx, qy, qz, dx, dy, dz, qfac float64) {
	qx, qy, qz = m[0][3], m[1][3], m[2][3]
	var r [3][3]float64
	var size [3]float64
	for col := 0; col < 3; col++ {
		n := math.Sqrt(m[0][col]*m[0][col] + m[1][col]*m[1][col] + m[2][col]*m[2][col])
		if n == 0 {
			r[col][col], n = 1, 1
			size[col] = 1
		} else {
			for row := 0; row < 3; row++ {
				r[row][col] = m[row][col] / n
			}
			size[col] = n
		}
	}
	dx, dy, dz = size[0], size[1], size[2]
	det := r[0][0]*(r[1][1]*r[2][2]-r[1][2]*r[2][1]) -
		r[0][1]*(r[1][0]*r[2][2]-r[1][2]*r[2][0]) +
		r[0][2]*(r[1][0]*r[2][1]-r[1][1]*r[2][0])
	qfac = 1
	if det < 0 {
		qfac = -1
		r[0][2], r[1][2], r[2][2] = -r[0][2], -r[1][2], -r[2][2]
	}
	r11, r12, r13 := r[0][0], r[0][1], r[0][2]
	r21, r22, r23 := r[1][0], r[1][1], r[1][2]
	r31, r32, r33 := r[2][0], r[2][1], r[2][2]
	var a float64
	if t := r11 + r22 + r33 + 1; t > 0.5 {
		a = 0.5 * math.Sqrt(t)
		b = 0.25 * (r32 - r23) / a
		c = 0.25 * (r13 - r31) / a
		d = 0.25 * (r21 - r12) / a
	} else {
		xd := 1 + r11 - (r22 + r33)
		yd := 1 + r22 - (r11 + r33)
		zd := 1 + r33 - (r11 + r22)
		switch {
		case xd > 1:
			b = 0.5 * math.Sqrt(xd)
			c = 0.25 * (r12 + r21) / b
			d = 0.25 * (r13 + r31) / b
			a = 0.25 * (r32 - r23) / b
		case yd > 1:
			c = 0.5 * math.Sqrt(yd)
			b = 0.25 * (r12 + r21) / c
			d = 0.25 * (r23 + r32) / c
			a = 0.25 * (r13 - r31) / c
		default:
			d = 0.5 * math.Sqrt(zd)
			b = 0.25 * (r13 + r31) / d
			c = 0.25 * (r23 + r32) / d
			a = 0.25 * (r21 - r12) / d
		}
		if a < 0 {
			b, c, d = -b, -c, -d
		}
	}
	return
}

// geometry converts a RAS affine to an LPS study.Geometry (rows x and y
// negated). Spacing comes from pixdim when it is valid and from the column
// lengths otherwise, and the directions are the normalised columns: this
// is ITK's convention, and it is what ACDC needs, whose sform is
// diag(-1,-1,1) with the voxel size only in pixdim.
func geometry(m Affine, dims [3]int, pixdim [3]float64) (study.Geometry, error) {
	g := study.Geometry{Dims: dims}
	lps := [3]float64{-1, -1, 1}
	for col := 0; col < 3; col++ {
		var n float64
		for row := 0; row < 3; row++ {
			v := m[row][col]
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return g, fmt.Errorf("transform has a non-finite entry")
			}
			n += v * v
		}
		n = math.Sqrt(n)
		if !(n > 0) || math.IsInf(n, 0) {
			return g, fmt.Errorf("transform axis %d has zero length", col)
		}
		for row := 0; row < 3; row++ {
			g.Direction[col][row] = lps[row] * m[row][col] / n
		}
		g.Spacing[col] = n
		if p := pixdim[col]; p > 0 && !math.IsInf(p, 0) {
			g.Spacing[col] = p
		}
	}
	for row := 0; row < 3; row++ {
		v := m[row][3]
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return g, fmt.Errorf("transform has a non-finite offset")
		}
		g.Origin[row] = lps[row] * v
	}
	return g, nil
}

// affineOf is the RAS affine of an LPS Geometry.
func affineOf(g study.Geometry) Affine {
	lps := [3]float64{-1, -1, 1}
	var m Affine
	for row := 0; row < 3; row++ {
		for col := 0; col < 3; col++ {
			m[row][col] = lps[row] * g.Direction[col][row] * g.Spacing[col]
		}
		m[row][3] = lps[row] * g.Origin[row]
	}
	m[3][3] = 1
	return m
}
