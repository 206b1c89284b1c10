package cli

import (
	"bytes"
	"strings"
	"testing"
)

// "cmrseg PATH" is "cmrseg gui PATH"; a word that is neither a command nor
// a path gets the list of commands.
func TestPathAsFirstWordOpensTheWindow(t *testing.T) {
	// Without a display the gui command answers at once, which shows that
	// the path went to it.
	t.Setenv("DISPLAY", "")
	t.Setenv("WAYLAND_DISPLAY", "")
	var out, errb bytes.Buffer
	dir := t.TempDir()
	if code := Run([]string{dir}, &out, &errb); code != 1 || !strings.HasPrefix(errb.String(), "cmrseg gui: no display") {
		t.Fatalf("cmrseg %s: status %d, stderr %q", dir, code, errb.String())
	}

	errb.Reset()
	if code := Run([]string{"segmnet"}, &out, &errb); code != 2 {
		t.Fatalf("unknown word: status %d", code)
	}
	for _, want := range []string{`"segmnet" is neither a command nor an existing file or folder`, "Commands:", "  segment ", "  gui "} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("unknown word: stderr lacks %q:\n%s", want, errb.String())
		}
	}
}
