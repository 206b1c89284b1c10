package trainingjob

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"cmrseg/app/nifti"
	"cmrseg/app/study"
	"cmrseg/inference/uncertainty"
)

// ProcessEngine segments with a model bundle by running `exe segment
// --probabilities` as a child process, one 3D file per phase. It lets
// torch-free code (the GUI's tests, a window whose torch worker is busy)
// use a bundle; the mean softmax comes back exactly, but the per-checkpoint
// samples do not, so MutualInfo is 0 and SampleLabels holds only the mean's
// labels.
type ProcessEngine struct {
	Exe, Model string
	Threads    int
}

// Device implements workspace.Engine.
func (c *ProcessEngine) Device() string {
	return fmt.Sprintf("CPU via %s segment (model %s)", filepath.Base(c.Exe), filepath.Base(c.Model))
}

// Segment implements workspace.Engine.
func (c *ProcessEngine) Segment(ctx context.Context, s *study.Series, phases []int, progress func(done, total int)) ([]*uncertainty.Result, error) {
	tmp, err := os.MkdirTemp("", "cmrseg-clisegment-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	out := make([]*uncertainty.Result, len(phases))
	for n, t := range phases {
		if t < 0 || t >= s.NT {
			return nil, fmt.Errorf("segment: phase %d out of range 1..%d", t+1, s.NT)
		}
		frame := &study.Series{Geometry: s.Geometry, NT: 1, Data: s.Phase(t), ED: -1, ES: -1}
		in := filepath.Join(tmp, fmt.Sprintf("p%03d.nii.gz", t))
		if err := nifti.Write(in, frame, nifti.Float32); err != nil {
			return nil, err
		}
		od := filepath.Join(tmp, fmt.Sprintf("out%03d", t))
		cmd := exec.CommandContext(ctx, c.Exe, "segment", "--model", c.Model, "--probabilities", "--device", "cpu",
			"--threads", fmt.Sprint(max(1, c.Threads)), "--out", od, in)
		if b, err := cmd.CombinedOutput(); err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("segment: %s: %v: %s", c.Exe, err, tail2(string(b), 400))
		}
		prob, err := nifti.Read(filepath.Join(od, fmt.Sprintf("p%03d_prob.nii.gz", t)))
		if err != nil {
			return nil, fmt.Errorf("segment: %w", err)
		}
		if prob.Dims != s.Dims || prob.NT != Classes {
			return nil, fmt.Errorf("segment: probabilities are %v × %d, want %v × %d", prob.Dims, prob.NT, s.Dims, Classes)
		}
		acc := uncertainty.NewAccumulator(s.Geometry, Classes)
		if err := acc.Add(prob.Data); err != nil {
			return nil, fmt.Errorf("segment: %w", err)
		}
		out[n] = acc.Result()
		if progress != nil {
			progress(n+1, len(phases))
		}
	}
	return out, nil
}
