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
	"slices"
	"time"

	"github.com/BurntSushi/toml"

	"cmrseg/app/atomicfile"
	"cmrseg/app/membudget"
	"cmrseg/inference/bundle/manifest"
	"cmrseg/inference/bundle/provenance"
	"cmrseg/inference/unet"
	"cmrseg/inference/weights"
)

// Format identifies the manifest layout; bump on incompatible changes.
const Format = manifest.Format

// ManifestName is the manifest's file name inside a bundle folder.
const ManifestName = provenance.ManifestName

// Kinds of bundle: what the checkpoints are samples of.
const (
	MultiModal   = manifest.MultiModal   // last checkpoints of every cycle (the method)
	SingleModal  = manifest.SingleModal  // last checkpoints of the last cycle
	Single       = manifest.Single       // one model (vanilla)
	SWA          = manifest.SWA          // weight average of the last cycle's checkpoints
	MCDropout    = manifest.MCDropout    // one dropout model sampled several times
	DeepEnsemble = manifest.DeepEnsemble // independently trained models
)

// Manifest is model.toml, read and range-checked by package manifest (the
// one reader, shared with the torch-free model registry); only the network
// is the U-Net's own type here.
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

// The manifest's tables, defined once in package manifest.
type (
	Preprocessing = manifest.Preprocessing
	Labels        = manifest.Labels
	Inference     = manifest.Inference
	Checkpoint    = manifest.Checkpoint
)

// Provenance records how the bundle was made (defined in a torch-free
// package so the GUI side can read it).
type Provenance = provenance.Provenance

// Bundle is a loaded, verified bundle.
type Bundle struct {
	Dir string
	Manifest
}

func (m *Manifest) plain() *manifest.Manifest {
	return &manifest.Manifest{
		Format: m.Format, Name: m.Name, Kind: m.Kind, Description: m.Description, Created: m.Created,
		Network:       manifest.Network(m.Network),
		Preprocessing: m.Preprocessing, Labels: m.Labels, Inference: m.Inference,
		Training: m.Training, Checkpoints: m.Checkpoints,
	}
}

func fromPlain(p *manifest.Manifest) Manifest {
	return Manifest{
		Format: p.Format, Name: p.Name, Kind: p.Kind, Description: p.Description, Created: p.Created,
		Network:       unet.Config(p.Network),
		Preprocessing: p.Preprocessing, Labels: p.Labels, Inference: p.Inference,
		Training: p.Training, Checkpoints: p.Checkpoints,
	}
}

// Validate checks every field against the ranges of package manifest and
// the architecture against the U-Net's own rules.
func (m *Manifest) Validate() error {
	if err := m.plain().Validate(); err != nil {
		return err
	}
	return m.Network.Validate()
}

// Load reads dir/model.toml, verifies every checkpoint's sha256 and checks
// each checkpoint's tensor names and shapes against the architecture, all
// before any network exists. The resident ensemble (every checkpoint's
// weights as float32) must fit the memory budget.
func Load(dir string) (*Bundle, error) {
	p, err := manifest.Read(dir)
	if err != nil {
		return nil, err
	}
	b := &Bundle{Dir: dir, Manifest: fromPlain(p)}
	if err := b.Network.Validate(); err != nil {
		return nil, fmt.Errorf("model bundle %s: %v: %w", dir, err, manifest.ErrInvalid)
	}
	if err := membudget.Check(fmt.Sprintf("model bundle %s: %d checkpoints of %d parameters as float32", dir, len(b.Checkpoints), b.Network.Params()),
		membudget.Mul(b.Network.Params(), 4, int64(len(b.Checkpoints)))); err != nil {
		return nil, err
	}
	for i := range b.Checkpoints {
		data, err := b.readVerified(i)
		if err != nil {
			return nil, err
		}
		if err := b.checkShapes(i, data); err != nil {
			return nil, err
		}
	}
	return b, nil
}

func (b *Bundle) readVerified(i int) ([]byte, error) {
	return b.plain().ReadCheckpoint(b.Dir, i, manifest.CheckpointLimit(b.Network.Params()))
}

// checkShapes compares checkpoint i's header (no tensor decoded) with the
// parameters the architecture needs, name by name and shape by shape.
func (b *Bundle) checkShapes(i int, data []byte) error {
	file := b.Checkpoints[i].File
	infos, _, err := weights.Header(filepath.Join(b.Dir, file), data)
	if err != nil {
		return fmt.Errorf("model bundle %s: %w", b.Dir, &manifest.CheckpointError{Path: file, Reason: err.Error()})
	}
	specs := b.Network.Specs()
	if len(infos) != len(specs) {
		return fmt.Errorf("model bundle %s: %w", b.Dir, &manifest.CheckpointError{Path: file,
			Reason: fmt.Sprintf("%d tensors, the network needs %d", len(infos), len(specs))})
	}
	byName := map[string][]int64{}
	for _, in := range infos {
		byName[in.Name] = in.Shape
	}
	for _, sp := range specs {
		got, ok := byName[sp.Name]
		if !ok || !slices.Equal(got, sp.Shape) {
			return fmt.Errorf("model bundle %s: %w", b.Dir, &manifest.CheckpointError{Path: file,
				Reason: fmt.Sprintf("tensor %s has shape %v, the network needs %v", sp.Name, got, sp.Shape)})
		}
	}
	return nil
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
	if err := b.checkShapes(i, data); err != nil {
		return nil, err
	}
	ws, _, err := weights.Parse(filepath.Join(b.Dir, b.Checkpoints[i].File), data)
	if err != nil {
		return nil, err
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
	return atomicfile.Write(filepath.Join(dir, ManifestName), buf.Bytes())
}

// DefaultLabels are the ACDC classes.
func DefaultLabels() Labels {
	return Labels{Names: []string{"background", "RV cavity", "LV myocardium", "LV cavity"}, Values: []int{0, 1, 2, 3}}
}
