package cli

import (
	"bytes"
	"encoding/csv"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"cmrseg/app/cohort"
	"cmrseg/app/shareddata"
	"cmrseg/inference/unet"
)

// batchArchive links three real ACDC patients into a folder tree and adds
// one file that is not NIfTI.
func batchArchive(t *testing.T) string {
	t.Helper()
	acdc := shareddata.Require(t, "acdc/training")
	root := filepath.Join(t.TempDir(), "archive")
	os.MkdirAll(filepath.Join(root, "site-a"), 0o755)
	for _, p := range []string{"patient001", "patient042", "patient083"} {
		if err := os.Symlink(filepath.Join(acdc, p), filepath.Join(root, "site-a", p)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "broken.nii.gz"), []byte("\x1f\x8b\x08 this is not gzip"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

func runBatchCLI(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := Run(append([]string{"batch"}, args...), &stdout, &stderr); code != 0 {
		t.Fatalf("cmrseg batch %v: exit %d\n%s\n%s", args, code, stdout.String(), stderr.String())
	}
	t.Logf("cmrseg batch %s\n%s%s", strings.Join(args, " "), stdout.String(), stderr.String())
	return stdout.String()
}

var summaryLine = regexp.MustCompile(`(\d+) done, (\d+) skipped \(done before\), (\d+) failed; (\d+) network evaluations`)

func summary(t *testing.T, out string) []string {
	t.Helper()
	m := summaryLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no summary line in\n%s", out)
	}
	return m[1:]
}

// readTable reads cohort.csv without the columns that differ between runs.
func readTable(t *testing.T, dir string) [][]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, cohort.TableCSV))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	var keep []int
	for i, c := range recs[0] {
		if !slices.Contains(cohort.TimingColumns, c) && c != "path" {
			keep = append(keep, i)
		}
	}
	var out [][]string
	for _, r := range recs {
		var row []string
		for _, i := range keep {
			row = append(row, r[i])
		}
		out = append(out, row)
	}
	return out
}

