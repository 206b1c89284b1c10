package session

import (
	"errors"
	"fmt"
	"math"

	"cmrseg/app/study"
)

// Op names the tool that made a Change.
type Op uint8

// Edit operations.
const (
	OpClick Op = iota + 1 // one-click correction
	OpPaint
	OpErase
	OpFill
)

func (o Op) String() string {
	switch o {
	case OpClick:
		return "one-click correction"
	case OpPaint:
		return "brush"
	case OpErase:
		return "eraser"
	case OpFill:
		return "fill holes"
	}
	return fmt.Sprintf("op %d", uint8(o))
}

// Voxel is one label change; Index is into the phase's volume.
type Voxel struct {
	Index    int
	Old, New uint8
}

// Change is one edit as a compact diff: what undo and redo replay and what
// the GUI redraws. An edit touches one slice of one phase.
type Change struct {
	Op           Op
	Phase, Slice int
	Voxels       []Voxel
	// Note says what happened, for the status bar (not journaled).
	Note string
}

// Empty reports whether the change alters nothing.
func (c Change) Empty() bool { return len(c.Voxels) == 0 }

func (c Change) inverse() Change {
	inv := c
	inv.Voxels = make([]Voxel, len(c.Voxels))
	for k, v := range c.Voxels {
		inv.Voxels[k] = Voxel{Index: v.Index, Old: v.New, New: v.Old}
	}
	return inv
}

// editable checks that phase t, slice k exist and may be edited now.
func (s *Session) editable(t, k int) error {
	if s.final {
		return fmt.Errorf("%w: unmark it to edit", ErrFinal)
	}
	if s.journal != nil && s.journal.broken != nil {
		return s.journal.broken
	}
	if t < 0 || t >= s.Series.NT {
		return fmt.Errorf("session: phase %d out of range 0..%d", t, s.Series.NT-1)
	}
	if k < 0 || k >= s.Series.Dims[2] {
		return fmt.Errorf("session: slice %d out of range 0..%d", k, s.Series.Dims[2]-1)
	}
	if s.labels[t] == nil {
		return fmt.Errorf("%w: run segmentation on phase %d first", ErrNoSegmentation, t)
	}
	return nil
}

// commit journals c, then applies it and makes it undoable. An empty change
// is returned as is, with nothing journaled.
func (s *Session) commit(c Change) (Change, error) {
	if c.Empty() {
		return c, nil
	}
	if err := s.log(encodeEdit(c)); err != nil {
		return Change{}, err
	}
	s.applyEdit(c)
	return c, nil
}

// log appends one record to the journal, if there is one. Nothing may be
// appended while earlier records wait for a phase (they must stay first).
func (s *Session) log(payload []byte) error {
	if len(s.pending) > 0 {
		return s.restoringError()
	}
	if s.journal != nil {
		if err := s.journal.append(payload); err != nil {
			return err
		}
	}
	s.records++
	return nil
}

func (s *Session) applyEdit(c Change) {
	s.apply(c)
	s.undo = append(s.undo, c)
	s.redo = nil
}

func (s *Session) apply(c Change) {
	l := s.labels[c.Phase]
	for _, v := range c.Voxels {
		l[v.Index] = v.New
	}
}

// Undo reverts the last edit and returns the reverting change.
func (s *Session) Undo() (Change, error) {
	if s.final {
		return Change{}, fmt.Errorf("%w: unmark it to undo", ErrFinal)
	}
	if len(s.undo) == 0 {
		return Change{}, ErrNothingToUndo
	}
	if err := s.log([]byte{recUndo}); err != nil {
		return Change{}, err
	}
	return s.applyUndo(), nil
}

func (s *Session) applyUndo() Change {
	c := s.undo[len(s.undo)-1]
	s.undo = s.undo[:len(s.undo)-1]
	inv := c.inverse()
	s.apply(inv)
	s.redo = append(s.redo, c)
	inv.Note = "undid " + c.Op.String()
	return inv
}

