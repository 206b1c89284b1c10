package data

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"

	"cmrseg/training/augment"
)

// Batch is one training batch in the layout the network takes: images
// (N, 1, H, W) and labels (N, H, W), row-major.
type Batch struct {
	Epoch, Iter int
	N, H, W     int
	Image       []float32
	Labels      []int64
	// Foreground[i] says sample i was centred on foreground.
	Foreground []bool
	Err        error
}

// Sampler draws augmented batches from a Set.
type Sampler struct {
	Set        *Set
	Params     augment.Params
	PatchH     int
	PatchW     int
	BatchSize  int
	FGFraction float64 // of each batch centred on foreground (nnU-Net 0.33)
	// Weights steer the foreground draws towards where the model fails;
	// the zero value draws as nnU-Net does.
	Weights augment.SliceWeights
	Seed    int64
}

// weightedDraw is the cumulative weight of every (volume, foreground
// slice) pair, in volume then slice order.
type weightedDraw struct {
	cum      []float64
	vol, sli []int
}

// weighted returns the set's draw for w, built once per w.
func (set *Set) weighted(w augment.SliceWeights) *weightedDraw {
	set.drawMu.Lock()
	defer set.drawMu.Unlock()
	if d := set.draws[w]; d != nil {
		return d
	}
	d := &weightedDraw{}
	by := [3]float64{w.Basal, w.Mid, w.Apical}
	total := 0.0
	for vi, ks := range set.fgSlices {
		phase := 1.0
		if set.endSystolic[vi] {
			phase = w.ES
		}
		for i, k := range ks {
			x := by[set.fgPos[vi][i]] * phase / float64(len(ks))
			if x == 0 {
				continue
			}
			total += x
			d.cum = append(d.cum, total)
			d.vol = append(d.vol, vi)
			d.sli = append(d.sli, k)
		}
	}
	if set.draws == nil {
		set.draws = map[augment.SliceWeights]*weightedDraw{}
	}
	set.draws[w] = d
	return d
}

// foregroundDraw is the draw of a foreground-oversampled sample (fg) under
// active weights, nil otherwise.
func (s *Sampler) foregroundDraw(fg bool) *weightedDraw {
	if !fg || !s.Weights.Active() {
		return nil
	}
	if d := s.Set.weighted(s.Weights); len(d.cum) > 0 {
		return d
	}
	return nil
}

// pick draws one (volume, slice) pair with probability proportional to
// its weight.
func (d *weightedDraw) pick(rng *rand.Rand) (vol, slice int) {
	x := rng.Float64() * d.cum[len(d.cum)-1]
	i, _ := slices.BinarySearch(d.cum, x)
	i = min(i, len(d.cum)-1)
	return d.vol[i], d.sli[i]
}

// Validate checks the sampler's settings.
func (s *Sampler) Validate() error {
	switch {
	case s.Set == nil || len(s.Set.Volumes) == 0:
		return fmt.Errorf("data: sampler has no volumes")
	case s.PatchH <= 0 || s.PatchW <= 0:
		return fmt.Errorf("data: patch %d×%d must be positive", s.PatchH, s.PatchW)
	case s.BatchSize <= 0:
		return fmt.Errorf("data: batch size %d must be positive", s.BatchSize)
	case !(s.FGFraction >= 0 && s.FGFraction <= 1):
		return fmt.Errorf("data: foreground fraction %g outside [0, 1]", s.FGFraction)
	}
	if err := s.Params.Validate(); err != nil {
		return fmt.Errorf("data: augment.%w", err)
	}
	if err := s.Weights.Validate(); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if s.Weights.Active() {
		if len(s.Set.weighted(s.Weights).cum) == 0 {
			return fmt.Errorf("data: the slice weights leave no foreground slice to draw")
		}
	}
	return nil
}

// splitmix64 scrambles a seed so nearby (seed, epoch, iteration) triples
// give unrelated generator states.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// RNG is the generator of one iteration: a PCG keyed by the seed, the
// epoch and the iteration only.
func RNG(seed int64, epoch, iter int) *rand.Rand {
	return rand.New(rand.NewPCG(splitmix64(uint64(seed)), splitmix64(uint64(epoch)<<32|uint64(uint32(iter)))^0x5851f42d4c957f2d))
}

