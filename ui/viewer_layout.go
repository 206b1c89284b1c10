package ui

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"
)

// fixedHeight shows obj in a box of height h that scrolls when obj is
// taller.
func fixedHeight(obj fyne.CanvasObject, h float32) fyne.CanvasObject {
	sc := container.NewVScroll(obj)
	sc.SetMinSize(fyne.NewSize(0, h))
	return sc
}

// sidePanelWidth fits the report table with four-digit values and their
// intervals.
const sidePanelWidth = 400

// fixedWidth gives obj exactly width w inside a border layout, whatever
// its content asks for.
func fixedWidth(obj fyne.CanvasObject, w float32) fyne.CanvasObject {
	r := canvas.NewRectangle(colPanel)
	return container.New(fixedWidthLayout{w}, r, obj)
}

type fixedWidthLayout struct{ w float32 }

func (l fixedWidthLayout) MinSize(objs []fyne.CanvasObject) fyne.Size {
	h := float32(0)
	for _, o := range objs {
		h = max(h, o.MinSize().Height)
	}
	return fyne.NewSize(l.w, h)
}

func (l fixedWidthLayout) Layout(objs []fyne.CanvasObject, size fyne.Size) {
	for _, o := range objs {
		o.Move(fyne.NewPos(0, 0))
		o.Resize(size)
	}
}

// sized gives obj a fixed minimum width inside a border layout.
func sized(obj fyne.CanvasObject, w float32) fyne.CanvasObject {
	r := canvas.NewRectangle(colPanel)
	r.SetMinSize(fyne.NewSize(w, 10))
	return container.NewStack(r, obj)
}

func fixedLabel(s string, w float32) fyne.CanvasObject {
	return container.NewGridWrap(fyne.NewSize(w, 30), widget.NewLabel(s))
}

func fixedSpace(like fyne.CanvasObject) fyne.CanvasObject {
	r := canvas.NewRectangle(nil)
	if like != nil {
		r.SetMinSize(like.MinSize())
	} else {
		r.SetMinSize(fyne.NewSize(4, 4))
	}
	return r
}

func heading(s string) *widget.Label {
	l := widget.NewLabelWithStyle(s, fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	return l
}

func caption(s string) *canvas.Text {
	t := canvas.NewText(s, colMuted)
	t.TextSize = 11
	return t
}

// tapArea makes obj tappable (the status message opens the history).
type tapArea struct {
	widget.BaseWidget
	obj   fyne.CanvasObject
	onTap func()
}

func newTapArea(obj fyne.CanvasObject, onTap func()) *tapArea {
	t := &tapArea{obj: obj, onTap: onTap}
	t.ExtendBaseWidget(t)
	return t
}

func (t *tapArea) Tapped(*fyne.PointEvent) { t.onTap() }

func (t *tapArea) CreateRenderer() fyne.WidgetRenderer { return widget.NewSimpleRenderer(t.obj) }
