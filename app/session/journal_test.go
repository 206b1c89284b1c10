package session

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"cmrseg/app/study"
	"cmrseg/inference/uncertainty"
)

const scriptSeed = 20220918

// scriptStep performs step n of a deterministic editing script: clicks,
// brush and eraser strokes, fills, undo, redo and slice accepts on the
// synthetic study. Whether a step journals a record depends on the state,
// which is what replay must reproduce.
func scriptStep(sess *Session, n int) {
	rng := rand.New(rand.NewPCG(scriptSeed, uint64(n)))
	t, k := rng.IntN(2), rng.IntN(4)
	pt := func() Point { return Point{4 + rng.Float64()*26, 6 + rng.Float64()*20} }
	switch op := rng.IntN(100); {
	case op < 30:
		p := pt()
		sess.ClickCorrect(t, k, int(p.I), int(p.J))
	case op < 50:
		sess.Paint(t, k, []Point{pt(), pt()}[:1+rng.IntN(2)], rng.Float64()*5, uint8(rng.IntN(4)))
	case op < 60:
		sess.Erase(t, k, []Point{pt()}, rng.Float64()*5, uint8(rng.IntN(4)))
	case op < 65:
		sess.FillHoles(t, k, uint8(rng.IntN(4)))
	case op < 80:
		sess.Undo()
	case op < 90:
		sess.Redo()
	default:
		sess.Accept(t, k, rng.IntN(2) == 0)
	}
}

// stateHash digests everything visible plus the undo/redo depths.
func stateHash(sess *Session) string {
	h := sha256.New()
	for t := 0; t < sess.Series.NT; t++ {
		h.Write(sess.Labels(t))
		for _, a := range sess.AcceptedSlices(t) {
			h.Write([]byte{boolByte(a)})
		}
	}
	fmt.Fprintf(h, "final %v undo %d redo %d", sess.Final(), len(sess.undo), len(sess.redo))
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// simulate runs the script in memory until it has produced records journal
// records; it returns the session and the next step.
func simulate(t testing.TB, records int) (*Session, int) {
	s := synthSeries()
	sess, err := Open(s, synthResults(t, s), Options{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for ; sess.JournalRecords() < records; n++ {
		if n > 100*records+1000 {
			t.Fatalf("script never reaches %d records", records)
		}
		scriptStep(sess, n)
	}
	return sess, n
}

// TestKillChild is the editing loop that TestKill9 runs in a child process
// and kills. It reports each journaled record on stdout.
func TestKillChild(t *testing.T) {
	root := os.Getenv("CMRSEG_SESSION_KILL_CHILD")
	if root == "" {
		t.Skip("helper process for TestKill9")
	}
	s := synthSeries()
	sess, err := Open(s, synthResults(t, s), Options{Root: root})
	if err != nil {
		fmt.Printf("error %v\n", err)
		t.Fatal(err)
	}
	_, step := simulate(t, sess.JournalRecords())
	fmt.Printf("ready %d\n", sess.JournalRecords())
	deadline := time.Now().Add(20 * time.Second) // never outlive a dead parent for long
	for ; time.Now().Before(deadline); step++ {
		before := sess.JournalRecords()
		scriptStep(sess, step)
		if sess.JournalRecords() != before {
			fmt.Printf("rec %d %s\n", sess.JournalRecords(), stateHash(sess))
		}
	}
}

// TestKill9 kills an editing child process with SIGKILL at random moments
// and checks that reopening restores every edit it reported as journaled,
// and that the restored state equals an in-memory run of the same script.
func TestKill9(t *testing.T) {
	root := t.TempDir()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	total := 0
	for round := 0; round < 4; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$")
		cmd.Env = append(os.Environ(), "CMRSEG_SESSION_KILL_CHILD="+root)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1<<16)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		var lastN int
		var lastHash string
		recs := 0
		killAfter := 3 + rng.IntN(40) // records before the kill timer starts
		delay := time.Duration(rng.IntN(30)) * time.Millisecond
		var timer <-chan time.Time
		timeout := time.After(30 * time.Second)
		killed := false
		for !killed {
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatalf("round %d: child exited before the kill (after %d records)", round, recs)
				}
				if f := strings.Fields(line); len(f) == 3 && f[0] == "rec" {
					lastN, _ = strconv.Atoi(f[1])
					lastHash = f[2]
					recs++
					if recs == killAfter {
						timer = time.After(delay)
					}
				} else if strings.HasPrefix(line, "error") {
					t.Fatalf("round %d: child: %s", round, line)
				}
			case <-timer:
				cmd.Process.Kill() // SIGKILL
				killed = true
			case <-timeout:
				cmd.Process.Kill()
				t.Fatalf("round %d: child made %d records in 30 s", round, recs)
			}
		}
		// Lines the child wrote before dying are still in the pipe.
		for line := range lines {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "rec" {
				lastN, _ = strconv.Atoi(f[1])
				lastHash = f[2]
			}
		}
		cmd.Wait()

		s := synthSeries()
		sess, err := Open(s, synthResults(t, s), Options{Root: root})
		if err != nil {
			t.Fatalf("round %d: reopening after kill -9: %v", round, err)
		}
		m := sess.JournalRecords()
		// The child may have died between fsync and reporting: one more.
		if m != lastN && m != lastN+1 {
			t.Fatalf("round %d: journal has %d records, child reported %d", round, m, lastN)
		}
		if m == lastN && stateHash(sess) != lastHash {
			t.Fatalf("round %d: state after replay differs from what the child showed at record %d", round, m)
		}
		sim, _ := simulate(t, m)
		for ph := 0; ph < s.NT; ph++ {
			if !slices.Equal(sim.Labels(ph), sess.Labels(ph)) || !slices.Equal(sim.AcceptedSlices(ph), sess.AcceptedSlices(ph)) {
				t.Fatalf("round %d: phase %d differs from an uninterrupted run of %d records", round, ph, m)
			}
		}
		if stateHash(sim) != stateHash(sess) {
			t.Fatalf("round %d: undo/redo state differs from an uninterrupted run", round)
		}
		t.Logf("round %d: killed after %d reported records, journal replayed %d, warnings %q", round, lastN, m, sess.Warnings)
		total = m
		sess.Close()
	}
	if total < 10 {
		t.Fatalf("only %d records over all rounds: the test did not exercise the journal", total)
	}
}