// Redo reapplies the last undone edit and returns it.
func (s *Session) Redo() (Change, error) {
	if s.final {
		return Change{}, fmt.Errorf("%w: unmark it to redo", ErrFinal)
	}
	if len(s.redo) == 0 {
		return Change{}, ErrNothingToRedo
	}
	if err := s.log([]byte{recRedo}); err != nil {
		return Change{}, err
	}
	return s.applyRedo(), nil
}

func (s *Session) applyRedo() Change {
	c := s.redo[len(s.redo)-1]
	s.redo = s.redo[:len(s.redo)-1]
	s.apply(c)
	s.undo = append(s.undo, c)
	c.Note = "redid " + c.Op.String()
	return c
}

// Accept marks slice k of phase t as reviewed (or withdraws that). It is a
// review mark, not a label edit, so undo does not touch it.
func (s *Session) Accept(t, k int, accepted bool) error {
	if s.final {
		return fmt.Errorf("%w: unmark it to change slice review", ErrFinal)
	}
	if err := s.editable(t, k); err != nil {
		return err
	}
	if s.accepted[t][k] == accepted {
		return nil
	}
	if err := s.log(encodeAccept(t, k, accepted)); err != nil {
		return err
	}
	s.accepted[t][k] = accepted
	return nil
}

// MarkFinal marks the study final (or reopens it). A final study refuses
// edits, undo and redo until unmarked.
func (s *Session) MarkFinal(final bool) error {
	if s.final == final {
		return nil
	}
	if !s.segmented() {
		return fmt.Errorf("%w: nothing to finalise", ErrNoSegmentation)
	}
	if err := s.log([]byte{recFinal, boolByte(final)}); err != nil {
		return err
	}
	s.final = final
	return nil
}

// replay applies one journal record without journaling it again, checking
// that it fits the current state.
func (s *Session) replay(p []byte) error {
	switch p[0] {
	case recEdit:
		c, err := decodeEdit(p)
		if err != nil {
			return err
		}
		if c.Phase < 0 || c.Phase >= s.Series.NT {
			return fmt.Errorf("edit of phase %d out of range", c.Phase)
		}
		if s.labels[c.Phase] == nil {
			return fmt.Errorf("edit of phase %d: %w", c.Phase, errMissingPhase)
		}
		l := s.labels[c.Phase]
		for _, v := range c.Voxels {
			if v.Index < 0 || v.Index >= len(l) || v.New >= study.NumClasses || l[v.Index] != v.Old {
				return fmt.Errorf("edit of voxel %d (%d→%d) does not match the labels", v.Index, v.Old, v.New)
			}
		}
		s.applyEdit(c)
	case recUndo:
		if len(s.undo) == 0 || len(p) != 1 {
			return errors.New("undo with nothing to undo")
		}
		s.applyUndo()
	case recRedo:
		if len(s.redo) == 0 || len(p) != 1 {
			return errors.New("redo with nothing to redo")
		}
		s.applyRedo()
	case recAccept:
		t, k, a, err := decodeAccept(p)
		if err != nil {
			return err
		}
		if t < 0 || t >= s.Series.NT || k < 0 || k >= s.Series.Dims[2] {
			return fmt.Errorf("accept of phase %d slice %d out of range", t, k)
		}
		s.accepted[t][k] = a
	case recFinal:
		if len(p) != 2 {
			return fmt.Errorf("final record of %d bytes", len(p))
		}
		s.final = p[1] == 1
	default:
		return fmt.Errorf("unknown record type %d", p[0])
	}
	return nil
}

// voxelIndex is the index of (i, j, k) in a phase volume.
func (s *Session) voxelIndex(i, j, k int) int {
	d := s.Series.Dims
	return i + d[0]*(j+d[1]*k)
}

