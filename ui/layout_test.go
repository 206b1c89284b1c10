package ui

import (
	"testing"

	"fyne.io/fyne/v2"
)

// At 1366×768 (less a title bar and a desktop panel) every control of the
// review tab lies inside the window (the panels above the QC list within
// their scroll) and the QC list shows several rows; the same at 1920×1080.
func TestLayoutFitsALaptop(t *testing.T) {
	v := newViewer(t)
	if m := v.win.Content().MinSize(); m.Width > 1366 || m.Height > 700 {
		t.Fatalf("the window cannot shrink below %v", m)
	}
	for _, size := range []fyne.Size{{Width: 1366, Height: 700}, {Width: 1920, Height: 1010}} {
		v.win.Resize(size)
		c := v.win.Canvas().Size()
		d := v.app.Driver()
		objects := map[string]fyne.CanvasObject{
			"status message": v.messageText, "slice slider": v.sliceSlider, "phase slider": v.phaseSlider,
			"panels (scroll to ED/ES, body size)": v.rightSplit.Leading, "QC list": v.qcList,
			"window preset": v.presetSelect, "mark final": v.finalBtn, "research notice": v.deviceText,
		}
		for name, o := range objects {
			p, s := d.AbsolutePositionForObject(o), o.Size()
			if p.X < 0 || p.Y < 0 || p.X+s.Width > c.Width+1 || p.Y+s.Height > c.Height+1 || s.Width < 1 || s.Height < 1 {
				t.Errorf("%v: %s at %v size %v lies outside the %v window", size, name, p, s, c)
			}
		}
		rows := v.qcList.Size().Height / v.qcList.CreateItem().MinSize().Height
		if rows < 5 {
			t.Errorf("%v: the QC list has room for %.1f rows", size, rows)
		}
		t.Logf("%v: QC list %v (%.0f rows)", size, v.qcList.Size(), rows)
	}
}

// The image keeps its place while work starts and ends: the status bar is
// as tall with the progress bar and Cancel as without, so a reader's
// pointer stays on the same voxel when background phases finish (a shift
// of one pixel under the pointer once turned a click into a correction
// of the neighbouring voxel's region). The window's minimum size stays
// put too (it changed by 313 px of width as the progress box came and
// went): Fyne re-fits a window whose minimum changed with the size it
// last knew, which undoes a resize landing in between.
func TestStatusBarKeepsTheImageStill(t *testing.T) {
	v := newViewer(t)
	v.win.Resize(fyne.NewSize(1366, 700))
	d := v.app.Driver()
	type place struct {
		pos       fyne.Position
		size, min fyne.Size
	}
	where := func() place {
		v.win.Content().Refresh()
		return place{d.AbsolutePositionForObject(v.view), v.view.Size(), v.win.Content().MinSize()}
	}
	v.progressBox.Hide()
	p0 := where()
	v.progressBox.Show()
	p1 := where()
	v.setMessage("Segmenting on demo segmenter (no model loaded): ED and ES first …")
	p2 := where()
	v.progressBox.Hide()
	v.setMessage("")
	p3 := where()
	if p1 != p0 || p2 != p0 || p3 != p0 {
		t.Fatalf("image at, and window minimum: %v idle, %v with progress, %v with a message, %v idle again", p0, p1, p2, p3)
	}
}