func journalPath(t *testing.T, sess *Session) string {
	t.Helper()
	if sess.journal == nil {
		t.Fatal("session has no journal")
	}
	return sess.journal.path
}

// editSome runs the first steps of the script until n records exist and
// returns the state hash after each record (index = record count).
func editSome(t *testing.T, sess *Session, n int) []string {
	t.Helper()
	hashes := []string{stateHash(sess)}
	for step := 0; sess.JournalRecords() < n; step++ {
		before := sess.JournalRecords()
		scriptStep(sess, step)
		if sess.JournalRecords() != before {
			hashes = append(hashes, stateHash(sess))
		}
	}
	return hashes
}

func TestJournalReopen(t *testing.T) {
	root := t.TempDir()
	s := synthSeries()
	rs := synthResults(t, s)
	a := mustOpen(t, s, rs, Options{Root: root})
	editSome(t, a, 60)
	if err := a.MarkFinal(true); err != nil {
		t.Fatal(err)
	}
	if err := a.MarkFinal(false); err != nil {
		t.Fatal(err)
	}
	want := stateHash(a)
	a.Close()

	b := mustOpen(t, s, rs, Options{Root: root})
	if b.JournalRecords() != 62 || stateHash(b) != want || len(b.Warnings) != 0 {
		t.Fatalf("reopened: %d records, warnings %q, same state %v", b.JournalRecords(), b.Warnings, stateHash(b) == want)
	}
	// Undo and redo continue across the reopen exactly as in memory.
	sim, _ := simulate(t, 60)
	for range 3 {
		_, e1 := sim.Undo()
		_, e2 := b.Undo()
		if (e1 == nil) != (e2 == nil) || stateHash(sim) != stateHash(b) {
			t.Fatalf("undo after reopen differs: %v / %v", e1, e2)
		}
	}
	if _, err := b.Redo(); err != nil {
		t.Fatal(err)
	}
	after := stateHash(b)
	b.Close()
	c := mustOpen(t, s, rs, Options{Root: root})
	if stateHash(c) != after {
		t.Fatal("undo/redo records did not replay")
	}

	var info map[string]any
	data, err := os.ReadFile(filepath.Join(c.Dir(), "study.json"))
	if err != nil || json.Unmarshal(data, &info) != nil || info["patient_id"] != "SYNTH" {
		t.Fatalf("study.json: %v %s", err, data)
	}
	// The folder is keyed by the study: another series gets another.
	s2 := synthSeries()
	s2.Meta.SourcePaths = []string{"/elsewhere/x.nii.gz"}
	d := mustOpen(t, s2, rs, Options{Root: root})
	if d.Dir() == c.Dir() || d.JournalRecords() != 0 {
		t.Fatalf("another study shares folder %s", d.Dir())
	}
	// SeriesInstanceUID wins over paths.
	s3, s4 := synthSeries(), synthSeries()
	s3.Meta.SeriesInstanceUID, s4.Meta.SeriesInstanceUID = "1.2.3", "1.2.3"
	s4.Meta.SourcePaths = []string{"/moved/elsewhere"}
	if studyKey(s3) != studyKey(s4) {
		t.Error("same SeriesInstanceUID, different study keys")
	}
}

