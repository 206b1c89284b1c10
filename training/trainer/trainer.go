// Package trainer trains the U-Net of a cmrseg run and collects its
// checkpoint ensemble: SGD (nesterov) with the learning rate of each epoch
// from the config's schedule (cyclical Eq. 4 or poly), Dice + CE with deep
// supervision, validation Dice per epoch, checkpoints of the configured
// epochs written into a model bundle inside the run folder, and a state
// file written atomically after every epoch so a killed run resumes from
// its last complete epoch and ends with the same weights, bit for bit, as
// an uninterrupted one.
package trainer

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"cmrseg/app/atomicfile"
	"cmrseg/app/study"
	"cmrseg/inference/bundle"
	"cmrseg/inference/torch"
	"cmrseg/inference/unet"
	"cmrseg/inference/weights"
	"cmrseg/training/config"
	"cmrseg/training/data"
	"cmrseg/training/metrics"
)

// Classes is the number of output classes (ACDC: background, RV, MYO, LV).
const Classes = 4

// EventKind says what an Event reports.
type EventKind int

const (
	EventStart      EventKind = iota // data loaded, training about to begin (Message describes it)
	EventIteration                   // one optimizer step done
	EventEpoch                       // an epoch done, validated and saved
	EventCheckpoint                  // a checkpoint written into the bundle
	EventDone                        // the run is complete
)

// Event is progress for the CLI's progress bar and the GUI's plots.
type Event struct {
	Kind          EventKind
	Epoch, Epochs int // 0-based epoch, total epochs
	Iter, Iters   int // iterations done in this epoch, per epoch
	Cycle         int // 0-based
	Loss          float64
	LR            float64
	ETA           time.Duration
	Elapsed       time.Duration // this process's training time
	ValDice       [3]float64    // EventEpoch: RV, MYO, LV
	Checkpoint    string        // EventCheckpoint: file inside the bundle
	Resumed       bool          // EventStart: continuing from a state file
	Device        string        // EventEpoch and this process's first EventIteration: where training runs
	Message       string
}

// Options are the run settings that are not part of the config.
type Options struct {
	// ConfigTOML is the config file's text, recorded verbatim in the run
	// and the bundle; "" records cfg re-encoded.
	ConfigTOML string
	// Command is the command line, for the bundle's provenance.
	Command string
	// Resume continues the run in runDir from its last complete epoch.
	// Without it a folder that already holds a run is an error.
	Resume bool
	// DType stores checkpoints as weights.F32 (default) or weights.F16.
	DType string
	// LoaderWorkers is the number of batch-producing goroutines (default 1:
	// on a 2-core machine torch needs the cores).
	LoaderWorkers int
	// ValEvery validates every ValEvery-th epoch (and always at the last
	// epoch of each cycle, whose checkpoint is the cycle's best estimate);
	// ≤ 1: every epoch. On a CPU a whole-slice
	// pass over the validation volumes costs about as much as a dozen
	// training iterations of the CPU preset, so larger runs may thin it out.
	// Epochs without validation log NaN.
	ValEvery int
	// Worker runs the torch work; nil creates one with cfg.Run.Threads.
	Worker *torch.Worker
	// InitFrom, when set, is a model bundle whose last checkpoint (highest
	// epoch) initialises the network before epoch 0: fine-tuning. Its
	// network must be the config's. A resumed run past epoch 0 ignores it,
	// since its weights come from the state file.
	InitFrom string
}

// Result summarises a finished run.
type Result struct {
	RunDir, BundleDir string
	Rows              []Row
	WallSeconds       float64
}

