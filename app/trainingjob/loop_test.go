package trainingjob

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cmrseg/app/dataset"
	"cmrseg/app/session"
	"cmrseg/app/shareddata"
	"cmrseg/inference/uncertainty"
	"cmrseg/training/config"
)

// cmrsegBinary returns build/cmrseg, the child the jobs run. It must have been
// built from this tree (`make build`): a binary without `train --events`
// fails the test rather than testing something else.
func cmrsegBinary(t *testing.T) string {
	t.Helper()
	exe, err := filepath.Abs(filepath.Join("..", "..", "build", "cmrseg"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(exe); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s missing: run make build first", exe)
		}
		t.Skipf("%s missing: run make build first", exe)
	}
	out, _ := exec.Command(exe, "train", "--help").CombinedOutput()
	if !strings.Contains(string(out), "-events") || !strings.Contains(string(out), "-init-from") {
		t.Fatalf("%s has no train --events/--init-from: rebuild it with make build", exe)
	}
	return exe
}

// linkCases makes a data set folder of some ACDC patients.
func linkCases(t *testing.T, dir string, ids ...string) string {
	src := shareddata.Require(t, "acdc/training")
	os.MkdirAll(dir, 0o755)
	for _, id := range ids {
		if err := os.Symlink(filepath.Join(src, id), filepath.Join(dir, id)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// smallConfig is a CPU config of seconds per epoch: 4 stages from 8
// features, 96² patches, 2 cycles × 2 epochs.
func smallConfig(iters int) config.Config {
	c := TinyConfig()
	c.Network = config.Network{Stages: 4, BaseFeatures: 8, MaxFeatures: 64, DeepSupervision: true}
	c.Train.Patch = [2]int{96, 96}
	c.Train.ItersPerEpoch = iters
	c.Run.Seed = 3
	return c
}

func waitFor(t *testing.T, what string, d time.Duration, ok func() bool) {
	t.Helper()
	end := time.Now().Add(d)
	for !ok() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func meanDice(a, b []uint8) float64 {
	sum := 0.0
	for c := uint8(1); c < Classes; c++ {
		na, nb, both := 0, 0, 0
		for i := range a {
			if a[i] == c {
				na++
			}
			if b[i] == c {
				nb++
			}
			if a[i] == c && b[i] == c {
				both++
			}
		}
		if na+nb == 0 {
			sum++
		} else {
			sum += 2 * float64(both) / float64(na+nb)
		}
	}
	return sum / 3
}

// TestCorrectionLoop is the loop of issue 8 end to end, with the real
// `cmrseg train` child: train a base model (pausing it, following it from
// a second Job as after an app restart, and resuming), segment an ACDC
// case with it, correct that segmentation in a review session to the
// reference contours, mark it final, export it, fine-tune the base model
// on it, and check that the new model's prediction is closer to the
// correction than the base model's was.
func TestCorrectionLoop(t *testing.T) {
	exe := cmrsegBinary(t)
	tmp := t.TempDir()
	baseData := linkCases(t, filepath.Join(tmp, "base-data"), "patient021", "patient041", "patient061", "patient081")
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	// 1. Base model, paused and resumed across a "restart".
	cfg := smallConfig(15)
	cfg.Data.Paths = []string{baseData}
	cfg.Split.ValCount = 1
	run := filepath.Join(tmp, "runs", "base")
	var updates int
	job, err := Start(exe, Spec{Config: cfg, RunDir: run, ValEvery: 1}, func(State) { updates++ })
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "first iterations", time.Minute, func() bool { return len(job.State().Loss) >= 3 })
	if err := job.Pause(); err != nil {
		t.Fatal(err)
	}
	st, err := job.Wait(ctx)
	if err != nil || st.Phase != Paused {
		t.Fatalf("after pause: %s %v (%s)", st.Phase, err, st.Err)
	}
	job.Close()
	again, err := Attach(exe, run, nil)
	if err != nil {
		t.Fatal(err)
	}
	st = again.State()
	if st.Phase != Paused || len(st.Loss) == 0 || st.Device == "" || len(st.CheckpointPlan) != 4 {
		t.Fatalf("reattached: phase %s, %d loss points, device %q, plan %v", st.Phase, len(st.Loss), st.Device, st.CheckpointPlan)
	}
	t.Logf("paused at epoch %d iteration %d with %d loss points; resuming", st.Epoch, st.Iter, len(st.Loss))
	if err := again.Resume(); err != nil {
		t.Fatal(err)
	}
	st, err = again.Wait(ctx)
	if err != nil || st.Phase != Done {
		t.Fatalf("base run: %s %v %s %s", st.Phase, err, st.Err, st.Message)
	}
	again.Close()
	if len(st.Checkpoints) != 4 || len(st.Dice[2]) != 4 || len(st.LR) != 4 || len(st.Loss) != 4*15 {
		t.Fatalf("base run state: %d checkpoints, %d Dice points, %d LR points, %d loss points", len(st.Checkpoints), len(st.Dice[2]), len(st.LR), len(st.Loss))
	}
	base := filepath.Join(run, RunBundleDir)

	// 2. Segment patient001's ED frame with the base model and correct it
	// in a review session to the reference labels, run by run along rows
	// with the brush (a quarter-pixel radius paints just the voxels on the
	// stroke).
	src := shareddata.Require(t, "acdc/training")
	pc, err := dataset.ReadPatient(filepath.Join(src, "patient001"))
	if err != nil {
		t.Fatal(err)
	}
	smp, err := pc.Load()
	if err != nil {
		t.Fatal(err)
	}
	s := smp.Series
	ed := s.ED
	gt := smp.Labels[ed].Data
	seg := &ProcessEngine{Exe: exe, Model: base, Threads: 1}
	rs, err := seg.Segment(ctx, s, []int{ed}, nil)
	if err != nil {
		t.Fatal(err)
	}
	results := make([]*uncertainty.Result, s.NT)
	results[ed] = rs[0]
	sess, err := session.Open(s, results, session.Options{Root: filepath.Join(tmp, "sessions")})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	before := meanDice(rs[0].Labels, gt)
	nx, ny := s.Dims[0], s.Dims[1]
	radius := 0.25 * min(s.Spacing[0], s.Spacing[1])
	edits := 0
	for k := 0; k < s.Dims[2]; k++ {
		for j := 0; j < ny; j++ {
			cur := sess.Labels(ed)
			for i := 0; i < nx; {
				v := k*nx*ny + j*nx + i
				if cur[v] == gt[v] {
					i++
					continue
				}
				e := i
				for e+1 < nx && gt[v+e+1-i] == gt[v] && cur[v+e+1-i] != gt[v+e+1-i] {
					e++
				}
				if _, err := sess.Paint(ed, k, []session.Point{{I: float64(i), J: float64(j)}, {I: float64(e), J: float64(j)}}, radius, gt[v]); err != nil {
					t.Fatal(err)
				}
				edits++
				i = e + 1
			}
		}
	}
	if d := meanDice(sess.Labels(ed), gt); d != 1 {
		t.Fatalf("after %d brush strokes the correction has Dice %.4f to the reference, want 1", edits, d)
	}
	if err := sess.MarkFinal(true); err != nil {
		t.Fatal(err)
	}
	corrected := filepath.Join(tmp, "corrected-cases")
	cs, err := ExportFinal(sess, corrected)
	if err != nil || len(cs) != 1 || cs[0].Phase != ed+1 { // Phase counts from 1
		t.Fatalf("export: %+v %v", cs, err)
	}
	correction := append([]uint8(nil), sess.Labels(ed)...)

	// 3. Fine-tune the base model on the corrected case.
	ft := smallConfig(50)
	ft.Data.Paths = []string{corrected}
	ft.Split.ValFraction, ft.Split.ValCount = 0, 0
	if ft, err = FineTuneConfig(ft, base); err != nil {
		t.Fatal(err)
	}
	ftRun := filepath.Join(tmp, "runs", "finetune")
	job, err = Start(exe, Spec{Config: ft, RunDir: ftRun, InitFrom: base, Previous: base}, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err = job.Wait(ctx)
	job.Close()
	if err != nil || st.Phase != Done {
		t.Fatalf("fine-tune: %s %v %s %s", st.Phase, err, st.Err, st.Message)
	}
	if b, _ := os.ReadFile(filepath.Join(ftRun, "init-from")); !strings.Contains(string(b), base) {
		t.Fatalf("fine-tune did not record its starting bundle: %q", b)
	}
	newSeg := &ProcessEngine{Exe: exe, Model: filepath.Join(ftRun, RunBundleDir), Threads: 1}
	rs2, err := newSeg.Segment(ctx, s, []int{ed}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dBefore, dAfter := meanDice(rs[0].Labels, correction), meanDice(rs2[0].Labels, correction)
	t.Logf("patient001 ED: mean Dice (RV, MYO, LV) to the correction: base model %.3f, fine-tuned %.3f (%d brush strokes; base vs reference %.3f)", dBefore, dAfter, edits, before)
	if !(dAfter > dBefore+0.05) {
		t.Fatalf("fine-tuning on the correction did not bring the prediction closer: Dice %.3f → %.3f", dBefore, dAfter)
	}

	// 4. The tab's summary: new vs previous on the (training) case.
	var seen []EvalProgress
	ev, err := Evaluate(ctx, exe, ftRun, base, func(p EvalProgress) { seen = append(seen, p) })
	if err != nil {
		t.Fatal(err)
	}
	// One progress report per case and model, in order, the new model first.
	if len(seen) != 2*len(ev.Cases) || seen[0].Model != 1 || seen[len(seen)-1].Model != 2 || seen[len(seen)-1].Case != len(ev.Cases) {
		t.Fatalf("evaluation progress %+v for %d case(s) and 2 models", seen, len(ev.Cases))
	}
	if len(ev.Scores) != 2 || !strings.Contains(ev.Note, "training case") || !(ev.Scores[0].MeanDice() > ev.Scores[1].MeanDice()) {
		t.Fatalf("evaluation %+v", ev)
	}
	t.Logf("evaluation (%s): new %.3f (ECE %.1f %%), previous %.3f (ECE %.1f %%)", ev.Note, ev.Scores[0].MeanDice(), ev.Scores[0].ECE, ev.Scores[1].MeanDice(), ev.Scores[1].ECE)
}
