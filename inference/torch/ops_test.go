package torch

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"cmrseg/app/shareddata"
)

type inputSpec struct {
	shape  []int64
	grad   bool
	labels int  // >0: int64 class labels in [0, labels)
	pos    bool // strictly positive values (log, div)
}

type opCase struct {
	op     string
	inputs []inputSpec
	run    func(s *Scope, in []Tensor) Tensor
	noGrad bool // output not differentiable (one_hot, argmax)
}

func f(shape ...int64) inputSpec  { return inputSpec{shape: shape, grad: true} }
func fp(shape ...int64) inputSpec { return inputSpec{shape: shape, grad: true, pos: true} }
func lab(shape ...int64) inputSpec {
	return inputSpec{shape: shape, labels: 4}
}

// The ops the U-Net, the losses and the inference pipeline use.
var opCases = []opCase{
	{op: "conv2d_s1", inputs: []inputSpec{f(2, 3, 16, 16), f(8, 3, 3, 3), f(8)},
		run: func(s *Scope, in []Tensor) Tensor { return s.Conv2d(in[0], in[1], in[2], 1, 1) }},
	{op: "conv2d_s2", inputs: []inputSpec{f(2, 4, 16, 16), f(6, 4, 3, 3), f(6)},
		run: func(s *Scope, in []Tensor) Tensor { return s.Conv2d(in[0], in[1], in[2], 2, 1) }},
	{op: "conv_transpose2d", inputs: []inputSpec{f(2, 6, 8, 8), f(6, 4, 2, 2), f(4)},
		run: func(s *Scope, in []Tensor) Tensor { return s.ConvTranspose2d(in[0], in[1], in[2], 2) }},
	{op: "instance_norm", inputs: []inputSpec{f(2, 5, 12, 12), f(5), f(5)},
		run: func(s *Scope, in []Tensor) Tensor { return s.InstanceNorm(in[0], in[1], in[2], 1e-5) }},
	{op: "leaky_relu", inputs: []inputSpec{f(3, 4, 5, 5)},
		run: func(s *Scope, in []Tensor) Tensor { return s.LeakyReLU(in[0], 0.01) }},
	{op: "cat", inputs: []inputSpec{f(2, 3, 4, 4), f(2, 5, 4, 4)},
		run: func(s *Scope, in []Tensor) Tensor { return s.Cat(1, in[0], in[1]) }},
	{op: "softmax", inputs: []inputSpec{f(2, 4, 6, 6)},
		run: func(s *Scope, in []Tensor) Tensor { return s.Softmax(in[0], 1) }},
	{op: "log_softmax", inputs: []inputSpec{f(2, 4, 6, 6)},
		run: func(s *Scope, in []Tensor) Tensor { return s.LogSoftmax(in[0], 1) }},
	{op: "cross_entropy", inputs: []inputSpec{f(2, 4, 6, 6), lab(2, 6, 6)},
		run: func(s *Scope, in []Tensor) Tensor { return s.CrossEntropy(in[0], in[1]) }},
	{op: "exp", inputs: []inputSpec{f(3, 7)},
		run: func(s *Scope, in []Tensor) Tensor { return s.Exp(in[0]) }},
	{op: "log", inputs: []inputSpec{fp(3, 7)},
		run: func(s *Scope, in []Tensor) Tensor { return s.Log(in[0]) }},
	{op: "add", inputs: []inputSpec{f(2, 3, 4), f(2, 3, 4)},
		run: func(s *Scope, in []Tensor) Tensor { return s.Add(in[0], in[1]) }},
	{op: "sub", inputs: []inputSpec{f(2, 3, 4), f(3, 4)},
		run: func(s *Scope, in []Tensor) Tensor { return s.Sub(in[0], in[1]) }},
	{op: "mul", inputs: []inputSpec{f(2, 3, 4), f(2, 3, 4)},
		run: func(s *Scope, in []Tensor) Tensor { return s.Mul(in[0], in[1]) }},
	{op: "div", inputs: []inputSpec{f(2, 3, 4), fp(2, 3, 4)},
		run: func(s *Scope, in []Tensor) Tensor { return s.Div(in[0], in[1]) }},
	{op: "mul_scalar", inputs: []inputSpec{f(5, 5)},
		run: func(s *Scope, in []Tensor) Tensor { return s.MulScalar(in[0], 2.5) }},
	{op: "add_scalar", inputs: []inputSpec{f(5, 5)},
		run: func(s *Scope, in []Tensor) Tensor { return s.AddScalar(in[0], 1e-5) }},
	{op: "sum_dims", inputs: []inputSpec{f(2, 4, 5, 5)},
		run: func(s *Scope, in []Tensor) Tensor { return s.SumDims(in[0], false, 0, 2, 3) }},
	{op: "mean_dims", inputs: []inputSpec{f(2, 4, 5, 5)},
		run: func(s *Scope, in []Tensor) Tensor { return s.MeanDims(in[0], true, 2, 3) }},
	{op: "mean", inputs: []inputSpec{f(2, 4, 5, 5)},
		run: func(s *Scope, in []Tensor) Tensor { return s.Mean(in[0]) }},
	{op: "sum", inputs: []inputSpec{f(2, 4, 5, 5)},
		run: func(s *Scope, in []Tensor) Tensor { return s.Sum(in[0]) }},
	{op: "flip", inputs: []inputSpec{f(2, 3, 4, 5)},
		run: func(s *Scope, in []Tensor) Tensor { return s.Flip(in[0], 3) }},
	{op: "pad", inputs: []inputSpec{f(2, 3, 4, 5)},
		run: func(s *Scope, in []Tensor) Tensor { return s.Pad(in[0], 0, 1, 2, 3, 0) }},
	{op: "crop", inputs: []inputSpec{f(2, 3, 6, 7)},
		run: func(s *Scope, in []Tensor) Tensor { return s.Pad(in[0], 0, -1, -2, -1, -1) }},
	{op: "resize_bilinear", inputs: []inputSpec{f(2, 3, 8, 6)},
		run: func(s *Scope, in []Tensor) Tensor { return s.Resize(in[0], 13, 9, Bilinear) }},
	{op: "resize_nearest", inputs: []inputSpec{f(2, 3, 8, 6)},
		run: func(s *Scope, in []Tensor) Tensor { return s.Resize(in[0], 13, 9, Nearest) }},
	{op: "dropout_eval", inputs: []inputSpec{f(2, 3, 4, 4)},
		run: func(s *Scope, in []Tensor) Tensor { return s.Dropout2d(in[0], 0.5, false) }},
	{op: "permute", inputs: []inputSpec{f(2, 3, 4, 5)},
		run: func(s *Scope, in []Tensor) Tensor { return s.Permute(in[0], 0, 2, 3, 1) }},
	{op: "reshape", inputs: []inputSpec{f(2, 3, 4, 5)},
		run: func(s *Scope, in []Tensor) Tensor { return s.Reshape(in[0], 2, -1) }},
	{op: "slice", inputs: []inputSpec{f(2, 4, 3, 3)},
		run: func(s *Scope, in []Tensor) Tensor { return s.Slice(in[0], 1, 1, 3) }},
	{op: "one_hot", inputs: []inputSpec{lab(2, 5, 6)}, noGrad: true,
		run: func(s *Scope, in []Tensor) Tensor { return s.OneHot(in[0], 4) }},
	{op: "argmax", inputs: []inputSpec{f(2, 4, 5, 6)}, noGrad: true,
		run: func(s *Scope, in []Tensor) Tensor { return s.To(s.Argmax(in[0], 1), CPU, Float32) }},
	{op: "dice_ce", inputs: []inputSpec{f(2, 4, 8, 8), lab(2, 8, 8)},
		run: func(s *Scope, in []Tensor) Tensor { return diceCE(s, in[0], in[1]) }},
}

