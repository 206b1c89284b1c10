package workspace

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"cmrseg/app/session"
	"cmrseg/app/study"
)

// killState is what a reopened workspace must show again.
type killState struct {
	Labels   string // hash of every phase's labels
	Accepted []bool // of the ED phase
	Settings ReportSettings
	CanUndo  bool
}

func stateOf(w *Workspace) killState {
	h := sha256.New()
	s := w.Series()
	for t := 0; t < s.NT; t++ {
		h.Write(w.Session.Labels(t))
	}
	return killState{Labels: hex.EncodeToString(h.Sum(nil)), Accepted: w.Session.AcceptedSlices(s.ED),
		Settings: w.ReportSettings(), CanUndo: w.Session.CanUndo()}
}

// TestWorkspaceKillChild is the editing session that TestWorkspaceKill9
// kills: it edits through the workspace as the window does, prints the
// state, and waits to be killed.
func TestWorkspaceKillChild(t *testing.T) {
	root := os.Getenv("CMRSEG_WORKSPACE_KILL_CHILD")
	if root == "" {
		t.Skip("helper process for TestWorkspaceKill9")
	}
	w := freshDemo(t, root)
	s := w.Series()
	w.GoTo(s.ED, 0)
	i, j := uncertainWrong(t, w, s.ED, 0)
	steps := []func() error{
		func() error { _, err := w.Click(i, j); return err },
		func() error {
			_, err := w.Paint([]session.Point{{I: 20, J: 20}, {I: 40, J: 22}}, 4, study.LV)
			return err
		},
		func() error { _, err := w.Erase([]session.Point{{I: 30, J: 21}}, 2, study.Background); return err },
		func() error { _, err := w.Undo(); return err },
		func() error { _, err := w.Redo(); return err },
		func() error { _, err := w.ToggleAccept(); return err },
		func() error {
			return w.SetReportSettings(ReportSettings{ED: s.ED, ES: s.ES + 1, HeightCm: 172, WeightKg: 66})
		},
		func() error { w.GoTo(s.ES, s.Dims[2]/2); return nil },
		func() error {
			_, err := w.Paint([]session.Point{{I: 150, J: 30}}, 3, study.RV)
			return err
		},
		func() error { _, err := w.Undo(); return err }, // the last edit is an undo
	}
	for n, f := range steps {
		if err := f(); err != nil {
			fmt.Printf("error step %d: %v\n", n, err)
			t.Fatal(err)
		}
	}
	b, _ := json.Marshal(stateOf(w))
	fmt.Printf("state %s\n", b)
	time.Sleep(time.Minute) // killed long before
	t.Fatal("not killed")
}

// Kill -9 of a process editing through the workspace: reopening the study
// (fresh pixels, same folders) restores the labels, the undo history, the
// accepted slice and the report settings.
func TestWorkspaceKill9(t *testing.T) {
	root := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestWorkspaceKillChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), "CMRSEG_WORKSPACE_KILL_CHILD="+root)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var want killState
	sc := bufio.NewScanner(out)
	found := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "error") {
			t.Fatalf("child: %s", line)
		}
		if s, ok := strings.CutPrefix(line, "state "); ok {
			if err := json.Unmarshal([]byte(s), &want); err != nil {
				t.Fatal(err)
			}
			found = true
			break
		}
	}
	if !found {
		t.Fatalf("the child ended without reporting its state (%v)", sc.Err())
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	w := freshDemo(t, root)
	if warn := w.TakeWarnings(); len(warn) > 0 {
		t.Fatalf("reopening warned: %v", warn)
	}
	got := stateOf(w)
	wb, _ := json.Marshal(want)
	gb, _ := json.Marshal(got)
	if string(wb) != string(gb) {
		t.Fatalf("after kill -9 and reopening:\n got %s\nwant %s", gb, wb)
	}
	if !want.CanUndo || want.Settings.HeightCm != 172 {
		t.Fatalf("the child's state is not the edited one: %s", wb)
	}
	// Redo brings back the undone last paint: the redo stack survived too.
	if _, err := w.Redo(); err != nil {
		t.Fatalf("redo after reopening: %v", err)
	}
}
