// Package unet is the nnU-Net-style 2D U-Net shared by inference and
// training: per stage two 3×3 conv → InstanceNorm(affine, eps 1e-5) →
// LeakyReLU(0.01) blocks, strided-conv downsampling, transposed-conv
// upsampling, skip concatenation, a 1×1 head and optional deep-supervision
// heads and dropout.
package unet

import (
	"fmt"

	"cmrseg/inference/torch"
	"cmrseg/inference/weights"
)

// Config fixes the architecture. Parameter names and shapes follow from it,
// so a checkpoint fits exactly one Config.
type Config struct {
	InChannels    int     `toml:"in_channels" json:"in_channels"`
	Classes       int     `toml:"classes" json:"classes"`
	Stages        int     `toml:"stages" json:"stages"`
	BaseFeatures  int     `toml:"base_features" json:"base_features"`
	MaxFeatures   int     `toml:"max_features" json:"max_features"`
	ConvsPerStage int     `toml:"convs_per_stage" json:"convs_per_stage"`
	Dropout       float64 `toml:"dropout" json:"dropout"` // channel dropout before each encoder block's second conv; 0 disables (MC-Dropout baseline uses it)
}

// Default is nnU-Net's 2D configuration for ACDC-sized inputs.
func Default() Config {
	return Config{InChannels: 1, Classes: 4, Stages: 6, BaseFeatures: 32, MaxFeatures: 512, ConvsPerStage: 2}
}

// Validate reports the first impossible setting.
func (c Config) Validate() error {
	switch {
	case c.InChannels < 1:
		return fmt.Errorf("unet: in_channels %d < 1", c.InChannels)
	case c.Classes < 2:
		return fmt.Errorf("unet: classes %d < 2", c.Classes)
	case c.Stages < 2 || c.Stages > 8:
		return fmt.Errorf("unet: stages %d outside 2..8", c.Stages)
	case c.BaseFeatures < 1 || c.MaxFeatures < c.BaseFeatures:
		return fmt.Errorf("unet: base_features %d / max_features %d", c.BaseFeatures, c.MaxFeatures)
	case c.ConvsPerStage < 1:
		return fmt.Errorf("unet: convs_per_stage %d < 1", c.ConvsPerStage)
	case c.Dropout < 0 || c.Dropout >= 1:
		return fmt.Errorf("unet: dropout %g outside [0,1)", c.Dropout)
	}
	return nil
}

// Features of stage s: base·2^s capped at MaxFeatures.
func (c Config) Features(s int) int {
	f := c.BaseFeatures << s
	return min(f, c.MaxFeatures)
}

// Params is the number of learnable parameters.
func (c Config) Params() int64 {
	n := int64(0)
	for _, p := range c.Specs() {
		k := int64(1)
		for _, d := range p.Shape {
			k *= d
		}
		n += k
	}
	return n
}

// Divisor is the factor input height and width must be multiples of.
func (c Config) Divisor() int { return 1 << (c.Stages - 1) }

// ParamSpec names one parameter and its shape.
type ParamSpec struct {
	Name  string
	Shape []int64
	kind  paramKind
}

type paramKind int

const (
	convWeight paramKind = iota
	bias
	normWeight
	normBias
)

