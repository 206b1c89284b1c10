package ui

import (
	"image"
	"math"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"cmrseg/app/session"
	"cmrseg/app/workspace"
)

// imageView shows the current slice with its overlays, pixel-exact
// (nearest neighbour, composed at screen resolution by workspace.Render),
// with orientation letters at the edges and the usual corner annotations.
// It turns mouse input into viewer actions: left button = active tool,
// right-drag = window/level, middle-drag (or the Pan tool) = pan, wheel =
// slice, Ctrl+wheel = zoom.
type imageView struct {
	widget.BaseWidget
	v *Viewer

	raster  *canvas.Raster
	orient  [4]*canvas.Text // top, bottom, left, right
	corners [4]*widget.RichText
	cursor  *canvas.Circle // brush outline
	// The texts shown, for snapshots.
	orientText, cornerText [4]string

	last   *image.RGBA
	lastVP workspace.Viewport
	ratio  float64 // raster pixels per fyne unit

	button   desktop.MouseButton
	dragged  bool
	stroke   []session.Point
	lastMove fyne.Position
	hasMove  bool

	lastGeom ViewGeometry // last printed under CMRSEG_DEBUG
}

func newImageView(v *Viewer) *imageView {
	iv := &imageView{v: v, ratio: 1}
	iv.raster = canvas.NewRaster(iv.render)
	iv.raster.ScaleMode = canvas.ImageScalePixels
	for n := range iv.orient {
		t := canvas.NewText("", colAmber)
		t.TextStyle = fyne.TextStyle{Bold: true}
		t.TextSize = 15
		iv.orient[n] = t
	}
	for n := range iv.corners {
		iv.corners[n] = widget.NewRichText()
	}
	iv.cursor = canvas.NewCircle(nil)
	iv.cursor.StrokeColor = colAmber
	iv.cursor.StrokeWidth = 1
	iv.cursor.Hide()
	iv.ExtendBaseWidget(iv)
	return iv
}

// render is the raster's generator: it composes the frame at the raster's
// pixel size and remembers it (for snapshots) with its viewport.
func (iv *imageView) render(w, h int) image.Image {
	ws := iv.v.ws
	vp := ws.Viewport(float64(w), float64(h))
	img := workspace.Render(ws.Frame(), vp, w, h)
	iv.last, iv.lastVP = img, vp
	if sz := iv.Size(); sz.Width > 0 {
		iv.ratio = float64(w) / float64(sz.Width)
	}
	iv.debugGeometry(vp)
	return img
}

// viewport maps fyne positions: the last rendered viewport, or one computed
// for the current size before the first render.
func (iv *imageView) viewport() workspace.Viewport {
	sz := iv.Size()
	w, h := float64(sz.Width)*iv.ratio, float64(sz.Height)*iv.ratio
	return iv.v.ws.Viewport(math.Round(w), math.Round(h))
}

// voxelAt maps a position in the widget to the voxel under it.
func (iv *imageView) voxelAt(p fyne.Position) (fi, fj float64, i, j int, ok bool) {
	vp := iv.viewport()
	x, y := float64(p.X)*iv.ratio, float64(p.Y)*iv.ratio
	fi, fj = vp.ToVoxel(x, y)
	i, j, ok = vp.Voxel(x, y)
	return
}

// positionOf is the widget position of the centre of voxel (i, j) (tests).
func (iv *imageView) positionOf(i, j int) fyne.Position {
	x, y := iv.viewport().ToScreen(float64(i), float64(j))
	return fyne.NewPos(float32(x/iv.ratio), float32(y/iv.ratio))
}

func (iv *imageView) CreateRenderer() fyne.WidgetRenderer {
	objs := []fyne.CanvasObject{iv.raster, iv.cursor}
	for _, t := range iv.orient {
		objs = append(objs, t)
	}
	for _, c := range iv.corners {
		objs = append(objs, c)
	}
	return &imageViewRenderer{iv: iv, objs: objs}
}

type imageViewRenderer struct {
	iv   *imageView
	objs []fyne.CanvasObject
}

