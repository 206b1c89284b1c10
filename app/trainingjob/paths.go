// Package trainingjob is the headless core of the GUI's training tab: it
// scans a data set for problems, exports the studies a reader corrected
// and marked final as an nnU-Net training set, binds the training form to
// training/config, and runs `cmrseg train` as a child process that it
// follows through the run's JSON-lines event log. It also keeps the model
// registry (installed bundles, the active one) and compares a new bundle
// with the previous one on the validation cases.
//
// Why a child process rather than the GUI's torch worker: training then
// cannot take memory or threads from the review tab's segmentation worker;
// a crash (or an out-of-memory kill) in training cannot take unsaved
// review state with it; and the trainer's run folder already resumes bit
// for bit, so "resume after the app was closed" is `cmrseg train --resume`
// on the same folder, and the tab reattaches to a still-running child by
// the pid in the run's job.json. The package imports neither Fyne nor
// torch.
package trainingjob

import (
	"os"
	"path/filepath"
)

// Dirs are where the training tab keeps its files.
type Dirs struct {
	// Data is $XDG_DATA_HOME/cmrseg: sessions/, corrected-cases/,
	// models/ and training-runs/ live below it.
	Data string
	// Config is $XDG_CONFIG_HOME/cmrseg: the active-model setting.
	Config string
}

// DefaultDirs follows the XDG base directory spec, falling back to
// ~/.local/share and ~/.config.
func DefaultDirs() Dirs {
	home, _ := os.UserHomeDir()
	data := os.Getenv("XDG_DATA_HOME")
	if data == "" {
		data = filepath.Join(home, ".local", "share")
	}
	cfg := os.Getenv("XDG_CONFIG_HOME")
	if cfg == "" {
		cfg = filepath.Join(home, ".config")
	}
	return Dirs{Data: filepath.Join(data, "cmrseg"), Config: filepath.Join(cfg, "cmrseg")}
}

// Sessions is the review sessions' root.
func (d Dirs) Sessions() string { return filepath.Join(d.Data, "sessions") }

// Corrected is the nnU-Net raw data set of corrected, final studies.
func (d Dirs) Corrected() string { return filepath.Join(d.Data, "corrected-cases") }

// Models holds installed model bundles, one folder each.
func (d Dirs) Models() string { return filepath.Join(d.Data, "models") }

// Runs holds the tab's training run folders.
func (d Dirs) Runs() string { return filepath.Join(d.Data, "training-runs") }

// ActiveModelFile names the bundle the review tab uses.
func (d Dirs) ActiveModelFile() string { return filepath.Join(d.Config, "active-model") }
