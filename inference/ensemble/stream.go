package ensemble

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"cmrseg/app/membudget"
	"cmrseg/app/study"
	"cmrseg/inference/postprocess"
	"cmrseg/inference/torch"
	"cmrseg/inference/uncertainty"
	"cmrseg/inference/weights"
)

// Update is one step of an anytime prediction: phase Phase (phases[Index]
// of the call) now rests on Samples of Total posterior samples, and Result
// is the prediction from them (post-processed like the final one). The
// last Update of a phase has Samples == Total.
type Update struct {
	Index, Phase   int
	Samples, Total int
	Result         *uncertainty.Result
}

// Final reports whether every sample is in.
func (u Update) Final() bool { return u.Samples == u.Total }

// Stream configures Predictor.Stream.
type Stream struct {
	// Leading is the number of phases at the start of the call (the GUI
	// passes ED and ES) that are refined together sample by sample, with
	// an Update after every sample: the anytime part. The other phases are
	// segmented in batches and reported once complete.
	Leading int
	// OnUpdate receives the updates, from a goroutine of the predictor, in
	// order for each phase.
	OnUpdate func(Update)
	// Progress, when not nil, is called after every sample of every phase
	// with the samples done and in total over the whole call.
	Progress func(done, total int)
}

// sliceBudget caps the slices one forward batch carries, across phases.
const sliceBudget = 32

// Segment is Predict under the name app/workspace's engine interface uses.
func (p *Predictor) Segment(ctx context.Context, s *study.Series, phases []int, progress func(done, total int)) ([]*uncertainty.Result, error) {
	return p.Predict(ctx, s, phases, progress)
}

// Predict segments the given phases of s and returns one result per entry
// of phases, in that order, on the series' own grid. progress, when not
// nil, is called from the torch worker's goroutine after every sample of
// every phase. Cancelling ctx stops the work between batches and returns
// ctx.Err().
func (p *Predictor) Predict(ctx context.Context, s *study.Series, phases []int, progress func(done, total int)) ([]*uncertainty.Result, error) {
	return p.Stream(ctx, s, phases, Stream{Progress: progress})
}

// Stream is Predict with anytime updates (see Stream): the leading phases
// come first, refined after every checkpoint, the checkpoints taken one
// from each cycle in turn so that an early partial ensemble is already
// multi-modal; then the other phases, several per forward batch.
func (p *Predictor) Stream(ctx context.Context, s *study.Series, phases []int, o Stream) ([]*uncertainty.Result, error) {
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("ensemble: %w", err)
	}
	for _, t := range phases {
		if t < 0 || t >= s.NT {
			return nil, fmt.Errorf("ensemble: series %q: phase %d out of range 0..%d", s.Meta.SeriesDescription, t, s.NT-1)
		}
	}
	p.mu.Lock()
	p.timings = Timings{}
	p.regions = nil
	p.evaluations = 0
	p.mu.Unlock()
	results := make([]*uncertainty.Result, len(phases))
	total := len(phases) * p.Samples()
	done := 0
	var t tiling
	located := false
	for start := 0; start < len(phases); {
		size := max(1, min(o.Leading, len(phases)))
		if start > 0 || o.Leading <= 0 {
			size = max(1, sliceBudget/max(s.Dims[2], 1))
		}
		end := min(start+size, len(phases))
		anytime := start == 0 && o.Leading > 0
		t0 := time.Now()
		preps := make([]*Prepared, end-start)
		for i := range preps {
			var err error
			if preps[i], err = prepare(s, phases[start+i], p.b.Preprocessing, p.b.Network.Divisor()); err != nil {
				return nil, fmt.Errorf("ensemble: series %q: %w", s.Meta.SeriesDescription, err)
			}
		}
		p.addTime(&p.timings.Prepare, t0)
		if !located {
			var err error
			if t, err = p.tilingFor(ctx, preps[0]); err != nil {
				return nil, p.wrap(ctx, s, phases[start], err)
			}
			located = true
		}
		g := group{phases: phases[start:end], index: start, preps: preps, out: s.Geometry, anytime: anytime, o: o}
		g.progress = func() {
			done += 1
			if o.Progress != nil {
				o.Progress(min(done, total), total)
			}
		}
		base := done
		for {
			rs, grown, err := p.runGroup(ctx, &g, t)
			if err != nil {
				return nil, p.wrap(ctx, s, phases[start], err)
			}
			if grown != nil {
				// The heart reaches the region's border: widen it and run
				// these phases again (later phases keep the larger region).
				t = *grown
				done = base
				continue
			}
			copy(results[start:end], rs)
			break
		}
		p.mu.Lock()
		for range preps {
			p.regions = append(p.regions, t)
		}
		p.mu.Unlock()
		start = end
	}
	return results, nil
}