// Train runs (or resumes) the training described by cfg in runDir.
// Cancelling ctx stops after the current iteration; the run then resumes
// from its last complete epoch. events may be nil.
func Train(ctx context.Context, cfg config.Config, runDir string, opts Options, events func(Event)) (*Result, error) {
	if events == nil {
		events = func(Event) {}
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("trainer: config: %w", err)
	}
	if opts.DType == "" {
		opts.DType = weights.F32
	}
	if opts.DType != weights.F32 && opts.DType != weights.F16 {
		return nil, fmt.Errorf("trainer: checkpoint storage %q is not F32 or F16", opts.DType)
	}
	cfgText := opts.ConfigTOML
	if cfgText == "" {
		var buf bytes.Buffer
		if err := toml.NewEncoder(&buf).Encode(cfg); err != nil {
			return nil, err
		}
		cfgText = buf.String()
	}
	bundleDir := filepath.Join(runDir, BundleDir)
	if err := os.MkdirAll(bundleDir, 0o755); err != nil {
		return nil, fmt.Errorf("trainer: %w", err)
	}

	// The run's identity: its config, its split, its state.
	statePath := filepath.Join(runDir, StateFile)
	cfgPath := filepath.Join(runDir, ConfigFile)
	var st *state
	if _, err := os.Stat(cfgPath); err == nil {
		if !opts.Resume {
			return nil, fmt.Errorf("trainer: %s already holds a run (%s exists); resume it or choose another folder", runDir, ConfigFile)
		}
		prev, err := config.Load(cfgPath)
		if err != nil {
			return nil, fmt.Errorf("trainer: resume: %w", err)
		}
		a, b := prev, cfg
		a.Data.Paths, b.Data.Paths = nil, nil // the data may have moved
		if !reflect.DeepEqual(a, b) {
			return nil, fmt.Errorf("trainer: resume: the config differs from the run's %s; resume with that config or start a new run", cfgPath)
		}
		raw, err := os.ReadFile(cfgPath)
		if err != nil {
			return nil, fmt.Errorf("trainer: %w", err)
		}
		cfgText = string(raw)
		if _, err := os.Stat(statePath); err == nil {
			if st, err = readState(statePath); err != nil {
				return nil, err
			}
		}
	} else if err := atomicfile.Write(cfgPath, []byte(cfgText)); err != nil {
		return nil, fmt.Errorf("trainer: %w", err)
	}
	removeTemps(runDir)
	removeTemps(bundleDir)

	cases, err := data.List(cfg.Data.Paths)
	if err != nil {
		return nil, err
	}
	splitPath := filepath.Join(runDir, data.SplitFile)
	var sp data.Split
	if _, err := os.Stat(splitPath); err == nil {
		if sp, err = data.ReadSplit(splitPath); err != nil {
			return nil, err
		}
	} else {
		if sp, err = data.MakeSplit(cases, cfg.Split); err != nil {
			return nil, err
		}
		sp.Data = cfg.Data.Paths
		if err := data.WriteSplit(splitPath, sp); err != nil {
			return nil, fmt.Errorf("trainer: %w", err)
		}
	}
	trainCases, err := data.Select(cases, sp.Train)
	if err != nil {
		return nil, fmt.Errorf("trainer: %s: %w", splitPath, err)
	}
	valCases, err := data.Select(cases, sp.Val)
	if err != nil {
		return nil, fmt.Errorf("trainer: %s: %w", splitPath, err)
	}
	trainSet, err := data.Load(ctx, trainCases, cfg.Data.TargetSpacingMM, Classes, 0)
	if err != nil {
		return nil, err
	}
	var valSet *data.Set
	if len(valCases) > 0 {
		if valSet, err = data.Load(ctx, valCases, cfg.Data.TargetSpacingMM, Classes, 0); err != nil {
			return nil, err
		}
	}
	sampler := &data.Sampler{
		Set: trainSet, Params: cfg.Augment, PatchH: cfg.Train.Patch[0], PatchW: cfg.Train.Patch[1],
		BatchSize: cfg.Train.BatchSize, FGFraction: cfg.Train.ForegroundFraction, Weights: cfg.Train.SliceWeights, Seed: cfg.Run.Seed,
	}
	if err := sampler.Validate(); err != nil {
		return nil, err
	}

	w := opts.Worker
	if w == nil {
		w = torch.NewWorker(cfg.Run.Threads)
		defer w.Close()
	}
	r := &run{
		cfg: cfg, opts: opts, cfgText: cfgText, runDir: runDir, bundleDir: bundleDir,
		split: sp, sampler: sampler, val: valSet, events: events, st: st,
	}
	if r.st == nil {
		r.st = &state{}
	}
	r.net = NetworkConfig(cfg.Network)
	if opts.InitFrom != "" && r.st.Epochs == 0 {
		if r.initWs, err = initWeights(opts.InitFrom, r.net); err != nil {
			return nil, err
		}
	}
	if r.ckptEpochs, err = cfg.CheckpointEpochs(); err != nil {
		return nil, fmt.Errorf("trainer: %w", err)
	}
	r.events(Event{Kind: EventStart, Epoch: r.st.Epochs, Epochs: cfg.Schedule.Epochs, Iters: cfg.Train.ItersPerEpoch, Resumed: st != nil,
		Message: fmt.Sprintf("%d training cases (%d volumes, %d slices), %d validation cases", len(sp.Train), len(trainSet.Volumes), trainSet.Slices(), len(sp.Val))})
	if err := w.Do(ctx, func(s *torch.Scope) error { return r.loop(ctx, s, w.Threads()) }); err != nil {
		return nil, err
	}
	return &Result{RunDir: runDir, BundleDir: bundleDir, Rows: r.st.Rows, WallSeconds: r.st.WallSeconds}, nil
}

