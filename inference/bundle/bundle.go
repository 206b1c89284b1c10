// Package bundle reads and writes model bundles: a folder with model.toml
// (architecture, preprocessing, labels, provenance and the checkpoint list
// with sha256 digests) and one safetensors file per checkpoint.
package bundle

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"cmrseg/inference/bundle/provenance"
	"cmrseg/inference/postprocess"
	"cmrseg/inference/unet"
	"cmrseg/inference/weights"
)

// Format identifies the manifest layout; bump on incompatible changes.
const Format = "cmrseg-bundle/1"

// ManifestName is the manifest's file name inside a bundle folder.
const ManifestName = provenance.ManifestName

// Kinds of bundle: what the checkpoints are samples of.
const (
	MultiModal   = "multi-modal"   // last checkpoints of every cycle (the method)
	SingleModal  = "single-modal"  // last checkpoints of the last cycle
	Single       = "single"        // one model (vanilla)
	SWA          = "swa"           // weight average of the last cycle's checkpoints
	MCDropout    = "mc-dropout"    // one dropout model sampled several times
	DeepEnsemble = "deep-ensemble" // independently trained models
)

// Manifest is model.toml.
type Manifest struct {
	Format        string        `toml:"format"`
	Name          string        `toml:"name"`
	Kind          string        `toml:"kind"`
	Description   string        `toml:"description"`
	Created       time.Time     `toml:"created"`
	Network       unet.Config   `toml:"network"`
	Preprocessing Preprocessing `toml:"preprocessing"`
	Labels        Labels        `toml:"labels"`
	Inference     Inference     `toml:"inference"`
	Training      Provenance    `toml:"training"`
	Checkpoints   []Checkpoint  `toml:"checkpoint"`
}

// Preprocessing must be repeated exactly at inference time.
type Preprocessing struct {
	// SpacingMM is the in-plane target spacing (row direction i, column j).
	SpacingMM     [2]float64 `toml:"spacing_mm"`
	Normalization string     `toml:"normalization"` // "zscore": per volume
	PatchSize     [2]int     `toml:"patch_size"`    // training patch (height, width)
}

// Labels names the output classes and their label values.
type Labels struct {
	Names  []string `toml:"names"`
	Values []int    `toml:"values"`
}

// Inference holds settings that change how the checkpoints are combined.
type Inference struct {
	Temperature    float64 `toml:"temperature"`     // logits are divided by it; 0 or 1: none
	DropoutSamples int     `toml:"dropout_samples"` // MC-Dropout: forward passes per checkpoint
	MirrorTTA      bool    `toml:"mirror_tta"`      // default for test-time mirroring
	// QCThreshold (nats) flags a slice whose uncertainty score is above it;
	// chosen by `cmrseg evaluate --calibrate-qc` on validation slices (0:
	// not calibrated, the review window uses its default).
	QCThreshold   float64 `toml:"qc_threshold"`
	QCCalibration string  `toml:"qc_calibration"` // how and on what it was chosen
	// Postprocess is the largest-component cleaning applied to every label
	// map, chosen on validation cases by `cmrseg evaluate
	// --calibrate-postprocessing` (zero: none).
	Postprocess postprocess.Spec `toml:"postprocess"`
}

// Provenance records how the bundle was made (defined in a torch-free
// package so the GUI side can read it).
type Provenance = provenance.Provenance

// Checkpoint is one weight file.
type Checkpoint struct {
	File   string `toml:"file"`
	Cycle  int    `toml:"cycle"`
	Epoch  int    `toml:"epoch"`
	SHA256 string `toml:"sha256"`
	DType  string `toml:"dtype"`
}

// Bundle is a loaded, verified bundle.
type Bundle struct {
	Dir string
	Manifest
}