func (p *Predictor) wrap(ctx context.Context, s *study.Series, phase int, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return fmt.Errorf("ensemble: series %q phase %d: %w", s.Meta.SeriesDescription, phase, err)
}

// tile is the sliding-window tile: the training patch rounded up to the
// network's divisor.
func (p *Predictor) tile() (h, w int, ok bool) {
	ps, d := p.b.Preprocessing.PatchSize, p.b.Network.Divisor()
	if ps[0] <= 0 || ps[1] <= 0 {
		return 0, 0, false
	}
	return (ps[0] + d - 1) / d * d, (ps[1] + d - 1) / d * d, true
}

// tilingFor chooses the tiling of a series from its first prepared phase;
// for TileAuto it runs the localisation pass.
func (p *Predictor) tilingFor(ctx context.Context, prep *Prepared) (tiling, error) {
	h, w := prep.Height, prep.Width
	th, tw, ok := p.tile()
	larger := ok && (h > th || w > tw)
	switch {
	case !ok || p.opts.Tiling == TileNever:
		return wholeSlice(h, w), nil
	case p.opts.Tiling == TileAlways, p.opts.Tiling == TileFull && larger:
		return slidingWindow(h, w, th, tw), nil
	case !larger:
		return wholeSlice(h, w), nil
	}
	if p.startRegion != nil { // tests: a deliberately wrong first estimate
		return p.regionTiling(*p.startRegion, h, w), nil
	}
	t0 := time.Now()
	defer p.addTime(&p.timings.Locate, t0)
	stack, nk := locationSlices(prep.Slices, prep.Grid.Dims[2], h*w)
	pr, err := p.coarse(ctx, stack, nk, coverTiling(h, w, th, tw))
	if err != nil {
		return tiling{}, err
	}
	r := locate(pr, p.b.Network.Classes, nk, h, w)
	if r.empty() {
		// Nothing found: no region to trust, so cover everything.
		p.warn("the localisation pass found no heart; the whole slice is segmented")
		return slidingWindow(h, w, th, tw), nil
	}
	return p.regionTiling(r, h, w), nil
}

// shiftedTileLimit bounds TileAuto's single tile, in half patches per
// axis (3: one and a half patches).
const shiftedTileLimit = 3

// regionTiling covers the heart region r of an h × w slice as the tiling
// option asks: one shifted tile per sample when r fits a patch
// (TileAuto), else the sliding window over r.
func (p *Predictor) regionTiling(r box, h, w int) tiling {
	th, tw, _ := p.tile()
	if p.opts.Tiling == TileAuto {
		if t, ok := shiftedTiling(r, h, w, th, tw, th*shiftedTileLimit/2, tw*shiftedTileLimit/2, p.b.Network.Divisor()); ok {
			return t
		}
	}
	return regionTiling(r, h, w, th, tw, p.b.Network.Divisor())
}

// locationSlices picks the slices the localisation pass runs on from a
// stack of nk slices of plane pixels: every other one from six slices up.
// Neighbouring slices 8–10 mm apart show nearly the same heart outline, so
// half the slices give the same box at half the cost (it is the largest
// part of the time to the first contour), and a heart part that only a
// skipped slice shows makes the region grow like any other cut.
func locationSlices(stack []float32, nk, plane int) ([]float32, int) {
	step := locationStride(nk)
	if step == 1 {
		return stack, nk
	}
	var out []float32
	n := 0
	for k := 0; k < nk; k += step {
		out = append(out, stack[k*plane:(k+1)*plane]...)
		n++
	}
	return out, n
}

// locationStride is locationSlices' step for a stack of nk slices.
func locationStride(nk int) int {
	if nk < 6 {
		return 1
	}
	return 2
}