// TestBatchACDC runs `cmrseg batch` over real ACDC patients and a broken
// file with a small random-weights model: the first run segments and
// records everything, a rerun does no forward pass, another option
// reruns, a study killed mid-run is redone, and two shards merged give
// the single run's table.
func TestBatchACDC(t *testing.T) {
	root := batchArchive(t)
	model := randomModel(t, unet.Config{InChannels: 1, Classes: 4, Stages: 3, BaseFeatures: 4, MaxFeatures: 16, ConvsPerStage: 1}, 2)
	tmp := t.TempDir()
	single := filepath.Join(tmp, "single")
	// One forward pass per slice keeps it quick (a random model's "heart"
	// is everywhere, so heart-region tiling would tile the whole slice).
	common := []string{"--model", model, "--device", "cpu", "--threads", "2", "--tiling", "whole", "--in", root}

	out := runBatchCLI(t, append(common, "--out", single)...)
	if s := summary(t, out); s[0] != "3" || s[1] != "0" || s[2] != "1" || s[3] == "0" {
		t.Fatalf("first run: %v", s)
	}
	st, err := cohort.ReadStatus(filepath.Join(single, "site-a", "patient001"))
	if err != nil || st == nil {
		t.Fatalf("status of patient001: %v", err)
	}
	if st.State != cohort.StateDone || st.Group != "DCM" || st.Results == nil || st.Results.EDPhase1Based != 1 || st.Results.ESPhase1Based != 2 ||
		st.Evaluations == 0 || st.Timings.Predict <= 0 || st.Results.Checkpoints != 2 {
		t.Errorf("patient001: %+v %+v", st, st.Results)
	}
	for _, f := range []string{"patient001_frame01_seg.nii.gz", "patient001_frame01_entropy.nii.gz", "patient001_frame12_seg.nii.gz", "report.json", "report.csv"} {
		if !slices.Contains(st.Outputs, f) {
			t.Errorf("outputs %v lack %s", st.Outputs, f)
		}
		if _, err := os.Stat(filepath.Join(single, "site-a", "patient001", f)); err != nil {
			t.Error(err)
		}
	}
	// The window's result cache of both phases, for the review queue.
	if !slices.Equal(st.Segmented, []int{0, 1}) {
		t.Errorf("segmented phases %v, want [0 1] (the two frame files)", st.Segmented)
	}
	if rc, _ := filepath.Glob(filepath.Join(single, "site-a", "patient001", cohort.ReviewDir, "results-*", "phase-*.result.gz")); len(rc) != 2 {
		t.Errorf("review cache files %v, want 2", rc)
	}
	broken, _ := cohort.ReadStatus(filepath.Join(single, "broken"))
	if broken == nil || broken.State != cohort.StateFailed || !strings.Contains(broken.Error, filepath.Join(root, "broken.nii.gz")) {
		t.Fatalf("broken study: %+v", broken)
	}
	first := readTable(t, single)
	if len(first) != 5 {
		t.Fatalf("table has %d lines, want header + 4", len(first))
	}
	col := func(name string) int { return slices.Index(first[0], name) }
	for _, r := range first[2:] {
		if r[col("status")] != "done" || r[col("lv_edv")] == "" || r[col("lv_edv_low")] == "" || r[col("lv_mass")] == "" || r[col("qc_threshold")] == "" || r[col("qc_slices")] == "0" {
			t.Errorf("row %v lacks values", r)
		}
	}

	// Rerun: nothing done again (no network evaluation), the broken one retried.
	out = runBatchCLI(t, append(common, "--out", single)...)
	if s := summary(t, out); s[0] != "0" || s[1] != "3" || s[2] != "1" || s[3] != "0" {
		t.Fatalf("rerun: %v", s)
	}
	if again, _ := cohort.ReadStatus(filepath.Join(single, "site-a", "patient001")); !again.Started.Equal(st.Started) {
		t.Error("rerun rewrote a done study's status")
	}
	if !slices.EqualFunc(readTable(t, single), first, slices.Equal) {
		t.Error("rerun changed the table")
	}

	// A study left "running" by a killed run is redone, alone.
	st.State = cohort.StateRunning
	if err := cohort.WriteStatus(filepath.Join(single, "site-a", "patient001"), st); err != nil {
		t.Fatal(err)
	}
	if s := summary(t, runBatchCLI(t, append(common, "--out", single)...)); s[0] != "1" || s[1] != "2" {
		t.Fatalf("after an interrupted study: %v", s)
	}

	// Two shards, merged, equal the single run.
	for _, sh := range []string{"1/2", "2/2"} {
		runBatchCLI(t, append(common, "--shard", sh, "--out", filepath.Join(tmp, "shard"+sh[:1]))...)
	}
	merged := filepath.Join(tmp, "merged")
	var stdout, stderr bytes.Buffer
	if code := Run([]string{"batch", "--merge", "--out", merged, filepath.Join(tmp, "shard1"), filepath.Join(tmp, "shard2")}, &stdout, &stderr); code != 0 {
		t.Fatalf("merge: exit %d %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "4 studies from 2 folder(s): 3 done, 1 failed") {
		t.Errorf("merge said %q", stdout.String())
	}
	if got := readTable(t, merged); !slices.EqualFunc(got, readTable(t, single), slices.Equal) {
		t.Errorf("merged shards differ from the single run:\n%v\n%v", got, readTable(t, single))
	}

	// Another option reruns every study (for ACDC frame files all phases
	// are the same two, so this costs what the first run did).
	if s := summary(t, runBatchCLI(t, append(common, "--out", single, "--phases", "all")...)); s[0] != "3" || s[1] != "0" {
		t.Fatalf("changed option: %v", s)
	}
}

// TestBatchUsage: bad flags and inputs are clear errors naming what is wrong.
func TestBatchUsage(t *testing.T) {
	model := randomModel(t, unet.Config{InChannels: 1, Classes: 4, Stages: 3, BaseFeatures: 4, MaxFeatures: 16, ConvsPerStage: 1}, 1)
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--out", dir}, "usage"},
		{[]string{"--in", filepath.Join(dir, "nope"), "--out", dir, "--model", model}, filepath.Join(dir, "nope")},
		{[]string{"--in", dir, "--out", dir, "--shard", "3/2", "--model", model}, "1 ≤ I ≤ N"},
		{[]string{"--in", dir, "--out", dir, "--phases", "es", "--model", model}, "--phases"},
		{[]string{"--merge", filepath.Join(dir, "none")}, "not an output folder"},
	} {
		var stdout, stderr bytes.Buffer
		if code := Run(append([]string{"batch"}, c.args...), &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("batch %v: exit %d, stderr %q, want %q", c.args, code, stderr.String(), c.want)
		}
	}
}

// TestVersionMatchesFyneApp keeps the version in batch fingerprints equal
// to the packaged one.
func TestVersionMatchesFyneApp(t *testing.T) {
	raw, err := os.ReadFile("../../FyneApp.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `Version = "`+cmrsegVersion+`"`) {
		t.Errorf("FyneApp.toml's Version is not %s", cmrsegVersion)
	}
}