func TestNewSegmentationStartsFreshJournal(t *testing.T) {
	root := t.TempDir()
	s := synthSeries()
	rs := synthResults(t, s)
	a := mustOpen(t, s, rs, Options{Root: root})
	editSome(t, a, 10)
	want := stateHash(a)
	a.Close()

	other := *rs[0]
	other.Labels = slices.Clone(rs[0].Labels)
	other.Labels[0] = study.RV
	b := mustOpen(t, s, []*uncertainty.Result{&other, rs[1]}, Options{Root: root})
	if b.JournalRecords() != 0 || b.Labels(0)[0] != study.RV {
		t.Fatalf("new segmentation replayed %d old records", b.JournalRecords())
	}
	b.Close()
	c := mustOpen(t, s, rs, Options{Root: root})
	if stateHash(c) != want {
		t.Fatal("the original segmentation's edits were lost")
	}
	ents, _ := filepath.Glob(filepath.Join(c.Dir(), "edits-*.journal"))
	if len(ents) != 2 {
		t.Errorf("%d journals, want 2", len(ents))
	}
}

// TestTornLastRecord cuts the journal at every byte inside its last record:
// each open must succeed with a warning, restore the state before that
// record, and keep appending readable records.
func TestTornLastRecord(t *testing.T) {
	root := t.TempDir()
	s := synthSeries()
	rs := synthResults(t, s)
	a := mustOpen(t, s, rs, Options{Root: root})
	hashes := editSome(t, a, 12)
	path := journalPath(t, a)
	a.Close()
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	recs, end, damage := scanRecords(full)
	if damage != "" || end != int64(len(full)) || len(recs) != 13 {
		t.Fatalf("clean journal: %d records, damage %q", len(recs), damage)
	}
	last := recs[len(recs)-1].off
	for cut := last + 1; cut < int64(len(full)); cut++ {
		if err := os.WriteFile(path, full[:cut], 0o644); err != nil {
			t.Fatal(err)
		}
		sess, err := Open(s, rs, Options{Root: root})
		if err != nil {
			t.Fatalf("cut at %d: open failed: %v", cut, err)
		}
		if sess.JournalRecords() != 11 || stateHash(sess) != hashes[11] {
			t.Fatalf("cut at %d: %d records, want 11 and the state before the torn one", cut, sess.JournalRecords())
		}
		if len(sess.Warnings) != 1 || !strings.Contains(sess.Warnings[0], "torn") {
			t.Fatalf("cut at %d: warnings %q", cut, sess.Warnings)
		}
		if st, _ := os.Stat(path); st.Size() != last {
			t.Fatalf("cut at %d: torn tail not removed (size %d, want %d)", cut, st.Size(), last)
		}
		sess.Close()
	}
	// After the repair new records append cleanly.
	b := mustOpen(t, s, rs, Options{Root: root})
	if _, err := b.Paint(0, 0, []Point{{3, 3}}, 2, study.RV); err != nil {
		t.Fatal(err)
	}
	h := stateHash(b)
	b.Close()
	c := mustOpen(t, s, rs, Options{Root: root})
	if c.JournalRecords() != 12 || stateHash(c) != h || len(c.Warnings) != 0 {
		t.Fatalf("after repair: %d records, warnings %q", c.JournalRecords(), c.Warnings)
	}
	torn, _ := filepath.Glob(path + ".torn-*")
	if len(torn) == 0 {
		t.Error("torn tails were not kept aside")
	}
}