// coarse runs the first checkpoint of the sample order on the nk slices of
// stack (each h × w on the padded network grid) with tiling t and returns
// its class-major probabilities (classes × nk × h × w).
func (p *Predictor) coarse(ctx context.Context, stack []float32, nk int, t tiling) ([]float32, error) {
	h, w := t.h, t.w
	classes := p.b.Network.Classes
	out := make([]float32, classes*nk*h*w)
	m := p.models[p.order()[0]]
	err := p.w.Do(ctx, func(s *torch.Scope) error {
		var err error
		s.NoGrad(func() {
			x := s.FromFloat32(stack, int64(nk), 1, int64(h), int64(w))
			if p.dev.CUDA {
				x = s.To(x, p.dev, torch.Float32)
			}
			wn := newWindow(s, t, classes, p.dev)
			if err = s.Err(); err != nil {
				return
			}
			batch := p.batch(t, nk)
			for k0 := 0; k0 < nk; k0 += batch {
				if err = ctx.Err(); err != nil {
					return
				}
				k1 := min(k0+batch, nk)
				err = s.Child(func(c *torch.Scope) error {
					pr := wn.probs(c, func(cs *torch.Scope, x torch.Tensor) torch.Tensor { return p.probs(cs, m, x, false) }, c.Slice(x, 0, int64(k0), int64(k1)))
					data := c.Float32s(c.Permute(pr, 1, 0, 2, 3))
					if err := c.Err(); err != nil {
						return err
					}
					b, plane := k1-k0, h*w
					for cl := 0; cl < classes; cl++ {
						copy(out[(cl*nk+k0)*plane:], data[cl*b*plane:(cl+1)*b*plane])
					}
					return nil
				})
				p.count(t.tiles() * (k1 - k0))
				if err != nil {
					return
				}
			}
		})
		return err
	})
	return out, err
}

// order is the sequence in which checkpoints are sampled: one from each
// training cycle in turn, the latest checkpoint of each cycle first, last
// cycle first, so the first k samples are as multi-modal as k allows.
func (p *Predictor) order() []int {
	cks := p.b.Checkpoints
	byCycle := map[int][]int{}
	var cycles []int
	for i, c := range cks {
		if _, ok := byCycle[c.Cycle]; !ok {
			cycles = append(cycles, c.Cycle)
		}
		byCycle[c.Cycle] = append(byCycle[c.Cycle], i)
	}
	slices.SortFunc(cycles, func(a, b int) int { return cmp.Compare(b, a) })
	for _, c := range cycles {
		idx := byCycle[c]
		slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(cks[b].Epoch, cks[a].Epoch) })
	}
	out := make([]int, 0, len(cks))
	for r := 0; len(out) < len(cks); r++ {
		for _, c := range cycles {
			if r < len(byCycle[c]) {
				out = append(out, byCycle[c][r])
			}
		}
	}
	return out
}

// Order is the checkpoint sample order (indices into the bundle's
// checkpoint list), for reports of how accuracy grows with samples.
func (p *Predictor) Order() []int { return p.order() }

// batch is the number of slices per forward batch for tiling t: bounded
// by the pixel budget (activation memory) and by the slices there are.
func (p *Predictor) batch(t tiling, slices int) int {
	b := p.opts.BatchSlices
	if b == 0 {
		budget := cpuPixels
		if p.dev.CUDA {
			budget = cudaPixels
		}
		per := t.th * t.tw
		if p.tta {
			per *= 4
		}
		b = max(1, budget/per)
	}
	return max(1, min(b, slices))
}

// Pixel budgets per forward pass, which bound activation memory: about
// 1 GB on the CPU and 4 GB on a GPU for a base-32 U-Net.
const (
	cpuPixels  = 1 << 20
	cudaPixels = 1 << 22
)

// group is a set of phases run through the network together.
type group struct {
	phases   []int
	index    int // of phases[0] in the call
	preps    []*Prepared
	out      study.Geometry
	anytime  bool
	o        Stream
	progress func()
	// logits runs only checkpoint logitsOf, once, and emits its raw
	// logits (see Predictor.CheckpointLogits) instead of probabilities.
	logits   bool
	logitsOf int
}

