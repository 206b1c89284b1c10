package ui

import (
	"encoding/json"
	"fmt"
	"os"
	"sync"

	"cmrseg/app/workspace"
)

// CMRSEG_DEBUG=1 makes the window report on stderr, one "cmrseg-debug:"
// line per event, what a script driving it from outside (xdotool under
// Xvfb in the real-window test) cannot see: where the image lies in the
// window and how it maps to voxels, the voxel under the pointer, and the
// outcome of segmentation, edits and exports.
var debugOn = os.Getenv("CMRSEG_DEBUG") == "1"

var debugMu sync.Mutex

func debugf(format string, args ...any) {
	if !debugOn {
		return
	}
	debugMu.Lock()
	defer debugMu.Unlock()
	fmt.Fprintf(os.Stderr, "cmrseg-debug: "+format+"\n", args...)
}

// ViewGeometry is the image view's place in the window, in window pixels
// (what xdotool addresses), and its voxel mapping, printed under
// CMRSEG_DEBUG=1 as "cmrseg-debug: view {json}".
type ViewGeometry struct {
	// X and Y are the view's top-left corner relative to the window's.
	X, Y     float64
	Viewport workspace.Viewport
	Phase    int
	Slice    int
}

// debugGeometry prints the view geometry when it has changed.
func (iv *imageView) debugGeometry(vp workspace.Viewport) {
	if !debugOn {
		return
	}
	c := iv.v.win.Canvas()
	if c == nil {
		return
	}
	pos := iv.v.app.Driver().AbsolutePositionForObject(iv)
	sc := float64(c.Scale())
	vw := iv.v.ws.View()
	g := ViewGeometry{X: float64(pos.X) * sc, Y: float64(pos.Y) * sc, Viewport: vp, Phase: vw.Phase, Slice: vw.Slice}
	if g == iv.lastGeom {
		return
	}
	iv.lastGeom = g
	b, _ := json.Marshal(g)
	debugf("view %s", b)
}
