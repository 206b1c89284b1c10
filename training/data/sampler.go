package data

import (
	"context"
	"fmt"
	"math/rand/v2"

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
	Seed       int64
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
// any slice otherwise; augment.Sample then crops and augments it.
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
		vi := rng.IntN(len(vols))
		v := vols[vi]
		var k int
		if fgs := s.Set.fgSlices[vi]; fg && len(fgs) > 0 {
			k = fgs[rng.IntN(len(fgs))]
		} else {
			k = rng.IntN(v.Slices())
		}
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