// runGroup runs every sample on the group's phases. It returns the results,
// or a grown tiling when a region turned out too small (the caller runs the
// group again with it).
func (p *Predictor) runGroup(ctx context.Context, g *group, t tiling) ([]*uncertainty.Result, *tiling, error) {
	t0 := time.Now()
	defer p.addTime(&p.timings.Network, t0)
	attempt := func() ([]*uncertainty.Result, *tiling, error) {
		pends := make([]*pending, len(g.preps))
		chans := make([]chan<- []float32, len(g.preps))
		for i := range pends {
			i := i
			var upd func(*uncertainty.Result, int)
			if g.o.OnUpdate != nil {
				upd = func(r *uncertainty.Result, k int) {
					g.o.OnUpdate(Update{Index: g.index + i, Phase: g.phases[i], Samples: k, Total: p.Samples(), Result: r})
				}
			}
			pends[i], chans[i] = p.combine(g.out, g.anytime, upd)
		}
		finish := func() {
			for _, ch := range chans {
				close(ch)
			}
			for _, pd := range pends {
				<-pd.done
			}
		}
		var grown *tiling
		err := p.run(ctx, g, t, func(i int, pr []float32) bool {
			if grown = p.grownFor(t, pr, g.out, g.preps[i]); grown != nil {
				return false
			}
			chans[i] <- pr
			g.progress()
			return true
		})
		finish()
		if err != nil || grown != nil {
			return nil, grown, err
		}
		rs := make([]*uncertainty.Result, len(pends))
		for i, pd := range pends {
			if pd.err != nil {
				return nil, nil, pd.err
			}
			rs[i] = pd.res
		}
		return rs, nil, nil
	}
	rs, grown, err := attempt()
	if err == nil || !p.dev.CUDA || ctx.Err() != nil {
		return rs, grown, err
	}
	p.warn(fmt.Sprintf("CUDA failed (%v); continuing on the CPU", err))
	if ferr := p.fallBackToCPU(); ferr != nil {
		return nil, nil, fmt.Errorf("%v; then moving to the CPU failed: %w", err, ferr)
	}
	return attempt()
}

// grownFor is the larger tiling a sample's map pr asks for when its
// foreground reaches the border of t's heart region; nil when it does not.
func (p *Predictor) grownFor(t tiling, pr []float32, out study.Geometry, prep *Prepared) *tiling {
	if !t.region {
		return nil
	}
	top, bottom, left, right := reachesBorder(pr, p.b.Network.Classes, out, prep, t.covered())
	if !(top || bottom || left || right) {
		return nil
	}
	r := grow(t.covered(), t.h, t.w, top, bottom, left, right)
	nt := p.regionTiling(r, t.h, t.w)
	return &nt
}

func (p *Predictor) fallBackToCPU() error {
	ws := make([][]weights.Tensor, len(p.b.Checkpoints))
	for i := range ws {
		var err error
		if ws[i], err = p.b.Weights(i); err != nil {
			return err
		}
	}
	p.dev = torch.CPU
	return p.w.Do(context.Background(), func(s *torch.Scope) error { return p.loadModels(s, ws) })
}

