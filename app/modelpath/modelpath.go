// Package modelpath decides which model bundle cmrseg uses, in one order
// for the commands, the window and the training tab: the --model flag, then
// $CMRSEG_MODEL, then the model the reader made active in the training tab
// ("Use this model", kept in $XDG_CONFIG_HOME/cmrseg/active-model), then
// the model installed with the binary. It returns the folder and why it was
// chosen. It reads no weights and imports no torch.
package modelpath

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"cmrseg/inference/bundle/provenance"
)

// EnvVar names the environment variable that overrides the saved choice.
const EnvVar = "CMRSEG_MODEL"

// Demo is the value of $CMRSEG_MODEL that asks the window for its demo
// segmenter (which knows only the embedded demo study) instead of a bundle.
const Demo = "demo"

// Source says which rule chose a model.
type Source int

const (
	None    Source = iota // nothing found
	Flag                  // --model
	Env                   // $CMRSEG_MODEL
	Active                // the training tab's "Use this model"
	Bundled               // installed with the binary
)

func (s Source) String() string {
	switch s {
	case Flag:
		return "--model"
	case Env:
		return "$" + EnvVar
	case Active:
		return "active model"
	case Bundled:
		return "bundled model"
	}
	return "none"
}

// Choice is the resolved model.
type Choice struct {
	// Dir is the bundle folder; "" when Source is None or Demo is set.
	Dir    string
	Source Source
	// Demo is set when $CMRSEG_MODEL=demo asks for the demo segmenter.
	Demo bool
	// Why explains the choice in words, for `cmrseg doctor` and logs.
	Why string
}

// Resolver holds the inputs of the decision; the zero value finds nothing.
type Resolver struct {
	Flag string // the --model value, "" when not given
	Env  string // the value of $CMRSEG_MODEL
	// ActiveFile holds the saved active model's folder (one line).
	ActiveFile string
	// Bundled is the model installed with the binary ("" when none).
	Bundled string
	// BundledSearched lists where a bundled model was looked for, for the
	// error when nothing is found.
	BundledSearched []string
}

// FromEnvironment is the resolver of this process: flag, $CMRSEG_MODEL,
// the given active-model file and the bundled model beside the binary.
func FromEnvironment(flag, activeFile string) Resolver {
	dirs := BundledDirs()
	return Resolver{Flag: flag, Env: os.Getenv(EnvVar), ActiveFile: activeFile,
		Bundled: firstBundle(dirs), BundledSearched: dirs}
}

// ErrNoModel is returned (wrapped) when no rule finds a model.
var ErrNoModel = errors.New("no model bundle found")

// Resolve applies the rules in order. Only the saved active model is
// checked for a model.toml (a stale choice falls through to the bundled
// model, as the window always did); a folder given by flag or environment
// is taken as it is, so a typo fails loudly where it is loaded.
func (r Resolver) Resolve() (Choice, error) {
	if r.Flag != "" {
		return Choice{Dir: r.Flag, Source: Flag, Why: "given with --model"}, nil
	}
	if r.Env == Demo {
		return Choice{Source: Env, Demo: true, Why: "$" + EnvVar + "=demo: the demo segmenter, which segments only the demo study"}, nil
	}
	if r.Env != "" {
		return Choice{Dir: r.Env, Source: Env, Why: "set by $" + EnvVar}, nil
	}
	var stale string
	if saved := ReadActiveFile(r.ActiveFile); saved != "" {
		if hasManifest(saved) {
			return Choice{Dir: saved, Source: Active, Why: "made active in the training tab (" + r.ActiveFile + ")"}, nil
		}
		stale = fmt.Sprintf("; the active model %s saved in %s has no %s", saved, r.ActiveFile, provenance.ManifestName)
	}
	if r.Bundled != "" {
		return Choice{Dir: r.Bundled, Source: Bundled, Why: "installed with cmrseg" + stale}, nil
	}
	return Choice{Why: "none found" + stale},
		fmt.Errorf("%w (looked for %s in %s%s); pass --model DIR or set %s",
			ErrNoModel, provenance.ManifestName, strings.Join(r.BundledSearched, ", "), stale, EnvVar)
}

// ReadActiveFile returns the folder saved in path ("" when there is none).
func ReadActiveFile(path string) string {
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// BundledDirs are where a bundled model is looked for: relative to the
// binary's folder (a source checkout's assets/model, an unpacked archive's
// model/), then system-wide (the Debian package).
func BundledDirs() []string {
	var dirs []string
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			exe = real
		}
		d := filepath.Dir(exe)
		dirs = append(dirs, filepath.Join(d, "..", "assets", "model"), filepath.Join(d, "model"))
	}
	return append(dirs, "/usr/share/cmrseg/model")
}

// BundledModel is the model installed with the binary ("" when none).
func BundledModel() string { return firstBundle(BundledDirs()) }

func firstBundle(dirs []string) string {
	for _, d := range dirs {
		if hasManifest(d) {
			return filepath.Clean(d)
		}
	}
	return ""
}

func hasManifest(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, provenance.ManifestName))
	return err == nil
}