func (r *imageViewRenderer) Layout(size fyne.Size) {
	iv := r.iv
	iv.raster.Resize(size)
	iv.raster.Move(fyne.NewPos(0, 0))
	pad := float32(6)
	for n, t := range iv.orient {
		ms := t.MinSize()
		var p fyne.Position
		switch n {
		case 0:
			p = fyne.NewPos((size.Width-ms.Width)/2, pad)
		case 1:
			p = fyne.NewPos((size.Width-ms.Width)/2, size.Height-ms.Height-pad)
		case 2:
			p = fyne.NewPos(pad, (size.Height-ms.Height)/2)
		case 3:
			p = fyne.NewPos(size.Width-ms.Width-pad, (size.Height-ms.Height)/2)
		}
		t.Resize(ms)
		t.Move(p)
	}
	for n, c := range iv.corners {
		ms := c.MinSize()
		c.Resize(ms)
		var p fyne.Position
		switch n {
		case 0:
			p = fyne.NewPos(0, 0)
		case 1:
			p = fyne.NewPos(size.Width-ms.Width, 0)
		case 2:
			p = fyne.NewPos(0, size.Height-ms.Height)
		case 3:
			p = fyne.NewPos(size.Width-ms.Width, size.Height-ms.Height)
		}
		c.Move(p)
	}
}

func (r *imageViewRenderer) MinSize() fyne.Size           { return fyne.NewSize(320, 320) }
func (r *imageViewRenderer) Refresh()                     { r.Layout(r.iv.Size()); canvas.Refresh(r.iv.raster) }
func (r *imageViewRenderer) Objects() []fyne.CanvasObject { return r.objs }
func (r *imageViewRenderer) Destroy()                     {}

// setAnnotations updates the orientation letters and corner texts.
func (iv *imageView) setAnnotations(orient [4]string, corners [4]string) {
	iv.orientText, iv.cornerText = orient, corners
	for n, t := range iv.orient {
		t.Text = orient[n]
		t.Refresh()
	}
	for n, c := range iv.corners {
		align := fyne.TextAlignLeading
		if n == 1 || n == 3 {
			align = fyne.TextAlignTrailing
		}
		segs := []widget.RichTextSegment{}
		for _, line := range splitLines(corners[n]) {
			segs = append(segs, &widget.TextSegment{Text: line, Style: widget.RichTextStyle{
				Alignment: align, ColorName: theme.ColorNameForeground, SizeName: theme.SizeNameCaptionText, Inline: false,
			}})
		}
		c.Segments = segs
		c.Refresh()
	}
}