func (s *Session) inPlane(i, j int) bool {
	return i >= 0 && j >= 0 && i < s.Series.Dims[0] && j < s.Series.Dims[1]
}

// ClickCorrect replaces the uncertain region under voxel (i, j) of slice k
// with the ensemble's next hypothesis for it. The region is the set of
// voxels of the slice whose entropy exceeds the uncertain threshold and
// that are 8-connected to (i, j) (8, not 4, because the uncertain band
// along a curved contour is often only diagonally connected). The
// hypotheses, in cycle order, are:
//
//  0. the ensemble's prediction (argmax of the mean softmax);
//  1. the alternative: per voxel the class with the second-largest mean
//     probability (the largest, where post-processing removed an island);
//  2. the posterior sample (one checkpoint's argmax) that differs most from
//     the prediction in the region, when one differs from both of the
//     above.
//
// No hypothesis may break the slice's anatomy (see Anatomy.Breaks). When
// the per-voxel alternative would, hypothesis 1 is the posterior sample
// that differs most from the prediction without breaking it (a whole
// checkpoint's view of the region is coherent where a voxel-wise mix is
// not), else the alternative on the region's connected core (the voxels
// around the click above a higher entropy threshold); a posterior sample
// that breaks it is never offered. When nothing is left but the
// prediction the click changes nothing and returns ErrNoSafeHypothesis.
//
// Each click moves the region to the hypothesis after the one it shows now;
// if it shows none of them (it was brushed), the click applies hypothesis 1.
// A click outside any uncertain region changes nothing and returns an error
// wrapping ErrNotUncertain that says why.
func (s *Session) ClickCorrect(t, k, i, j int) (Change, error) {
	c, err := s.PreviewClick(t, k, i, j)
	if err != nil {
		return Change{}, err
	}
	return s.commit(c)
}

// PreviewClick is what ClickCorrect at (i, j) would change, without
// changing anything: the window outlines it while the pointer rests there.
func (s *Session) PreviewClick(t, k, i, j int) (Change, error) {
	if err := s.editable(t, k); err != nil {
		return Change{}, err
	}
	if !s.inPlane(i, j) {
		return Change{}, fmt.Errorf("session: voxel (%d, %d) outside the %dx%d slice", i, j, s.Series.Dims[0], s.Series.Dims[1])
	}
	r := s.results[t]
	thr := s.opts.UncertainThreshold
	at := s.voxelIndex(i, j, k)
	if h := float64(r.Entropy[at]); !(h > thr) {
		return Change{}, fmt.Errorf("%w: uncertainty at (%d, %d) is %.2f nats, at or below the %.2f nats threshold; use the brush here",
			ErrNotUncertain, i, j, h, thr)
	}
	region := s.region(k, at, func(v int) bool { return float64(r.Entropy[v]) > thr })
	hyps, names := s.hypotheses(t, k, at, region)
	if len(hyps) < 2 {
		return Change{}, fmt.Errorf("%w: every hypothesis for the %d-voxel region at (%d, %d) %s; use the brush here",
			ErrNoSafeHypothesis, len(region), i, j, names[0])
	}

	cur := s.labels[t]
	next := 1
	for h, hyp := range hyps {
		same := true
		for n, v := range region {
			if cur[v] != hyp[n] {
				same = false
				break
			}
		}
		if same {
			next = (h + 1) % len(hyps)
			break
		}
	}
	c := Change{Op: OpClick, Phase: t, Slice: k}
	for n, v := range region {
		if cur[v] != hyps[next][n] {
			c.Voxels = append(c.Voxels, Voxel{Index: v, Old: cur[v], New: hyps[next][n]})
		}
	}
	c.Note = fmt.Sprintf("%d-voxel region set to the %s (%d of %d)", len(region), names[next], next+1, len(hyps))
	return c, nil
}

