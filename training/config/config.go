// Package config is the typed training configuration of a cmrseg run:
// defaults from the paper, a CPU-sized preset, TOML load/save and
// validation that names the offending field.
package config

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"strings"

	"github.com/BurntSushi/toml"

	"cmrseg/app/atomicfile"
	"cmrseg/training/augment"
	"cmrseg/training/schedule"
	"cmrseg/training/split"
)

// Config is one training run. TOML keys are the snake_case tags; errors
// name fields by their dotted TOML key (e.g. "schedule.cycles").
type Config struct {
	Data      Data           `toml:"data"`
	Split     split.Options  `toml:"split"`
	Network   Network        `toml:"network"`
	Train     Train          `toml:"train"`
	Schedule  Schedule       `toml:"schedule"`
	Optimizer Optimizer      `toml:"optimizer"`
	Loss      Loss           `toml:"loss"`
	Augment   augment.Params `toml:"augment"`
	Run       Run            `toml:"run"`
}

// Data says where the training cases are and how they are resampled.
type Data struct {
	// Paths are data set folders (ACDC layout: patientNNN/ with Info.cfg).
	Paths []string `toml:"paths"`
	// TargetSpacingMM is the in-plane spacing every slice is resampled to.
	// Default 1.5625 mm: the median in-plane spacing of the 200 ACDC
	// training volumes, which is what nnU-Net's 2D plan uses.
	TargetSpacingMM float64 `toml:"target_spacing_mm"`
}

// Network is the 2D U-Net topology (nnU-Net: InstanceNorm + LeakyReLU,
// two convs per stage, strided-conv down, transposed-conv up).
type Network struct {
	Stages          int     `toml:"stages"`        // resolution levels, ≥ 2
	BaseFeatures    int     `toml:"base_features"` // features of stage 0, doubling per stage
	MaxFeatures     int     `toml:"max_features"`  // cap (512 in nnU-Net)
	DeepSupervision bool    `toml:"deep_supervision"`
	Dropout         float64 `toml:"dropout"` // dropout p (0 in nnU-Net)
}

// Train sizes the batches.
type Train struct {
	Patch         [2]int `toml:"patch"` // h, w in pixels
	BatchSize     int    `toml:"batch_size"`
	ItersPerEpoch int    `toml:"iterations_per_epoch"`
	// ForegroundFraction of each batch is centred on foreground (nnU-Net 0.33).
	ForegroundFraction float64 `toml:"foreground_fraction"`
	// SliceWeights steer the foreground draws by slice position and
	// phase (augment.SliceWeights); absent, they draw as nnU-Net does.
	SliceWeights augment.SliceWeights `toml:"slice_weights"`
}

// Schedule modes.
const (
	Cyclical = "cyclical" // Eq. 4 with restarts: the multi-modal posterior
	Poly     = "poly"     // nnU-Net's single-model baseline
)

// Schedule is the learning rate over epochs and the checkpoints kept.
// In poly mode Cycles, LRRestart, Gamma and Beta are ignored and the
// checkpoints are the last ones of the single run.
type Schedule struct {
	Mode         string  `toml:"mode"` // "cyclical" or "poly"
	Epochs       int     `toml:"epochs"`
	Cycles       int     `toml:"cycles"`
	LR0          float64 `toml:"lr0"`
	LRRestart    float64 `toml:"lr_restart"`
	Gamma        float64 `toml:"gamma"`
	Beta         float64 `toml:"beta"`
	PolyExponent float64 `toml:"poly_exponent"`
	KeepPerCycle int     `toml:"keep_per_cycle"` // N checkpoints per cycle
	KeepSpacing  int     `toml:"keep_spacing"`   // epochs between kept checkpoints
}

// Optimizer is SGD as in nnU-Net.
type Optimizer struct {
	Momentum    float64 `toml:"momentum"`
	Nesterov    bool    `toml:"nesterov"`
	WeightDecay float64 `toml:"weight_decay"`
}

// Loss is Dice + cross-entropy.
type Loss struct {
	DiceWeight float64 `toml:"dice_weight"`
	CEWeight   float64 `toml:"ce_weight"`
}

// Devices.
const (
	DeviceAuto = "auto"
	DeviceCPU  = "cpu"
	DeviceCUDA = "cuda"
)

