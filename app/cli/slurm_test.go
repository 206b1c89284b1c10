package cli

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"cmrseg/app/cohort"
	"cmrseg/app/shareddata"
	"cmrseg/inference/unet"
)

// slurmCluster is a one-node Slurm cluster on localhost with its own
// munged, slurmctld and slurmd, all in one temporary folder.
type slurmCluster struct {
	t    *testing.T
	dir  string
	env  []string // SLURM_CONF for the client commands
	jobs []string // submitted, cancelled at teardown
}

// slurmBinary finds a Slurm or munge program; under CI=true a missing one
// fails the test.
func slurmBinary(t *testing.T, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, d := range []string{"/usr/sbin", "/usr/bin", "/usr/local/sbin"} {
		if p := filepath.Join(d, name); fileExists(p) {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is missing (CI=true needs Debian's slurm-wlm and munge: scripts/install-deps.sh test)", name)
	}
	t.Skipf("%s not installed (apt-get install slurm-wlm munge)", name)
	return ""
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startSlurm writes a munge key and a minimal slurm.conf (one node with 2
// CPUs, no cgroups, no accounting), starts the three daemons in the
// foreground and stops them when the test ends, also when it fails.
func startSlurm(t *testing.T) *slurmCluster {
	t.Helper()
	munged, slurmctld, slurmd := slurmBinary(t, "munged"), slurmBinary(t, "slurmctld"), slurmBinary(t, "slurmd")
	for _, c := range []string{"sbatch", "squeue", "scontrol", "scancel", "sinfo"} {
		slurmBinary(t, c)
	}
	if os.Geteuid() != 0 {
		// slurmd starts every job as its owner, which needs root.
		if os.Getenv("CI") == "true" {
			t.Fatal("the Slurm test runs slurmd, which must be root")
		}
		t.Skip("not root: slurmd cannot start jobs")
	}
	// A short path: munge's socket path must fit a sockaddr_un.
	dir, err := os.MkdirTemp("", "cmrseg-slurm-")
	if err != nil {
		t.Fatal(err)
	}
	c := &slurmCluster{t: t, dir: dir}
	for _, d := range []string{"munge", "state", "spool", "logs"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	key := make([]byte, 1024)
	rand.Read(key)
	if err := os.WriteFile(filepath.Join(dir, "munge", "munge.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	host, _, _ = strings.Cut(host, ".")
	sock := filepath.Join(dir, "munge", "munge.sock")
	conf := fmt.Sprintf(`ClusterName=cmrsegtest
SlurmctldHost=%[1]s(127.0.0.1)
SlurmctldPort=%[3]d
SlurmdPort=%[4]d
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=%[5]s
SlurmUser=root
SlurmdUser=root
StateSaveLocation=%[2]s/state
SlurmdSpoolDir=%[2]s/spool
SlurmctldPidFile=%[2]s/slurmctld.pid
SlurmdPidFile=%[2]s/slurmd.pid
SlurmctldLogFile=%[2]s/slurmctld.log
SlurmdLogFile=%[2]s/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=%[2]s/jobcomp.txt
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
NodeName=%[1]s NodeAddr=127.0.0.1 CPUs=2 RealMemory=2000 State=UNKNOWN
PartitionName=test Nodes=%[1]s Default=YES MaxTime=INFINITE State=UP
`, host, dir, freePort(t), freePort(t), sock)
	confPath := filepath.Join(dir, "slurm.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	c.env = append(os.Environ(), "SLURM_CONF="+confPath)

	var daemons []*exec.Cmd
	t.Cleanup(func() {
		c.teardown(daemons)
		if !t.Failed() {
			os.RemoveAll(dir)
		} else {
			t.Logf("Slurm folder kept for inspection: %s", dir)
		}
	})
	start := func(name string, args ...string) {
		cmd := exec.Command(name, args...)
		cmd.Env = c.env
		log, err := os.Create(filepath.Join(dir, "logs", filepath.Base(name)+".out"))
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = log, log
		if err := cmd.Start(); err != nil {
			t.Fatalf("starting %s: %v", name, err)
		}
		daemons = append(daemons, cmd)
	}
	start(munged, "--foreground", "--force", "--key-file="+filepath.Join(dir, "munge", "munge.key"), "--socket="+sock,
		"--pid-file="+filepath.Join(dir, "munge", "munged.pid"), "--log-file="+filepath.Join(dir, "munge", "munged.log"),
		"--seed-file="+filepath.Join(dir, "munge", "seed"))
	c.waitFor("munged's socket", 30*time.Second, func() bool { return fileExists(sock) })
	start(slurmctld, "-D", "-i", "-f", confPath)
	start(slurmd, "-D", "-f", confPath, "-N", host)
	c.waitFor("the node to be idle", 60*time.Second, func() bool {
		out, _ := c.cmd("sinfo", "-h", "-o", "%T")
		return strings.TrimSpace(out) == "idle"
	})
	return c
}

// teardown cancels the test's jobs, stops the daemons (SIGTERM, then
// SIGKILL) and kills any job process left from the test's binary link.
func (c *slurmCluster) teardown(daemons []*exec.Cmd) {
	if len(c.jobs) > 0 {
		c.cmd("scancel", c.jobs...)
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			if out, err := c.cmd("squeue", "-h", "-j", strings.Join(c.jobs, ",")); err != nil || strings.TrimSpace(out) == "" {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	for i := len(daemons) - 1; i >= 0; i-- {
		d := daemons[i]
		d.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { d.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			d.Process.Kill()
			<-done
		}
	}
	for _, pid := range processesOf(filepath.Join(c.dir, "bin", "cmrseg")) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

func (c *slurmCluster) cmd(name string, args ...string) (string, error) {
	cmd := exec.Command(slurmBinary(c.t, name), args...)
	cmd.Env = c.env
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out.String(), nil
}

// sbatch submits and returns the job id.
func (c *slurmCluster) sbatch(args ...string) string {
	c.t.Helper()
	out, err := c.cmd("sbatch", append([]string{"--parsable"}, args...)...)
	if err != nil {
		c.t.Fatal(err)
	}
	id, _, _ := strings.Cut(strings.TrimSpace(out), ";")
	c.jobs = append(c.jobs, id)
	c.t.Logf("sbatch %s\n  -> job %s", strings.Join(args, " "), id)
	return id
}

func (c *slurmCluster) waitFor(what string, limit time.Duration, ok func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			logs, _ := filepath.Glob(filepath.Join(c.dir, "*.log"))
			for _, l := range logs {
				b, _ := os.ReadFile(l)
				c.t.Logf("%s:\n%s", l, lastLines(string(b), 20))
			}
			c.t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitJob waits until the job (every task of an array) has left the
// queue.
func (c *slurmCluster) waitJob(id string, limit time.Duration) {
	c.t.Helper()
	c.waitFor("job "+id+" to end", limit, func() bool {
		out, err := c.cmd("squeue", "-h", "-j", id)
		return err == nil && strings.TrimSpace(out) == ""
	})
}

var jobStateRe = regexp.MustCompile(`ArrayTaskId=(\d+) .*JobState=(\S+) .*ExitCode=(\S+)`)

// taskStates are the final state and exit code of each array task, from
// scontrol (which keeps finished jobs for MinJobAge, 5 minutes).
func (c *slurmCluster) taskStates(id string) map[int]string {
	c.t.Helper()
	out, err := c.cmd("scontrol", "-o", "show", "job", id)
	if err != nil {
		c.t.Fatal(err)
	}
	states := map[int]string{}
	for _, l := range strings.Split(out, "\n") {
		if m := jobStateRe.FindStringSubmatch(l); m != nil {
			k, _ := strconv.Atoi(m[1])
			states[k] = m[2] + " exit " + m[3]
		}
	}
	return states
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// processesOf lists the pids whose argv[0] is exe.
func processesOf(exe string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if argv := strings.Split(string(raw), "\x00"); argv[0] == exe {
			pids = append(pids, pid)
		}
	}
	return pids
}

// shardProcess is the pid of the cmrseg process running --shard s, or 0.
func shardProcess(exe, s string) int {
	for _, pid := range processesOf(exe) {
		raw, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if slices.Contains(strings.Split(string(raw), "\x00"), s) {
			return pid
		}
	}
	return 0
}

// TestSlurmCluster runs packaging/slurm under a real Slurm on localhost:
// a 4-task job array of `cmrseg batch` over real ACDC patients, one task
// killed (SIGKILL) while it segments, that shard resubmitted alone, and
// the merge script as a job depending on it. The merged cohort table must
// equal a single-process run's.
func TestSlurmCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Slurm cluster (about two minutes); not in -short")
	}
	c := startSlurm(t)
	const shards, victim = 4, 2
	acdc := shareddata.Require(t, "acdc/training")
	root := filepath.Join(c.dir, "archive")
	os.MkdirAll(root, 0o755)
	// Patients in order until every shard has two; the killed shard's
	// second study is then certainly undone when its task dies.
	per := make([]int, shards+1)
	var ids []string
	for p := 1; p <= 100 && slices.Min(per[1:]) < 2; p++ {
		id := fmt.Sprintf("patient%03d", p)
		for k := 1; k <= shards; k++ {
			if (cohort.Shard{I: k, N: shards}).Owns(id) && per[k] < 2 {
				per[k]++
				ids = append(ids, id)
				if err := os.Symlink(filepath.Join(acdc, id), filepath.Join(root, id)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	t.Logf("archive: %d ACDC patients, 2 per shard: %v", len(ids), ids)
	model := randomModel(t, unet.Config{InChannels: 1, Classes: 4, Stages: 3, BaseFeatures: 4, MaxFeatures: 16, ConvsPerStage: 1}, 2)
	// The jobs run this test binary through a link named cmrseg (TestMain).
	bin := filepath.Join(c.dir, "bin", "cmrseg")
	os.MkdirAll(filepath.Dir(bin), 0o755)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, bin); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(c.dir, "cohort")
	logs := filepath.Join(c.dir, "joblogs")
	os.MkdirAll(out, 0o755)
	os.MkdirAll(logs, 0o755)
	scripts, _ := filepath.Abs("../../packaging/slurm")
	flags := []string{"--model", model, "--device", "cpu", "--tiling", "whole"}
	env := fmt.Sprintf("ALL,CMRSEG=%s,CMRSEG_IN=%s,CMRSEG_OUT=%s,CMRSEG_SHARDS=%d", bin, root, out, shards)
	// The scripts ask for 4 CPUs and 4 GB, more than this node has; the
	// command line overrides that as a site would.
	res := []string{"--cpus-per-task=1", "--mem=500M", "--chdir=" + logs}

	array := c.sbatch(slices.Concat([]string{fmt.Sprintf("--array=1-%d", shards), "--export=" + env}, res,
		[]string{filepath.Join(scripts, "cmrseg-batch.sbatch")}, flags)...)

	// Kill the victim task's cmrseg (the batch step's process: the script
	// execs it) with SIGKILL once it is segmenting a study.
	shardArg := fmt.Sprintf("%d/%d", victim, shards)
	var killed string
	c.waitFor("shard "+shardArg+" to segment a study", 3*time.Minute, func() bool {
		sts, _ := cohort.Collect(out)
		for _, st := range sts {
			if st.Shard == shardArg && st.State == cohort.StateRunning {
				if pid := shardProcess(bin, shardArg); pid != 0 {
					if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
						killed = st.ID
						t.Logf("kill -9 %d (task %s_%d, cmrseg --shard %s) while it segments %s", pid, array, victim, shardArg, st.ID)
						return true
					}
				}
			}
		}
		return false
	})
	c.waitJob(array, 5*time.Minute)
	states := c.taskStates(array)
	t.Logf("array %s: %v", array, states)
	for k := 1; k <= shards; k++ {
		if want := "COMPLETED exit 0:0"; (k == victim) == (states[k] == want) {
			t.Errorf("task %d ended %q", k, states[k])
		}
	}
	// Studies of the shard not done: the killed one ("running") and those
	// it never reached (no status file).
	undone := per[victim]
	sts, err := cohort.Collect(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range sts {
		if st.Shard == shardArg && st.State == cohort.StateDone {
			undone--
		}
		if st.ID == killed && st.State != cohort.StateRunning {
			t.Errorf("killed study %s is %s", killed, st.State)
		}
	}
	if undone < 1 {
		t.Fatalf("shard %s finished before the kill: nothing was interrupted", shardArg)
	}

	// Resubmit the killed shard alone, and the merge step after it.
	again := c.sbatch(slices.Concat([]string{fmt.Sprintf("--array=%d", victim), "--export=" + env}, res,
		[]string{filepath.Join(scripts, "cmrseg-batch.sbatch")}, flags)...)
	merge := c.sbatch("--dependency=afterany:"+again, "--export=ALL,CMRSEG="+bin+",CMRSEG_OUT="+out,
		"--cpus-per-task=1", "--mem=200M", "--chdir="+logs, filepath.Join(scripts, "cmrseg-merge.sbatch"))
	c.waitJob(merge, 5*time.Minute)
	if st := c.taskStates(again)[victim]; st != "COMPLETED exit 0:0" {
		t.Errorf("resubmitted task %d ended %q", victim, st)
	}
	relog, _ := os.ReadFile(filepath.Join(logs, fmt.Sprintf("cmrseg-batch-%s_%d.log", again, victim)))
	m := summaryLine.FindStringSubmatch(string(relog))
	if m == nil || m[1] != strconv.Itoa(undone) || m[3] != "0" {
		t.Errorf("resubmitted shard should redo the %d undone studies:\n%s", undone, relog)
	}
	mlog, _ := os.ReadFile(filepath.Join(logs, fmt.Sprintf("cmrseg-merge-%s.log", merge)))
	t.Logf("resubmitted task log:\n%s\nmerge job log:\n%s", lastLines(string(relog), 6), mlog)
	if !strings.Contains(string(mlog), fmt.Sprintf("%d studies from 1 folder(s): %d done, 0 failed, 0 interrupted", len(ids), len(ids))) {
		t.Errorf("merge job said %q", mlog)
	}

	// The same archive in one process.
	single := filepath.Join(c.dir, "single")
	runBatchCLI(t, slices.Concat(flags, []string{"--threads", "2", "--in", root, "--out", single})...)
	got, want := readTable(t, out), readTable(t, single)
	if len(want) != len(ids)+1 {
		t.Fatalf("single-process table has %d lines, want %d", len(want), len(ids)+1)
	}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("merged Slurm table differs from the single-process run:\n%v\n%v", got, want)
	} else {
		t.Logf("merged table of %d studies equals the single-process run's (timing and shard columns aside)", len(ids))
	}
}
