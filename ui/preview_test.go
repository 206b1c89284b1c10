package ui

import (
	"testing"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/test"
)

// TestHoverPreviewsTheClick: resting the pointer on an uncertain region
// with the correction tool shows, before any click, exactly the voxels and
// labels the click then sets; nothing is edited by the hover, and the
// preview of a spent region is not drawn over the new labels.
func TestHoverPreviewsTheClick(t *testing.T) {
	v := newViewer(t)
	ws := v.ws
	s := ws.Series()
	v.GoTo(s.ED, 0)
	i, j := uncertainWrong(t, v, s.ED, 0)
	pos := v.view.positionOf(i, j)
	records := ws.Session.JournalRecords()
	before := append([]uint8(nil), ws.Labels(s.ED)...)

	v.view.MouseMoved(&desktop.MouseEvent{})
	v.view.MouseMoved(&desktop.MouseEvent{PointEvent: fyne.PointEvent{Position: pos}})
	preview := ws.Frame().Preview
	if len(preview) == 0 {
		t.Fatalf("no preview at uncertain voxel (%d,%d); probe %q", i, j, v.probeText.Text)
	}
	if ws.Session.JournalRecords() != records {
		t.Fatal("hovering edited the session")
	}
	test.TapAt(v.view, pos)
	after := ws.Labels(s.ED)
	changed := 0
	for n := range after {
		if after[n] != before[n] {
			changed++
			if nl, ok := preview[n]; !ok || nl != after[n] {
				t.Fatalf("voxel %d changed to %d, the preview showed %d (shown %v)", n, after[n], nl, ok)
			}
		}
	}
	if changed != len(preview) {
		t.Fatalf("the click changed %d voxels, the preview showed %d", changed, len(preview))
	}
	// The click spent that preview: it must not be drawn over the result.
	if p := ws.Frame().Preview; p != nil {
		t.Fatalf("stale %d-voxel preview drawn after the click", len(p))
	}
	v.view.MouseOut()
	if ws.Frame().Preview != nil {
		t.Fatal("preview kept after the pointer left the image")
	}
}
