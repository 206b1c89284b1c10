package trainingjob

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"cmrseg/app/atomicfile"
	"cmrseg/training/config"
)

// Files the job keeps in the run folder beside the trainer's own.
const (
	JobFile    = "job.json"          // the job's spec and child pid
	EventsFile = "events.jsonl"      // `cmrseg train --events`
	InputFile  = "train-config.toml" // the config the job started with
	OutputFile = "train.log"         // the child's stdout and stderr
	EvalFile   = "evaluation.json"   // `cmrseg evaluate --json`
)

// Spec is what a job trains.
type Spec struct {
	Config config.Config
	// RunDir is the run folder (created; must not hold a run yet).
	RunDir string
	// InitFrom, when set, is the bundle a fine-tune starts from.
	InitFrom string
	// Previous is the bundle the new one is compared with at the end
	// (usually the active model); "" for none.
	Previous string
	ValEvery int
	F16      bool
}

type jobFile struct {
	InitFrom  string    `json:"init_from,omitempty"`
	Previous  string    `json:"previous,omitempty"`
	ValEvery  int       `json:"val_every"`
	F16       bool      `json:"f16"`
	PID       int       `json:"pid"`
	Started   time.Time `json:"started"`
	Cancelled bool      `json:"cancelled,omitempty"`
	Installed string    `json:"installed,omitempty"` // the models/ folder the result was installed to
}

// Job follows one run folder's `cmrseg train` child.
type Job struct {
	Exe    string
	RunDir string

	mu       sync.Mutex
	progress // what the event log says so far (mu held)
	jf       jobFile
	exited   chan struct{} // closed when the current child has exited
	own      *exec.Cmd
	onUpdate func(State)
	stop     chan struct{}
	stopped  bool
}

// Start creates the run folder, writes the config and launches
// `exe train`. onUpdate (may be nil) is called from the job's goroutine
// after every batch of events and phase change.
func Start(exe string, spec Spec, onUpdate func(State)) (*Job, error) {
	if spec.RunDir == "" {
		return nil, errors.New("training: no run folder")
	}
	if _, err := os.Stat(filepath.Join(spec.RunDir, RunConfigFile)); err == nil {
		return nil, fmt.Errorf("training: %s already holds a run", spec.RunDir)
	}
	if err := os.MkdirAll(spec.RunDir, 0o755); err != nil {
		return nil, fmt.Errorf("training: %w", err)
	}
	spec.Config.Run.Folder = spec.RunDir
	if err := spec.Config.Save(filepath.Join(spec.RunDir, InputFile)); err != nil {
		return nil, err
	}
	os.Remove(filepath.Join(spec.RunDir, EventsFile))
	j := &Job{Exe: exe, RunDir: spec.RunDir, onUpdate: onUpdate, stop: make(chan struct{})}
	j.jf = jobFile{InitFrom: spec.InitFrom, Previous: spec.Previous, ValEvery: max(1, spec.ValEvery), F16: spec.F16}
	if ck, err := spec.Config.CheckpointEpochs(); err == nil {
		j.st.CheckpointPlan = ck
	}
	j.st.Epochs, j.st.Iters = spec.Config.Schedule.Epochs, spec.Config.Train.ItersPerEpoch
	if err := j.launch(false); err != nil {
		return nil, err
	}
	go j.monitor()
	return j, nil
}

// Attach follows the job in runDir, started by this or an earlier session
// of the app: it replays the event log and, when the child still runs,
// keeps following it; otherwise the job is paused (resumable), done,
// failed or cancelled.
func Attach(exe, runDir string, onUpdate func(State)) (*Job, error) {
	b, err := os.ReadFile(filepath.Join(runDir, JobFile))
	if err != nil {
		return nil, fmt.Errorf("training: %w", err)
	}
	j := &Job{Exe: exe, RunDir: runDir, onUpdate: onUpdate, stop: make(chan struct{})}
	if err := json.Unmarshal(b, &j.jf); err != nil {
		return nil, fmt.Errorf("training: %s: %v", filepath.Join(runDir, JobFile), err)
	}
	if c, err := config.Load(filepath.Join(runDir, InputFile)); err == nil {
		if ck, err := c.CheckpointEpochs(); err == nil {
			j.st.CheckpointPlan = ck
		}
		j.st.Epochs, j.st.Iters = c.Schedule.Epochs, c.Train.ItersPerEpoch
	}
	j.readEvents()
	if j.jf.PID > 0 && alive(j.jf.PID, runDir) {
		j.st.Phase = Running
		j.exited = make(chan struct{})
		go j.pollPID(j.jf.PID, j.exited)
	} else {
		j.exited = make(chan struct{})
		close(j.exited)
		j.finish(nil)
	}
	go j.monitor()
	return j, nil
}

