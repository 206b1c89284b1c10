package cohort

import (
	"fmt"
	"io"
	"os"
	"time"
)

// Progress reports a batch study by study: on a terminal one line that is
// rewritten in place, with an ETA (failures stay on screen); otherwise,
// for logs, one plain line per study.
type Progress struct {
	w       io.Writer
	tty     bool
	total   int
	n       int           // studies finished or skipped
	ran     int           // studies actually run
	ranTime time.Duration // their wall time
	now     func() time.Time
	started time.Time
}

// NewProgress reports total studies to w.
func NewProgress(w io.Writer, total int) *Progress {
	return &Progress{w: w, tty: IsTerminal(w), total: total, now: time.Now}
}

// IsTerminal reports whether w is a character device (a terminal).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Begin says that study s is starting.
func (p *Progress) Begin(s Study) {
	p.started = p.now()
	if p.tty {
		fmt.Fprintf(p.w, "\r\x1b[K[%d/%d] %s …%s", p.n+1, p.total, s.ID, p.eta(0))
	}
}

// Skip records a study left as it was.
func (p *Progress) Skip(s Study, why string) {
	p.n++
	if !p.tty {
		fmt.Fprintf(p.w, "[%d/%d] %s: skipped (%s)\n", p.n, p.total, s.ID, why)
	}
}

// End records a study that ran.
func (p *Progress) End(st *Status) {
	d := p.now().Sub(p.started)
	p.n++
	p.ran++
	p.ranTime += d
	line := fmt.Sprintf("[%d/%d] %s: %s in %.1f s", p.n, p.total, st.ID, st.State, d.Seconds())
	if st.Error != "" {
		line += ": " + st.Error
	} else {
		line += fmt.Sprintf(" (open %.1f, predict %.1f, write %.1f)", st.Timings.Open, st.Timings.Predict, st.Timings.Write)
	}
	switch {
	case !p.tty:
		fmt.Fprintf(p.w, "%s%s\n", line, p.eta(0))
	case st.State == StateFailed:
		fmt.Fprintf(p.w, "\r\x1b[K%s\n", line)
	default:
		fmt.Fprintf(p.w, "\r\x1b[K%s%s", line, p.eta(0))
	}
}

// Finish ends the in-place line on a terminal.
func (p *Progress) Finish() {
	if p.tty && p.n > 0 {
		fmt.Fprintln(p.w)
	}
}

// eta estimates the time left from the mean time of the studies run so
// far (skipped ones cost nothing).
func (p *Progress) eta(extra time.Duration) string {
	left := p.total - p.n
	if p.ran == 0 || left <= 0 {
		return ""
	}
	per := p.ranTime / time.Duration(p.ran)
	return fmt.Sprintf("  (ETA %s)", (per*time.Duration(left) + extra).Round(time.Second))
}
