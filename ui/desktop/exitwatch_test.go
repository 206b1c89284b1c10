package desktop

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestExitIfStuck runs itself as a child that arms the watchdog and then
// blocks forever, as Fyne's loop does when it hangs: the child must end
// by itself, with status 0 after a clean session close and 1 after a
// failed one, and say why on stderr.
func TestExitIfStuck(t *testing.T) {
	if mode := os.Getenv("CMRSEG_EXITWATCH_CHILD"); mode != "" {
		exitGrace = 200 * time.Millisecond
		var err error
		if mode == "failed" {
			err = errors.New("journal unreadable")
		}
		exitIfStuck(err)
		select {} // the stuck event loop
	}
	for _, c := range []struct {
		mode string
		code int
	}{{"clean", 0}, {"failed", 1}} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestExitIfStuck$")
		cmd.Env = append(os.Environ(), "CMRSEG_EXITWATCH_CHILD="+c.mode, "CMRSEG_DEBUG=1", "TMPDIR="+t.TempDir())
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		var err error
		select {
		case err = <-done:
		case <-time.After(time.Minute):
			cmd.Process.Kill()
			t.Fatalf("%s: the watchdog did not end the stuck process", c.mode)
		}
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if code != c.code {
			t.Errorf("%s: exit status %d, want %d; stderr:\n%s", c.mode, code, c.code, stderr.String())
		}
		if !strings.Contains(stderr.String(), "had not ended its event loop") || !strings.Contains(stderr.String(), "stacks in ") {
			t.Errorf("%s: stderr does not explain the exit:\n%s", c.mode, stderr.String())
		}
	}
}
