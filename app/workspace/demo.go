package workspace

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"cmrseg/app/phantom"
	"cmrseg/app/study"
	"cmrseg/inference/uncertainty"
)

// Demo returns the embedded demo study (the synthetic phantom) and a
// DemoEngine that knows its labels.
func Demo() (*study.Study, *DemoEngine) {
	s, labels, _ := phantom.Generate(phantom.Options{Seed: 1})
	return &study.Study{Path: "", Series: []*study.Series{s}}, &DemoEngine{Labels: labels}
}

// ErrUnknownStudy is returned by DemoEngine for a series it has no
// reference labels for.
var ErrUnknownStudy = errors.New("the demo segmenter only knows the demo study")

// DemoEngine is a deterministic stand-in for the ensemble. From known
// labels (the demo phantom's) it simulates Checkpoints checkpoints that are
// confident in the interior, slightly soft at every boundary, and disagree
// with each other in a few places per phase, so that some regions are
// uncertain:
//
//   - on the basal slice, three of five checkpoints miss the lateral half of
//     the RV: the ensemble prediction is wrong there and its alternative
//     hypothesis right (one click fixes it);
//   - on mid-ventricular slices, two of five checkpoints thicken the lateral
//     LV wall: the prediction is right, the region uncertain;
//   - on the apical slice holding LV cavity, three of five checkpoints call
//     the cavity myocardium and miss the outer rim of the wall (again fixed
//     by one click);
//   - in every third slice three checkpoints see a small false RV blob in
//     the background: an uncertain island the prediction gets wrong.
//
// It serves the window when no model is installed (or CMRSEG_MODEL=demo)
// and the tests. It lives here rather than in app/phantom, which only
// generates images and truth, because it speaks the workspace's streaming
// protocol (PhaseUpdate) and the workspace's own tests drive it.
type DemoEngine struct {
	// Labels are the reference label maps, one per phase (phantom.Generate).
	Labels []study.Labels
	// Checkpoints is the simulated ensemble size (5 when 0).
	Checkpoints int
	// StepDelay slows each step down so the GUI's progress is visible; 0 in
	// tests.
	StepDelay time.Duration

	mu    sync.Mutex
	cache map[int]*uncertainty.Result // per phase; results are read-only
}

// Device implements Engine.
func (p *DemoEngine) Device() string { return "demo segmenter (no model loaded)" }

// Key implements Keyed: the demo's results depend on nothing else.
func (p *DemoEngine) Key() string { return fmt.Sprintf("demo-phantom-v1/%d", p.Checkpoints) }

// Stream implements Streamer: phases one after another, each reported
// once complete.
func (p *DemoEngine) Stream(ctx context.Context, s *study.Series, phases []int, leading int, update func(PhaseUpdate)) error {
	for _, t := range phases {
		rs, err := p.Segment(ctx, s, []int{t}, nil)
		if err != nil {
			return err
		}
		update(PhaseUpdate{Phase: t, Samples: rs[0].Checkpoints, Total: rs[0].Checkpoints, Result: rs[0]})
	}
	return nil
}

// Segment implements Engine.
func (p *DemoEngine) Segment(ctx context.Context, s *study.Series, phases []int, progress func(done, total int)) ([]*uncertainty.Result, error) {
	m := p.Checkpoints
	if m <= 0 {
		m = 5
	}
	if len(p.Labels) != s.NT {
		return nil, fmt.Errorf("%w (it has %d phases of labels, %q has %d phases); the ensemble engine is not installed in this build",
			ErrUnknownStudy, len(p.Labels), s.Meta.SeriesDescription, s.NT)
	}
	for t := range p.Labels {
		if p.Labels[t].Dims != s.Dims || len(p.Labels[t].Data) != s.N() {
			return nil, fmt.Errorf("%w (labels are %v, %q is %v); the ensemble engine is not installed in this build",
				ErrUnknownStudy, p.Labels[t].Dims, s.Meta.SeriesDescription, s.Dims)
		}
	}
	for _, t := range phases {
		if t < 0 || t >= s.NT {
			return nil, fmt.Errorf("segment: phase %d out of range 0..%d", t, s.NT-1)
		}
	}
	total := len(phases) * m
	var done atomic.Int64
	out := make([]*uncertainty.Result, len(phases))
	errs := make([]error, len(phases))
	next := make(chan int)
	var wg sync.WaitGroup
	for range max(1, min(runtime.GOMAXPROCS(0), len(phases))) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range next {
				out[n], errs[n] = p.phase(ctx, s, phases[n], m, func() {
					d := done.Add(1)
					if progress != nil {
						progress(int(d), total)
					}
				})
			}
		}()
	}
	for n := range phases {
		if ctx.Err() != nil {
			break
		}
		next <- n
	}
	close(next)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// phase simulates the m checkpoints on phase t.
func (p *DemoEngine) phase(ctx context.Context, s *study.Series, t, m int, step func()) (*uncertainty.Result, error) {
	p.mu.Lock()
	r := p.cache[t]
	p.mu.Unlock()
	if r != nil && r.Checkpoints == m {
		for range m {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			if p.StepDelay > 0 {
				time.Sleep(p.StepDelay)
			}
			step()
		}
		return r, nil
	}
	acc := uncertainty.NewAccumulator(s.Geometry, study.NumClasses)
	for c := 0; c < m; c++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if p.StepDelay > 0 {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(p.StepDelay):
			}
		}
		if err := acc.Add(softmax(perturb(p.Labels[t], c, m), s.Dims)); err != nil {
			return nil, err
		}
		step()
	}
	r = acc.Result()
	p.mu.Lock()
	if p.cache == nil {
		p.cache = map[int]*uncertainty.Result{}
	}
	p.cache[t] = r
	p.mu.Unlock()
	return r, nil
}

