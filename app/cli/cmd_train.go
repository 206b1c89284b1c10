package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"

	"cmrseg/app/atomicfile"
	"cmrseg/app/trainingjob"
	"cmrseg/inference/bundle"
	"cmrseg/inference/torch"
	"cmrseg/inference/weights"
	"cmrseg/training/baseline"
	"cmrseg/training/config"
	"cmrseg/training/data"
	"cmrseg/training/trainer"
)

func init() {
	register("train", "train a checkpoint ensemble: 'train --config FILE.toml [--run DIR] [--resume] [--data DIR]'", runTrain)
	register("baseline", "make a baseline bundle from trained runs: single, swa, single-modal, mc-dropout, deep-ensemble, temperature", runBaseline)
}

func runTrain(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("train", stderr)
	cfgPath := fs.String("config", "", "training config (TOML); keys not given keep the paper's defaults")
	preset := fs.String("preset", "", "start from a preset instead of a file: 'paper' or 'cpu' (~45 min on 2 cores)")
	printCfg := fs.Bool("print-config", false, "print the effective config as TOML and exit")
	runDir := fs.String("run", "", "run folder (default: the config's run.folder)")
	resume := fs.Bool("resume", false, "continue the run in --run from its last complete epoch")
	dataDir := fs.String("data", "", "data set folder(s), comma-separated; overrides data.paths")
	f16 := fs.Bool("f16", false, "store checkpoints as float16 (half the size)")
	threads := fs.Int("threads", -1, "torch threads (overrides run.threads; 0: one per core)")
	valEvery := fs.Int("val-every", 1, "validate every N-th epoch (always at the end of each cycle)")
	eventsPath := fs.String("events", "", "append progress as JSON lines (trainer events) to this file, for the GUI's training tab")
	initFrom := fs.String("init-from", "", "fine-tune: start from the last checkpoint of this model bundle (its network must be the config's)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var cfg config.Config
	var text string
	switch {
	case *cfgPath != "" && *preset != "":
		return fmt.Errorf("give --config or --preset, not both")
	case *cfgPath != "":
		raw, err := os.ReadFile(*cfgPath)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		if cfg, err = config.Parse(*cfgPath, raw); err != nil {
			return err
		}
		text = string(raw)
	case *preset == "paper":
		cfg = config.Default()
	case *preset == "cpu":
		cfg = config.CPUPreset()
	case *preset != "":
		return fmt.Errorf("unknown preset %q (paper or cpu)", *preset)
	case *resume && *runDir != "":
		var err error
		if cfg, err = config.Load(filepath.Join(*runDir, trainer.ConfigFile)); err != nil {
			return err
		}
		raw, _ := os.ReadFile(filepath.Join(*runDir, trainer.ConfigFile))
		text = string(raw)
	default:
		return fmt.Errorf("give --config FILE.toml (or --preset cpu|paper; or --resume --run DIR)")
	}
	if *dataDir != "" {
		cfg.Data.Paths = strings.Split(*dataDir, ",")
	} else if *resume && *runDir != "" {
		// The data the run started with, even if --data pointed elsewhere
		// than the config file says.
		if sp, err := data.ReadSplit(filepath.Join(*runDir, data.SplitFile)); err == nil && len(sp.Data) > 0 {
			cfg.Data.Paths = sp.Data
		}
	}
	if *threads >= 0 {
		cfg.Run.Threads = *threads
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if text == "" {
		var buf bytes.Buffer
		buf.WriteString("# cmrseg training configuration\n")
		if err := toml.NewEncoder(&buf).Encode(cfg); err != nil {
			return err
		}
		text = buf.String()
	}
	if *printCfg {
		fmt.Fprint(stdout, text)
		return nil
	}
	dir := *runDir
	if dir == "" {
		dir = cfg.Run.Folder
	}
	dtype := weights.F32
	if *f16 {
		dtype = weights.F16
	}
	// A fine-tune remembers its starting bundle in the run folder, so
	// --resume (from the tab or a terminal) needs no --init-from again.
	initFile := filepath.Join(dir, "init-from")
	if *initFrom == "" && *resume {
		if b, err := os.ReadFile(initFile); err == nil {
			*initFrom = strings.TrimSpace(string(b))
		}
	}
	_, cfgErr := os.Stat(filepath.Join(dir, trainer.ConfigFile))
	if *initFrom != "" && (*resume || cfgErr != nil) { // never touch another run's folder
		if abs, err := filepath.Abs(*initFrom); err == nil {
			*initFrom = abs
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := atomicfile.Write(initFile, []byte(*initFrom+"\n")); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	bar := &progressBar{w: stdout}
	emit := bar.event
	var elog *eventLog
	if *eventsPath != "" {
		var err error
		if elog, err = openEventLog(*eventsPath); err != nil {
			return err
		}
		defer elog.close()
		emit = func(e trainer.Event) { bar.event(e); elog.write(e) }
	}
	res, err := trainer.Train(ctx, cfg, dir, trainer.Options{
		ConfigTOML: text, Command: "cmrseg train " + strings.Join(args, " "), Resume: *resume, DType: dtype, ValEvery: *valEvery,
		InitFrom: *initFrom,
	}, emit)
	bar.finish()
	if err != nil {
		if ctx.Err() != nil {
			elog.write(trainer.Event{Kind: trainer.EventStopped, Message: "interrupted; resumes from the last complete epoch"})
			return fmt.Errorf("interrupted; continue with: cmrseg train --resume --run %s", dir)
		}
		elog.write(trainer.Event{Kind: trainer.EventFailed, Message: err.Error()})
		return err
	}
	fmt.Fprintf(stdout, "run %s: %d epochs, %.1f min of training; bundle %s\n", res.RunDir, len(res.Rows), res.WallSeconds/60, res.BundleDir)
	return nil
}

// eventLog appends trainer events as JSON lines. Each line is one write
// on an O_APPEND file, so a reader tailing it sees whole lines only (or a
// partial last line it waits on), and a run resumed later appends to the
// same log. A failed write is reported once on stderr and otherwise
// ignored: progress display must never stop training.
type eventLog struct {
	f      *os.File
	failed bool
}

func openEventLog(path string) (*eventLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	return &eventLog{f: f}, nil
}

func (l *eventLog) write(e trainer.Event) {
	if l == nil || l.failed {
		return
	}
	b, err := trainingjob.MarshalLine(trainingjob.Event{Kind: e.Kind.String(), Time: time.Now(), Epoch: e.Epoch, Epochs: e.Epochs,
		Iter: e.Iter, Iters: e.Iters, Cycle: e.Cycle, Loss: e.Loss, LR: e.LR, ETA: e.ETA, Elapsed: e.Elapsed, ValDice: e.ValDice,
		Checkpoint: e.Checkpoint, Resumed: e.Resumed, Device: e.Device, Message: e.Message})
	if err == nil {
		_, err = l.f.Write(b)
	}
	if err != nil {
		l.failed = true
		fmt.Fprintf(os.Stderr, "cmrseg train: event log %s: %v (training continues)\n", l.f.Name(), err)
	}
}

func (l *eventLog) close() {
	if l != nil {
		l.f.Sync()
		l.f.Close()
	}
}

// progressBar renders trainer events on one updating line, with a
// summary line per epoch.
type progressBar struct {
	w     io.Writer
	drawn bool
	last  time.Time
}

func (p *progressBar) event(e trainer.Event) {
	switch e.Kind {
	case trainer.EventStart:
		verb := "starting"
		if e.Resumed {
			verb = fmt.Sprintf("resuming after epoch %d", e.Epoch)
		}
		fmt.Fprintf(p.w, "%s: %s; %d epochs × %d iterations\n", verb, e.Message, e.Epochs, e.Iters)
	case trainer.EventIteration:
		if time.Since(p.last) < 200*time.Millisecond && e.Iter != e.Iters {
			return
		}
		p.last = time.Now()
		const width = 24
		done := int(math.Round(float64(e.Iter) / float64(e.Iters) * width))
		fmt.Fprintf(p.w, "\repoch %d/%d [%s%s] it %d/%d  loss %.4f  lr %.5f  ETA %s   ",
			e.Epoch+1, e.Epochs, strings.Repeat("=", done), strings.Repeat(" ", width-done), e.Iter, e.Iters, e.Loss, e.LR, fmtDur(e.ETA))
		p.drawn = true
	case trainer.EventCheckpoint:
		p.clear()
		fmt.Fprintf(p.w, "  checkpoint %s (cycle %d)\n", e.Checkpoint, e.Cycle+1)
	case trainer.EventEpoch:
		p.clear()
		val := fmt.Sprintf("val Dice RV %.3f MYO %.3f LV %.3f", e.ValDice[0], e.ValDice[1], e.ValDice[2])
		if math.IsNaN(e.ValDice[0]) && math.IsNaN(e.ValDice[1]) && math.IsNaN(e.ValDice[2]) {
			val = "(not validated)"
		}
		fmt.Fprintf(p.w, "epoch %d/%d  loss %.4f  lr %.5f  %s  elapsed %s  ETA %s\n",
			e.Epoch+1, e.Epochs, e.Loss, e.LR, val, fmtDur(e.Elapsed), fmtDur(e.ETA))
	}
}

func (p *progressBar) clear() {
	if p.drawn {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", 110))
		p.drawn = false
	}
}

func (p *progressBar) finish() { p.clear() }

func fmtDur(d time.Duration) string {
	d = d.Round(time.Second)
	h, m, s := int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60
	if h > 0 {
		return fmt.Sprintf("%dh%02dm", h, m)
	}
	return fmt.Sprintf("%dm%02ds", m, s)
}

func runBaseline(args []string, stdout, stderr io.Writer) error {
	kinds := "single, swa, single-modal, mc-dropout, deep-ensemble, temperature"
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return fmt.Errorf("usage: cmrseg baseline KIND --from RUN[,RUN...] --out DIR (KIND: %s)", kinds)
	}
	kind := args[0]
	fs := newFlags("baseline "+kind, stderr)
	from := fs.String("from", "", "run folder(s) or bundle(s), comma-separated (deep-ensemble: one per seed)")
	out := fs.String("out", "", "folder of the new bundle")
	samples := fs.Int("samples", 10, "mc-dropout: forward passes per prediction")
	epoch := fs.Int("epoch", -1, "single: the checkpoint of this epoch (default: the last)")
	dataDir := fs.String("data", "", "temperature: data set folder(s) (default: the run's)")
	threads := fs.Int("threads", 0, "temperature: torch threads (0: one per core)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *from == "" || *out == "" {
		return fmt.Errorf("--from and --out are required")
	}
	srcs := strings.Split(*from, ",")
	var bs []*bundle.Bundle
	for _, s := range srcs {
		b, err := bundleOf(s)
		if err != nil {
			return err
		}
		bs = append(bs, b)
	}
	if kind != "deep-ensemble" && len(bs) != 1 {
		return fmt.Errorf("%s takes one --from, got %d", kind, len(bs))
	}
	var made *bundle.Bundle
	var err error
	switch kind {
	case "single":
		made, err = baseline.SingleAt(bs[0], *out, *epoch)
	case "swa":
		made, err = baseline.SWA(bs[0], *out)
	case "single-modal":
		made, err = baseline.SingleModal(bs[0], *out)
	case "mc-dropout":
		made, err = baseline.MCDropout(bs[0], *out, *samples)
	case "deep-ensemble":
		made, err = baseline.DeepEnsemble(bs, *out)
	case "temperature":
		var paths []string
		if *dataDir != "" {
			paths = strings.Split(*dataDir, ",")
		}
		w := torch.NewWorker(*threads)
		defer w.Close()
		var t float64
		made, t, err = baseline.Temperature(context.Background(), w, bs[0], paths, *out)
		if err == nil {
			fmt.Fprintf(stdout, "fitted temperature T = %.4f on the validation cases\n", t)
		}
	default:
		return fmt.Errorf("unknown baseline %q (%s)", kind, kinds)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s bundle %s with %d checkpoint(s)\n", made.Kind, made.Dir, len(made.Checkpoints))
	return nil
}