// NetworkConfig is the U-Net of a training config (single-channel input,
// the ACDC classes, two convolutions per stage).
func NetworkConfig(n config.Network) unet.Config {
	return unet.Config{InChannels: 1, Classes: Classes, Stages: n.Stages, BaseFeatures: n.BaseFeatures,
		MaxFeatures: n.MaxFeatures, ConvsPerStage: 2, Dropout: n.Dropout}
}

type run struct {
	cfg               config.Config
	opts              Options
	cfgText           string
	runDir, bundleDir string
	split             data.Split
	sampler           *data.Sampler
	val               *data.Set
	events            func(Event)
	st                *state
	net               unet.Config
	ckptEpochs        []int
	hardware          string
	initWs            []weights.Tensor // InitFrom's weights, loaded before epoch 0
}

// initWeights reads the last checkpoint of the bundle at dir (a run folder
// is accepted too) and checks that its network is net.
func initWeights(dir string, net unet.Config) ([]weights.Tensor, error) {
	if _, err := os.Stat(filepath.Join(dir, bundle.ManifestName)); err != nil {
		if _, err2 := os.Stat(filepath.Join(dir, BundleDir, bundle.ManifestName)); err2 == nil {
			dir = filepath.Join(dir, BundleDir)
		}
	}
	b, err := bundle.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("trainer: init from: %w", err)
	}
	if len(b.Checkpoints) == 0 {
		return nil, fmt.Errorf("trainer: init from %s: the bundle has no checkpoints", dir)
	}
	bn := b.Network
	bn.Dropout = net.Dropout // dropout has no weights
	if bn != net {
		return nil, fmt.Errorf("trainer: init from %s: the bundle's network (%d stages, base %d, max %d, %d classes) is not the config's (%d stages, base %d, max %d, %d classes); set [network] to the bundle's",
			dir, bn.Stages, bn.BaseFeatures, bn.MaxFeatures, bn.Classes, net.Stages, net.BaseFeatures, net.MaxFeatures, net.Classes)
	}
	last := 0
	for i, c := range b.Checkpoints {
		if c.Epoch > b.Checkpoints[last].Epoch {
			last = i
		}
	}
	return b.Weights(last)
}

func (r *run) device(s *torch.Scope) (torch.Device, error) {
	switch r.cfg.Run.Device {
	case config.DeviceCUDA:
		if !s.CUDAAvailable() {
			return torch.CPU, fmt.Errorf("trainer: run.device is cuda but this libtorch sees no CUDA device")
		}
		return torch.CUDA(0), nil
	case config.DeviceAuto:
		if s.CUDAAvailable() {
			return torch.CUDA(0), nil
		}
	}
	return torch.CPU, nil
}

// cycleOf is the 0-based cycle of an epoch (0 throughout in poly mode).
func (r *run) cycleOf(epoch int) int {
	if r.cfg.Schedule.Mode == config.Poly {
		return 0
	}
	c, _ := r.cfg.Cyclical().Cycle(epoch)
	return c
}

