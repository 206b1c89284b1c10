package session

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

const incrementalKey = "model-fingerprint-for-tests"

// TestBackgroundEditChild opens a session on phase 0 only (as the window
// does when ED and ES are in and the rest still segments), edits, receives
// phase 1 from the "background", edits both phases and reports every
// journaled record. TestBackgroundEditsSurviveKill9 kills it.
func TestBackgroundEditChild(t *testing.T) {
	root := os.Getenv("CMRSEG_SESSION_BG_CHILD")
	if root == "" {
		t.Skip("helper process for TestBackgroundEditsSurviveKill9")
	}
	s := synthSeries()
	rs := synthResults(t, s)
	sess, err := Open(s, rs[:1], Options{Root: root, Key: incrementalKey})
	if err != nil {
		fmt.Printf("error %v\n", err)
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for step := 0; time.Now().Before(deadline); step++ {
		if step == 40 {
			if err := sess.AddResult(1, rs[1]); err != nil {
				fmt.Printf("error %v\n", err)
				t.Fatal(err)
			}
			fmt.Printf("phase1 %d\n", sess.JournalRecords())
		}
		before := sess.JournalRecords()
		scriptStep(sess, step)
		if sess.JournalRecords() != before {
			fmt.Printf("rec %d %s\n", sess.JournalRecords(), stateHash(sess))
		}
	}
}

// TestBackgroundEditsSurviveKill9: edits of a phase that arrived in the
// background survive kill -9. Reopened with only phase 0 (phase 1 still
// segmenting), the session restores what it can, refuses new edits while
// older ones wait, and replays the rest when phase 1 arrives, reaching the
// exact state the killed process reported.
func TestBackgroundEditsSurviveKill9(t *testing.T) {
	root := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBackgroundEditChild$")
	cmd.Env = append(os.Environ(), "CMRSEG_SESSION_BG_CHILD="+root)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	lastN, lastHash, phase1At := 0, "", -1
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "phase1":
			phase1At, _ = strconv.Atoi(f[1])
		case len(f) == 3 && f[0] == "rec":
			lastN, _ = strconv.Atoi(f[1])
			lastHash = f[2]
		case len(f) > 0 && f[0] == "error":
			t.Fatalf("child: %s", sc.Text())
		}
		if phase1At >= 0 && lastN >= phase1At+15 {
			cmd.Process.Kill() // SIGKILL
			break
		}
	}
	for sc.Scan() { // records reported before the kill landed
		if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "rec" {
			lastN, _ = strconv.Atoi(f[1])
			lastHash = f[2]
		}
	}
	cmd.Wait()
	if phase1At < 0 {
		t.Fatal("the child never received phase 1")
	}

	s := synthSeries()
	rs := synthResults(t, s)
	sess, err := Open(s, rs[:1], Options{Root: root, Key: incrementalKey})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if !sess.Restoring() {
		t.Fatalf("no edit waits for phase 1 (%d records replayed)", sess.JournalRecords())
	}
	if err := sess.Accept(0, 1, true); !errors.Is(err, ErrRestoring) {
		t.Fatalf("a change while restoring: %v, want ErrRestoring", err)
	}
	if err := sess.AddResult(1, rs[1]); err != nil {
		t.Fatal(err)
	}
	if sess.Restoring() {
		t.Fatal("still restoring after phase 1 arrived")
	}
	m := sess.JournalRecords()
	if m != lastN && m != lastN+1 {
		t.Fatalf("journal replayed %d records, the child reported %d", m, lastN)
	}
	if m == lastN && stateHash(sess) != lastHash {
		t.Fatalf("state after replay differs from what the child showed at record %d", m)
	}
	t.Logf("killed after %d records (phase 1 arrived at record %d); all replayed after phase 1 arrived", lastN, phase1At)
}
