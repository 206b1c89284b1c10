package trainer

import (
	"fmt"
	"math"

	"cmrseg/inference/torch"
)

// diceSmooth is nnU-Net's smoothing term of the soft Dice.
const diceSmooth = 1e-5

// ClipNorm is nnU-Net's gradient-norm clipping threshold.
const ClipNorm = 12

// DiceCE is ceWeight·CE + diceWeight·(1 − mean soft Dice of the foreground
// classes), the soft Dice computed over the whole batch at once (nnU-Net's
// batch Dice for 2D, background excluded, smooth 1e-5). nnU-Net adds −Dice
// instead of 1 − Dice; the constant changes neither the gradient nor the
// optimum. logits are (N, C, H, W), target int64 (N, H, W).
func DiceCE(s *torch.Scope, logits, target torch.Tensor, classes int, diceWeight, ceWeight float64) torch.Tensor {
	var loss torch.Tensor
	if ceWeight > 0 {
		loss = s.MulScalar(s.CrossEntropy(logits, target), ceWeight)
	}
	if diceWeight > 0 {
		p := s.Softmax(logits, 1)
		oh := s.OneHot(target, classes)
		inter := s.SumDims(s.Mul(p, oh), false, 0, 2, 3)
		denom := s.Add(s.SumDims(p, false, 0, 2, 3), s.SumDims(oh, false, 0, 2, 3))
		dice := s.Div(s.AddScalar(s.MulScalar(inter, 2), diceSmooth), s.AddScalar(denom, diceSmooth))
		fg := s.Mean(s.Slice(dice, 0, 1, int64(classes)))
		d := s.MulScalar(s.AddScalar(s.MulScalar(fg, -1), 1), diceWeight)
		if loss.Valid() {
			loss = s.Add(loss, d)
		} else {
			loss = d
		}
	}
	return loss
}

// DeepSupervisionLoss is Σ_i w_i·DiceCE(outs[i], target_i) over the
// decoder outputs (highest resolution first), each target the labels
// downsampled by nearest neighbour to that output's size. Outputs with
// weight 0 are skipped. target is int64 (N, H, W).
func DeepSupervisionLoss(s *torch.Scope, outs []torch.Tensor, target torch.Tensor, ws []float64, classes int, diceWeight, ceWeight float64) torch.Tensor {
	if len(outs) == 0 || len(outs) > len(ws) {
		s.Fail(fmt.Errorf("trainer: %d network outputs for %d deep-supervision weights", len(outs), len(ws)))
		return torch.Tensor{}
	}
	ts := s.Shape(target)
	if len(ts) != 3 {
		s.Fail(fmt.Errorf("trainer: target shape %v, want (N, H, W)", ts))
		return torch.Tensor{}
	}
	var total, asFloat torch.Tensor
	for i, o := range outs {
		if ws[i] == 0 {
			continue
		}
		t := target
		if sh := s.Shape(o); s.Err() == nil && (sh[2] != ts[1] || sh[3] != ts[2]) {
			if !asFloat.Valid() {
				asFloat = s.To(s.Reshape(target, ts[0], 1, ts[1], ts[2]), s.DeviceOf(target), torch.Float32)
			}
			small := s.Resize(asFloat, int(sh[2]), int(sh[3]), torch.Nearest)
			t = s.To(s.Reshape(small, sh[0], sh[2], sh[3]), s.DeviceOf(target), torch.Int64)
		}
		l := s.MulScalar(DiceCE(s, o, t, classes, diceWeight, ceWeight), ws[i])
		if total.Valid() {
			total = s.Add(total, l)
		} else {
			total = l
		}
	}
	if !total.Valid() {
		s.Fail(fmt.Errorf("trainer: every deep-supervision weight is 0"))
	}
	return total
}

// ClipGradNorm scales the parameters' gradients in place so their global
// L2 norm is at most maxNorm (torch.nn.utils.clip_grad_norm_, which
// nnU-Net applies with 12) and returns the norm before clipping.
// Parameters without a gradient are skipped.
func ClipGradNorm(s *torch.Scope, params []torch.Tensor, maxNorm float64) float64 {
	var norm float64
	err := s.Child(func(c *torch.Scope) error {
		c.NoGrad(func() {
			var sq torch.Tensor
			grads := make([]torch.Tensor, 0, len(params))
			for _, p := range params {
				g := c.Grad(p)
				if c.Err() != nil {
					return
				}
				grads = append(grads, g)
				x := c.Sum(c.Mul(g, g))
				if sq.Valid() {
					sq = c.Add(sq, x)
				} else {
					sq = x
				}
			}
			if !sq.Valid() {
				return
			}
			norm = math.Sqrt(c.Item(sq))
			if c.Err() != nil || !(norm > maxNorm) {
				return
			}
			scale := maxNorm / (norm + 1e-6)
			for _, g := range grads {
				c.CopyInto(g, c.MulScalar(g, scale))
			}
		})
		return c.Err()
	})
	if err != nil {
		return math.NaN()
	}
	return norm
}