// Run is the process-level setup.
type Run struct {
	Seed    int64  `toml:"seed"`    // ≥ 0; int64 as TOML integers are
	Device  string `toml:"device"`  // auto, cpu or cuda
	Threads int    `toml:"threads"` // CPU threads for torch; 0 = all cores
	Folder  string `toml:"folder"`  // where checkpoints and logs go
}

// Default returns the paper's setup (platform notes, "Reference points"):
// nnU-Net v2 2D defaults and Eq. 4 with η0 0.01, γ 0.9, η_restart 0.1,
// M 3, T 1200, β 0.8. Topology 6 stages from 32 features at 256×224 with
// batch 32 approximates nnU-Net's ACDC 2D plan (whose batch size depends on
// GPU memory). Keeping the last 5 epochs per cycle is our choice; the
// notes do not pin N.
func Default() Config {
	return Config{
		Data: Data{
			Paths:           []string{"../shared/data/acdc/training"},
			TargetSpacingMM: 1.5625,
		},
		Split:   split.Options{ValFraction: 0.2, Seed: 12345, Stratify: true},
		Network: Network{Stages: 6, BaseFeatures: 32, MaxFeatures: 512, DeepSupervision: true},
		Train: Train{
			Patch:              [2]int{256, 224},
			BatchSize:          32,
			ItersPerEpoch:      250,
			ForegroundFraction: 0.33,
		},
		Schedule: Schedule{
			Mode: Cyclical, Epochs: 1200, Cycles: 3,
			LR0: 0.01, LRRestart: 0.1, Gamma: 0.9, Beta: 0.8, PolyExponent: 0.9,
			KeepPerCycle: 5, KeepSpacing: 1,
		},
		Optimizer: Optimizer{Momentum: 0.99, Nesterov: true, WeightDecay: 3e-5},
		Loss:      Loss{DiceWeight: 1, CEWeight: 1},
		Augment:   augment.DefaultParams(),
		Run:       Run{Seed: 12345, Device: DeviceAuto, Threads: 0, Folder: "runs/acdc-cyclical"},
	}
}

// CPUPreset fits a cyclical run into about 45 minutes on the 2-core
// development machines (platform notes, "CPU training budget": base 16,
// 5 stages, batch 16 at 160×160 costs 1.4–1.5 s per iteration and reached
// Dice RV .83 / MYO .82 / LV .91 after 1 755 iterations). 36 epochs of 50
// iterations = 1 800 iterations in 3 cycles of 12 epochs; β 0.8 puts the
// last 2 epochs of each cycle on the constant-rate floor, and those 2 are
// kept: 6 ensemble members. Spacing 1.5 mm is what that measurement used.
func CPUPreset() Config {
	c := Default()
	c.Data.TargetSpacingMM = 1.5
	c.Network = Network{Stages: 5, BaseFeatures: 16, MaxFeatures: 512, DeepSupervision: true}
	c.Train.Patch = [2]int{160, 160}
	c.Train.BatchSize = 16
	c.Train.ItersPerEpoch = 50
	c.Schedule.Epochs = 36
	c.Schedule.Cycles = 3
	c.Schedule.KeepPerCycle = 2
	c.Run.Device = DeviceCPU
	c.Run.Threads = 2
	c.Run.Folder = "runs/acdc-cyclical-cpu"
	return c
}

// Features lists the feature count of every stage: base·2^i capped at max.
func (n Network) Features() []int {
	f := make([]int, n.Stages)
	for i := range f {
		f[i] = min(n.BaseFeatures<<i, n.MaxFeatures)
	}
	return f
}

// DeepSupervisionWeights are the loss weights of the decoder outputs, full
// resolution first: 1/2^i, the lowest-resolution output weighted 0 as in
// nnU-Net v2, normalised to sum 1. Without deep supervision: [1].
func (n Network) DeepSupervisionWeights() []float64 {
	k := n.Stages - 1 // outputs: every decoder level
	if !n.DeepSupervision || k <= 1 {
		return []float64{1}
	}
	w := make([]float64, k)
	sum := 0.0
	for i := 0; i < k-1; i++ {
		w[i] = 1 / math.Pow(2, float64(i))
		sum += w[i]
	}
	for i := range w {
		w[i] /= sum
	}
	return w
}

// LRSchedule is the learning-rate schedule the mode selects.
func (c Config) LRSchedule() schedule.Schedule {
	if c.Schedule.Mode == Poly {
		return schedule.Poly{Epochs: c.Schedule.Epochs, LR0: c.Schedule.LR0, Exponent: c.Schedule.PolyExponent}
	}
	return c.Cyclical()
}

