package bundle

import (
	"fmt"
	"slices"
)

// AdoptCalibration gives m, a model trained on every case (no validation
// split of its own), the temperature, post-processing and QC threshold
// that were chosen for twin, the same recipe trained on a subset of those
// cases with the rest held out. A model cannot be calibrated on cases it
// trained on (it is over-confident there), so nnU-Net's "decide on the
// split, ship the model trained on everything" needs the decisions copied
// from the twin, with a record of where they came from.
//
// It refuses a pair that is not a twin: another network, preprocessing,
// labels, kind, seed or schedule; a twin with nothing calibrated; an m
// with validation cases of its own; or an m that did not train on every
// case of the twin.
func AdoptCalibration(m *Manifest, twin *Manifest) error {
	switch {
	case len(m.Training.ValCases) > 0:
		return fmt.Errorf("model %q has %d validation cases of its own: calibrate it on them (cmrseg evaluate --calibrate-*)", m.Name, len(m.Training.ValCases))
	case len(twin.Training.ValCases) == 0:
		return fmt.Errorf("twin %q has no validation cases, so nothing of it was calibrated on held-out data", twin.Name)
	case twin.Inference.TemperatureCalibration == "" || twin.Inference.QCCalibration == "" || twin.Inference.Postprocess.Decision == "":
		return fmt.Errorf("twin %q lacks a calibrated temperature, QC threshold or post-processing decision (run cmrseg evaluate --calibrate-temperature --calibrate-qc --calibrate-postprocessing on it)", twin.Name)
	case m.Network != twin.Network:
		return fmt.Errorf("model %q and twin %q differ in network: %+v against %+v", m.Name, twin.Name, m.Network, twin.Network)
	case m.Preprocessing != twin.Preprocessing:
		return fmt.Errorf("model %q and twin %q differ in preprocessing: %+v against %+v", m.Name, twin.Name, m.Preprocessing, twin.Preprocessing)
	case !slices.Equal(m.Labels.Names, twin.Labels.Names) || !slices.Equal(m.Labels.Values, twin.Labels.Values):
		return fmt.Errorf("model %q and twin %q have different labels", m.Name, twin.Name)
	case m.Kind != twin.Kind:
		return fmt.Errorf("model %q is %s, twin %q is %s", m.Name, m.Kind, twin.Name, twin.Kind)
	case m.Training.Seed != twin.Training.Seed || m.Training.Epochs != twin.Training.Epochs || m.Training.Cycles != twin.Training.Cycles:
		return fmt.Errorf("model %q (seed %d, %d epochs, %d cycles) and twin %q (seed %d, %d epochs, %d cycles) were not trained alike",
			m.Name, m.Training.Seed, m.Training.Epochs, m.Training.Cycles, twin.Name, twin.Training.Seed, twin.Training.Epochs, twin.Training.Cycles)
	case !sameCheckpointEpochs(m.Checkpoints, twin.Checkpoints):
		return fmt.Errorf("model %q and twin %q keep checkpoints of different cycles and epochs", m.Name, twin.Name)
	}
	for _, c := range append(slices.Clone(twin.Training.TrainCases), twin.Training.ValCases...) {
		if !slices.Contains(m.Training.TrainCases, c) {
			return fmt.Errorf("model %q did not train on %s, a case of twin %q", m.Name, c, twin.Name)
		}
	}
	from := fmt.Sprintf("taken from twin %q (the same recipe on a split holding out %d cases): ", twin.Name, len(twin.Training.ValCases))
	in := twin.Inference
	m.Inference.Temperature = in.Temperature
	m.Inference.TemperatureCalibration = from + in.TemperatureCalibration
	m.Inference.QCThreshold = in.QCThreshold
	m.Inference.QCCalibration = from + in.QCCalibration
	m.Inference.Postprocess = in.Postprocess
	m.Inference.Postprocess.LargestClasses = slices.Clone(in.Postprocess.LargestClasses)
	m.Inference.Postprocess.Decision = from + in.Postprocess.Decision
	m.Training.CalibrationTwin = twin.Name
	m.Training.CalibrationCases = slices.Clone(twin.Training.ValCases)
	return nil
}

// CalibratedOnTwin reports whether the calibration came from a twin.
func (m *Manifest) CalibratedOnTwin() bool { return m.Training.CalibrationTwin != "" }

func sameCheckpointEpochs(a, b []Checkpoint) bool {
	return slices.EqualFunc(a, b, func(x, y Checkpoint) bool { return x.Cycle == y.Cycle && x.Epoch == y.Epoch })
}