// Config is the run's config.
func (j *Job) Config() (config.Config, error) { return config.Load(filepath.Join(j.RunDir, InputFile)) }

// Bundle is the run's model bundle folder.
func (j *Job) Bundle() string { return filepath.Join(j.RunDir, RunBundleDir) }

// Previous is the bundle the result is compared with.
func (j *Job) Previous() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.jf.Previous
}

// InitFrom is the bundle a fine-tune started from ("" for from scratch).
func (j *Job) InitFrom() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.jf.InitFrom
}

// Installed is where the result was installed ("" before).
func (j *Job) Installed() string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.jf.Installed
}

// SetInstalled records where the result was installed.
func (j *Job) SetInstalled(dir string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.jf.Installed = dir
	return j.saveLocked()
}

// State is a snapshot of the job.
func (j *Job) State() State {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.st.Clone()
}

func (j *Job) saveLocked() error {
	b, _ := json.MarshalIndent(j.jf, "", "  ")
	return atomicfile.Write(filepath.Join(j.RunDir, JobFile), append(b, '\n'))
}

// launch starts the child; resume continues the run folder.
func (j *Job) launch(resume bool) error {
	args := []string{"train", "--run", j.RunDir, "--events", filepath.Join(j.RunDir, EventsFile),
		"--val-every", strconv.Itoa(j.jf.ValEvery)}
	if resume {
		args = append(args, "--resume")
	} else {
		args = append(args, "--config", filepath.Join(j.RunDir, InputFile))
		if j.jf.InitFrom != "" {
			args = append(args, "--init-from", j.jf.InitFrom)
		}
	}
	if j.jf.F16 {
		args = append(args, "--f16")
	}
	out, err := os.OpenFile(filepath.Join(j.RunDir, OutputFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("training: %w", err)
	}
	defer out.Close()
	fmt.Fprintf(out, "\n$ %s %s\n", j.Exe, strings.Join(args, " "))
	cmd := exec.Command(j.Exe, args...)
	cmd.Stdout, cmd.Stderr = out, out
	// Its own session: the child outlives the window (the tab reattaches
	// by pid) and a Ctrl-C in the app's terminal does not stop it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("training: starting %s: %w", j.Exe, err)
	}
	exited := make(chan struct{})
	j.mu.Lock()
	j.own, j.exited = cmd, exited
	j.jf.PID, j.jf.Started = cmd.Process.Pid, time.Now().UTC()
	j.st.Phase, j.st.Err, j.st.Message = Running, "", ""
	j.sawDone, j.sawStop = false, false
	err = j.saveLocked()
	j.mu.Unlock()
	go func() {
		werr := cmd.Wait()
		close(exited)
		j.mu.Lock()
		if werr != nil && j.st.Err == "" && !j.sawStop {
			j.st.Err = werr.Error()
		}
		j.mu.Unlock()
	}()
	return err
}

// alive reports whether pid is a running `cmrseg train` of runDir (a
// recycled pid belongs to some other program).
func alive(pid int, runDir string) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmd, []byte(runDir)) {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err == nil {
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			return false
		}
	}
	return true
}

