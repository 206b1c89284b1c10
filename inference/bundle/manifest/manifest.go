// Package manifest is the one reader of a model bundle's model.toml: it
// decodes the file (bounded, unknown keys refused), checks every field
// against a stated range, and reads checkpoint files only when they are
// regular files of a bounded size with the digest the manifest lists. It
// is torch-free, so the model registry (app/trainingjob) and
// inference/bundle share it without linking libtorch.
package manifest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"

	"cmrseg/app/membudget"
	"cmrseg/inference/bundle/provenance"
	"cmrseg/inference/postprocess"
)

// Format identifies the manifest layout; bump on incompatible changes.
const Format = "cmrseg-bundle/1"

// Name is the manifest's file name inside a bundle folder.
const Name = provenance.ManifestName

// Ranges every manifest must lie within. They are far wider than any
// bundle cmrseg trains, and narrow enough that no value can make the
// program allocate without bound or run forever.
const (
	MaxManifestBytes  = 4 << 20 // model.toml itself
	MaxInChannels     = 16
	MaxClasses        = 64
	MinStages         = 2
	MaxStages         = 8
	MaxBaseFeatures   = 256
	MaxFeatures       = 2048
	MaxConvsPerStage  = 8
	MinSpacingMM      = 0.1 // preprocessing.spacing_mm
	MaxSpacingMM      = 10.0
	MinPatch          = 16 // preprocessing.patch_size
	MaxPatch          = 2048
	MaxTemperature    = 100.0
	MaxDropoutSamples = 64 // MC-Dropout forward passes per checkpoint
	MaxQCThreshold    = 10.0
	MaxCheckpoints    = 64
	MaxTextBytes      = 64 << 10 // name, description, each provenance string
)

// Kinds of bundle: what the checkpoints are samples of.
const (
	MultiModal   = "multi-modal"   // last checkpoints of every cycle (the method)
	SingleModal  = "single-modal"  // last checkpoints of the last cycle
	Single       = "single"        // one model (vanilla)
	SWA          = "swa"           // weight average of the last cycle's checkpoints
	MCDropout    = "mc-dropout"    // one dropout model sampled several times
	DeepEnsemble = "deep-ensemble" // independently trained models
)

// Kinds lists the known kinds.
var Kinds = []string{MultiModal, SingleModal, Single, SWA, MCDropout, DeepEnsemble}

// ErrInvalid is matched (errors.Is) by every manifest or checkpoint refusal.
var ErrInvalid = errors.New("invalid model bundle")

// FieldError is one manifest field outside its range.
type FieldError struct {
	Field  string
	Value  any
	Reason string // e.g. "must be within 1–256"
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s = %v: %s", e.Field, e.Value, e.Reason)
}
func (e *FieldError) Is(target error) bool { return target == ErrInvalid }

// CheckpointError is a checkpoint file that cannot be used.
type CheckpointError struct {
	Path   string
	Reason string
}

func (e *CheckpointError) Error() string        { return fmt.Sprintf("checkpoint %s: %s", e.Path, e.Reason) }
func (e *CheckpointError) Is(target error) bool { return target == ErrInvalid }

