package ui

import (
	"strings"
	"testing"

	"fyne.io/fyne/v2/test"
)

// TestMessageHistory: a status message too long for the bar is kept whole
// in the history that tapping the bar opens, newest first.
func TestMessageHistory(t *testing.T) {
	v := newViewer(t)
	long := "Segmentation done (25 phase(s) from the saved result, no recomputation); end-systole set to phase 10, the smallest LV volume (the study did not say; change it in the report)."
	before := len(v.messages) // the segmentation's own messages
	v.setMessage("first")
	v.setMessage(long)
	if len(v.messages) != before+2 || !strings.HasSuffix(v.messages[before+1], long) {
		t.Fatalf("history %q", v.messages)
	}
	for i := 0; i < maxMessages+5; i++ {
		v.setMessage("again")
	}
	if len(v.messages) != maxMessages {
		t.Fatalf("history holds %d messages, want the last %d", len(v.messages), maxMessages)
	}
	test.Tap(v.messageArea)
	if o := v.win.Canvas().Overlays().Top(); o == nil {
		t.Fatal("tapping the status message opened nothing")
	}
}
