package session

import (
	"fmt"
	"strings"

	"cmrseg/app/study"
)

// A one-click correction must not leave impossible anatomy on its slice:
// a structure in pieces, a myocardial ring opened, background between the
// LV cavity and the myocardium. Such a result is what a reader would have
// to repair by hand, and one such click costs the tool their trust. The
// rules compare a hypothesis with the ensemble's prediction on the same
// slice and forbid only what gets worse, so an apical slice whose
// prediction is already open, or a structure already in two pieces, does
// not block every click there.

// Anatomy is the topology of one slice's labels that the rules check.
type Anatomy struct {
	// Components[c] counts the 8-connected components of class c.
	Components [study.NumClasses]int
	// RingClosed: the slice has LV cavity and the myocardium encloses it
	// (no 4-connected path avoiding the myocardium leads from the slice's
	// border to the cavity).
	RingClosed bool
	// Gap counts background voxels that touch the LV cavity (4-neighbours).
	Gap int
}

// SliceAnatomy measures the labels of one slice (nx×ny, row-major in i).
func SliceAnatomy(plane []uint8, nx, ny int) Anatomy {
	var a Anatomy
	seen := make([]bool, nx*ny)
	queue := make([]int, 0, 64)
	for start, c := range plane {
		if c == study.Background || seen[start] {
			continue
		}
		a.Components[c]++
		seen[start] = true
		queue = append(queue[:0], start)
		for q := 0; q < len(queue); q++ {
			v := queue[q]
			i, j := v%nx, v/nx
			for dj := -1; dj <= 1; dj++ {
				for di := -1; di <= 1; di++ {
					x, y := i+di, j+dj
					if x < 0 || y < 0 || x >= nx || y >= ny {
						continue
					}
					w := x + nx*y
					if !seen[w] && plane[w] == c {
						seen[w] = true
						queue = append(queue, w)
					}
				}
			}
		}
	}
	four := [4][2]int{{1, 0}, {-1, 0}, {0, 1}, {0, -1}}
	for v, c := range plane {
		if c != study.Background {
			continue
		}
		i, j := v%nx, v/nx
		for _, d := range four {
			x, y := i+d[0], j+d[1]
			if x >= 0 && y >= 0 && x < nx && y < ny && plane[x+nx*y] == study.LV {
				a.Gap++
				break
			}
		}
	}
	if a.Components[study.LV] == 0 {
		return a
	}
	// Flood from the border through everything but myocardium.
	outside := make([]bool, nx*ny)
	queue = queue[:0]
	for v := range plane {
		i, j := v%nx, v/nx
		if (i == 0 || j == 0 || i == nx-1 || j == ny-1) && plane[v] != study.Myocardium {
			outside[v] = true
			queue = append(queue, v)
		}
	}
	a.RingClosed = true
	for q := 0; q < len(queue); q++ {
		v := queue[q]
		if plane[v] == study.LV {
			a.RingClosed = false
			break
		}
		i, j := v%nx, v/nx
		for _, d := range four {
			x, y := i+d[0], j+d[1]
			if x < 0 || y < 0 || x >= nx || y >= ny {
				continue
			}
			w := x + nx*y
			if !outside[w] && plane[w] != study.Myocardium {
				outside[w] = true
				queue = append(queue, w)
			}
		}
	}
	return a
}

// Breaks says what after makes impossible that before was not: "" when
// nothing. A structure may stay in as many pieces as it was, but no more
// than one otherwise; a closed ring must stay closed; background must not
// reach more of the LV cavity's border than before.
func (after Anatomy) Breaks(before Anatomy) string {
	var why []string
	for c := 1; c < study.NumClasses; c++ {
		if after.Components[c] > max(1, before.Components[c]) {
			why = append(why, fmt.Sprintf("splits the %s into %d pieces", study.ClassNames[c], after.Components[c]))
		}
	}
	if before.RingClosed && !after.RingClosed {
		why = append(why, "opens the myocardial ring")
	}
	if after.Gap > before.Gap {
		why = append(why, "puts background between the LV cavity and the myocardium")
	}
	return strings.Join(why, ", ")
}
