// Package schedule computes the learning rate of every training epoch and
// which epochs' checkpoints form the posterior ensemble: the cyclical
// schedule of Zhao et al. (MICCAI 2022, Eq. 4) and nnU-Net's poly baseline.
package schedule

import (
	"fmt"
	"math"
)

// Schedule gives the learning rate of an epoch (0-based).
type Schedule interface {
	LR(epoch int) float64
}

// Cyclical is Eq. 4 as the paper's reference fork implements it: T epochs
// split into M cycles of Tc = T/M epochs; in-cycle epoch t = epoch mod Tc;
// η = LRRestart at t = 0 (every cycle, the first included), otherwise
// η = LR0·(1 − min(t, Beta·Tc)/Tc)^Gamma, so the rate decays and then holds
// its floor for the last (1 − Beta) of the cycle, where checkpoints are kept.
type Cyclical struct {
	Epochs    int     // T, total epochs
	Cycles    int     // M, number of cycles; must divide Epochs
	LR0       float64 // η0
	LRRestart float64 // η_restart
	Gamma     float64 // γ, decay exponent
	Beta      float64 // β in (0, 1], fraction of the cycle that decays
}

// Paper returns the paper's values: η0 0.01, γ 0.9, η_restart 0.1, M 3,
// T 1200, β 0.8.
func Paper() Cyclical {
	return Cyclical{Epochs: 1200, Cycles: 3, LR0: 0.01, LRRestart: 0.1, Gamma: 0.9, Beta: 0.8}
}

// Validate reports the first field that makes the schedule meaningless.
func (c Cyclical) Validate() error {
	switch {
	case c.Epochs <= 0:
		return fmt.Errorf("schedule: epochs must be positive, got %d", c.Epochs)
	case c.Cycles <= 0:
		return fmt.Errorf("schedule: cycles must be positive, got %d", c.Cycles)
	case c.Epochs%c.Cycles != 0:
		return fmt.Errorf("schedule: %d epochs are not divisible by %d cycles", c.Epochs, c.Cycles)
	case !(c.LR0 > 0) || math.IsInf(c.LR0, 0):
		return fmt.Errorf("schedule: lr0 must be a positive number, got %g", c.LR0)
	case !(c.LRRestart > 0) || math.IsInf(c.LRRestart, 0):
		return fmt.Errorf("schedule: lr_restart must be a positive number, got %g", c.LRRestart)
	case !(c.Gamma > 0) || math.IsInf(c.Gamma, 0):
		return fmt.Errorf("schedule: gamma must be a positive number, got %g", c.Gamma)
	case !(c.Beta > 0 && c.Beta <= 1):
		return fmt.Errorf("schedule: beta must lie in (0, 1], got %g", c.Beta)
	}
	return nil
}

// CycleLength is Tc = T/M in epochs (0 for an invalid schedule).
func (c Cyclical) CycleLength() int {
	if c.Cycles <= 0 || c.Epochs <= 0 {
		return 0
	}
	return c.Epochs / c.Cycles
}

// Cycle returns the cycle an epoch belongs to and its in-cycle epoch t.
// Epochs outside [0, T) are clamped so a caller's off-by-one cannot index
// a cycle that does not exist.
func (c Cyclical) Cycle(epoch int) (cycle, t int) {
	tc := c.CycleLength()
	if tc <= 0 {
		return 0, 0
	}
	epoch = clamp(epoch, c.Epochs)
	return epoch / tc, epoch % tc
}

// LR is η for the epoch (clamped to [0, T)).
func (c Cyclical) LR(epoch int) float64 {
	tc := c.CycleLength()
	if tc <= 0 {
		return c.LR0
	}
	_, t := c.Cycle(epoch)
	if t == 0 {
		return c.LRRestart
	}
	ft := math.Min(float64(t), c.Beta*float64(tc))
	return c.LR0 * math.Pow(1-ft/float64(tc), c.Gamma)
}

// Poly is nnU-Net's schedule for the single-model baseline (one cycle, no
// restart): η = LR0·(1 − epoch/T)^Exponent, with Exponent 0.9 in nnU-Net.
type Poly struct {
	Epochs   int
	LR0      float64
	Exponent float64
}

// NNUNetPoly is nnU-Net's default: η0 0.01, exponent 0.9.
func NNUNetPoly(epochs int) Poly { return Poly{Epochs: epochs, LR0: 0.01, Exponent: 0.9} }

// Validate reports the first field that makes the schedule meaningless.
func (p Poly) Validate() error {
	switch {
	case p.Epochs <= 0:
		return fmt.Errorf("schedule: epochs must be positive, got %d", p.Epochs)
	case !(p.LR0 > 0) || math.IsInf(p.LR0, 0):
		return fmt.Errorf("schedule: lr0 must be a positive number, got %g", p.LR0)
	case !(p.Exponent > 0) || math.IsInf(p.Exponent, 0):
		return fmt.Errorf("schedule: poly exponent must be a positive number, got %g", p.Exponent)
	}
	return nil
}

// LR is η for the epoch (clamped to [0, T)).
func (p Poly) LR(epoch int) float64 {
	if p.Epochs <= 0 {
		return p.LR0
	}
	e := clamp(epoch, p.Epochs)
	return p.LR0 * math.Pow(1-float64(e)/float64(p.Epochs), p.Exponent)
}

// CheckpointEpochs lists, ascending, the 0-based epochs whose checkpoints
// are kept: in each of the cycles, the cycle's last epoch and keep−1 more
// going back spacing epochs at a time (spacing 1 = the last keep epochs).
func CheckpointEpochs(epochs, cycles, keep, spacing int) ([]int, error) {
	switch {
	case epochs <= 0:
		return nil, fmt.Errorf("checkpoints: epochs must be positive, got %d", epochs)
	case cycles <= 0:
		return nil, fmt.Errorf("checkpoints: cycles must be positive, got %d", cycles)
	case epochs%cycles != 0:
		return nil, fmt.Errorf("checkpoints: %d epochs are not divisible by %d cycles", epochs, cycles)
	case keep <= 0:
		return nil, fmt.Errorf("checkpoints: keep per cycle must be positive, got %d", keep)
	case spacing <= 0:
		return nil, fmt.Errorf("checkpoints: spacing must be positive, got %d", spacing)
	}
	tc := epochs / cycles
	if (keep-1)*spacing >= tc {
		return nil, fmt.Errorf("checkpoints: %d checkpoints %d epochs apart do not fit in a %d-epoch cycle", keep, spacing, tc)
	}
	out := make([]int, 0, keep*cycles)
	for c := 0; c < cycles; c++ {
		last := (c+1)*tc - 1
		for i := keep - 1; i >= 0; i-- {
			out = append(out, last-i*spacing)
		}
	}
	return out, nil
}

func clamp(epoch, n int) int {
	if epoch < 0 {
		return 0
	}
	if epoch >= n {
		return n - 1
	}
	return epoch
}
