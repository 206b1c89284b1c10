package trainingjob

import (
	"fmt"
	"strconv"
	"strings"

	"cmrseg/training/config"
)

// Field is one entry of the training form, bound to a config key.
type Field struct {
	Key   string // dotted TOML key, e.g. "schedule.cycles"
	Label string
	Help  string
	// Choices, when set, are the only valid texts (a select in the GUI).
	Choices []string
	get     func(*config.Config) string
	set     func(*config.Config, string) error
}

// Form is the training configuration as the tab edits it: one text per
// field, parsed and validated as the reader types. Data paths are chosen
// by the data picker and kept in Base.
type Form struct {
	Base   config.Config
	Fields []*Field
	text   map[string]string
}

func intField(key, label, help string, p func(*config.Config) *int) *Field {
	return &Field{Key: key, Label: label, Help: help,
		get: func(c *config.Config) string { return strconv.Itoa(*p(c)) },
		set: func(c *config.Config, s string) error {
			v, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				return fmt.Errorf("%q is not a whole number", s)
			}
			*p(c) = v
			return nil
		}}
}

func floatField(key, label, help string, p func(*config.Config) *float64) *Field {
	return &Field{Key: key, Label: label, Help: help,
		get: func(c *config.Config) string { return strconv.FormatFloat(*p(c), 'g', -1, 64) },
		set: func(c *config.Config, s string) error {
			v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil {
				return fmt.Errorf("%q is not a number", s)
			}
			*p(c) = v
			return nil
		}}
}

// NewForm binds a form to cfg.
func NewForm(cfg config.Config) *Form {
	f := &Form{Base: cfg}
	f.Fields = []*Field{
		{Key: "schedule.mode", Label: "Schedule", Choices: []string{config.Cyclical, config.Poly},
			Help: "cyclical: Eq. 4 with restarts (the method); poly: nnU-Net's single-model schedule",
			get:  func(c *config.Config) string { return c.Schedule.Mode },
			set:  func(c *config.Config, s string) error { c.Schedule.Mode = s; return nil }},
		intField("schedule.epochs", "Epochs T", "total epochs", func(c *config.Config) *int { return &c.Schedule.Epochs }),
		intField("schedule.cycles", "Cycles M", "learning-rate restarts; T must be divisible by M", func(c *config.Config) *int { return &c.Schedule.Cycles }),
		floatField("schedule.lr0", "η0", "initial learning rate after each restart's first epoch", func(c *config.Config) *float64 { return &c.Schedule.LR0 }),
		floatField("schedule.lr_restart", "η_restart", "learning rate of each cycle's first epoch", func(c *config.Config) *float64 { return &c.Schedule.LRRestart }),
		floatField("schedule.gamma", "γ", "decay exponent", func(c *config.Config) *float64 { return &c.Schedule.Gamma }),
		floatField("schedule.beta", "β", "fraction of a cycle spent decaying; the rest holds the floor", func(c *config.Config) *float64 { return &c.Schedule.Beta }),
		intField("schedule.keep_per_cycle", "Checkpoints per cycle", "ensemble members taken from each cycle's end", func(c *config.Config) *int { return &c.Schedule.KeepPerCycle }),
		intField("schedule.keep_spacing", "Checkpoint spacing", "epochs between kept checkpoints", func(c *config.Config) *int { return &c.Schedule.KeepSpacing }),
		intField("train.iterations_per_epoch", "Iterations per epoch", "", func(c *config.Config) *int { return &c.Train.ItersPerEpoch }),
		intField("train.batch_size", "Batch size", "", func(c *config.Config) *int { return &c.Train.BatchSize }),
		{Key: "train.patch", Label: "Patch (h×w)", Help: "e.g. 160x160; divisible by 2^(stages−1)",
			get: func(c *config.Config) string { return fmt.Sprintf("%dx%d", c.Train.Patch[0], c.Train.Patch[1]) },
			set: func(c *config.Config, s string) error {
				a, b, ok := strings.Cut(strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "×", "x"), "x")
				h, e1 := strconv.Atoi(strings.TrimSpace(a))
				w, e2 := strconv.Atoi(strings.TrimSpace(b))
				if !ok || e1 != nil || e2 != nil {
					return fmt.Errorf("%q is not HEIGHTxWIDTH", s)
				}
				c.Train.Patch = [2]int{h, w}
				return nil
			}},
		intField("network.stages", "U-Net stages", "", func(c *config.Config) *int { return &c.Network.Stages }),
		intField("network.base_features", "Base features", "", func(c *config.Config) *int { return &c.Network.BaseFeatures }),
		intField("network.max_features", "Max features", "", func(c *config.Config) *int { return &c.Network.MaxFeatures }),
		floatField("split.val_fraction", "Validation fraction", "share of patients held out for validation", func(c *config.Config) *float64 { return &c.Split.ValFraction }),
		floatField("optimizer.momentum", "Momentum", "", func(c *config.Config) *float64 { return &c.Optimizer.Momentum }),
		floatField("optimizer.weight_decay", "Weight decay", "", func(c *config.Config) *float64 { return &c.Optimizer.WeightDecay }),
		{Key: "run.device", Label: "Device", Choices: []string{config.DeviceAuto, config.DeviceCPU, config.DeviceCUDA},
			get: func(c *config.Config) string { return c.Run.Device },
			set: func(c *config.Config, s string) error { c.Run.Device = s; return nil }},
		intField("run.threads", "CPU threads", "0: one per core", func(c *config.Config) *int { return &c.Run.Threads }),
		{Key: "run.seed", Label: "Seed", get: func(c *config.Config) string { return strconv.FormatInt(c.Run.Seed, 10) },
			set: func(c *config.Config, s string) error {
				v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
				if err != nil {
					return fmt.Errorf("%q is not a whole number", s)
				}
				c.Run.Seed = v
				return nil
			}},
	}
	f.Reset(cfg)
	return f
}