func (r *run) loop(ctx context.Context, s *torch.Scope, threads int) error {
	cfg := r.cfg
	dev, err := r.device(s)
	if err != nil {
		return err
	}
	r.hardware = Hardware(s, dev, threads)
	stp, err := NewStepper(s, cfg, dev)
	if err != nil {
		return err
	}
	defer stp.Close()
	model, opt := stp.Model, stp.opt
	if r.st.Epochs == 0 && r.initWs != nil {
		if err := model.Load(s, r.initWs); err != nil {
			return fmt.Errorf("trainer: init from %s: %w", r.opts.InitFrom, err)
		}
	}
	if r.st.Epochs > 0 {
		if err := model.Load(s, r.st.weights); err != nil {
			return fmt.Errorf("trainer: resume: %w", err)
		}
		s.LoadState(opt, r.st.optim)
		s.SetRNGState(r.st.rng)
		if s.Err() != nil {
			return fmt.Errorf("trainer: resume: %w", s.Err())
		}
	}
	sched := cfg.LRSchedule()
	iters := cfg.Train.ItersPerEpoch
	total := cfg.Schedule.Epochs
	start := time.Now()
	doneIters := 0
	remaining := func(epoch, iter int) time.Duration {
		if doneIters == 0 {
			return 0
		}
		left := (total-epoch-1)*iters + (iters - iter)
		return time.Duration(float64(time.Since(start)) / float64(doneIters) * float64(left))
	}
	for epoch := r.st.Epochs; epoch < total; epoch++ {
		t0 := time.Now()
		lr := sched.LR(epoch)
		opt.SetLR(lr)
		cycle := r.cycleOf(epoch)
		ectx, cancel := context.WithCancel(ctx)
		stream := r.sampler.Stream(ectx, epoch, 0, iters, max(1, r.opts.LoaderWorkers), 2)
		sum, n := 0.0, 0
		for b := range stream {
			if b.Err != nil {
				cancel()
				return b.Err
			}
			loss, err := stp.Step(s, b)
			if err != nil {
				cancel()
				return fmt.Errorf("trainer: epoch %d iteration %d: %w", epoch, b.Iter, err)
			}
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				cancel()
				return fmt.Errorf("trainer: epoch %d iteration %d: loss is %g (diverged); lower schedule.lr0/lr_restart", epoch, b.Iter, loss)
			}
			sum += loss
			n++
			doneIters++
			dev := ""
			if doneIters == 1 {
				dev = r.hardware
			}
			r.events(Event{Kind: EventIteration, Epoch: epoch, Epochs: total, Iter: b.Iter + 1, Iters: iters, Cycle: cycle,
				Loss: loss, LR: lr, ETA: remaining(epoch, b.Iter+1), Elapsed: time.Since(start), Device: dev})
		}
		cancel()
		if err := ctx.Err(); err != nil {
			return err
		}
		if n != iters {
			return fmt.Errorf("trainer: epoch %d ended after %d of %d iterations", epoch, n, iters)
		}
		row := Row{Epoch: epoch, Cycle: cycle, LR: lr, TrainLoss: sum / float64(n)}
		validate := r.opts.ValEvery <= 1 || (epoch+1)%r.opts.ValEvery == 0 || epoch == total-1 || r.cycleOf(epoch+1) != cycle
		if r.val != nil && validate {
			if row.ValDice, err = validateSet(s, model, r.val, dev); err != nil {
				return err
			}
		} else {
			row.ValDice = [3]float64{math.NaN(), math.NaN(), math.NaN()}
		}
		ws, err := model.Export(s)
		if err != nil {
			return err
		}
		if isIn(epoch, r.ckptEpochs) {
			file := fmt.Sprintf("cycle%d-epoch%04d.safetensors", cycle, epoch)
			c, err := bundle.AddCheckpoint(r.bundleDir, file, ws, r.opts.DType, cycle, epoch)
			if err != nil {
				return fmt.Errorf("trainer: checkpoint: %w", err)
			}
			r.st.Checkpoints = append(r.st.Checkpoints, c)
			row.Checkpoint = file
		}
		row.EpochSeconds = time.Since(t0).Seconds()
		r.st.Rows = append(r.st.Rows, row)
		r.st.Epochs = epoch + 1
		r.st.WallSeconds += row.EpochSeconds
		r.st.weights = ws
		r.st.optim = s.SaveState(opt)
		r.st.rng = s.RNGState()
		if s.Err() != nil {
			return s.Err()
		}
		if err := r.save(); err != nil {
			return err
		}
		if row.Checkpoint != "" {
			r.events(Event{Kind: EventCheckpoint, Epoch: epoch, Epochs: total, Cycle: cycle, Checkpoint: row.Checkpoint, LR: lr})
		}
		r.events(Event{Kind: EventEpoch, Epoch: epoch, Epochs: total, Iter: iters, Iters: iters, Cycle: cycle, Loss: row.TrainLoss,
			LR: lr, ValDice: row.ValDice, ETA: remaining(epoch, iters), Elapsed: time.Since(start), Device: r.hardware})
	}
	r.events(Event{Kind: EventDone, Epoch: total - 1, Epochs: total, Elapsed: time.Since(start)})
	return nil
}

