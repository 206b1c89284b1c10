// Package provenance is the torch-free part of a model bundle's schema:
// the manifest's file name and its [training] table, so code that must not
// link libtorch (the GUI's model registry) reads the same definition.
package provenance

// ManifestName is the manifest's file name inside a bundle folder.
const ManifestName = "model.toml"

// Provenance records how the bundle was made.
type Provenance struct {
	Command     string   `toml:"command"`
	Config      string   `toml:"config"` // the training TOML, verbatim
	Data        string   `toml:"data"`
	TrainCases  []string `toml:"train_cases"`
	ValCases    []string `toml:"val_cases"`
	Seed        int64    `toml:"seed"`
	Hardware    string   `toml:"hardware"`
	WallSeconds float64  `toml:"wall_seconds"`
	Epochs      int      `toml:"epochs"`
	Cycles      int      `toml:"cycles"`
	Software    string   `toml:"software"`
	License     string   `toml:"license"`
	// A model trained on every case cannot be calibrated on any of them:
	// CalibrationTwin names the run its temperature, post-processing and
	// QC threshold were taken from (the same recipe with CalibrationCases
	// held out; `cmrseg calibrate-from`).
	CalibrationTwin  string   `toml:"calibration_twin,omitempty"`
	CalibrationCases []string `toml:"calibration_cases,omitempty"`
}

// HeldOutCases are the patients the model's decisions were taken on: its
// own validation cases or, for a model trained on every case, its twin's
// (training cases of this model).
func (p Provenance) HeldOutCases() []string {
	if len(p.ValCases) > 0 {
		return p.ValCases
	}
	return p.CalibrationCases
}