// Reset shows cfg in every field.
func (f *Form) Reset(cfg config.Config) {
	f.Base = cfg
	f.text = map[string]string{}
	for _, fd := range f.Fields {
		f.text[fd.Key] = fd.get(&cfg)
	}
}

// Field returns the field with the key (nil when none).
func (f *Form) Field(key string) *Field {
	for _, fd := range f.Fields {
		if fd.Key == key {
			return fd
		}
	}
	return nil
}

// Text is the field's current text.
func (f *Form) Text(key string) string { return f.text[key] }

// Set changes a field's text and returns the form's problems after it.
func (f *Form) Set(key, text string) map[string]string {
	f.text[key] = text
	_, probs := f.Config()
	return probs
}

// Config parses every field over Base and validates the result. Problems
// map field keys to messages: parse errors of each field, then the
// config's first validation error under the field it names ("" for the
// form as a whole when it names no field of the form). The config is
// only meaningful when there are no problems.
func (f *Form) Config() (config.Config, map[string]string) {
	c := f.Base
	c.Data.Paths = append([]string(nil), f.Base.Data.Paths...)
	probs := map[string]string{}
	for _, fd := range f.Fields {
		if len(fd.Choices) > 0 && !containsString(fd.Choices, f.text[fd.Key]) {
			probs[fd.Key] = fmt.Sprintf("%q is not one of %s", f.text[fd.Key], strings.Join(fd.Choices, ", "))
			continue
		}
		if err := fd.set(&c, f.text[fd.Key]); err != nil {
			probs[fd.Key] = err.Error()
		}
	}
	if len(probs) > 0 {
		return c, probs
	}
	if err := c.Validate(); err != nil {
		msg := err.Error()
		key := ""
		for _, fd := range f.Fields {
			if strings.HasPrefix(msg, fd.Key+":") && len(fd.Key) > len(key) {
				key = fd.Key
			}
		}
		if key != "" {
			msg = strings.TrimSpace(strings.TrimPrefix(msg, key+":"))
		}
		probs[key] = msg
	}
	return c, probs
}

func containsString(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// LoadForm reads a training TOML (as `cmrseg train --config` does).
func (f *Form) Load(path string) error {
	c, err := config.Load(path)
	if err != nil {
		return err
	}
	f.Reset(c)
	return nil
}

// Save writes the form's config as TOML (atomically); it refuses an
// invalid form.
func (f *Form) Save(path string) error {
	c, probs := f.Config()
	for k, m := range probs {
		return fmt.Errorf("config %s: %s: %s", path, k, m)
	}
	return c.Save(path)
}

// SchedulePlot is what the tab's learning-rate plot draws.
type SchedulePlot struct {
	LR          []float64 // per epoch
	Checkpoints []int     // epochs whose weights enter the ensemble
	Cycles      int
}

// Schedule samples the config's learning rate once per epoch
// (schedule.Cyclical.LR, or poly) and lists the checkpoint epochs.
func Schedule(c config.Config) (SchedulePlot, error) {
	if err := c.Validate(); err != nil {
		return SchedulePlot{}, err
	}
	ck, err := c.CheckpointEpochs()
	if err != nil {
		return SchedulePlot{}, err
	}
	s := c.LRSchedule()
	p := SchedulePlot{LR: make([]float64, c.Schedule.Epochs), Checkpoints: ck, Cycles: c.Schedule.Cycles}
	if c.Schedule.Mode == config.Poly {
		p.Cycles = 1
	}
	for e := range p.LR {
		p.LR[e] = s.LR(e)
	}
	return p, nil
}

// TinyConfig is a few-minute CPU configuration for trying the tab (and
// for tests): 3 stages of base 4, 64×64 patches, 2 cycles × 2 epochs of
// 25 iterations, 2 checkpoints per cycle. It learns little; it shows the
// machinery.
func TinyConfig() config.Config {
	c := config.CPUPreset()
	c.Network = config.Network{Stages: 3, BaseFeatures: 4, MaxFeatures: 16, DeepSupervision: true}
	c.Train.Patch = [2]int{64, 64}
	c.Train.BatchSize = 4
	c.Train.ItersPerEpoch = 25
	c.Schedule.Epochs = 4
	c.Schedule.Cycles = 2
	c.Schedule.KeepPerCycle = 2
	c.Run.Threads = 1
	c.Run.Folder = "runs/tiny"
	return c
}