// Network fixes the architecture (the same fields as unet.Config, which
// bundle converts it to).
type Network struct {
	InChannels    int     `toml:"in_channels"`
	Classes       int     `toml:"classes"`
	Stages        int     `toml:"stages"`
	BaseFeatures  int     `toml:"base_features"`
	MaxFeatures   int     `toml:"max_features"`
	ConvsPerStage int     `toml:"convs_per_stage"`
	Dropout       float64 `toml:"dropout"`
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
	Temperature float64 `toml:"temperature"` // logits are divided by it; 0 or 1: none
	// TemperatureCalibration says how and on what the temperature was
	// fitted (`cmrseg evaluate --calibrate-temperature`).
	TemperatureCalibration string `toml:"temperature_calibration"`
	DropoutSamples         int    `toml:"dropout_samples"` // MC-Dropout: forward passes per checkpoint
	MirrorTTA              bool   `toml:"mirror_tta"`      // default for test-time mirroring
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

// Checkpoint is one weight file.
type Checkpoint struct {
	File   string `toml:"file"`
	Cycle  int    `toml:"cycle"`
	Epoch  int    `toml:"epoch"`
	SHA256 string `toml:"sha256"`
	DType  string `toml:"dtype"`
}

// Manifest is model.toml.
type Manifest struct {
	Format        string                `toml:"format"`
	Name          string                `toml:"name"`
	Kind          string                `toml:"kind"`
	Description   string                `toml:"description"`
	Created       time.Time             `toml:"created"`
	Network       Network               `toml:"network"`
	Preprocessing Preprocessing         `toml:"preprocessing"`
	Labels        Labels                `toml:"labels"`
	Inference     Inference             `toml:"inference"`
	Training      provenance.Provenance `toml:"training"`
	Checkpoints   []Checkpoint          `toml:"checkpoint"`
}

func bad(field string, v any, format string, args ...any) error {
	return &FieldError{Field: field, Value: v, Reason: fmt.Sprintf(format, args...)}
}

func intIn(field string, v, lo, hi int) error {
	if v < lo || v > hi {
		return bad(field, v, "must be within %d–%d", lo, hi)
	}
	return nil
}

func floatIn(field string, v, lo, hi float64) error {
	if !(v >= lo && v <= hi) {
		return bad(field, v, "must be within %g–%g", lo, hi)
	}
	return nil
}

// Validate checks every field against its range.
func (m *Manifest) Validate() error {
	if m.Format != Format {
		return bad("format", fmt.Sprintf("%q", m.Format), "this cmrseg reads %q", Format)
	}
	known := false
	for _, k := range Kinds {
		known = known || m.Kind == k
	}
	if !known {
		return bad("kind", fmt.Sprintf("%q", m.Kind), "must be one of %s", strings.Join(Kinds, ", "))
	}
	for field, s := range map[string]string{"name": m.Name, "description": m.Description, "inference.qc_calibration": m.Inference.QCCalibration, "inference.temperature_calibration": m.Inference.TemperatureCalibration, "training.config": m.Training.Config} {
		if len(s) > MaxTextBytes {
			return bad(field, fmt.Sprintf("(%d bytes)", len(s)), "longer than %d bytes", MaxTextBytes)
		}
	}
	n := m.Network
	for _, err := range []error{
		intIn("network.in_channels", n.InChannels, 1, MaxInChannels),
		intIn("network.classes", n.Classes, 2, MaxClasses),
		intIn("network.stages", n.Stages, MinStages, MaxStages),
		intIn("network.base_features", n.BaseFeatures, 1, MaxBaseFeatures),
		intIn("network.max_features", n.MaxFeatures, max(1, n.BaseFeatures), MaxFeatures),
		intIn("network.convs_per_stage", n.ConvsPerStage, 1, MaxConvsPerStage),
	} {
		if err != nil {
			return err
		}
	}
	if !(n.Dropout >= 0 && n.Dropout < 1) {
		return bad("network.dropout", n.Dropout, "must be within [0, 1)")
	}
	if len(m.Labels.Names) != n.Classes || len(m.Labels.Values) != n.Classes {
		return bad("labels", fmt.Sprintf("%d names, %d values", len(m.Labels.Names), len(m.Labels.Values)), "need one name and one value for each of %d classes", n.Classes)
	}
	seenValue := map[int]bool{}
	for _, v := range m.Labels.Values {
		if err := intIn("labels.values", v, 0, 255); err != nil {
			return err
		}
		if seenValue[v] {
			return bad("labels.values", v, "listed twice")
		}
		seenValue[v] = true
	}
	p := m.Preprocessing
	for i := 0; i < 2; i++ {
		if err := floatIn(fmt.Sprintf("preprocessing.spacing_mm[%d]", i), p.SpacingMM[i], MinSpacingMM, MaxSpacingMM); err != nil {
			return err
		}
		// 0: not recorded (older bundles).
		if p.PatchSize[i] != 0 {
			if err := intIn(fmt.Sprintf("preprocessing.patch_size[%d]", i), p.PatchSize[i], MinPatch, MaxPatch); err != nil {
				return err
			}
		}
	}
	if p.Normalization != "zscore" {
		return bad("preprocessing.normalization", fmt.Sprintf("%q", p.Normalization), "only zscore is supported")
	}
	in := m.Inference
	if in.Temperature != 0 {
		if err := floatIn("inference.temperature", in.Temperature, 1e-3, MaxTemperature); err != nil {
			return err
		}
	}
	if err := intIn("inference.dropout_samples", in.DropoutSamples, 0, MaxDropoutSamples); err != nil {
		return err
	}
	if err := floatIn("inference.qc_threshold", in.QCThreshold, 0, MaxQCThreshold); err != nil {
		return err
	}
	if err := in.Postprocess.Validate(n.Classes); err != nil {
		return fmt.Errorf("inference.postprocess: %v: %w", err, ErrInvalid)
	}
	if err := intIn("checkpoints", len(m.Checkpoints), 1, MaxCheckpoints); err != nil {
		return err
	}
	seen := map[string]bool{}
	for i, c := range m.Checkpoints {
		field := fmt.Sprintf("checkpoint[%d]", i)
		if !PlainName(c.File) {
			return bad(field+".file", fmt.Sprintf("%q", c.File), "must be a plain file name inside the bundle (no folder, no leading dot)")
		}
		if seen[c.File] {
			return bad(field+".file", fmt.Sprintf("%q", c.File), "listed twice")
		}
		seen[c.File] = true
		if _, err := hex.DecodeString(c.SHA256); err != nil || len(c.SHA256) != 64 {
			return bad(field+".sha256", fmt.Sprintf("%q", c.SHA256), "must be 64 hex digits")
		}
		switch c.DType {
		case "", "F16", "F32":
		default:
			return bad(field+".dtype", fmt.Sprintf("%q", c.DType), "must be F16 or F32")
		}
		if c.Cycle < 0 || c.Epoch < 0 {
			return bad(field, fmt.Sprintf("cycle %d, epoch %d", c.Cycle, c.Epoch), "must not be negative")
		}
	}
	return nil
}

// PlainName is a file name that stays inside the bundle folder: no path
// separator, not hidden, not "." or "..".
func PlainName(f string) bool {
	return f != "" && filepath.Base(f) == f && !strings.ContainsAny(f, `/\`) && !strings.HasPrefix(f, ".")
}

// Read reads and validates dir/model.toml.
func Read(dir string) (*Manifest, error) {
	path := filepath.Join(dir, Name)
	data, err := readRegular(path, MaxManifestBytes)
	if err != nil {
		return nil, fmt.Errorf("model bundle %s: %w", path, err)
	}
	var m Manifest
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(&m)
	if err != nil {
		return nil, fmt.Errorf("model bundle %s: %v: %w", path, err, ErrInvalid)
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return nil, fmt.Errorf("model bundle %s: unknown keys %s: %w", path, strings.Join(keys, ", "), ErrInvalid)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("model bundle %s: %w", path, err)
	}
	return &m, nil
}

// openRegular opens a regular file of at most limit bytes. The file is
// checked before it is opened (a FIFO would block the open itself),
// opened non-blocking and checked again; callers read it through a
// bounded reader, so a link to /dev/zero, a FIFO or a file that grows
// are all refused and nothing waits on a timeout.
func openRegular(path string, limit int64) (*os.File, int64, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, 0, err
	}
	if !st.Mode().IsRegular() {
		return nil, 0, &CheckpointError{path, "not a regular file (" + kindOf(st.Mode()) + ")"}
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, 0, err
	}
	if st, err = f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = &CheckpointError{path, "not a regular file"}
		}
		return nil, 0, err
	}
	if st.Size() > limit {
		f.Close()
		return nil, 0, &CheckpointError{path, fmt.Sprintf("%d bytes, more than the %d allowed", st.Size(), limit)}
	}
	return f, st.Size(), nil
}

func kindOf(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeDevice != 0:
		return "a device"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return m.Type().String()
}

// readRegular reads a regular file of at most limit bytes (see openRegular).
func readRegular(path string, limit int64) ([]byte, error) {
	f, size, err := openRegular(path, limit)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := membudget.Check(path, size); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, &CheckpointError{path, fmt.Sprintf("grew past the %d bytes allowed while being read", limit)}
	}
	return data, nil
}

// MaxCheckpointBytes bounds a checkpoint file where the architecture's
// exact size is not at hand (the torch-free registry).
const MaxCheckpointBytes = 2 << 30

// Verify checks every checkpoint's digest, streaming each file (regular
// files of at most MaxCheckpointBytes only).
func (m *Manifest) Verify(dir string) error {
	for _, c := range m.Checkpoints {
		p := filepath.Join(dir, c.File)
		f, _, err := openRegular(p, MaxCheckpointBytes)
		if err != nil {
			return fmt.Errorf("model bundle %s: %w", dir, err)
		}
		h := sha256.New()
		n, err := io.Copy(h, io.LimitReader(f, MaxCheckpointBytes+1))
		f.Close()
		if err != nil {
			return fmt.Errorf("model bundle %s: %w", dir, err)
		}
		if n > MaxCheckpointBytes {
			return fmt.Errorf("model bundle %s: %w", dir, &CheckpointError{p, "grew past the size allowed while being read"})
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != strings.ToLower(c.SHA256) {
			return fmt.Errorf("model bundle %s: %w", dir, &CheckpointError{c.File, fmt.Sprintf("corrupt or replaced: sha256 %s, manifest says %s", got, c.SHA256)})
		}
	}
	return nil
}

// ReadCheckpoint reads checkpoint i of the bundle in dir: a regular file
// of at most limit bytes whose sha256 is the manifest's.
func (m *Manifest) ReadCheckpoint(dir string, i int, limit int64) ([]byte, error) {
	if i < 0 || i >= len(m.Checkpoints) {
		return nil, fmt.Errorf("model bundle %s: no checkpoint %d", dir, i)
	}
	c := m.Checkpoints[i]
	data, err := readRegular(filepath.Join(dir, c.File), limit)
	if err != nil {
		return nil, fmt.Errorf("model bundle %s: %w", dir, err)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != strings.ToLower(c.SHA256) {
		return nil, fmt.Errorf("model bundle %s: %w", dir, &CheckpointError{c.File, fmt.Sprintf("corrupt or replaced: sha256 %s, manifest says %s", got, c.SHA256)})
	}
	return data, nil
}

// CheckpointLimit is the largest a checkpoint of n float parameters can
// be: 4 bytes each, plus the safetensors header (at most 16 MiB).
func CheckpointLimit(params int64) int64 {
	return membudget.Add(membudget.Mul(params, 4), 16<<20+8)
}