// run is one attempt at a group on the current device: for every sample
// (checkpoint in sample order, or dropout pass), every batch of slices of
// all the group's phases; then emit(i, map) with phase i's class-major
// probabilities on the output grid. emit runs on the worker's goroutine;
// returning false stops the run.
func (p *Predictor) run(ctx context.Context, g *group, t tiling, emit func(i int, pr []float32) bool) error {
	out := g.out
	first := g.preps[0]
	for _, prep := range g.preps {
		if out.Dims[2] != prep.Grid.Dims[2] {
			return fmt.Errorf("output grid has %d slices, the network grid %d", out.Dims[2], prep.Grid.Dims[2])
		}
	}
	nk, h, w := first.Grid.Dims[2], first.Height, first.Width
	all := nk * len(g.preps)
	batch := p.batch(t, all)
	classes, plane, n := p.b.Network.Classes, out.Dims[0]*out.Dims[1], out.N()
	models, passes := p.order(), p.passes()
	if g.logits {
		models, passes = []int{g.logitsOf}, 1
	}
	train := passes > 1
	// What this attempt holds at once: the stack, one sample's maps per
	// phase, and the blended tiles of one batch (with mirrored copies).
	if err := membudget.CheckElems("ensemble: slices of the phases run together", 4, all, h, w); err != nil {
		return err
	}
	if err := membudget.CheckElems("ensemble: one sample's probability maps", 4, len(g.preps), classes, n); err != nil {
		return err
	}
	if err := membudget.CheckElems("ensemble: a batch's blended probabilities", 4, batch, 4*classes, h, w); err != nil {
		return err
	}
	// The group's slices, phase after phase, as one stack.
	stack := first.Slices
	if len(g.preps) > 1 {
		stack = make([]float32, 0, all*h*w)
		for _, prep := range g.preps {
			stack = append(stack, prep.Slices...)
		}
	}
	return p.w.Do(ctx, func(s *torch.Scope) error {
		// Dropout passes draw from torch's generator: seed it so a
		// prediction is reproducible.
		s.ManualSeed(0)
		var err error
		s.NoGrad(func() {
			x := s.FromFloat32(stack, int64(all), 1, int64(h), int64(w))
			if p.dev.CUDA {
				x = s.To(x, p.dev, torch.Float32)
			}
			// One window per distinct tiling: shifted tiles give every
			// sample its own tile.
			windows := map[[2]int]*window{}
			windowFor := func(tl tiling) *window {
				if tl.th == h && tl.tw == w && !tl.region {
					return nil
				}
				key := [2]int{tl.ys[0], tl.xs[0]}
				if wn, ok := windows[key]; ok {
					return wn
				}
				wn := newWindow(s, tl, classes, p.dev)
				if g.logits {
					// No one-hot background where no tile runs: logits
					// there are not the network's (CheckpointLogits says
					// which voxels are inside).
					wn.outside = torch.Tensor{}
				}
				windows[key] = wn
				return wn
			}
			for _, mi := range models {
				m := p.models[mi]
				tl := t.sample(slices.Index(p.order(), mi))
				wn := windowFor(tl)
				if err = s.Err(); err != nil {
					return
				}
				for pass := 0; pass < passes; pass++ {
					bufs := make([][]float32, len(g.preps))
					for i := range bufs {
						bufs[i] = make([]float32, classes*n)
					}
					for k0 := 0; k0 < all; k0 += batch {
						if err = ctx.Err(); err != nil {
							return
						}
						k1 := min(k0+batch, all)
						err = s.Child(func(c *torch.Scope) error {
							xb := c.Slice(x, 0, int64(k0), int64(k1))
							var pr torch.Tensor
							if wn != nil {
								pr = wn.probs(c, func(cs *torch.Scope, t torch.Tensor) torch.Tensor { return p.sample(cs, m, t, train, g.logits) }, xb)
							} else {
								pr = p.sample(c, m, xb, train, g.logits)
							}
							// One transfer per batch: (classes, slices, rows, cols).
							data := c.Float32s(p.toOutput(c, pr, first, out))
							if err := c.Err(); err != nil {
								return err
							}
							b := k1 - k0
							for k := k0; k < k1; k++ {
								buf, local := bufs[k/nk], k%nk
								for cl := 0; cl < classes; cl++ {
									src := data[(cl*b+k-k0)*plane : (cl*b+k-k0+1)*plane]
									copy(buf[cl*n+local*plane:], src)
								}
							}
							return nil
						})
						p.count(tl.tiles() * (k1 - k0))
						if err != nil {
							err = fmt.Errorf("checkpoint %s: %w", p.b.Checkpoints[mi].File, err)
							return
						}
					}
					for i, buf := range bufs {
						if !emit(i, buf) {
							return
						}
					}
				}
			}
		})
		return err
	})
}

// collect runs one phase and returns every sample's map, in sample order
// (tests).
func (p *Predictor) collect(ctx context.Context, prep *Prepared, out study.Geometry) ([][]float32, error) {
	t, err := p.tilingFor(ctx, prep)
	if err != nil {
		return nil, err
	}
	var all [][]float32
	g := &group{preps: []*Prepared{prep}, phases: []int{0}, out: out}
	err = p.run(ctx, g, t, func(_ int, pr []float32) bool { all = append(all, pr); return true })
	return all, err
}

// pending is a phase whose samples are being combined.
type pending struct {
	done chan struct{} // closed when res or err is set
	res  *uncertainty.Result
	err  error
}