// Specs lists every parameter in a fixed order (the checkpoint order).
func (c Config) Specs() []ParamSpec {
	var ps []ParamSpec
	conv := func(prefix string, in, out, k int) {
		ps = append(ps,
			ParamSpec{prefix + ".conv.weight", []int64{int64(out), int64(in), int64(k), int64(k)}, convWeight},
			ParamSpec{prefix + ".conv.bias", []int64{int64(out)}, bias},
			ParamSpec{prefix + ".norm.weight", []int64{int64(out)}, normWeight},
			ParamSpec{prefix + ".norm.bias", []int64{int64(out)}, normBias})
	}
	in := c.InChannels
	for s := 0; s < c.Stages; s++ {
		f := c.Features(s)
		for b := 0; b < c.ConvsPerStage; b++ {
			conv(fmt.Sprintf("encoder.%d.%d", s, b), in, f, 3)
			in = f
		}
	}
	for s := c.Stages - 2; s >= 0; s-- {
		f, below := c.Features(s), c.Features(s+1)
		ps = append(ps,
			ParamSpec{fmt.Sprintf("decoder.%d.up.weight", s), []int64{int64(below), int64(f), 2, 2}, convWeight},
			ParamSpec{fmt.Sprintf("decoder.%d.up.bias", s), []int64{int64(f)}, bias})
		in := 2 * f
		for b := 0; b < c.ConvsPerStage; b++ {
			conv(fmt.Sprintf("decoder.%d.%d", s, b), in, f, 3)
			in = f
		}
		ps = append(ps,
			ParamSpec{fmt.Sprintf("decoder.%d.head.weight", s), []int64{int64(c.Classes), int64(f), 1, 1}, convWeight},
			ParamSpec{fmt.Sprintf("decoder.%d.head.bias", s), []int64{int64(c.Classes)}, bias})
	}
	return ps
}

// Model is a network's parameters, kept outside any Scope. Create, use and
// Free it on the torch worker.
type Model struct {
	Config Config
	specs  []ParamSpec
	params []torch.Tensor
	index  map[string]int
}

// New allocates a model with nnU-Net's He initialisation (kaiming normal,
// negative slope 0.01) for conv weights, zero biases and unit norm scales.
// Seed torch first (Scope.ManualSeed) for reproducible weights.
func New(s *torch.Scope, cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m := &Model{Config: cfg, specs: cfg.Specs(), index: map[string]int{}}
	for i, p := range m.specs {
		t := s.Zeros(torch.Float32, torch.CPU, p.Shape...)
		switch p.kind {
		case convWeight:
			s.KaimingNormal(t, 0.01)
		case normWeight:
			s.ZeroInPlace(t)
			s.CopyInto(t, s.AddScalar(s.Zeros(torch.Float32, torch.CPU, p.Shape...), 1))
		}
		s.SetRequiresGrad(t, true)
		m.params = append(m.params, s.Keep(t))
		m.index[p.Name] = i
	}
	if err := s.Err(); err != nil {
		m.Free()
		return nil, err
	}
	return m, nil
}

// Free releases the parameters (on the worker).
func (m *Model) Free() {
	for _, p := range m.params {
		p.Free()
	}
	m.params = nil
}

// Params returns the parameter tensors in checkpoint order.
func (m *Model) Params() []torch.Tensor { return m.params }

// Specs returns the parameter names and shapes in checkpoint order.
func (m *Model) Specs() []ParamSpec { return m.specs }

// To moves the parameters to a device (e.g. CUDA), keeping requires-grad.
func (m *Model) To(s *torch.Scope, dev torch.Device) error {
	for i, p := range m.params {
		q := s.To(p, dev, torch.Float32)
		if s.Err() != nil {
			return s.Err()
		}
		s.SetRequiresGrad(q, true)
		m.params[i] = s.Keep(q)
		p.Free()
	}
	return s.Err()
}

// Export copies the parameters out as named float32 arrays.
func (m *Model) Export(s *torch.Scope) ([]weights.Tensor, error) {
	out := make([]weights.Tensor, len(m.specs))
	for i, p := range m.specs {
		out[i] = weights.Tensor{Name: p.Name, Shape: p.Shape, Data: s.Float32s(m.params[i])}
	}
	return out, s.Err()
}

// Load overwrites the parameters with named arrays; every parameter must be
// present with its exact shape, and nothing else.
func (m *Model) Load(s *torch.Scope, ws []weights.Tensor) error {
	if len(ws) != len(m.specs) {
		return fmt.Errorf("unet: checkpoint has %d tensors, architecture needs %d", len(ws), len(m.specs))
	}
	for _, w := range ws {
		i, ok := m.index[w.Name]
		if !ok {
			return fmt.Errorf("unet: checkpoint tensor %q is not part of this architecture", w.Name)
		}
		if fmt.Sprint(w.Shape) != fmt.Sprint(m.specs[i].Shape) {
			return fmt.Errorf("unet: checkpoint tensor %q has shape %v, architecture needs %v", w.Name, w.Shape, m.specs[i].Shape)
		}
		dev := s.DeviceOf(m.params[i])
		src := s.FromFloat32(w.Data, w.Shape...)
		if dev.CUDA {
			src = s.To(src, dev, torch.Float32)
		}
		s.CopyInto(m.params[i], src)
	}
	return s.Err()
}

