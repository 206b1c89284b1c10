package cli

import (
	"fmt"
	"io"

	"cmrseg/inference/bundle"
)

func init() {
	register("calibrate-from", "give a model trained on every case its twin's calibration: 'calibrate-from --twin RUN --model RUN'", runCalibrateFrom)
}

// runCalibrateFrom copies temperature, post-processing and QC threshold
// from a twin run (validated on a split) into a run trained on all cases,
// which has no held-out cases to calibrate on.
func runCalibrateFrom(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("calibrate-from", stderr)
	twinDir := fs.String("twin", "", "run folder or bundle of the same recipe on the split, calibrated by cmrseg evaluate")
	modelDir := fs.String("model", "", "run folder or bundle trained on every case; its model.toml is rewritten")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *twinDir == "" || *modelDir == "" {
		return fmt.Errorf("--twin and --model are required")
	}
	twin, err := bundleOf(*twinDir)
	if err != nil {
		return err
	}
	m, err := bundleOf(*modelDir)
	if err != nil {
		return err
	}
	if err := bundle.AdoptCalibration(&m.Manifest, &twin.Manifest); err != nil {
		return err
	}
	if err := bundle.WriteManifest(m.Dir, &m.Manifest); err != nil {
		return err
	}
	in := m.Inference
	fmt.Fprintf(stdout, "%s: temperature %.4f, post-processing %s, QC threshold %.4f nats, from twin %s (%d held-out cases)\n",
		m.Dir, in.Temperature, in.Postprocess, in.QCThreshold, twin.Name, len(m.Training.CalibrationCases))
	return nil
}
