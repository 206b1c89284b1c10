package trainer

import (
	"fmt"

	"cmrseg/inference/torch"
	"cmrseg/inference/unet"
)

// MaxSlicesPerForward bounds the slices of one whole-slice forward pass.
const MaxSlicesPerForward = 16

// ForwardVolume runs the network on every whole slice of a preprocessed
// volume (dims W, H, K; layout i fastest, then j, then k) and returns the
// logits, (K, C, H, W) row-major. Slices are padded with zeros on the
// right and bottom to a multiple of the network's divisor and the logits
// cropped back. dropout keeps dropout active (MC-Dropout sampling);
// otherwise the forward is deterministic. Runs without autograd.
func ForwardVolume(s *torch.Scope, m *unet.Model, img []float32, dims [3]int, dev torch.Device, dropout bool) ([]float32, error) {
	w, h, k := dims[0], dims[1], dims[2]
	if len(img) != w*h*k {
		return nil, fmt.Errorf("trainer: %d voxels for a %d×%d×%d volume", len(img), w, h, k)
	}
	div := m.Config.Divisor()
	ph, pw := (h+div-1)/div*div, (w+div-1)/div*div
	classes := m.Config.Classes
	out := make([]float32, k*classes*h*w)
	for k0 := 0; k0 < k; k0 += MaxSlicesPerForward {
		k1 := min(k, k0+MaxSlicesPerForward)
		err := s.Child(func(c *torch.Scope) error {
			c.NoGrad(func() {
				x := c.FromFloat32(img[k0*w*h:k1*w*h], int64(k1-k0), 1, int64(h), int64(w))
				if ph != h || pw != w {
					x = c.Pad(x, 0, 0, int64(pw-w), 0, int64(ph-h))
				}
				if dev.CUDA {
					x = c.To(x, dev, torch.Float32)
				}
				outs := m.Forward(c, x, dropout, false)
				if c.Err() != nil {
					return
				}
				y := outs[0]
				if ph != h || pw != w {
					y = c.Slice(c.Slice(y, 2, 0, int64(h)), 3, 0, int64(w))
				}
				c.CopyFloat32(y, out[k0*classes*h*w:k1*classes*h*w])
			})
			return c.Err()
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Argmax turns (K, C, H, W) logits or probabilities into labels in the
// volume layout (i fastest, then j, then k); ties go to the lower class.
func Argmax(logits []float32, classes int, dims [3]int) []uint8 {
	w, h, k := dims[0], dims[1], dims[2]
	hw := w * h
	out := make([]uint8, hw*k)
	for z := 0; z < k; z++ {
		base := z * classes * hw
		for i := 0; i < hw; i++ {
			best, bv := 0, logits[base+i]
			for c := 1; c < classes; c++ {
				if v := logits[base+c*hw+i]; v > bv {
					best, bv = c, v
				}
			}
			out[z*hw+i] = uint8(best)
		}
	}
	return out
}