func (j *Job) pollPID(pid int, exited chan struct{}) {
	for alive(pid, j.RunDir) {
		select {
		case <-j.stop:
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
	close(exited)
}

// monitor tails the event log until the job stops being followed.
func (j *Job) monitor() {
	tick := time.NewTicker(150 * time.Millisecond)
	defer tick.Stop()
	for {
		j.mu.Lock()
		exited := j.exited
		j.mu.Unlock()
		select {
		case <-j.stop:
			return
		case <-tick.C:
			if j.readEvents() {
				j.notify()
			}
		case <-exited:
			j.readEvents()
			j.mu.Lock()
			active := j.st.Active()
			j.mu.Unlock()
			if active {
				j.finish(nil)
				j.notify()
			}
			// Wait for a resume to replace the channel.
			select {
			case <-j.stop:
				return
			case <-tick.C:
			}
			for {
				j.mu.Lock()
				same := j.exited == exited
				j.mu.Unlock()
				if !same {
					break
				}
				select {
				case <-j.stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		}
	}
}

func (j *Job) notify() {
	if j.onUpdate != nil {
		j.onUpdate(j.State())
	}
}

// finish sets the phase after the child has gone.
func (j *Job) finish(err error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	switch {
	case j.jf.Cancelled:
		j.st.Phase = Cancelled
	case j.sawDone:
		j.st.Phase = Done
		j.st.ETA = 0
	case j.sawStop || j.st.Phase == Pausing:
		j.st.Phase = Paused
	case j.st.Err != "":
		j.st.Phase = Failed
	default:
		// Killed without a word (app closed with the child, power loss):
		// the run folder resumes from its last complete epoch.
		j.st.Phase = Paused
		if j.st.Message == "" {
			j.st.Message = "the training process ended without finishing; resume continues from the last complete epoch"
		}
	}
	if j.st.Phase != Failed {
		j.st.Err = "" // the exit status of an interrupted child is not an error
	}
	if j.st.Phase == Failed && j.st.Message == "" {
		j.st.Message = tail(filepath.Join(j.RunDir, OutputFile), 400)
	}
}

func tail(path string, n int) string {
	b, _ := os.ReadFile(path)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}

// readEvents applies the event log's new complete lines; it reports
// whether any arrived.
func (j *Job) readEvents() bool {
	f, err := os.Open(filepath.Join(j.RunDir, EventsFile))
	if err != nil {
		return false
	}
	defer f.Close()
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.read(f)
}

// Pause asks the child to stop after the current iteration; the run keeps
// its last complete epoch and Resume continues from there.
func (j *Job) Pause() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.st.Phase != Running {
		return fmt.Errorf("training: cannot pause a %s job", j.st.Phase)
	}
	if err := syscall.Kill(j.jf.PID, syscall.SIGINT); err != nil {
		return fmt.Errorf("training: pause: %w", err)
	}
	j.st.Phase = Pausing
	return nil
}

// Resume continues a paused job (also one paused in an earlier session).
func (j *Job) Resume() error {
	j.mu.Lock()
	ph := j.st.Phase
	j.mu.Unlock()
	if ph != Paused && ph != Failed {
		return fmt.Errorf("training: cannot resume a %s job", ph)
	}
	return j.launch(true)
}

// Cancel stops the job for good; the run folder stays for inspection.
func (j *Job) Cancel() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.st.Phase == Done || j.st.Phase == Cancelled {
		return fmt.Errorf("training: cannot cancel a %s job", j.st.Phase)
	}
	j.jf.Cancelled = true
	if err := j.saveLocked(); err != nil {
		return err
	}
	if j.st.Active() {
		syscall.Kill(j.jf.PID, syscall.SIGTERM)
		j.st.Phase = Pausing // finish() turns it into Cancelled when the child exits
	} else {
		j.st.Phase = Cancelled
	}
	return nil
}

// Wait blocks until the job is not active (or ctx ends).
func (j *Job) Wait(ctx context.Context) (State, error) {
	for {
		st := j.State()
		if !st.Active() {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Close stops following the job; a running child keeps running and a
// later Attach picks it up again.
func (j *Job) Close() {
	j.mu.Lock()
	defer j.mu.Unlock()
	if !j.stopped {
		j.stopped = true
		close(j.stop)
	}
}

// Runs lists the run folders under root that hold a job, newest first.
func Runs(root string) []string {
	entries, _ := os.ReadDir(root)
	var out []string
	for i := len(entries) - 1; i >= 0; i-- {
		p := filepath.Join(root, entries[i].Name())
		if _, err := os.Stat(filepath.Join(p, JobFile)); err == nil {
			out = append(out, p)
		}
	}
	return out
}