// Draw fills b with the batch of (epoch, iter) using aug (which must have
// the sampler's patch size). The result depends only on the sampler's
// settings, the seed, the epoch and the iteration. Each sample picks a
// volume uniformly, then a slice: one with foreground when the sample is
// one of the batch's foreground-oversampled ones (augment.Oversample),
// any slice otherwise; augment.Sample then crops and augments it. With
// active Weights a foreground-oversampled sample draws its volume and
// slice together, by weight (augment.SliceWeights).
func (s *Sampler) Draw(b *Batch, aug *augment.Augmenter, epoch, iter int) error {
	if aug.PatchW != s.PatchW || aug.PatchH != s.PatchH {
		return fmt.Errorf("data: augmenter patch %d×%d, sampler %d×%d", aug.PatchW, aug.PatchH, s.PatchW, s.PatchH)
	}
	n, hw := s.BatchSize, s.PatchH*s.PatchW
	if len(b.Image) != n*hw {
		b.Image = make([]float32, n*hw)
		b.Labels = make([]int64, n*hw)
		b.Foreground = make([]bool, n)
	}
	b.Epoch, b.Iter, b.N, b.H, b.W, b.Err = epoch, iter, n, s.PatchH, s.PatchW, nil
	rng := RNG(s.Seed, epoch, iter)
	patch := augment.Slice{W: s.PatchW, H: s.PatchH}
	vols := s.Set.Volumes
	for i := 0; i < n; i++ {
		fg := augment.Oversample(i, n, s.FGFraction)
		var vi, k int
		if d := s.foregroundDraw(fg); d != nil {
			vi, k = d.pick(rng)
		} else {
			vi = rng.IntN(len(vols))
			if fgs := s.Set.fgSlices[vi]; fg && len(fgs) > 0 {
				k = fgs[rng.IntN(len(fgs))]
			} else {
				k = rng.IntN(vols[vi].Slices())
			}
		}
		v := vols[vi]
		patch.Image = b.Image[i*hw : (i+1)*hw]
		if patch.Labels == nil {
			patch.Labels = make([]uint8, hw)
		}
		if err := aug.Sample(&patch, v.Slice(k), fg, rng); err != nil {
			return fmt.Errorf("data: case %s phase %d slice %d: %w", v.Case, v.Phase, k, err)
		}
		for j, l := range patch.Labels {
			b.Labels[i*hw+j] = int64(l)
		}
		b.Foreground[i] = fg
	}
	return nil
}

// NewAugmenter makes an augmenter for this sampler's patches (one per
// goroutine).
func (s *Sampler) NewAugmenter() (*augment.Augmenter, error) {
	return augment.New(s.Params, s.PatchW, s.PatchH)
}

// Stream produces the batches of iterations [from, to) of one epoch, in
// order, computed by workers goroutines (≥ 1) at most prefetch batches
// ahead of the consumer. Cancel ctx to stop early; the channel is closed
// after the last batch, after an error batch (Err set), or on cancel.
func (s *Sampler) Stream(ctx context.Context, epoch, from, to, workers, prefetch int) <-chan *Batch {
	workers, prefetch = max(1, workers), max(1, prefetch)
	out := make(chan *Batch, prefetch)
	type job struct {
		iter int
		res  chan *Batch
	}
	jobs := make(chan job)
	slots := make(chan chan *Batch, prefetch)
	go func() { // dispatch in order
		defer close(jobs)
		defer close(slots)
		for it := from; it < to; it++ {
			j := job{it, make(chan *Batch, 1)}
			select {
			case slots <- j.res:
			case <-ctx.Done():
				return
			}
			select {
			case jobs <- j:
			case <-ctx.Done():
				return
			}
		}
	}()
	for w := 0; w < workers; w++ {
		go func() {
			aug, err := s.NewAugmenter()
			for j := range jobs {
				b := &Batch{Epoch: epoch, Iter: j.iter, Err: err}
				if err == nil {
					b.Err = s.Draw(b, aug, epoch, j.iter)
				}
				j.res <- b
			}
		}()
	}
	go func() { // deliver in order
		defer close(out)
		for r := range slots {
			var b *Batch
			select {
			case b = <-r:
			case <-ctx.Done():
				return
			}
			select {
			case out <- b:
			case <-ctx.Done():
				return
			}
			if b.Err != nil {
				return
			}
		}
	}()
	return out
}
