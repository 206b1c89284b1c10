package workspace

import (
	"context"

	"cmrseg/app/study"
	"cmrseg/inference/uncertainty"
)

// Engine is the segmentation engine the workspace drives: a checkpoint
// ensemble whose mean softmax is the prediction and whose entropy is the
// uncertainty. The libtorch ensemble implements it (app/cli wires it in);
// DemoEngine stands in for it on the demo study.
type Engine interface {
	// Segment runs the ensemble on the given phases of s and returns one
	// result per entry of phases, in that order. progress, when not nil,
	// reports done/total steps from the segmenting goroutine; ctx cancels
	// (Segment then returns ctx.Err()).
	Segment(ctx context.Context, s *study.Series, phases []int, progress func(done, total int)) ([]*uncertainty.Result, error)
	// Device says where it runs, e.g. "CPU (2 threads)" or "CUDA: <name>".
	Device() string
}

// QCCalibrated is implemented by engines whose model carries a slice-flag
// threshold calibrated on validation data (the ensemble's bundle).
type QCCalibrated interface {
	QCThreshold() float64 // nats; 0 when not calibrated
}

// qcThreshold is the calibrated threshold of the engine, or 0 (the
// session's default) when it has none.
func (w *Workspace) qcThreshold() float64 {
	if c, ok := w.cfg.Engine.(QCCalibrated); ok {
		if t := c.QCThreshold(); t > 0 {
			return t
		}
	}
	return 0
}