func TestCorruptJournal(t *testing.T) {
	s := synthSeries()
	rs := synthResults(t, s)

	// A flipped byte inside record 5: the first 4 edits survive.
	root := t.TempDir()
	a := mustOpen(t, s, rs, Options{Root: root})
	hashes := editSome(t, a, 10)
	path := journalPath(t, a)
	a.Close()
	data, _ := os.ReadFile(path)
	recs, _, _ := scanRecords(data)
	data[recs[5].off+9] ^= 0xff
	os.WriteFile(path, data, 0o644)
	b, err := Open(s, rs, Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if b.JournalRecords() != 4 || stateHash(b) != hashes[4] || len(b.Warnings) != 1 || !strings.Contains(b.Warnings[0], "checksum") {
		t.Fatalf("corrupt record 5: %d records, warnings %q", b.JournalRecords(), b.Warnings)
	}
	b.Close()

	// A record that checks out but does not fit the labels (a journal
	// edited by hand) stops replay there with a warning.
	root = t.TempDir()
	a = mustOpen(t, s, rs, Options{Root: root})
	if _, err := a.Paint(0, 0, []Point{{5, 5}}, 0, study.RV); err != nil {
		t.Fatal(err)
	}
	path = journalPath(t, a)
	a.Close()
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.Write(frame(encodeEdit(Change{Op: OpPaint, Voxels: []Voxel{{Index: 5 + 32*5, Old: study.LV, New: 0}}})))
	f.Close()
	b, err = Open(s, rs, Options{Root: root})
	if err != nil {
		t.Fatal(err)
	}
	if b.JournalRecords() != 1 || b.Labels(0)[5+32*5] != study.RV || len(b.Warnings) != 1 {
		t.Fatalf("unfitting record: %d records, warnings %q", b.JournalRecords(), b.Warnings)
	}
	b.Close()

	// Not a journal at all: kept aside, fresh start.
	root = t.TempDir()
	a = mustOpen(t, s, rs, Options{Root: root})
	path = journalPath(t, a)
	a.Close()
	os.WriteFile(path, []byte("hello, not a journal"), 0o644)
	b, err = Open(s, rs, Options{Root: root})
	if err != nil || len(b.Warnings) != 1 || b.JournalRecords() != 0 {
		t.Fatalf("foreign file: %v, warnings %q", err, b.Warnings)
	}
	if _, err := b.Paint(0, 0, []Point{{5, 5}}, 0, study.RV); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if aside, _ := filepath.Glob(path + ".unreadable-*"); len(aside) != 1 {
		t.Error("foreign file not kept aside")
	}
	c := mustOpen(t, s, rs, Options{Root: root})
	if c.JournalRecords() != 1 {
		t.Fatalf("fresh journal after foreign file: %d records", c.JournalRecords())
	}
}

// TestFailedJournalWriteKeepsLabels: when the journal cannot be written the
// edit is refused, the labels stay as they were, and nothing is appended
// behind the damage.
func TestFailedJournalWriteKeepsLabels(t *testing.T) {
	root := t.TempDir()
	s := synthSeries()
	rs := synthResults(t, s)
	a := mustOpen(t, s, rs, Options{Root: root})
	if _, err := a.Paint(0, 0, []Point{{5, 5}}, 2, study.RV); err != nil {
		t.Fatal(err)
	}
	before := stateHash(a)
	a.journal.f.Close() // the disk goes away
	if _, err := a.Paint(0, 1, []Point{{5, 5}}, 2, study.RV); err == nil {
		t.Fatal("edit succeeded without a journal")
	}
	if _, err := a.Undo(); err == nil {
		t.Fatal("undo succeeded without a journal")
	}
	if stateHash(a) != before {
		t.Fatal("refused edit changed the session")
	}
	if _, err := a.Paint(0, 1, []Point{{5, 5}}, 2, study.RV); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("edit after damage: %v, want the journal reported damaged", err)
	}
	b := mustOpen(t, s, rs, Options{Root: root})
	if b.JournalRecords() != 1 || stateHash(b) != before {
		t.Fatalf("reopened: %d records", b.JournalRecords())
	}
}