// Cyclical is the Eq. 4 schedule of this config.
func (c Config) Cyclical() schedule.Cyclical {
	s := c.Schedule
	return schedule.Cyclical{Epochs: s.Epochs, Cycles: s.Cycles, LR0: s.LR0, LRRestart: s.LRRestart, Gamma: s.Gamma, Beta: s.Beta}
}

// CheckpointEpochs are the 0-based epochs whose weights form the ensemble.
func (c Config) CheckpointEpochs() ([]int, error) {
	cycles := c.Schedule.Cycles
	if c.Schedule.Mode == Poly {
		cycles = 1
	}
	return schedule.CheckpointEpochs(c.Schedule.Epochs, cycles, c.Schedule.KeepPerCycle, c.Schedule.KeepSpacing)
}

// Validate returns the first problem, naming the field by its TOML key.
func (c Config) Validate() error {
	bad := func(key, format string, a ...any) error {
		return fmt.Errorf("%s: %s", key, fmt.Sprintf(format, a...))
	}
	positive := func(x float64) bool { return x > 0 && !math.IsInf(x, 0) }

	// data
	if len(c.Data.Paths) == 0 {
		return bad("data.paths", "no data set folder given")
	}
	for i, p := range c.Data.Paths {
		if strings.TrimSpace(p) == "" {
			return bad("data.paths", "entry %d is empty", i+1)
		}
	}
	if !positive(c.Data.TargetSpacingMM) || c.Data.TargetSpacingMM > 20 {
		return bad("data.target_spacing_mm", "must lie in (0, 20] mm, got %g", c.Data.TargetSpacingMM)
	}
	if err := c.Split.Validate(); err != nil {
		return fmt.Errorf("split.%s", strings.TrimPrefix(err.Error(), "split: "))
	}

	// network
	n := c.Network
	if n.Stages < 2 || n.Stages > 9 {
		return bad("network.stages", "must lie in [2, 9], got %d", n.Stages)
	}
	if n.BaseFeatures < 1 {
		return bad("network.base_features", "must be positive, got %d", n.BaseFeatures)
	}
	if n.MaxFeatures < n.BaseFeatures {
		return bad("network.max_features", "%d is below base_features %d", n.MaxFeatures, n.BaseFeatures)
	}
	if !(n.Dropout >= 0 && n.Dropout < 1) {
		return bad("network.dropout", "must lie in [0, 1), got %g", n.Dropout)
	}

	// train
	t := c.Train
	factor := 1 << (n.Stages - 1)
	for i, name := range []string{"height", "width"} {
		if t.Patch[i] <= 0 {
			return bad("train.patch", "%s must be positive, got %d", name, t.Patch[i])
		}
		if t.Patch[i]%factor != 0 {
			return bad("train.patch", "%s %d is not divisible by %d, the downsampling of %d stages", name, t.Patch[i], factor, n.Stages)
		}
	}
	if t.BatchSize < 1 {
		return bad("train.batch_size", "must be positive, got %d", t.BatchSize)
	}
	if t.ItersPerEpoch < 1 {
		return bad("train.iterations_per_epoch", "must be positive, got %d", t.ItersPerEpoch)
	}
	if !(t.ForegroundFraction >= 0 && t.ForegroundFraction <= 1) {
		return bad("train.foreground_fraction", "must lie in [0, 1], got %g", t.ForegroundFraction)
	}
	if err := t.SliceWeights.Validate(); err != nil {
		return bad("train.slice_weights", "%v", err)
	}

	// schedule
	s := c.Schedule
	switch s.Mode {
	case Cyclical, Poly:
	default:
		return bad("schedule.mode", "%q is not %q or %q", s.Mode, Cyclical, Poly)
	}
	if s.Epochs < 1 {
		return bad("schedule.epochs", "must be positive, got %d", s.Epochs)
	}
	if !positive(s.LR0) {
		return bad("schedule.lr0", "must be positive, got %g", s.LR0)
	}
	if s.Mode == Cyclical {
		if s.Cycles < 1 {
			return bad("schedule.cycles", "must be positive, got %d", s.Cycles)
		}
		if s.Epochs%s.Cycles != 0 {
			return bad("schedule.cycles", "%d epochs are not divisible by %d cycles", s.Epochs, s.Cycles)
		}
		if !positive(s.LRRestart) {
			return bad("schedule.lr_restart", "must be positive, got %g", s.LRRestart)
		}
		if !positive(s.Gamma) {
			return bad("schedule.gamma", "must be positive, got %g", s.Gamma)
		}
		if !(s.Beta > 0 && s.Beta <= 1) {
			return bad("schedule.beta", "must lie in (0, 1], got %g", s.Beta)
		}
	} else if !positive(s.PolyExponent) {
		return bad("schedule.poly_exponent", "must be positive, got %g", s.PolyExponent)
	}
	if s.KeepPerCycle < 1 {
		return bad("schedule.keep_per_cycle", "must be positive, got %d", s.KeepPerCycle)
	}
	if s.KeepSpacing < 1 {
		return bad("schedule.keep_spacing", "must be positive, got %d", s.KeepSpacing)
	}
	if _, err := c.CheckpointEpochs(); err != nil {
		return bad("schedule.keep_per_cycle", "%s", strings.TrimPrefix(err.Error(), "checkpoints: "))
	}

	// optimizer, loss
	if !(c.Optimizer.Momentum >= 0 && c.Optimizer.Momentum < 1) {
		return bad("optimizer.momentum", "must lie in [0, 1), got %g", c.Optimizer.Momentum)
	}
	if c.Optimizer.Nesterov && c.Optimizer.Momentum == 0 {
		return bad("optimizer.nesterov", "needs a positive momentum")
	}
	if !(c.Optimizer.WeightDecay >= 0 && c.Optimizer.WeightDecay < 1) {
		return bad("optimizer.weight_decay", "must lie in [0, 1), got %g", c.Optimizer.WeightDecay)
	}
	if !(c.Loss.DiceWeight >= 0) || math.IsInf(c.Loss.DiceWeight, 0) {
		return bad("loss.dice_weight", "must be a non-negative number, got %g", c.Loss.DiceWeight)
	}
	if !(c.Loss.CEWeight >= 0) || math.IsInf(c.Loss.CEWeight, 0) {
		return bad("loss.ce_weight", "must be a non-negative number, got %g", c.Loss.CEWeight)
	}
	if c.Loss.DiceWeight+c.Loss.CEWeight == 0 {
		return bad("loss", "dice_weight and ce_weight are both 0")
	}
	if err := c.Augment.Validate(); err != nil {
		return fmt.Errorf("augment.%w", err)
	}

	// run
	switch c.Run.Device {
	case DeviceAuto, DeviceCPU, DeviceCUDA:
	default:
		return bad("run.device", "%q is not auto, cpu or cuda", c.Run.Device)
	}
	if c.Run.Seed < 0 {
		return bad("run.seed", "must not be negative, got %d", c.Run.Seed)
	}
	if c.Run.Threads < 0 {
		return bad("run.threads", "must not be negative, got %d", c.Run.Threads)
	}
	if strings.TrimSpace(c.Run.Folder) == "" {
		return bad("run.folder", "is empty")
	}
	return nil
}

