package exam

import (
	"fmt"
	"io"
	"strings"
)

// Describe prints the exam as `cmrseg info` lists it: one line per series
// with its number in the listing (what --series takes), SeriesNumber,
// class, slices × phases, description and what the class rests on; the
// series chosen for segmentation is marked with *.
func Describe(w io.Writer, ex *Exam) error {
	var b strings.Builder
	loadable := 0
	for _, e := range ex.Entries {
		if e.Loadable() {
			loadable++
		}
	}
	fmt.Fprintf(&b, "%s: exam of %d series (%d loadable); long axis from %s\n", ex.Path, len(ex.Entries), loadable, ex.AxisFrom)
	fmt.Fprintf(&b, "  %3s %7s  %-15s  %-16s  %s\n", "no.", "series", "class", "slices × phases", "description: why")
	for i, e := range ex.Entries {
		mark := ' '
		if i == ex.Chosen {
			mark = '*'
		}
		size := fmt.Sprintf("%d files", e.Files)
		if e.Loadable() {
			size = fmt.Sprintf("%d × %d", e.Slices, e.Phases)
		}
		desc := e.Description
		if desc == "" {
			desc = "(no description)"
		}
		lossy := ""
		if e.Lossy {
			lossy = " [lossy JPEG]"
		}
		fmt.Fprintf(&b, "%c %3d %7s  %-15s  %-16s  %s: %s%s\n", mark, i+1, fmt.Sprintf("#%d", e.SeriesNumber), e.Class, size, desc, e.Why, lossy)
	}
	if ex.Chosen >= 0 {
		e := ex.Entries[ex.Chosen]
		fmt.Fprintf(&b, "segmentation uses * (no. %d, %s)", ex.Chosen+1, e.Class)
		if e.Class != ShortAxisCine {
			b.WriteString(": no short-axis cine found")
		}
		b.WriteString("; choose another with --series NO|#SERIESNUMBER|UID\n")
	} else {
		b.WriteString("no series can be loaded\n")
	}
	if n := len(ex.Failed); n > 0 {
		fmt.Fprintf(&b, "%d unreadable file%s, e.g. %v\n", n, plural(n), ex.Failed[0].Err)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