// save commits the epoch: the state file (the commit point), then the
// CSV log and the bundle manifest, each written atomically. A kill
// between them is harmless: resume rewrites both from the state.
func (r *run) save() error {
	b, err := r.st.encode()
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(r.runDir, StateFile), b); err != nil {
		return fmt.Errorf("trainer: %w", err)
	}
	if err := atomicfile.Write(filepath.Join(r.runDir, LogFile), encodeLog(r.st.Rows)); err != nil {
		return fmt.Errorf("trainer: %w", err)
	}
	if len(r.st.Checkpoints) == 0 {
		return nil
	}
	m := r.manifest()
	if err := bundle.WriteManifest(r.bundleDir, &m); err != nil {
		return fmt.Errorf("trainer: %w", err)
	}
	return nil
}

// manifest describes the checkpoints written so far.
func (r *run) manifest() bundle.Manifest {
	cfg := r.cfg
	kind := bundle.MultiModal
	cycles := cfg.Schedule.Cycles
	if cfg.Schedule.Mode == config.Poly {
		cycles = 1
	}
	if cycles == 1 {
		kind = bundle.SingleModal
	}
	if len(r.st.Checkpoints) == 1 {
		kind = bundle.Single
	}
	sw := "cmrseg"
	return bundle.Manifest{
		Format:      bundle.Format,
		Name:        filepath.Base(filepath.Clean(r.runDir)),
		Kind:        kind,
		Description: fmt.Sprintf("%s schedule, %d epochs in %d cycle(s), checkpoints of epochs %v; %d of %d epochs trained%s", cfg.Schedule.Mode, cfg.Schedule.Epochs, cycles, r.ckptEpochs, r.st.Epochs, cfg.Schedule.Epochs, r.initNote()),
		Created:     time.Now().UTC().Truncate(time.Second),
		Network:     r.net,
		Preprocessing: bundle.Preprocessing{
			SpacingMM:     [2]float64{cfg.Data.TargetSpacingMM, cfg.Data.TargetSpacingMM},
			Normalization: "zscore",
			PatchSize:     cfg.Train.Patch,
		},
		Labels:    bundle.DefaultLabels(),
		Inference: bundle.Inference{Temperature: 1},
		Training: bundle.Provenance{
			Command:     r.opts.Command,
			Config:      r.cfgText,
			Data:        strings.Join(cfg.Data.Paths, ", "),
			TrainCases:  r.split.Train,
			ValCases:    r.split.Val,
			Seed:        cfg.Run.Seed,
			Hardware:    r.hardware,
			WallSeconds: math.Round(r.st.WallSeconds*10) / 10,
			Epochs:      r.st.Epochs,
			Cycles:      cycles,
			Software:    sw,
			License:     "Research use only, not for clinical diagnosis. Trained on ACDC (O. Bernard et al., IEEE TMI 37(11), 2018): research use.",
		},
		Checkpoints: append([]bundle.Checkpoint(nil), r.st.Checkpoints...),
	}
}

// initNote names the bundle a fine-tuned run started from.
func (r *run) initNote() string {
	if r.opts.InitFrom == "" {
		return ""
	}
	return "; fine-tuned from " + r.opts.InitFrom
}

// trainableParams are the parameters that receive gradients: all but the
// heads of decoder outputs the loss ignores (without deep supervision every
// head but the full-resolution one; with it, those weighted 0).
func trainableParams(m *unet.Model, n config.Network) []torch.Tensor {
	used := map[int]bool{0: true}
	if n.DeepSupervision {
		for i, w := range n.DeepSupervisionWeights() {
			used[i] = w != 0
		}
	}
	var out []torch.Tensor
	for i, spec := range m.Specs() {
		var st int
		if _, err := fmt.Sscanf(spec.Name, "decoder.%d.head.", &st); err == nil && !used[st] {
			continue
		}
		out = append(out, m.Params()[i])
	}
	return out
}