// Load reads a TOML file over Default(), so a file need only name what it
// changes; unknown keys and invalid values are errors naming the file.
func Load(path string) (Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("config: %w", err)
	}
	return Parse(path, raw)
}

// Parse is Load for bytes already read; name is used in errors.
func Parse(name string, raw []byte) (Config, error) {
	c := Default()
	// A list in the file replaces the default list rather than merging into it.
	c.Data.Paths = nil
	md, err := toml.Decode(string(raw), &c)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", name, err)
	}
	if !md.IsDefined("data", "paths") {
		c.Data.Paths = Default().Data.Paths
	}
	if und := md.Undecoded(); len(und) > 0 {
		keys := make([]string, len(und))
		for i, k := range und {
			keys[i] = k.String()
		}
		return Config{}, fmt.Errorf("config %s: unknown keys: %s", name, strings.Join(keys, ", "))
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("config %s: %w", name, err)
	}
	return c, nil
}

// Save validates c and writes it as TOML atomically (temp file, fsync,
// rename), so a crash never leaves a half-written config.
func (c Config) Save(path string) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	var buf bytes.Buffer
	buf.WriteString("# cmrseg training configuration\n")
	if err := toml.NewEncoder(&buf).Encode(c); err != nil {
		return fmt.Errorf("config %s: encode: %w", path, err)
	}
	return atomicfile.Write(path, buf.Bytes())
}
