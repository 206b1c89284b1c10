package desktop

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"
)

// exitGrace is how long the window system may take to end its event loop
// after the window closed.
var exitGrace = 10 * time.Second

// exitIfStuck ends the process when Fyne's event loop has not returned
// exitGrace after the window closed. Fyne sometimes never returns from
// ShowAndRun (fyne-io/fyne#6021, open upstream); the reader would be left
// with an invisible process. Nothing is lost by exiting: the session was
// closed, every edit journaled, before the window closed. With
// CMRSEG_DEBUG=1 the goroutine stacks go to a file for the bug report.
func exitIfStuck(sessionErr error) {
	time.AfterFunc(exitGrace, func() {
		msg := fmt.Sprintf("cmrseg: the window system had not ended its event loop %v after the window closed; exiting (the session was saved)", exitGrace)
		if os.Getenv("CMRSEG_DEBUG") == "1" {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			p := filepath.Join(os.TempDir(), fmt.Sprintf("cmrseg-exit-stacks-%d.txt", os.Getpid()))
			if err := os.WriteFile(p, buf, 0o644); err == nil {
				msg += "; stacks in " + p
			}
		}
		fmt.Fprintln(os.Stderr, msg)
		code := 0
		if sessionErr != nil {
			code = 1
		}
		os.Exit(code)
	})
}
