package trainer

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"cmrseg/app/dataset"
	"cmrseg/app/shareddata"
	"cmrseg/inference/bundle"
	"cmrseg/inference/ensemble"
	"cmrseg/inference/torch"
	"cmrseg/inference/unet"
	"cmrseg/training/config"
)

// childEnv makes the test binary a training child process: it trains (or
// resumes) the run folder named by the variable and prints its events.
const childEnv = "CMRSEG_TRAINER_CHILD"

var worker *torch.Worker

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		os.Exit(childMain(dir))
	}
	worker = torch.NewWorker(1)
	code := m.Run()
	worker.Close()
	if reference.dir != "" {
		os.RemoveAll(filepath.Dir(reference.dir))
	}
	os.Exit(code)
}

// testPatients: two of each ACDC group but RV, one of RV; the split keeps
// two for validation.
var testPatients = []string{"patient001", "patient002", "patient021", "patient022", "patient041", "patient061", "patient081"}

// acdcSubset makes a data set folder holding a few ACDC patients (links).
func acdcSubset(tb testing.TB, ids ...string) string {
	tb.Helper()
	src := shareddata.Require(tb, "acdc/training")
	abs, err := filepath.Abs(src)
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	for _, id := range ids {
		if err := os.Symlink(filepath.Join(abs, id), filepath.Join(dir, id)); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// tinyConfig is a CI-sized run: base 4, 3 stages, 64×64 patches, batch 4,
// 2 cycles × 3 epochs of 3 iterations, the last 2 epochs of each cycle kept.
func tinyConfig(dataDir string) config.Config {
	c := config.CPUPreset()
	c.Data.Paths = []string{dataDir}
	c.Split.ValCount = 2
	c.Split.ValFraction = 0
	c.Network = config.Network{Stages: 3, BaseFeatures: 4, MaxFeatures: 16, DeepSupervision: true}
	c.Train.Patch = [2]int{64, 64}
	c.Train.BatchSize = 4
	c.Train.ItersPerEpoch = 3
	c.Schedule.Epochs = 6
	c.Schedule.Cycles = 2
	c.Schedule.KeepPerCycle = 2
	c.Run.Threads = 1
	c.Run.Seed = 7
	return c
}

func childMain(runDir string) int {
	cfg, err := config.Load(filepath.Join(runDir, "..", "config.toml"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	_, err = Train(context.Background(), cfg, runDir, Options{Resume: true}, func(e Event) {
		switch e.Kind {
		case EventIteration:
			fmt.Printf("iter %d %d\n", e.Epoch, e.Iter)
		case EventEpoch:
			fmt.Printf("epoch %d\n", e.Epoch)
		}
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("done")
	return 0
}

// reference is one uninterrupted run shared by the tests.
var reference struct {
	once sync.Once
	dir  string
	cfg  config.Config
	res  *Result
	err  error
	evs  []Event
}

func referenceRun(t *testing.T) (string, config.Config, *Result, []Event) {
	t.Helper()
	data := acdcSubset(t, testPatients...) // resolves or skips before the shared run
	reference.once.Do(func() {
		dir, err := os.MkdirTemp("", "cmrseg-trainer-ref")
		if err != nil {
			reference.err = err
			return
		}
		// The data folder of the first caller is removed with its test, so
		// the shared run links its own copy.
		ddir := filepath.Join(dir, "data")
		os.Mkdir(ddir, 0o755)
		for _, id := range testPatients {
			target, _ := os.Readlink(filepath.Join(data, id))
			os.Symlink(target, filepath.Join(ddir, id))
		}
		reference.dir = filepath.Join(dir, "run")
		reference.cfg = tinyConfig(ddir)
		reference.res, reference.err = Train(context.Background(), reference.cfg, reference.dir,
			Options{Command: "go test", Worker: worker}, func(e Event) { reference.evs = append(reference.evs, e) })
	})
	if reference.err != nil {
		t.Fatal(reference.err)
	}
	return reference.dir, reference.cfg, reference.res, reference.evs
}

func TestEndToEndRunMakesValidBundle(t *testing.T) {
	dir, cfg, res, evs := referenceRun(t)
	b, err := bundle.Load(res.BundleDir)
	if err != nil {
		t.Fatal(err)
	}
	if b.Kind != bundle.MultiModal {
		t.Errorf("kind %q, want %q", b.Kind, bundle.MultiModal)
	}
	wantEpochs, _ := cfg.CheckpointEpochs()
	if len(b.Checkpoints) != len(wantEpochs) {
		t.Fatalf("%d checkpoints, want %d", len(b.Checkpoints), len(wantEpochs))
	}
	for i, c := range b.Checkpoints {
		if c.Epoch != wantEpochs[i] || c.Cycle != wantEpochs[i]/3 {
			t.Errorf("checkpoint %d: cycle %d epoch %d, want cycle %d epoch %d", i, c.Cycle, c.Epoch, wantEpochs[i]/3, wantEpochs[i])
		}
	}
	raw, _ := os.ReadFile(filepath.Join(dir, ConfigFile))
	p := b.Training
	if p.Config != string(raw) || p.Config == "" {
		t.Errorf("provenance config is not the run's config.toml verbatim")
	}
	if len(p.TrainCases) != 5 || len(p.ValCases) != 2 || p.Seed != 7 || p.Epochs != 6 || p.Cycles != 2 ||
		p.Hardware == "" || p.WallSeconds <= 0 || p.Command != "go test" || p.Data == "" {
		t.Errorf("incomplete provenance: %+v", p)
	}
	if b.Network != NetworkConfig(cfg.Network) || b.Preprocessing.SpacingMM != [2]float64{1.5, 1.5} {
		t.Errorf("network %+v, preprocessing %+v", b.Network, b.Preprocessing)
	}
	// Every checkpoint loads into the architecture the manifest names.
	err = worker.Do(context.Background(), func(s *torch.Scope) error {
		m, err := unet.New(s, b.Network)
		if err != nil {
			return err
		}
		defer m.Free()
		for i := range b.Checkpoints {
			ws, err := b.Weights(i)
			if err != nil {
				return err
			}
			if err := m.Load(s, ws); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// inference/ensemble accepts the bundle and predicts a validation case
	// with all four checkpoints, on the case's own grid.
	d, err := dataset.Open(cfg.Data.Paths[0])
	if err != nil {
		t.Fatal(err)
	}
	vc, _ := d.Case(p.ValCases[0])
	smp, err := vc.Load()
	if err != nil {
		t.Fatal(err)
	}
	pred, err := ensemble.Load(worker, res.BundleDir, ensemble.Options{Device: "cpu"})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := pred.Predict(context.Background(), smp.Series, []int{smp.Series.ED, smp.Series.ES}, nil)
	pred.Close()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Dims != smp.Series.Dims || r.Checkpoints != 4 || len(r.Labels) != smp.Series.N() {
			t.Errorf("prediction on %v with %d checkpoints; series %v", r.Dims, r.Checkpoints, smp.Series.Dims)
		}
	}
	// The schedule is applied per epoch as configured: the CSV's LR column
	// is the schedule's value, exactly.
	rows, err := ReadLog(filepath.Join(dir, LogFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 6 {
		t.Fatalf("%d log rows, want 6", len(rows))
	}
	sched := cfg.LRSchedule()
	for e, r := range rows {
		if r.LR != sched.LR(e) {
			t.Errorf("epoch %d: log LR %v, schedule %v", e, r.LR, sched.LR(e))
		}
		if r.Epoch != e || r.Cycle != e/3 || !(r.TrainLoss > 0) {
			t.Errorf("row %d: %+v", e, r)
		}
		for _, d := range r.ValDice {
			if !(d >= 0 && d <= 1) {
				t.Errorf("epoch %d: validation Dice %v outside [0, 1]", e, r.ValDice)
			}
		}
	}
	if rows[0].LR != 0.1 || rows[3].LR != 0.1 || !(rows[2].LR < 0.01) {
		t.Errorf("LR column %v does not restart at 0.1 each cycle", []float64{rows[0].LR, rows[1].LR, rows[2].LR, rows[3].LR})
	}
	// Progress events: every iteration, every epoch, every checkpoint.
	var its, eps, cks int
	for _, e := range evs {
		switch e.Kind {
		case EventIteration:
			its++
			if e.LR != sched.LR(e.Epoch) || !(e.Loss > 0) {
				t.Errorf("iteration event %+v", e)
			}
		case EventEpoch:
			eps++
		case EventCheckpoint:
			cks++
		}
	}
	if its != 18 || eps != 6 || cks != 4 {
		t.Errorf("events: %d iterations, %d epochs, %d checkpoints; want 18, 6, 4", its, eps, cks)
	}
	t.Logf("train loss by epoch: %.3f %.3f %.3f %.3f %.3f %.3f; last val Dice %.3f", rows[0].TrainLoss, rows[1].TrainLoss, rows[2].TrainLoss, rows[3].TrainLoss, rows[4].TrainLoss, rows[5].TrainLoss, rows[5].ValDice)
}

// runFingerprint hashes what must be bit-identical between runs: the
// weights, momentum buffers and torch RNG of the state and every checkpoint file.
func runFingerprint(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	st, err := readState(filepath.Join(dir, StateFile))
	if err != nil {
		t.Fatal(err)
	}
	fp := map[string][32]byte{}
	var wb bytes.Buffer
	for _, w := range st.weights {
		for _, v := range w.Data {
			b := math.Float32bits(v)
			wb.Write([]byte{byte(b), byte(b >> 8), byte(b >> 16), byte(b >> 24)})
		}
	}
	fp["final weights"] = sha256.Sum256(wb.Bytes())
	fp["optimizer momentum buffers"] = momentumFingerprint(t, st.optim)
	fp["torch rng"] = sha256.Sum256(st.rng)
	files, _ := filepath.Glob(filepath.Join(dir, BundleDir, "*.safetensors"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		fp[filepath.Base(f)] = sha256.Sum256(b)
	}
	return fp
}

// momentumFingerprint hashes the tensors of a serialised optimizer (its
// momentum buffers). The archive's pickles key the buffers by the
// parameters' memory addresses, which differ between processes, and list
// them in hash-map order, so the archive bytes differ even when every
// buffer is identical: compare the sorted digests of the tensor records.
func momentumFingerprint(t *testing.T, archive []byte) [32]byte {
	t.Helper()
	z, err := zip.NewReader(bytes.NewReader(archive), int64(len(archive)))
	if err != nil {
		t.Fatalf("optimizer state is not a torch archive: %v", err)
	}
	var sums []string
	for _, f := range z.File {
		if !strings.Contains(f.Name, "/data/") {
			continue
		}
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		r.Close()
		h := sha256.Sum256(b)
		sums = append(sums, string(h[:]))
	}
	if len(sums) == 0 {
		t.Fatal("optimizer state holds no momentum buffers")
	}
	sort.Strings(sums)
	return sha256.Sum256([]byte(strings.Join(sums, "")))
}

// startChild trains runDir in a child process and returns it with a
// reader of its event lines.
func startChild(t *testing.T, runDir string) (*exec.Cmd, *bufio.Scanner, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+runDir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, bufio.NewScanner(out), &stderr
}

// killAt runs a child until it prints the line (or, with delay > 0, for
// that long after it printed it) and kills it with SIGKILL.
func killAt(t *testing.T, runDir, line string, delay time.Duration) {
	t.Helper()
	cmd, sc, stderr := startChild(t, runDir)
	seen := false
	for sc.Scan() {
		if sc.Text() == line {
			seen = true
			break
		}
	}
	if !seen {
		cmd.Wait()
		t.Fatalf("child ended before printing %q: %s", line, stderr.String())
	}
	time.Sleep(delay)
	cmd.Process.Signal(syscall.SIGKILL)
	go func() {
		for sc.Scan() {
		}
	}()
	cmd.Wait()
	if st, err := readState(filepath.Join(runDir, StateFile)); err == nil {
		t.Logf("killed after %q + %v: state holds %d complete epochs", line, delay, st.Epochs)
	} else {
		t.Logf("killed after %q + %v: no state yet (%v)", line, delay, err)
	}
}

// TestResumeAfterKillIsBitIdentical kills a training process with SIGKILL
// at several moments (mid-epoch, just after an epoch's commit, and during
// validation/saving), resumes it each time, and requires the final
// weights, optimizer state and every checkpoint file to be byte-identical
// to those of an uninterrupted run with the same seed.
func TestResumeAfterKillIsBitIdentical(t *testing.T) {
	refDir, cfg, _, _ := referenceRun(t)
	want := runFingerprint(t, refDir)

	parent := t.TempDir()
	if err := cfg.Save(filepath.Join(parent, "config.toml")); err != nil {
		t.Fatal(err)
	}
	runDir := filepath.Join(parent, "run")
	killAt(t, runDir, "iter 1 2", 0)                   // mid-epoch, epoch 0 committed
	killAt(t, runDir, "epoch 2", 0)                    // right after a commit that wrote a checkpoint
	killAt(t, runDir, "iter 4 3", 30*time.Millisecond) // during validation or the state write
	cmd, sc, stderr := startChild(t, runDir)
	for sc.Scan() {
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("final resume: %v: %s", err, stderr.String())
	}
	got := runFingerprint(t, runDir)
	if len(got) != len(want) {
		t.Fatalf("resumed run has %d fingerprinted files, reference %d", len(got), len(want))
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s differs from the uninterrupted run", k)
		}
	}
	if _, err := bundle.Load(filepath.Join(runDir, BundleDir)); err != nil {
		t.Fatal(err)
	}
	rows, err := ReadLog(filepath.Join(runDir, LogFile))
	if err != nil || len(rows) != 6 {
		t.Fatalf("resumed log: %d rows, %v", len(rows), err)
	}
	refRows, _ := ReadLog(filepath.Join(refDir, LogFile))
	for i := range rows {
		if rows[i].TrainLoss != refRows[i].TrainLoss || rows[i].ValDice != refRows[i].ValDice {
			t.Errorf("epoch %d: resumed loss %v dice %v, reference %v %v", i, rows[i].TrainLoss, rows[i].ValDice, refRows[i].TrainLoss, refRows[i].ValDice)
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(runDir, ".*tmp*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestRunFolderGuards(t *testing.T) {
	refDir, cfg, _, _ := referenceRun(t)
	if _, err := Train(context.Background(), cfg, refDir, Options{Worker: worker}, nil); err == nil || !strings.Contains(err.Error(), "already holds a run") {
		t.Errorf("training into a used folder without resume: %v", err)
	}
	other := cfg
	other.Train.BatchSize = 2
	if _, err := Train(context.Background(), other, refDir, Options{Worker: worker, Resume: true}, nil); err == nil || !strings.Contains(err.Error(), "config differs") {
		t.Errorf("resuming with another config: %v", err)
	}
	// Resuming a finished run trains nothing and keeps the result.
	before := runFingerprint(t, refDir)
	res, err := Train(context.Background(), cfg, refDir, Options{Worker: worker, Resume: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 6 {
		t.Errorf("%d rows after resuming a finished run", len(res.Rows))
	}
	after := runFingerprint(t, refDir)
	for k := range before {
		if before[k] != after[k] {
			t.Errorf("%s changed by resuming a finished run", k)
		}
	}
	// A corrupt state is reported with its path, not trained over.
	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, ConfigFile), []byte(""), 0o644)
	cfg.Save(filepath.Join(bad, ConfigFile))
	os.WriteFile(filepath.Join(bad, StateFile), []byte("cmrseg-train-state/1\nxx"), 0o644)
	if _, err := Train(context.Background(), cfg, bad, Options{Worker: worker, Resume: true}, nil); err == nil || !strings.Contains(err.Error(), StateFile) {
		t.Errorf("corrupt state: %v", err)
	}
}