func splitLines(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// Tapped applies the active tool at the tapped voxel.
func (iv *imageView) Tapped(ev *fyne.PointEvent) {
	iv.v.focusImage()
	fi, fj, i, j, ok := iv.voxelAt(ev.Position)
	if !ok {
		return
	}
	switch iv.v.tool {
	case workspace.ToolCorrect:
		iv.v.clickCorrect(i, j)
	case workspace.ToolBrush, workspace.ToolEraser:
		iv.v.stroke([]session.Point{{I: fi, J: fj}})
	}
	debugf("tap %d %d: %s", i, j, iv.v.messageText.Text)
}

// TappedSecondary is accepted so a right click does not fall through.
func (iv *imageView) TappedSecondary(*fyne.PointEvent) {}

// MouseDown remembers the button for drags and starts a brush stroke.
func (iv *imageView) MouseDown(ev *desktop.MouseEvent) {
	iv.button = ev.Button
	iv.dragged = false
	iv.stroke = nil
	iv.lastMove, iv.hasMove = ev.Position, true
	if ev.Button == desktop.MouseButtonPrimary && (iv.v.tool == workspace.ToolBrush || iv.v.tool == workspace.ToolEraser) {
		fi, fj, _, _, _ := iv.voxelAt(ev.Position)
		iv.stroke = []session.Point{{I: fi, J: fj}}
	}
}

// MouseUp ends a brush stroke.
func (iv *imageView) MouseUp(*desktop.MouseEvent) {
	if iv.dragged && len(iv.stroke) > 0 {
		iv.v.stroke(iv.stroke)
		debugf("stroke %d points: %s", len(iv.stroke), iv.v.messageText.Text)
	}
	iv.stroke = nil
	iv.button = 0
}

// Dragged pans (middle button, Pan tool, or the correction tool's
// left-drag) or extends a brush stroke.
func (iv *imageView) Dragged(ev *fyne.DragEvent) {
	iv.dragged = true
	if iv.stroke != nil {
		fi, fj, _, _, _ := iv.voxelAt(ev.Position)
		iv.stroke = append(iv.stroke, session.Point{I: fi, J: fj})
		iv.moveCursor(ev.Position)
		return
	}
	vp := iv.viewport().PanBy(float64(ev.Dragged.DX)*iv.ratio, float64(ev.Dragged.DY)*iv.ratio)
	iv.v.ws.SetViewport(vp)
	iv.v.refreshView()
}

// DragEnd is handled by MouseUp.
func (iv *imageView) DragEnd() {}

// MouseIn and MouseOut show and hide the probe.
func (iv *imageView) MouseIn(ev *desktop.MouseEvent) { iv.MouseMoved(ev) }

// MouseOut clears the probe.
func (iv *imageView) MouseOut() {
	iv.hasMove = false
	iv.cursor.Hide()
	iv.v.showProbe(0, 0, false)
	if changed, _ := iv.v.ws.Hover(0, 0, false); changed {
		iv.v.refreshView()
	}
}

// MouseMoved updates the probe and, with the right button held, the
// window and level.
func (iv *imageView) MouseMoved(ev *desktop.MouseEvent) {
	if ev.Button&desktop.MouseButtonSecondary != 0 && iv.hasMove {
		d := ev.Position.Subtract(iv.lastMove)
		iv.v.ws.AdjustWindow(float64(d.X), float64(d.Y))
		iv.v.refreshView()
	}
	iv.lastMove, iv.hasMove = ev.Position, true
	_, _, i, j, ok := iv.voxelAt(ev.Position)
	iv.v.showProbe(i, j, ok)
	if ok {
		debugf("probe %d %d", i, j)
	}
	iv.moveCursor(ev.Position)
	// With the correction tool, the region a click would change is shown
	// (checkerboard in its new colour) before the click.
	correcting := iv.v.tool == workspace.ToolCorrect && ev.Button == 0
	changed, note := iv.v.ws.Hover(i, j, ok && correcting)
	if note != "" {
		iv.v.probeText.SetText(iv.v.probeText.Text + " · click: " + note)
		debugf("preview %d %d: %s", i, j, note)
	}
	if changed {
		iv.v.refreshView()
	}
}

// moveCursor draws the brush outline at p for the brush and eraser.
func (iv *imageView) moveCursor(p fyne.Position) {
	if iv.v.tool != workspace.ToolBrush && iv.v.tool != workspace.ToolEraser {
		iv.cursor.Hide()
		return
	}
	vp := iv.viewport()
	s := iv.v.ws.Series()
	if s == nil {
		return
	}
	sx, _ := vp.Scale()
	r := float32(iv.v.brushMM / s.Spacing[0] * sx / iv.ratio)
	iv.cursor.Move(fyne.NewPos(p.X-r, p.Y-r))
	iv.cursor.Resize(fyne.NewSize(2*r, 2*r))
	iv.cursor.Show()
	iv.cursor.Refresh()
}

// Scrolled steps through slices; with Ctrl it zooms about the cursor.
func (iv *imageView) Scrolled(ev *fyne.ScrollEvent) {
	d := ev.Scrolled.DY
	if d == 0 {
		return
	}
	if iv.v.modifiers()&fyne.KeyModifierControl != 0 {
		f := 1.15
		if d < 0 {
			f = 1 / f
		}
		x, y := float64(ev.Position.X)*iv.ratio, float64(ev.Position.Y)*iv.ratio
		iv.v.ws.SetViewport(iv.viewport().ZoomAt(x, y, f))
		iv.v.refreshView()
		return
	}
	step := -1
	if d < 0 {
		step = 1
	}
	iv.v.stepSlice(step)
}

// Focus handling, so the keyboard works after clicking into the image.

// FocusGained implements fyne.Focusable.
func (iv *imageView) FocusGained() {}

// FocusLost implements fyne.Focusable.
func (iv *imageView) FocusLost() {}

// TypedRune implements fyne.Focusable.
func (iv *imageView) TypedRune(r rune) { iv.v.typedRune(r) }

// TypedKey implements fyne.Focusable.
func (iv *imageView) TypedKey(ev *fyne.KeyEvent) { iv.v.typedKey(ev) }
