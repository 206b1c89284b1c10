package atomicfile

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// A child that dies by kill -9 in the middle of a write (issue 21 item 7).
func TestMain(m *testing.M) {
	if dir := os.Getenv("ATOMICFILE_DIE_IN"); dir != "" {
		WriteWith(filepath.Join(dir, "img_seg.nii.gz"), func(w io.Writer) error {
			w.Write(make([]byte, 2<<20)) // past the buffer: on disk
			os.WriteFile(filepath.Join(dir, "ready"), nil, 0o644)
			time.Sleep(time.Minute)
			return nil
		})
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestCleanStale(t *testing.T) {
	dir := t.TempDir()
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "ATOMICFILE_DIE_IN="+dir)
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("child never started writing")
		}
	}
	// While the child lives, its file is not stale.
	if removed, _ := CleanStale(dir); len(removed) != 0 {
		t.Fatalf("removed a live writer's file: %v", removed)
	}
	child.Process.Kill()
	child.Wait()

	// A live writer in this process, and files that only look alike.
	live := make(chan struct{})
	done := make(chan error)
	go func() {
		done <- WriteWith(filepath.Join(dir, "live.csv"), func(w io.Writer) error { <-live; return nil })
	}()
	others := []string{".notes.tmp-abc", "x.tmp-123", "notes.txt", ".a.tmp-12.bak"}
	for _, n := range others {
		os.WriteFile(filepath.Join(dir, n), nil, 0o644)
	}
	os.Symlink("/etc/hostname", filepath.Join(dir, ".link.tmp-42"))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if m, _ := filepath.Glob(filepath.Join(dir, ".live.csv.tmp-*")); len(m) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("live writer never created its file")
		}
	}

	removed, err := CleanStale(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 1 || !strings.HasPrefix(removed[0], ".img_seg.nii.gz.tmp-") {
		t.Fatalf("removed %v, want only the killed child's temporary file", removed)
	}
	close(live)
	if err := <-done; err != nil {
		t.Fatalf("live writer: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	var left []string
	for _, e := range ents {
		left = append(left, e.Name())
	}
	for _, n := range append(others, ".link.tmp-42", "live.csv", "ready") {
		if !slices.Contains(left, n) {
			t.Errorf("%s was removed; left %v", n, left)
		}
	}
}