// TestSlurmScripts runs the job-array script as Slurm would start it
// (with `echo` for cmrseg): array task IDs become 1-based shards, also
// for arrays that start at 0. TestSlurmCluster runs them under a real Slurm.
func TestSlurmScripts(t *testing.T) {
	script := "../../packaging/slurm/cmrseg-batch.sbatch"
	for _, c := range []struct{ id, min, want string }{{"1", "1", "--shard 1/4"}, {"4", "1", "--shard 4/4"}, {"0", "0", "--shard 1/4"}, {"3", "0", "--shard 4/4"}} {
		cmd := exec.Command("bash", script, "--tta")
		cmd.Env = append(os.Environ(), "CMRSEG=echo", "CMRSEG_IN=/archive", "CMRSEG_OUT=/out", "SLURM_ARRAY_TASK_ID="+c.id,
			"SLURM_ARRAY_TASK_MIN="+c.min, "SLURM_ARRAY_TASK_COUNT=4", "SLURM_CPUS_PER_TASK=3")
		got, err := cmd.CombinedOutput()
		want := "batch --in /archive --out /out " + c.want + " --threads 3 --tta\n"
		if err != nil || string(got) != want {
			t.Errorf("task %s of an array from %s: %q, %v; want %q", c.id, c.min, got, err, want)
		}
	}
	// A resubmitted shard of an N-shard run: the task ID is the shard.
	cmd := exec.Command("bash", script)
	cmd.Env = append(os.Environ(), "CMRSEG=echo", "CMRSEG_IN=/archive", "CMRSEG_OUT=/out", "SLURM_ARRAY_TASK_ID=3",
		"SLURM_ARRAY_TASK_MIN=3", "SLURM_ARRAY_TASK_COUNT=1", "CMRSEG_SHARDS=4")
	if got, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(got), "--shard 3/4 ") {
		t.Errorf("resubmitted shard 3 of 4: %q, %v", got, err)
	}
	cmd = exec.Command("bash", "../../packaging/slurm/cmrseg-merge.sbatch")
	cmd.Env = append(os.Environ(), "CMRSEG=echo", "CMRSEG_OUT=/out")
	if got, err := cmd.CombinedOutput(); err != nil || string(got) != "batch --merge /out\n" {
		t.Errorf("merge script: %q, %v", got, err)
	}
	cmd = exec.Command("bash", script)
	cmd.Env = append(os.Environ(), "CMRSEG=echo", "CMRSEG_IN=/archive", "CMRSEG_OUT=/out")
	if got, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(got), "job array") {
		t.Errorf("outside an array: %q, %v", got, err)
	}
}

// TestBatchKill9 kills a real `cmrseg batch` process (SIGKILL) while it
// segments a study; the next run redoes that study and leaves no
// temporary files.
func TestBatchKill9(t *testing.T) {
	if args := os.Getenv("CMRSEG_BATCH_CHILD"); args != "" {
		os.Exit(Run(append([]string{"batch"}, strings.Split(args, "\x1f")...), os.Stdout, os.Stderr))
	}
	acdc := shareddata.Require(t, "acdc/training")
	root := filepath.Join(t.TempDir(), "archive")
	os.MkdirAll(root, 0o755)
	os.Symlink(filepath.Join(acdc, "patient007"), filepath.Join(root, "patient007"))
	model := randomModel(t, unet.Config{InChannels: 1, Classes: 4, Stages: 3, BaseFeatures: 4, MaxFeatures: 16, ConvsPerStage: 1}, 2)
	out := filepath.Join(t.TempDir(), "out")
	args := []string{"--model", model, "--device", "cpu", "--threads", "2", "--tiling", "whole", "--in", root, "--out", out}
	child := exec.Command(os.Args[0], "-test.run=^TestBatchKill9$")
	child.Env = append(os.Environ(), "CMRSEG_BATCH_CHILD="+strings.Join(args, "\x1f"))
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(out, "patient007")
	deadline := time.Now().Add(2 * time.Minute)
	for {
		st, _ := cohort.ReadStatus(dir)
		if st != nil && st.State == cohort.StateRunning {
			break
		}
		if st != nil || time.Now().After(deadline) {
			child.Process.Kill()
			child.Wait()
			t.Fatalf("never saw the study running (status %+v)", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	child.Process.Kill() // SIGKILL
	child.Wait()
	if st, _ := cohort.ReadStatus(dir); st.State != cohort.StateRunning {
		t.Fatalf("the study finished before the kill (%s); nothing was interrupted", st.State)
	}
	if s := summary(t, runBatchCLI(t, args...)); s[0] != "1" || s[1] != "0" || s[2] != "0" {
		t.Fatalf("after kill -9: %v", s)
	}
	st, _ := cohort.ReadStatus(dir)
	if st.State != cohort.StateDone || len(st.Outputs) == 0 {
		t.Fatalf("redone study: %+v", st)
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, ".*")); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
}

// TestBenchBatchSmall runs the memory benchmark's code path on a few tiny
// synthetic studies (its numbers come from `cmrseg bench batch` runs).
func TestBenchBatchSmall(t *testing.T) {
	dir := t.TempDir()
	js := filepath.Join(dir, "r.json")
	var stdout, stderr bytes.Buffer
	code := Run([]string{"bench", "batch", "--random-model", "--studies", "4", "--warmup", "1", "--window", "2", "--slices", "1",
		"--tiling", "whole", "--device", "cpu", "--threads", "2", "--keep", dir, "--json", js}, &stdout, &stderr)
	t.Log("\n" + stdout.String() + stderr.String())
	if code != 0 || !strings.Contains(stdout.String(), "ratio") {
		t.Fatalf("exit %d", code)
	}
	raw, err := os.ReadFile(js)
	if err != nil || !strings.Contains(string(raw), `"rss_mb_after_each_study"`) {
		t.Fatalf("JSON result: %v\n%s", err, raw)
	}
	var stderr2 bytes.Buffer
	if code := Run([]string{"bench", "batch", "--studies", "5", "--warmup", "20"}, &stdout, &stderr2); code == 0 || !strings.Contains(stderr2.String(), "at least") {
		t.Errorf("too few studies: exit %d %q", code, stderr2.String())
	}
}
