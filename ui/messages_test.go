package ui

import (
	"strings"
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"
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

// TestHelpTable: the help is a heading and key | action table whose
// continuation lines join their action, with the environment variable
// names intact.
func TestHelpTable(t *testing.T) {
	txt := "Keys\n  Ctrl+E              export everything to the\n                      folder under\n                      $CMRSEG_EXPORT_DIR\n  A                   accept slice"
	box := helpTable(txt).(*fyne.Container)
	if len(box.Objects) != 2 {
		t.Fatalf("%d objects, want a heading and a table", len(box.Objects))
	}
	form := box.Objects[1].(*fyne.Container)
	var cells []string
	for _, o := range form.Objects {
		cells = append(cells, o.(*widget.Label).Text)
	}
	want := []string{"Ctrl+E", "export everything to the folder under $CMRSEG_EXPORT_DIR", "A", "accept slice"}
	if strings.Join(cells, "|") != strings.Join(want, "|") {
		t.Fatalf("cells %q, want %q", cells, want)
	}
}
