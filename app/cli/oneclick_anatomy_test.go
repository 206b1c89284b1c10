package cli

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cmrseg/app/session"
	"cmrseg/app/shareddata"
	"cmrseg/app/studyio"
	"cmrseg/inference/ensemble"
	"cmrseg/inference/torch"
	"cmrseg/inference/uncertainty"
)

// TestOneClickAnatomyOnValidation clicks every uncertain region of every
// ED and ES slice of three ACDC validation patients (CMRSEG_ANATOMY_PATIENTS
// lists others) (never trained on),
// segmented by the bundled ensemble, at its most uncertain voxel, as a
// reader clicks the brightest spot. It counts the clicks whose result has
// impossible anatomy (session.Anatomy.Breaks against the prediction): with
// the per-voxel alternative applied to the whole region (the old first
// click) and with ClickCorrect's first hypothesis now, which must never
// break it. Run with -v for the table.
func TestOneClickAnatomyOnValidation(t *testing.T) {
	if testing.Short() {
		t.Skip("segments three patients with the bundled ensemble (minutes)")
	}
	acdc := shareddata.Require(t, "acdc/training")
	w := torch.NewWorker(2)
	defer w.Close()
	pred, err := ensemble.Load(w, "../../assets/model", ensemble.Options{Device: "cpu"})
	if err != nil {
		t.Fatal(err)
	}
	defer pred.Close()
	var total, oldBad, newBad, viaSample, viaCore, refused, alt int
	reasons := map[string]int{}
	patients := []string{"patient001", "patient004", "patient009"}
	if s := os.Getenv("CMRSEG_ANATOMY_PATIENTS"); s != "" {
		patients = strings.Split(s, ",")
	}
	for _, p := range patients {
		t0 := time.Now()
		st, err := studyio.Open(filepath.Join(acdc, p))
		if err != nil {
			t.Fatal(err)
		}
		s := st.Series[0]
		phases := []int{s.ED, s.ES}
		res, err := pred.Segment(context.Background(), s, phases, nil)
		if err != nil {
			t.Fatal(err)
		}
		all := make([]*uncertainty.Result, s.NT)
		for n, ph := range phases {
			all[ph] = res[n]
		}
		t.Logf("%s segmented in %v", p, time.Since(t0).Round(time.Second))
		sess, err := session.Open(s, all, session.Options{})
		if err != nil {
			t.Fatal(err)
		}
		nx, ny, nz := s.Dims[0], s.Dims[1], s.Dims[2]
		thr := sess.Options().UncertainThreshold
		for _, ph := range phases {
			r := all[ph]
			for k := 0; k < nz; k++ {
				base := k * nx * ny
				for _, region := range uncertainRegions(r.Entropy[base:base+nx*ny], nx, ny, thr) {
					total++
					seed := region[0]
					for _, v := range region {
						if r.Entropy[base+v] > r.Entropy[base+seed] {
							seed = v
						}
					}
					plane := append([]uint8(nil), sess.Labels(ph)[base:base+nx*ny]...)
					before := session.SliceAnatomy(plane, nx, ny)
					old := append([]uint8(nil), plane...)
					for _, v := range region {
						old[v], _ = r.Alternative(base + v)
					}
					if why := session.SliceAnatomy(old, nx, ny).Breaks(before); why != "" {
						oldBad++
						for _, w := range strings.Split(why, ", ") {
							reasons[strings.Join(strings.Fields(w)[:3], " ")]++
						}
					}
					c, err := sess.ClickCorrect(ph, k, seed%nx, seed/nx)
					if errors.Is(err, session.ErrNoSafeHypothesis) {
						refused++
						continue
					}
					if err != nil {
						t.Fatalf("%s phase %d slice %d: %v", p, ph, k, err)
					}
					after := session.SliceAnatomy(sess.Labels(ph)[base:base+nx*ny], nx, ny)
					if why := after.Breaks(before); why != "" {
						newBad++
						t.Errorf("%s phase %d slice %d: the click %s (%s)", p, ph+1, k+1, why, c.Note)
					}
					switch {
					case strings.Contains(c.Note, "posterior sample"):
						viaSample++
					case strings.Contains(c.Note, "core"):
						viaCore++
					default:
						alt++
					}
					if _, err := sess.Undo(); err != nil && !c.Empty() {
						t.Fatal(err)
					}
				}
			}
		}
		sess.Close()
	}
	t.Logf("%d clicks (every uncertain region of the ED and ES slices of %d validation patients):", total, len(patients))
	t.Logf("  per-voxel alternative on the whole region (before): %d with impossible anatomy (%.1f %%) %v", oldBad, pct(oldBad, total), reasons)
	t.Logf("  first click now (after): %d with impossible anatomy; %d per-voxel alternative, %d posterior sample, %d alternative on the core, %d refused (%.1f %%)",
		newBad, alt, viaSample, viaCore, refused, pct(refused, total))
	if total == 0 || oldBad == 0 {
		t.Fatalf("%d clicks, %d breaking before: the measurement measures nothing", total, oldBad)
	}
}

func pct(a, b int) float64 { return 100 * float64(a) / float64(max(b, 1)) }

// uncertainRegions lists the 8-connected regions of plane indices whose
// entropy exceeds thr.
func uncertainRegions(h []float32, nx, ny int, thr float64) [][]int {
	seen := make([]bool, len(h))
	var out [][]int
	for start := range h {
		if seen[start] || !(float64(h[start]) > thr) {
			continue
		}
		seen[start] = true
		reg := []int{start}
		for q := 0; q < len(reg); q++ {
			i, j := reg[q]%nx, reg[q]/nx
			for dj := -1; dj <= 1; dj++ {
				for di := -1; di <= 1; di++ {
					x, y := i+di, j+dj
					if x < 0 || y < 0 || x >= nx || y >= ny {
						continue
					}
					v := x + nx*y
					if !seen[v] && float64(h[v]) > thr {
						seen[v] = true
						reg = append(reg, v)
					}
				}
			}
		}
		out = append(out, reg)
	}
	return out
}