// diceCE composes the trainer's loss from runtime ops, as the reference does.
func diceCE(s *Scope, logits, target Tensor) Tensor {
	p := s.Softmax(logits, 1)
	oh := s.OneHot(target, 4)
	inter := s.SumDims(s.Mul(p, oh), false, 0, 2, 3)
	denom := s.Add(s.SumDims(p, false, 0, 2, 3), s.SumDims(oh, false, 0, 2, 3))
	dice := s.Div(s.AddScalar(s.MulScalar(inter, 2), 1e-5), s.AddScalar(denom, 1e-5))
	fg := s.Mean(s.Slice(dice, 0, 1, 4))
	return s.Add(s.CrossEntropy(logits, target), s.AddScalar(s.MulScalar(fg, -1), 1))
}

type pyInput struct {
	Path    string  `json:"path"`
	Dtype   string  `json:"dtype"`
	Shape   []int64 `json:"shape"`
	Grad    bool    `json:"grad"`
	GradOut string  `json:"grad_out,omitempty"`
}

type pyCase struct {
	Op     string    `json:"op"`
	Inputs []pyInput `json:"inputs"`
	Out    string    `json:"out"`
	R      string    `json:"r,omitempty"`
}

type goResult struct {
	out   []float32
	grads [][]float32 // nil for inputs without gradient
}