// region returns the voxels of slice k 8-connected to seed (a volume index)
// for which in holds, seed first.
func (s *Session) region(k, seed int, in func(v int) bool) []int {
	nx, ny := s.Series.Dims[0], s.Series.Dims[1]
	base := k * nx * ny
	seen := map[int]bool{seed: true}
	out := []int{seed}
	for q := 0; q < len(out); q++ {
		v := out[q] - base
		i, j := v%nx, v/nx
		for dj := -1; dj <= 1; dj++ {
			for di := -1; di <= 1; di++ {
				a, b := i+di, j+dj
				if a < 0 || b < 0 || a >= nx || b >= ny {
					continue
				}
				w := base + a + nx*b
				if !seen[w] && in(w) {
					seen[w] = true
					out = append(out, w)
				}
			}
		}
	}
	return out
}

// Point is a position on a slice in continuous voxel coordinates (i, j);
// voxel centres are at whole numbers.
type Point struct{ I, J float64 }

// Paint sets to label every voxel of slice k whose centre lies within
// radiusMM millimetres of the stroke (the polyline through points; one point
// is a single dab). The radius is in millimetres, measured with the in-plane
// spacing, so the brush stays round on anisotropic pixels and keeps its size
// across studies; the voxel under each point is always painted, so a radius
// below the pixel size still paints. A whole stroke is one undo step.
func (s *Session) Paint(t, k int, stroke []Point, radiusMM float64, label uint8) (Change, error) {
	if label >= study.NumClasses {
		return Change{}, fmt.Errorf("session: label %d is not one of 0..%d", label, study.NumClasses-1)
	}
	return s.brush(OpPaint, t, k, stroke, radiusMM, func(old uint8) (uint8, bool) { return label, old != label })
}

// Erase sets to background the voxels of the given label under the stroke
// (same disc as Paint); label Background erases every label.
func (s *Session) Erase(t, k int, stroke []Point, radiusMM float64, label uint8) (Change, error) {
	if label >= study.NumClasses {
		return Change{}, fmt.Errorf("session: label %d is not one of 0..%d", label, study.NumClasses-1)
	}
	return s.brush(OpErase, t, k, stroke, radiusMM, func(old uint8) (uint8, bool) {
		return study.Background, old != study.Background && (label == study.Background || old == label)
	})
}

func (s *Session) brush(op Op, t, k int, stroke []Point, radiusMM float64, paint func(old uint8) (uint8, bool)) (Change, error) {
	if err := s.editable(t, k); err != nil {
		return Change{}, err
	}
	if len(stroke) == 0 {
		return Change{}, fmt.Errorf("session: %s stroke has no points", op)
	}
	if !(radiusMM >= 0) || math.IsInf(radiusMM, 0) {
		return Change{}, fmt.Errorf("session: %s radius %g mm", op, radiusMM)
	}
	for _, p := range stroke {
		if math.IsNaN(p.I) || math.IsNaN(p.J) || math.IsInf(p.I, 0) || math.IsInf(p.J, 0) {
			return Change{}, fmt.Errorf("session: %s point (%g, %g) is not a position", op, p.I, p.J)
		}
	}
	nx, ny := s.Series.Dims[0], s.Series.Dims[1]
	sx, sy := s.Series.Spacing[0], s.Series.Spacing[1]
	inside := make(map[int]bool)
	for n := range stroke {
		a := stroke[n]
		b := a
		if n+1 < len(stroke) {
			b = stroke[n+1]
		}
		if ci, cj := int(math.Round(a.I)), int(math.Round(a.J)); s.inPlane(ci, cj) {
			inside[ci+nx*cj] = true
		}
		ri, rj := radiusMM/sx, radiusMM/sy
		i0 := max(0, int(math.Floor(math.Min(a.I, b.I)-ri)))
		i1 := min(nx-1, int(math.Ceil(math.Max(a.I, b.I)+ri)))
		j0 := max(0, int(math.Floor(math.Min(a.J, b.J)-rj)))
		j1 := min(ny-1, int(math.Ceil(math.Max(a.J, b.J)+rj)))
		for j := j0; j <= j1; j++ {
			for i := i0; i <= i1; i++ {
				if segmentDistMM(float64(i), float64(j), a, b, sx, sy) <= radiusMM {
					inside[i+nx*j] = true
				}
			}
		}
	}
	c := Change{Op: op, Phase: t, Slice: k}
	cur := s.labels[t]
	base := k * nx * ny
	// Walk in index order so the diff, and the journal, are deterministic.
	for v := 0; v < nx*ny; v++ {
		if !inside[v] {
			continue
		}
		if nw, ok := paint(cur[base+v]); ok {
			c.Voxels = append(c.Voxels, Voxel{Index: base + v, Old: cur[base+v], New: nw})
		}
	}
	c.Note = fmt.Sprintf("%s changed %d voxels", op, len(c.Voxels))
	return s.commit(c)
}