// Validate checks the manifest for consistency.
func (m *Manifest) Validate() error {
	if m.Format != Format {
		return fmt.Errorf("format %q, this cmrseg reads %q", m.Format, Format)
	}
	if err := m.Network.Validate(); err != nil {
		return err
	}
	if len(m.Labels.Names) != m.Network.Classes || len(m.Labels.Values) != m.Network.Classes {
		return fmt.Errorf("labels: %d names and %d values for %d classes", len(m.Labels.Names), len(m.Labels.Values), m.Network.Classes)
	}
	if !(m.Preprocessing.SpacingMM[0] > 0 && m.Preprocessing.SpacingMM[1] > 0) {
		return fmt.Errorf("preprocessing.spacing_mm %v must be positive", m.Preprocessing.SpacingMM)
	}
	if m.Preprocessing.Normalization != "zscore" {
		return fmt.Errorf("preprocessing.normalization %q: only zscore is supported", m.Preprocessing.Normalization)
	}
	if err := m.Inference.Postprocess.Validate(m.Network.Classes); err != nil {
		return fmt.Errorf("inference.postprocess: %w", err)
	}
	if len(m.Checkpoints) == 0 {
		return fmt.Errorf("no checkpoints")
	}
	seen := map[string]bool{}
	for i, c := range m.Checkpoints {
		if c.File == "" || filepath.Base(c.File) != c.File {
			return fmt.Errorf("checkpoint %d: file %q must be a plain file name inside the bundle", i, c.File)
		}
		if seen[c.File] {
			return fmt.Errorf("checkpoint %d: file %q listed twice", i, c.File)
		}
		seen[c.File] = true
		if len(c.SHA256) != 64 {
			return fmt.Errorf("checkpoint %s: sha256 %q is not 64 hex digits", c.File, c.SHA256)
		}
	}
	return nil
}

// Load reads dir/model.toml and verifies every checkpoint's sha256.
func Load(dir string) (*Bundle, error) {
	path := filepath.Join(dir, ManifestName)
	var m Manifest
	md, err := toml.DecodeFile(path, &m)
	if err != nil {
		return nil, fmt.Errorf("model bundle %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("model bundle %s: unknown keys %s", path, strings.Join(keys, ", "))
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("model bundle %s: %w", path, err)
	}
	b := &Bundle{Dir: dir, Manifest: m}
	for i := range m.Checkpoints {
		if _, err := b.readVerified(i); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func (b *Bundle) readVerified(i int) ([]byte, error) {
	c := b.Checkpoints[i]
	p := filepath.Join(b.Dir, c.File)
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("model bundle %s: checkpoint %d: %w", b.Dir, i, err)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != strings.ToLower(c.SHA256) {
		return nil, fmt.Errorf("model bundle %s: checkpoint %s is corrupt or replaced: sha256 %s, manifest says %s", b.Dir, c.File, got, c.SHA256)
	}
	return data, nil
}

// Weights reads checkpoint i (verifying its digest again, since the file
// may have changed since Load) and checks it fits the architecture.
func (b *Bundle) Weights(i int) ([]weights.Tensor, error) {
	if i < 0 || i >= len(b.Checkpoints) {
		return nil, fmt.Errorf("model bundle %s: no checkpoint %d", b.Dir, i)
	}
	data, err := b.readVerified(i)
	if err != nil {
		return nil, err
	}
	ws, _, err := weights.Parse(filepath.Join(b.Dir, b.Checkpoints[i].File), data)
	if err != nil {
		return nil, err
	}
	specs := b.Network.Specs()
	if len(ws) != len(specs) {
		return nil, fmt.Errorf("model bundle %s: checkpoint %s has %d tensors, the network needs %d", b.Dir, b.Checkpoints[i].File, len(ws), len(specs))
	}
	return ws, nil
}

// AddCheckpoint writes one checkpoint file into dir and returns its entry.
func AddCheckpoint(dir, file string, ws []weights.Tensor, dtype string, cycle, epoch int) (Checkpoint, error) {
	p := filepath.Join(dir, file)
	if err := weights.Write(p, ws, dtype, map[string]string{"cycle": fmt.Sprint(cycle), "epoch": fmt.Sprint(epoch)}); err != nil {
		return Checkpoint{}, err
	}
	data, err := os.ReadFile(p)
	if err != nil {
		return Checkpoint{}, err
	}
	sum := sha256.Sum256(data)
	return Checkpoint{File: file, Cycle: cycle, Epoch: epoch, SHA256: hex.EncodeToString(sum[:]), DType: dtype}, nil
}

// WriteManifest validates m and writes dir/model.toml atomically. Write it
// after the checkpoint files, so a bundle never lists a file that is missing.
func WriteManifest(dir string, m *Manifest) error {
	if m.Format == "" {
		m.Format = Format
	}
	if err := m.Validate(); err != nil {
		return fmt.Errorf("model bundle %s: %w", dir, err)
	}
	var buf bytes.Buffer
	buf.WriteString("# cmrseg model bundle. Research use only: not for clinical diagnosis.\n")
	if err := toml.NewEncoder(&buf).Encode(m); err != nil {
		return err
	}
	return weights.WriteFileAtomic(filepath.Join(dir, ManifestName), buf.Bytes())
}

// DefaultLabels are the ACDC classes.
func DefaultLabels() Labels {
	return Labels{Names: []string{"background", "RV cavity", "LV myocardium", "LV cavity"}, Values: []int{0, 1, 2, 3}}
}