// TestOpsMatchPyTorch runs every op forward and backward (loss = Σ out·R)
// in the Go runtime and in PyTorch on the same random inputs.
func TestOpsMatchPyTorch(t *testing.T) {
	py := shareddata.Python(t, "torch", "numpy")
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(7, 11))
	var spec []pyCase
	results := make([]goResult, len(opCases))
	for ci, c := range opCases {
		var pc pyCase
		pc.Op = c.op
		data := make([]any, len(c.inputs))
		for ii, in := range c.inputs {
			p := filepath.Join(dir, fmt.Sprintf("%s_in%d", c.op, ii))
			pi := pyInput{Path: p, Shape: in.shape, Grad: in.grad && !c.noGrad}
			n := numel(in.shape)
			if in.labels > 0 {
				v := make([]int64, n)
				for k := range v {
					v[k] = int64(rng.IntN(in.labels))
				}
				data[ii] = v
				pi.Dtype = "i64"
				shareddata.WriteRaw(t, p, v)
			} else {
				v := make([]float32, n)
				for k := range v {
					v[k] = float32(rng.NormFloat64())
					if in.pos {
						v[k] = float32(0.2 + rng.Float64()*2)
					}
				}
				data[ii] = v
				pi.Dtype = "f32"
				shareddata.WriteRaw(t, p, v)
			}
			if pi.Grad {
				pi.GradOut = p + ".grad"
			}
			pc.Inputs = append(pc.Inputs, pi)
		}
		pc.Out = filepath.Join(dir, c.op+"_out")
		if !c.noGrad {
			pc.R = filepath.Join(dir, c.op+"_r")
		}
		do(t, func(s *Scope) error {
			ins := make([]Tensor, len(c.inputs))
			for ii, in := range c.inputs {
				switch v := data[ii].(type) {
				case []int64:
					ins[ii] = s.FromInt64(v, in.shape...)
				case []float32:
					ins[ii] = s.FromFloat32(v, in.shape...)
					if pc.Inputs[ii].Grad {
						s.SetRequiresGrad(ins[ii], true)
					}
				}
			}
			out := c.run(s, ins)
			shape := s.Shape(out)
			results[ci].out = s.Float32s(out)
			if c.noGrad {
				return nil
			}
			r := make([]float32, numel(shape))
			for k := range r {
				r[k] = float32(rng.NormFloat64())
			}
			shareddata.WriteRaw(t, pc.R, r)
			loss := s.Sum(s.Mul(out, s.FromFloat32(r, shape...)))
			s.Backward(loss)
			results[ci].grads = make([][]float32, len(ins))
			for ii := range ins {
				if pc.Inputs[ii].Grad {
					results[ci].grads[ii] = s.Float32s(s.Grad(ins[ii]))
				}
			}
			return nil
		})
		spec = append(spec, pc)
	}
	specPath := filepath.Join(dir, "cases.json")
	b, _ := json.Marshal(spec)
	if err := os.WriteFile(specPath, b, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "testdata/ops_reference.py", specPath)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("PyTorch reference failed: %v\n%s", err, out)
	}
	const tol = 1e-4
	for ci, c := range opCases {
		want := shareddata.ReadFloat32(t, spec[ci].Out)
		fe := maxAbsDiff(t, c.op+" forward", results[ci].out, want)
		line := fmt.Sprintf("%-17s forward max|Δ| %.2e", c.op, fe)
		if fe > tol {
			t.Errorf("%s forward: max abs error %.3g > %g", c.op, fe, tol)
		}
		for ii, g := range results[ci].grads {
			if g == nil {
				continue
			}
			wantG := shareddata.ReadFloat32(t, spec[ci].Inputs[ii].GradOut)
			ge := maxAbsDiff(t, c.op+" grad", g, wantG)
			line += fmt.Sprintf("  grad%d %.2e", ii, ge)
			if ge > tol {
				t.Errorf("%s grad of input %d: max abs error %.3g > %g", c.op, ii, ge, tol)
			}
		}
		t.Log(line)
	}
}

func maxAbsDiff(t testing.TB, what string, got, want []float32) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, reference has %d", what, len(got), len(want))
	}
	m := 0.0
	for i := range got {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		m = max(m, d)
	}
	return m
}