// segmentDistMM is the distance in mm from voxel centre (i, j) to segment ab.
func segmentDistMM(i, j float64, a, b Point, sx, sy float64) float64 {
	px, py := i*sx, j*sy
	ax, ay, bx, by := a.I*sx, a.J*sy, b.I*sx, b.J*sy
	dx, dy := bx-ax, by-ay
	u := 0.0
	if l2 := dx*dx + dy*dy; l2 > 0 {
		u = math.Max(0, math.Min(1, ((px-ax)*dx+(py-ay)*dy)/l2))
	}
	return math.Hypot(px-ax-u*dx, py-ay-u*dy)
}

// FillHoles fills the enclosed background holes of label on slice k: every
// 4-connected background component that does not touch the slice border and
// whose 4-neighbours all carry label. (4-connected background pairs with
// 8-connected foreground, the usual digital topology: a diagonal gap in a
// ring does not let the hole leak out.) A hole bordering two labels, such as
// a gap between cavity and myocardium, is left for the brush because either
// label could be right. Label Background fills holes of every label, each
// with the label surrounding it.
func (s *Session) FillHoles(t, k int, label uint8) (Change, error) {
	if err := s.editable(t, k); err != nil {
		return Change{}, err
	}
	if label >= study.NumClasses {
		return Change{}, fmt.Errorf("session: label %d is not one of 0..%d", label, study.NumClasses-1)
	}
	nx, ny := s.Series.Dims[0], s.Series.Dims[1]
	base := k * nx * ny
	cur := s.labels[t]
	seen := make([]bool, nx*ny)
	c := Change{Op: OpFill, Phase: t, Slice: k}
	holes := 0
	for start := 0; start < nx*ny; start++ {
		if seen[start] || cur[base+start] != study.Background {
			continue
		}
		comp := []int{start}
		seen[start] = true
		border := false
		around := -1 // the one neighbouring label; -2 when several
		for q := 0; q < len(comp); q++ {
			v := comp[q]
			i, j := v%nx, v/nx
			if i == 0 || j == 0 || i == nx-1 || j == ny-1 {
				border = true
			}
			for _, d := range [4][2]int{{1, 0}, {-1, 0}, {0, 1}, {0, -1}} {
				a, b := i+d[0], j+d[1]
				if a < 0 || b < 0 || a >= nx || b >= ny {
					continue
				}
				w := a + nx*b
				if l := cur[base+w]; l != study.Background {
					if around == -1 {
						around = int(l)
					} else if around != int(l) {
						around = -2
					}
				} else if !seen[w] {
					seen[w] = true
					comp = append(comp, w)
				}
			}
		}
		if border || around < 0 || (label != study.Background && around != int(label)) {
			continue
		}
		holes++
		for _, v := range comp {
			c.Voxels = append(c.Voxels, Voxel{Index: base + v, Old: study.Background, New: uint8(around)})
		}
	}
	c.Note = fmt.Sprintf("filled %d holes (%d voxels)", holes, len(c.Voxels))
	return s.commit(c)
}