// perturb returns checkpoint c's labels (of m) for reference labels ref.
func perturb(ref study.Labels, c, m int) []uint8 {
	nx, ny, nz := ref.Dims[0], ref.Dims[1], ref.Dims[2]
	out := make([]uint8, len(ref.Data))
	copy(out, ref.Data)
	majority := c < (m+1)/2 // the first ⌈m/2⌉ checkpoints
	lastLV := -1
	for k := 0; k < nz; k++ {
		if cnt, _, _ := centroid(ref.Data, nx, ny, k, study.LV); cnt > 0 {
			lastLV = k
		}
	}
	for k := 0; k < nz; k++ {
		sl := out[k*nx*ny : (k+1)*nx*ny]
		ro := ref.Data[k*nx*ny : (k+1)*nx*ny]
		nLV, ci, cj := centroid(ro, nx, ny, 0, study.LV)
		nRV, ri, _ := centroid(ro, nx, ny, 0, study.RV)
		switch {
		case k == 0 && nRV > 0 && majority:
			// Basal RV: the lateral half (toward the LV) is missed.
			for j := 0; j < ny; j++ {
				for i := 0; i < nx; i++ {
					if v := i + nx*j; ro[v] == study.RV && float64(i) > ri-12 {
						sl[v] = study.Background
					}
				}
			}
		case k == lastLV && k > 0 && nLV > 0 && majority:
			// ... and lose the outer rim of the myocardium.
			for j := 1; j < ny-1; j++ {
				for i := 1; i < nx-1; i++ {
					v := i + nx*j
					if ro[v] == study.Myocardium && (ro[v-1] == study.Background || ro[v+1] == study.Background ||
						ro[v-nx] == study.Background || ro[v+nx] == study.Background) {
						sl[v] = study.Background
					}
				}
			}
			for v := range sl {
				if ro[v] == study.LV {
					sl[v] = study.Myocardium
				}
			}
		case k > 0 && k < lastLV && nLV > 0 && (c == 1 || c == 2):
			// Lateral wall thickened by 3 voxels into the cavity, in a
			// ±40° sector around +i.
			for it := 0; it < 3; it++ {
				grow := make([]bool, nx*ny)
				for j := 1; j < ny-1; j++ {
					for i := 1; i < nx-1; i++ {
						v := i + nx*j
						if sl[v] != study.LV {
							continue
						}
						a := math.Atan2(float64(j)-cj, float64(i)-ci)
						if math.Abs(a) > 40*math.Pi/180 {
							continue
						}
						if sl[v-1] == study.Myocardium || sl[v+1] == study.Myocardium || sl[v-nx] == study.Myocardium || sl[v+nx] == study.Myocardium {
							grow[v] = true
						}
					}
				}
				for v, g := range grow {
					if g {
						sl[v] = study.Myocardium
					}
				}
			}
		}
		// A false RV blob in the background, on every third slice.
		if k%3 == 1 && nLV > 0 && majority {
			bi, bj := ci+0.0, cj+0.35*float64(ny)
			if bj > float64(ny)-10 {
				bj = float64(ny) - 10
			}
			for j := 0; j < ny; j++ {
				for i := 0; i < nx; i++ {
					if math.Hypot(float64(i)-bi, float64(j)-bj) <= 4.5 && ro[i+nx*j] == study.Background {
						sl[i+nx*j] = study.RV
					}
				}
			}
		}
	}
	return out
}

// centroid counts the voxels of label lab on slice k and returns their mean
// (i, j).
func centroid(data []uint8, nx, ny, k int, lab uint8) (n int, ci, cj float64) {
	off := k * nx * ny
	for j := 0; j < ny; j++ {
		for i := 0; i < nx; i++ {
			if data[off+i+nx*j] == lab {
				n++
				ci += float64(i)
				cj += float64(j)
			}
		}
	}
	if n > 0 {
		ci /= float64(n)
		cj /= float64(n)
	}
	return n, ci, cj
}

// softmax turns labels into a confident, class-major probability map: 0.997
// for the label in the interior; at a boundary 0.93 for the label and 0.07
// for the neighbouring class (entropy 0.25 nats, below the one-click
// threshold), so an agreed boundary is faintly uncertain but never editable
// by one click.
func softmax(lab []uint8, dims [3]int) []float32 {
	nx, ny, nz := dims[0], dims[1], dims[2]
	n := nx * ny * nz
	p := make([]float32, n*study.NumClasses)
	const (
		inner, rest = 0.997, 0.003 / (study.NumClasses - 1)
		edge, other = 0.93, 0.07
	)
	for k := 0; k < nz; k++ {
		for j := 0; j < ny; j++ {
			for i := 0; i < nx; i++ {
				v := i + nx*(j+ny*k)
				l := lab[v]
				nb := l
				if i > 0 && lab[v-1] != l {
					nb = lab[v-1]
				} else if i < nx-1 && lab[v+1] != l {
					nb = lab[v+1]
				} else if j > 0 && lab[v-nx] != l {
					nb = lab[v-nx]
				} else if j < ny-1 && lab[v+nx] != l {
					nb = lab[v+nx]
				}
				if nb == l {
					for c := 0; c < study.NumClasses; c++ {
						p[c*n+v] = rest
					}
					p[int(l)*n+v] = inner
					continue
				}
				p[int(l)*n+v] = edge
				p[int(nb)*n+v] = other
			}
		}
	}
	return p
}