// combine starts the goroutine that folds a phase's samples, as they come
// through the returned channel, into an uncertainty.Accumulator on grid g,
// so the host-side combination of sample m overlaps the network pass of
// sample m+1. Closing the channel finishes the result. With anytime, every
// sample yields a provisional result for update; otherwise only the final
// one does.
func (p *Predictor) combine(g study.Geometry, anytime bool, update func(*uncertainty.Result, int)) (*pending, chan<- []float32) {
	pd := &pending{done: make(chan struct{})}
	// One sample may wait while the next one is computed.
	ch := make(chan []float32, 1)
	total := p.Samples()
	go func() {
		defer close(pd.done)
		acc := uncertainty.NewAccumulator(g, p.b.Network.Classes)
		var cleaned [][]uint8 // post-processed samples, each cleaned once
		for pr := range ch {
			if pd.err != nil {
				continue
			}
			t0 := time.Now()
			pd.err = acc.Add(pr)
			if pd.err == nil && anytime && update != nil && acc.Checkpoints() < total {
				update(p.finish(acc, &cleaned), acc.Checkpoints())
			}
			p.addTime(&p.timings.Combine, t0)
		}
		if pd.err == nil && acc.Checkpoints() == total {
			t0 := time.Now()
			pd.res = p.finish(acc, &cleaned)
			p.addTime(&p.timings.Combine, t0)
			if update != nil {
				update(pd.res, total)
			}
		}
	}()
	return pd, ch
}

// finish is the accumulator's result, post-processed as the bundle says.
// cleaned holds the samples post-processed by earlier calls on the same
// accumulator (anytime updates), so each sample is cleaned once, not once
// per update.
func (p *Predictor) finish(acc *uncertainty.Accumulator, cleaned *[][]uint8) *uncertainty.Result {
	r := acc.Result()
	if spec := p.b.Inference.Postprocess; !p.opts.RawLabels && !spec.IsZero() {
		postprocessResult(r, spec, cleaned)
	}
	return r
}

// postprocessResult applies spec to the prediction and to every posterior
// sample, so the samples behind the credible intervals are cleaned the same
// way as the labels they bracket. Slice scores stay those of the raw
// samples: the QC threshold was calibrated on them. Samples already in
// *cleaned are taken from there; the others are cleaned and appended.
func postprocessResult(r *uncertainty.Result, spec postprocess.Spec, cleaned *[][]uint8) {
	spec.Apply(r.Labels, r.Dims)
	for k, s := range r.SampleLabels {
		if k < len(*cleaned) {
			r.SampleLabels[k] = (*cleaned)[k]
			continue
		}
		s = slices.Clone(s) // shared with the accumulator
		spec.Apply(s, r.Dims)
		r.SampleLabels[k] = s
		*cleaned = append(*cleaned, s)
	}
}

// count adds network evaluations (one tile of one slice, mirrored copies
// counted once).
func (p *Predictor) count(n int) {
	p.mu.Lock()
	p.evaluations += n
	p.mu.Unlock()
}

// Evaluations is the number of network evaluations (tiles × slices, per
// sample, plus the localisation pass) of the last call.
func (p *Predictor) Evaluations() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.evaluations
}

// Region describes where the last call ran the ensemble, for the output's
// provenance: "heart region 160×128 px of 240×224 (1 tile per slice);
// outside: background".
func (p *Predictor) Region() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.regions) == 0 {
		return ""
	}
	t := p.regions[len(p.regions)-1]
	if !t.region {
		if t.tiles() == 1 {
			return "whole slices"
		}
		return fmt.Sprintf("sliding window over the whole %d×%d px slice (%d tiles per slice)", t.w, t.h, t.tiles())
	}
	c := t.covered()
	if len(t.shifts) > 0 {
		return fmt.Sprintf("heart region %d×%d px of the %d×%d px slice (1 tile per slice and checkpoint, shifted per checkpoint); outside it every voxel is background with probability 1",
			c.x1-c.x0, c.y1-c.y0, t.w, t.h)
	}
	return fmt.Sprintf("heart region %d×%d px of the %d×%d px slice (%d tile(s) per slice); outside it every voxel is background with probability 1",
		c.x1-c.x0, c.y1-c.y0, t.w, t.h, t.tiles())
}