// Stepper holds a config's network and optimizer and applies training
// steps: the unit the trainer loops over and the benchmark times.
type Stepper struct {
	Model     *unet.Model
	opt       *torch.SGD
	trainable []torch.Tensor
	dsw       []float64
	loss      config.Loss
	dev       torch.Device
}

// NewStepper seeds torch with cfg.Run.Seed, creates the network (He
// initialisation) on dev and its SGD optimizer. Close it on the worker.
func NewStepper(s *torch.Scope, cfg config.Config, dev torch.Device) (*Stepper, error) {
	s.ManualSeed(uint64(cfg.Run.Seed))
	model, err := unet.New(s, NetworkConfig(cfg.Network))
	if err != nil {
		return nil, err
	}
	if dev.CUDA {
		if err := model.To(s, dev); err != nil {
			model.Free()
			return nil, err
		}
	}
	opt := s.NewSGD(model.Params(), cfg.Schedule.LR0, cfg.Optimizer.Momentum, cfg.Optimizer.WeightDecay, cfg.Optimizer.Nesterov)
	if s.Err() != nil {
		model.Free()
		return nil, s.Err()
	}
	return &Stepper{Model: model, opt: opt, trainable: trainableParams(model, cfg.Network),
		dsw: cfg.Network.DeepSupervisionWeights(), loss: cfg.Loss, dev: dev}, nil
}

// SetLR sets the learning rate of the next steps.
func (st *Stepper) SetLR(lr float64) { st.opt.SetLR(lr) }

// Close frees the optimizer and the network.
func (st *Stepper) Close() {
	st.opt.Close()
	st.Model.Free()
}

// Step is one optimizer update on a batch: forward with deep supervision,
// Dice + CE, backward, gradient clipping at ClipNorm, SGD step. It returns
// the loss.
func (st *Stepper) Step(s *torch.Scope, b *data.Batch) (float64, error) {
	var loss float64
	err := s.Child(func(c *torch.Scope) error {
		x := c.FromFloat32(b.Image, int64(b.N), 1, int64(b.H), int64(b.W))
		y := c.FromInt64(b.Labels, int64(b.N), int64(b.H), int64(b.W))
		if st.dev.CUDA {
			x, y = c.To(x, st.dev, torch.Float32), c.To(y, st.dev, torch.Int64)
		}
		c.ZeroGrad(st.opt)
		outs := st.Model.Forward(c, x, true, len(st.dsw) > 1)
		if c.Err() != nil {
			return c.Err()
		}
		l := DeepSupervisionLoss(c, outs, y, st.dsw, Classes, st.loss.DiceWeight, st.loss.CEWeight)
		c.Backward(l)
		if c.Err() != nil {
			return c.Err()
		}
		ClipGradNorm(c, st.trainable, ClipNorm)
		c.Step(st.opt)
		loss = c.Item(l)
		return c.Err()
	})
	return loss, err
}

// validateSet is the mean Dice (RV, MYO, LV) over the validation volumes,
// each predicted slice by slice at full size.
func validateSet(s *torch.Scope, m *unet.Model, set *data.Set, dev torch.Device) ([3]float64, error) {
	var per [3][]float64
	for _, v := range set.Volumes {
		logits, err := ForwardVolume(s, m, v.Image, v.Grid.Dims, dev, false)
		if err != nil {
			return [3]float64{}, err
		}
		pred := study.Labels{Geometry: v.Grid, Data: Argmax(logits, m.Config.Classes, v.Grid.Dims)}
		d, err := metrics.VolumeDice(study.Labels{Geometry: v.Grid, Data: v.Labels}, pred)
		if err != nil {
			return [3]float64{}, fmt.Errorf("trainer: validation case %s: %w", v.Case, err)
		}
		for i := range d {
			per[i] = append(per[i], d[i])
		}
	}
	return [3]float64{metrics.Mean(per[0]), metrics.Mean(per[1]), metrics.Mean(per[2])}, nil
}

// Hardware describes where training runs, for the bundle's provenance.
func Hardware(s *torch.Scope, dev torch.Device, threads int) string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	h := fmt.Sprintf("%s, %d cores, %d torch threads", cpu, runtime.NumCPU(), threads)
	if dev.CUDA {
		h = fmt.Sprintf("CUDA device %d (%d visible); host %s", dev.Index, s.Describe().CUDADevices, h)
	}
	return h
}

func isIn(x int, xs []int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
