package ui

import (
	"fmt"
	"image/color"
	"math"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"cmrseg/app/study"
	"cmrseg/app/workspace"
)

const thumbSize = 96

// thumbStrip is the column of slice thumbnails of the current phase, each
// framed in the colour of its uncertainty score (green below half the QC
// threshold, amber up to it, red above) with its score; the current slice
// is outlined in the accent colour.
type thumbStrip struct {
	v      *Viewer
	box    *fyne.Container
	scroll *container.Scroll
	items  []*thumb
	key    string // what the thumbnails show, to skip redundant redraws
	// legend explains the frame colours with the current threshold.
	legend               *fyne.Container
	legendBad, legendMid *canvas.Text
}

type thumb struct {
	widget.BaseWidget
	k     int
	strip *thumbStrip
	img   *canvas.Image
	frame *canvas.Rectangle
	text  *canvas.Text
}

func newThumbStrip(v *Viewer) *thumbStrip {
	t := &thumbStrip{v: v, box: container.NewVBox()}
	t.scroll = container.NewVScroll(t.box)
	chip := func(c color.Color) fyne.CanvasObject {
		r := canvas.NewRectangle(color.Transparent)
		r.StrokeColor, r.StrokeWidth = c, 2
		r.SetMinSize(fyne.NewSize(10, 10))
		return container.NewCenter(r)
	}
	t.legendBad, t.legendMid = caption(""), caption("")
	t.legend = container.NewVBox(
		container.NewHBox(chip(colBad), t.legendBad),
		container.NewHBox(chip(colAmber), t.legendMid),
		container.NewHBox(chip(colGood), caption("confident")),
		caption("✓ accepted · nats"))
	t.setLegend(0.25)
	return t
}

// setLegend writes the colour bands for slice-flag threshold thr.
func (t *thumbStrip) setLegend(thr float64) {
	t.legendBad.Text = fmt.Sprintf("> %.2f review", thr)
	t.legendMid.Text = fmt.Sprintf("> %.2f", thr/2)
	t.legendBad.Refresh()
	t.legendMid.Refresh()
}

func (t *thumbStrip) refresh() {
	ws := t.v.ws
	s := ws.Series()
	if s == nil {
		t.box.RemoveAll()
		t.items = nil
		return
	}
	vw := ws.View()
	for len(t.items) < s.Dims[2] {
		th := &thumb{k: len(t.items), strip: t}
		th.img = canvas.NewImageFromImage(nil)
		th.img.ScaleMode = canvas.ImageScalePixels
		th.img.FillMode = canvas.ImageFillContain
		th.frame = canvas.NewRectangle(color.Transparent)
		th.frame.StrokeWidth = 2
		th.text = canvas.NewText("", colText)
		th.text.TextSize = 11
		th.ExtendBaseWidget(th)
		t.items = append(t.items, th)
		t.box.Add(th)
	}
	for len(t.items) > s.Dims[2] {
		t.box.Remove(t.items[len(t.items)-1])
		t.items = t.items[:len(t.items)-1]
	}
	ses := ws.Session
	records := -1
	if ses != nil {
		records = ses.JournalRecords()
	}
	key := fmt.Sprintf("%p %d %d %.4g %.4g %d %v", s, vw.Phase, records, vw.Window, vw.Level, vw.Slice, ses != nil)
	if key == t.key {
		return
	}
	t.key = key
	labels := ws.Labels(vw.Phase)
	thr := 0.25
	if ses != nil {
		thr = ses.Options().QCThreshold
	}
	t.setLegend(thr)
	// Which end of the stack is the base (marked on its end thumbnails).
	base, apex := -1, -1
	if first, ok := study.BaseAtFirst(labels, s.Dims); ok {
		base, apex = 0, s.Dims[2]-1
		if !first {
			base, apex = apex, base
		}
	}
	for _, th := range t.items {
		th.img.Image = workspace.Thumbnail(s, vw.Phase, th.k, *vw, labels, thumbSize)
		th.img.Refresh()
		sc := ws.SliceScore(vw.Phase, th.k)
		txt := fmt.Sprintf("%d", th.k+1)
		col := color.Color(color.NRGBA{0x50, 0x56, 0x5e, 0xff})
		if !math.IsNaN(sc) {
			txt = fmt.Sprintf("%d · %.2f", th.k+1, sc)
			switch {
			case sc > thr:
				col = colBad
			case sc > thr/2:
				col = colAmber
			default:
				col = colGood
			}
			if ses.Accepted(vw.Phase, th.k) {
				txt += " ✓"
			}
		}
		switch th.k {
		case base:
			txt += " base"
		case apex:
			txt += " apex"
		}
		th.frame.StrokeColor = col
		th.text.Text = txt
		if th.k == vw.Slice {
			th.frame.StrokeWidth = 4
			th.text.TextStyle.Bold = true
			th.text.Color = colAccent
		} else {
			th.frame.StrokeWidth = 2
			th.text.TextStyle.Bold = false
			th.text.Color = colText
		}
		th.frame.Refresh()
		th.text.Refresh()
	}
}

func (th *thumb) Tapped(*fyne.PointEvent) { th.strip.v.goTo(th.strip.v.ws.View().Phase, th.k) }

func (th *thumb) CreateRenderer() fyne.WidgetRenderer {
	return &thumbRenderer{th: th}
}

type thumbRenderer struct{ th *thumb }

func (r *thumbRenderer) Layout(size fyne.Size) {
	th := r.th
	th.frame.Move(fyne.NewPos(2, 2))
	th.frame.Resize(fyne.NewSize(thumbSize+4, thumbSize+4))
	th.img.Move(fyne.NewPos(4, 4))
	th.img.Resize(fyne.NewSize(thumbSize, thumbSize))
	ts := th.text.MinSize()
	th.text.Move(fyne.NewPos(6, thumbSize+8))
	th.text.Resize(ts)
}

func (r *thumbRenderer) MinSize() fyne.Size { return fyne.NewSize(thumbSize+8, thumbSize+24) }
func (r *thumbRenderer) Refresh() {
	r.th.frame.Refresh()
	r.th.img.Refresh()
	r.th.text.Refresh()
}
func (r *thumbRenderer) Objects() []fyne.CanvasObject {
	return []fyne.CanvasObject{r.th.img, r.th.frame, r.th.text}
}
func (r *thumbRenderer) Destroy() {}
