package dicomio

// j2kInverse53 applies the reversible 5/3 inverse wavelet (T.800 F.3,
// lifting with whole-sample symmetric extension) in place to a tile
// component's coefficients, stored with each level's subbands side by
// side (LL, HL / LH, HH), from the lowest resolution up.
func j2kInverse53(coef []int32, w, h int, res []j2kRes) {
	tmp := make([]int32, max(w, h))
	col := make([]int32, h)
	for r := 1; r < len(res); r++ {
		rw, rh := res[r].x1-res[r].x0, res[r].y1-res[r].y0
		if rw == 0 || rh == 0 {
			continue
		}
		snx := res[r-1].x1 - res[r-1].x0
		sny := res[r-1].y1 - res[r-1].y0
		for y := 0; y < rh; y++ {
			idwt53(coef[y*w:y*w+rw], tmp, snx, res[r].x0&1 == 1)
		}
		for x := 0; x < rw; x++ {
			for y := 0; y < rh; y++ {
				col[y] = coef[y*w+x]
			}
			idwt53(col[:rh], tmp, sny, res[r].y0&1 == 1)
			for y := 0; y < rh; y++ {
				coef[y*w+x] = col[y]
			}
		}
	}
}

// idwt53 reconstructs one line: x holds sn low-pass then the high-pass
// coefficients; odd says the line starts at an odd coordinate (so with
// a high-pass sample).
func idwt53(x, tmp []int32, sn int, odd bool) {
	n := len(x)
	p := 0
	if odd {
		p = 1
	}
	if n == 1 {
		if odd {
			x[0] /= 2
		}
		return
	}
	for k := 0; k < n; k++ {
		if (k+p)&1 == 0 {
			tmp[k] = x[k/2]
		} else {
			tmp[k] = x[sn+k/2]
		}
	}
	m := func(k int) int {
		if k < 0 {
			return -k
		}
		if k >= n {
			return 2*(n-1) - k
		}
		return k
	}
	for k := p; k < n; k += 2 {
		tmp[k] -= (tmp[m(k-1)] + tmp[m(k+1)] + 2) >> 2
	}
	for k := 1 - p; k < n; k += 2 {
		tmp[k] += (tmp[m(k-1)] + tmp[m(k+1)]) >> 1
	}
	copy(x, tmp[:n])
}

// 9/7 lifting constants (T.800 Table F.4).
const (
	dwtAlpha = -1.586134342059924
	dwtBeta  = -0.052980118572961
	dwtGamma = 0.882911075530934
	dwtDelta = 0.443506852043971
	dwtK     = 1.230174104914001
)

// j2kInverse97 is the irreversible 9/7 inverse wavelet (T.800 F.3.8.2),
// laid out like j2kInverse53.
func j2kInverse97(coef []float32, w, h int, res []j2kRes) {
	tmp := make([]float32, max(w, h))
	col := make([]float32, h)
	for r := 1; r < len(res); r++ {
		rw, rh := res[r].x1-res[r].x0, res[r].y1-res[r].y0
		if rw == 0 || rh == 0 {
			continue
		}
		snx := res[r-1].x1 - res[r-1].x0
		sny := res[r-1].y1 - res[r-1].y0
		for y := 0; y < rh; y++ {
			idwt97(coef[y*w:y*w+rw], tmp, snx, res[r].x0&1 == 1)
		}
		for x := 0; x < rw; x++ {
			for y := 0; y < rh; y++ {
				col[y] = coef[y*w+x]
			}
			idwt97(col[:rh], tmp, sny, res[r].y0&1 == 1)
			for y := 0; y < rh; y++ {
				coef[y*w+x] = col[y]
			}
		}
	}
}

func idwt97(x, tmp []float32, sn int, odd bool) {
	n := len(x)
	p := 0
	if odd {
		p = 1
	}
	if n == 1 {
		if odd {
			x[0] /= 2
		}
		return
	}
	for k := 0; k < n; k++ {
		if (k+p)&1 == 0 {
			tmp[k] = x[k/2] * dwtK
		} else {
			tmp[k] = x[sn+k/2] * (1 / dwtK)
		}
	}
	m := func(k int) int {
		if k < 0 {
			return -k
		}
		if k >= n {
			return 2*(n-1) - k
		}
		return k
	}
	for _, s := range []struct {
		first int
		c     float32
	}{{p, dwtDelta}, {1 - p, dwtGamma}, {p, dwtBeta}, {1 - p, dwtAlpha}} {
		for k := s.first; k < n; k += 2 {
			tmp[k] -= s.c * (tmp[m(k-1)] + tmp[m(k+1)])
		}
	}
	copy(x, tmp[:n])
}
