package evaluation

import (
	"context"
	"fmt"
	"time"

	"cmrseg/inference/bundle"
	"cmrseg/inference/ensemble"
	"cmrseg/inference/torch"
	"cmrseg/training/baseline"
)

// MaxTemperatureVoxels bounds the voxels an ensemble temperature is fitted
// on (evenly strided): the logits of every checkpoint are held at once.
const MaxTemperatureVoxels = 1_000_000

// calibrateTemperature fits the one temperature the bundle's checkpoints
// share (baseline.FitEnsembleTemperature: the NLL of the averaged softmax,
// the distribution the app shows) on cases and stores it in b's
// model.toml, so that the prediction that follows, and the QC threshold
// calibrated from it, use it. The logits are each checkpoint's along the
// deployed path (baseline.CheckpointLogits).
func calibrateTemperature(ctx context.Context, w *torch.Worker, b *bundle.Bundle, cases []Case, opt Options) error {
	if b.Inference.DropoutSamples > 0 {
		return fmt.Errorf("calibrate-temperature: %s samples dropout; a temperature is fitted for checkpoint ensembles only", b.Dir)
	}
	// Fit from the untempered logits whatever the bundle holds now.
	p, err := ensemble.Load(w, b.Dir, ensemble.Options{Device: opt.Device, TTA: opt.TTA, Tiling: opt.Tiling})
	if err != nil {
		return err
	}
	defer p.Close()
	var vols []baseline.Volume
	for _, v := range cases {
		for i, t := range v.Phases {
			vols = append(vols, baseline.Volume{ID: v.ID, Series: v.Series, Phase: t, Ref: *v.Refs[i]})
		}
	}
	if opt.OnCase != nil {
		opt.OnCase("temperature", 1, 1, fmt.Sprintf("%d volumes × %d checkpoints", len(vols), p.Checkpoints()))
	}
	logits, labels, volumes, err := baseline.CheckpointLogits(ctx, p, vols, MaxTemperatureVoxels)
	if err != nil {
		return fmt.Errorf("calibrate-temperature: %w", err)
	}
	classes, k := b.Network.Classes, p.Checkpoints()
	t, err := baseline.FitEnsembleTemperature(logits, labels, classes)
	if err != nil {
		return fmt.Errorf("calibrate-temperature: %w", err)
	}
	b.Inference.Temperature = t
	b.Inference.TemperatureCalibration = fmt.Sprintf("one temperature for all %d checkpoints, minimising the NLL of their averaged softmax on %d voxels (reference foreground boxes) of %d volumes of %d cases through the deployed path; %s",
		k, len(labels), volumes, len(cases), time.Now().UTC().Format(time.RFC3339))
	if err := bundle.WriteManifest(b.Dir, &b.Manifest); err != nil {
		return fmt.Errorf("calibrate-temperature: %w", err)
	}
	return nil
}