func (m *Model) p(name string) torch.Tensor { return m.params[m.index[name]] }

// block is conv → InstanceNorm → LeakyReLU. Intermediates are freed as
// soon as they are used: freeing a handle only drops this package's
// reference (autograd keeps what backward needs), so peak memory follows
// the live tensors, as in PyTorch, instead of everything the scope made.
func (m *Model) block(s *torch.Scope, x torch.Tensor, prefix string, stride int) torch.Tensor {
	y := s.Conv2d(x, m.p(prefix+".conv.weight"), m.p(prefix+".conv.bias"), stride, 1)
	z := s.InstanceNorm(y, m.p(prefix+".norm.weight"), m.p(prefix+".norm.bias"), 1e-5)
	y.Free()
	out := s.LeakyReLU(z, 0.01)
	z.Free()
	return out
}

// Forward maps an (N, InChannels, H, W) batch to class logits
// (N, Classes, H, W). With deepSupervision it also returns the logits of
// the lower decoder stages, highest resolution first (training only).
// train switches dropout on. H and W must be multiples of Divisor().
func (m *Model) Forward(s *torch.Scope, x torch.Tensor, train, deepSupervision bool) []torch.Tensor {
	c := m.Config
	if sh := s.Shape(x); len(sh) == 4 && (sh[2]%int64(c.Divisor()) != 0 || sh[3]%int64(c.Divisor()) != 0) {
		s.Fail(fmt.Errorf("unet: input %dx%d is not a multiple of %d", sh[2], sh[3], c.Divisor()))
		return nil
	}
	skips := make([]torch.Tensor, c.Stages)
	h := x
	// release frees a tensor this function made once nothing needs it.
	release := func(t torch.Tensor) {
		if t != x {
			t.Free()
		}
	}
	for st := 0; st < c.Stages; st++ {
		for b := 0; b < c.ConvsPerStage; b++ {
			stride := 1
			if b == 0 && st > 0 {
				stride = 2
			}
			in := h
			if b == 1 && c.Dropout > 0 {
				h = s.Dropout2d(h, c.Dropout, train)
				if b > 0 {
					release(in)
				}
				in = h
			}
			h = m.block(s, in, fmt.Sprintf("encoder.%d.%d", st, b), stride)
			if b > 0 { // the stage input (b == 0) is the previous skip or x
				release(in)
			}
		}
		skips[st] = h
	}
	var outs []torch.Tensor
	for st := c.Stages - 2; st >= 0; st-- {
		up := s.ConvTranspose2d(h, m.p(fmt.Sprintf("decoder.%d.up.weight", st)), m.p(fmt.Sprintf("decoder.%d.up.bias", st)), 2)
		release(h) // the bottleneck or the previous decoder stage's output
		h = s.Cat(1, up, skips[st])
		up.Free()
		release(skips[st])
		for b := 0; b < c.ConvsPerStage; b++ {
			in := h
			h = m.block(s, in, fmt.Sprintf("decoder.%d.%d", st, b), 1)
			release(in)
		}
		if st == 0 || deepSupervision {
			outs = append(outs, s.Conv2d(h, m.p(fmt.Sprintf("decoder.%d.head.weight", st)), m.p(fmt.Sprintf("decoder.%d.head.bias", st)), 1, 0))
		}
	}
	release(h)
	// Highest resolution first.
	for i, j := 0, len(outs)-1; i < j; i, j = i+1, j-1 {
		outs[i], outs[j] = outs[j], outs[i]
	}
	return outs
}
