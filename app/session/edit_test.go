package session

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"cmrseg/app/study"
	"cmrseg/inference/uncertainty"
)

func tinySeries(nx, ny int, spacing [2]float64) *study.Series {
	g := study.Geometry{Dims: [3]int{nx, ny, 1}, Spacing: [3]float64{spacing[0], spacing[1], 8}}
	return &study.Series{Geometry: g, NT: 1, ED: 0, ES: -1, Data: make([]float32, g.N())}
}

func mustOpen(t testing.TB, s *study.Series, rs []*uncertainty.Result, opts Options) *Session {
	t.Helper()
	sess, err := Open(s, rs, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sess.Close() })
	return sess
}

// clickCase: a 6x6 slice. A 2x2 block at (1..2, 1..2) is LV or myocardium
// (mean 0.1 bg, 0.35 myo, 0.55 LV: label LV, alternative myocardium); voxel
// (3,3), diagonal to the block, is background or RV (0.5 / 0.4: label bg,
// alternative RV); voxel (5,0) is a separate uncertain region.
func clickCase(t *testing.T) (*Session, []int) {
	s := tinySeries(6, 6, [2]float64{1, 1})
	idx := func(i, j int) int { return i + 6*j }
	block := []int{idx(1, 1), idx(2, 1), idx(1, 2), idx(2, 2)}
	a, b := map[int][4]float32{}, map[int][4]float32{}
	for _, v := range block {
		a[v] = [4]float32{0.1, 0, 0.1, 0.8}
		b[v] = [4]float32{0.1, 0, 0.6, 0.3}
	}
	a[idx(3, 3)] = [4]float32{0.9, 0.1, 0, 0}
	b[idx(3, 3)] = [4]float32{0.1, 0.7, 0.2, 0}
	a[idx(5, 0)] = [4]float32{0.5, 0.5, 0, 0}
	b[idx(5, 0)] = [4]float32{0.5, 0.5, 0, 0}
	r := handResult(t, s.Geometry, []map[int][4]float32{a, b})
	return mustOpen(t, s, []*uncertainty.Result{r}, Options{}), append(block, idx(3, 3))
}

func TestClickCorrectCyclesAlternative(t *testing.T) {
	sess, region := clickCase(t)
	orig := slices.Clone(sess.Labels(0))
	for _, v := range region[:4] {
		if orig[v] != study.LV {
			t.Fatalf("setup: block voxel %d is %d, want LV", v, orig[v])
		}
	}
	c, err := sess.ClickCorrect(0, 0, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	// 8-connectivity joins (3,3) to the block; (5,0) stays out.
	if len(c.Voxels) != 5 {
		t.Fatalf("click changed %d voxels, want 5 (block + diagonal neighbour): %+v", len(c.Voxels), c.Voxels)
	}
	l := sess.Labels(0)
	for _, v := range region[:4] {
		if l[v] != study.Myocardium {
			t.Errorf("block voxel %d = %d after click, want myocardium (second class)", v, l[v])
		}
	}
	if l[region[4]] != study.RV {
		t.Errorf("diagonal voxel = %d, want RV", l[region[4]])
	}
	if l[5] != orig[5] {
		t.Error("separate region changed")
	}
	if !strings.Contains(c.Note, "alternative") {
		t.Errorf("note %q does not name the alternative", c.Note)
	}
	// Sample B equals the alternative here, so there is no third hypothesis:
	// the next click on any voxel of the region restores the prediction.
	if _, err := sess.ClickCorrect(0, 0, 3, 3); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sess.Labels(0), orig) {
		t.Fatal("second click did not cycle back to the ensemble prediction")
	}

	// A confident voxel: nothing changes, and the reason is given.
	_, err = sess.ClickCorrect(0, 0, 0, 5)
	if !errors.Is(err, ErrNotUncertain) || !strings.Contains(err.Error(), "0.30 nats") {
		t.Fatalf("click on confident voxel: %v, want ErrNotUncertain naming the threshold", err)
	}
	if !slices.Equal(sess.Labels(0), orig) || len(sess.undo) != 2 {
		t.Fatal("no-op click changed state")
	}
	for _, bad := range [][4]int{{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 6, 0}, {0, 0, 0, -1}} {
		if _, err := sess.ClickCorrect(bad[0], bad[1], bad[2], bad[3]); err == nil {
			t.Errorf("click at %v accepted", bad)
		}
	}
}

func TestClickCorrectThirdHypothesis(t *testing.T) {
	s := tinySeries(4, 4, [2]float64{1, 1})
	v := 1 + 4*1
	// Mean (0, 0.3, 0.367, 0.333): prediction myocardium, alternative LV;
	// checkpoint A says LV (= alternative), C says RV: C is the third.
	a := map[int][4]float32{v: {0, 0.1, 0.1, 0.8}}
	b := map[int][4]float32{v: {0, 0.1, 0.8, 0.1}}
	c := map[int][4]float32{v: {0, 0.7, 0.2, 0.1}}
	// Confident myocardium around it, so that every hypothesis is possible
	// anatomy (an LV voxel in background is not).
	for _, w := range []int{v - 1, v + 1, v - 4, v + 4} {
		for _, m := range []map[int][4]float32{a, b, c} {
			m[w] = [4]float32{0, 0, 1, 0}
		}
	}
	r := handResult(t, s.Geometry, []map[int][4]float32{a, b, c})
	sess := mustOpen(t, s, []*uncertainty.Result{r}, Options{})
	want := []uint8{study.LV, study.RV, study.Myocardium, study.LV}
	for n, w := range want {
		ch, err := sess.ClickCorrect(0, 0, 1, 1)
		if err != nil {
			t.Fatal(err)
		}
		if got := sess.Labels(0)[v]; got != w {
			t.Fatalf("click %d: label %d, want %d (%s)", n+1, got, w, ch.Note)
		}
	}
	// A brushed region matches no hypothesis: the click applies the
	// alternative.
	if _, err := sess.Paint(0, 0, []Point{{1, 1}}, 0, study.Background); err != nil {
		t.Fatal(err)
	}
	if _, err := sess.ClickCorrect(0, 0, 1, 1); err != nil || sess.Labels(0)[v] != study.LV {
		t.Fatalf("click on brushed region: %v, label %d, want LV", err, sess.Labels(0)[v])
	}
}

func TestUndoRedo(t *testing.T) {
	s := synthSeries()
	sess := mustOpen(t, s, synthResults(t, s), Options{})
	var states [][]uint8
	states = append(states, slices.Clone(sess.Labels(0)))
	edits := []func() (Change, error){
		func() (Change, error) { return sess.Paint(0, 1, []Point{{3, 3}, {10, 4}}, 2, study.RV) },
		func() (Change, error) { return sess.Erase(0, 1, []Point{{14, 16}}, 3, study.LV) },
		func() (Change, error) { return sess.Paint(0, 2, []Point{{20, 20}}, 4, study.Myocardium) },
		func() (Change, error) { return sess.FillHoles(0, 1, study.LV) },
	}
	for n, e := range edits {
		c, err := e()
		if err != nil {
			t.Fatal(err)
		}
		if c.Empty() {
			t.Fatalf("edit %d changed nothing", n)
		}
		states = append(states, slices.Clone(sess.Labels(0)))
	}
	for n := len(edits); n > 0; n-- {
		if _, err := sess.Undo(); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(sess.Labels(0), states[n-1]) {
			t.Fatalf("undo to state %d differs", n-1)
		}
	}
	if !slices.Equal(sess.Labels(0), sess.Result(0).Labels) {
		t.Fatal("undoing everything did not restore the ensemble labels")
	}
	if _, err := sess.Undo(); !errors.Is(err, ErrNothingToUndo) {
		t.Fatalf("undo on empty stack: %v", err)
	}
	for n := 1; n <= 2; n++ {
		if _, err := sess.Redo(); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(sess.Labels(0), states[n]) {
			t.Fatalf("redo to state %d differs", n)
		}
	}
	// A new edit drops the redo branch.
	if _, err := sess.Paint(0, 3, []Point{{1, 1}}, 1, study.LV); err != nil {
		t.Fatal(err)
	}
	if sess.CanRedo() {
		t.Fatal("redo still possible after a new edit")
	}
	if _, err := sess.Redo(); !errors.Is(err, ErrNothingToRedo) {
		t.Fatalf("redo after new edit: %v", err)
	}
}

func TestBrushDiscInMillimetres(t *testing.T) {
	// Pixels 1 mm wide and 2 mm tall: a 2 mm disc spans i ± 2 but j ± 1,
	// and at j ± 1 only i itself is within 2 mm: 5 + 2 = 7 voxels.
	s := tinySeries(21, 21, [2]float64{1, 2})
	r := handResult(t, s.Geometry, []map[int][4]float32{{}})
	sess := mustOpen(t, s, []*uncertainty.Result{r}, Options{})
	c, err := sess.Paint(0, 0, []Point{{10, 10}}, 2, study.LV)
	if err != nil {
		t.Fatal(err)
	}
	got := map[[2]int]bool{}
	for _, v := range c.Voxels {
		got[[2]int{v.Index % 21, v.Index / 21}] = true
		if v.Old != 0 || v.New != study.LV {
			t.Errorf("voxel %+v", v)
		}
	}
	want := [][2]int{{8, 10}, {9, 10}, {10, 10}, {11, 10}, {12, 10}, {10, 9}, {10, 11}}
	if len(got) != len(want) {
		t.Fatalf("disc has %d voxels %v, want %v", len(got), got, want)
	}
	for _, w := range want {
		if !got[w] {
			t.Errorf("disc misses %v", w)
		}
	}
	// A stroke of radius 0 paints the line of voxels it passes through.
	c, _ = sess.Paint(0, 0, []Point{{0, 3}, {20, 3}}, 0, study.RV)
	if len(c.Voxels) != 21 {
		t.Errorf("zero-radius stroke painted %d voxels, want 21", len(c.Voxels))
	}
	// A stroke partly off the image is clipped, not an error.
	if _, err := sess.Paint(0, 0, []Point{{-5, -5}, {1, 1}}, 1, study.RV); err != nil {
		t.Errorf("stroke off the edge: %v", err)
	}
	// Painting what is already there changes nothing and journals nothing.
	before := len(sess.undo)
	if c, err := sess.Paint(0, 0, []Point{{10, 10}}, 0, study.LV); err != nil || !c.Empty() || len(sess.undo) != before {
		t.Errorf("repaint: %v, %d voxels", err, len(c.Voxels))
	}
	// The eraser removes only its label.
	c, _ = sess.Erase(0, 0, []Point{{10, 3}, {10, 10}}, 0, study.RV)
	for _, v := range c.Voxels {
		if v.Old != study.RV || v.New != 0 {
			t.Errorf("RV eraser changed %+v", v)
		}
	}
	if len(c.Voxels) != 1 {
		t.Errorf("RV eraser changed %d voxels, want 1 (the RV line crossing i=10)", len(c.Voxels))
	}
	if sess.Labels(0)[10+21*10] != study.LV {
		t.Error("RV eraser removed LV")
	}
	bad := []func() error{
		func() error { _, err := sess.Paint(0, 0, nil, 1, 1); return err },
		func() error { _, err := sess.Paint(0, 0, []Point{{1, 1}}, -1, 1); return err },
		func() error { _, err := sess.Paint(0, 0, []Point{{1, 1}}, 1, 4); return err },
		func() error { _, err := sess.Erase(0, 1, []Point{{1, 1}}, 1, 1); return err },
	}
	for n, f := range bad {
		if f() == nil {
			t.Errorf("bad brush %d accepted", n)
		}
	}
}

// drawSlice sets the labels of slice 0 from rows of digits.
func drawSlice(t *testing.T, rows []string) *Session {
	t.Helper()
	s := tinySeries(len(rows[0]), len(rows), [2]float64{1, 1})
	r := handResult(t, s.Geometry, []map[int][4]float32{{}})
	for j, row := range rows {
		for i, ch := range row {
			r.Labels[i+len(row)*j] = uint8(ch - '0')
		}
	}
	return mustOpen(t, s, []*uncertainty.Result{r}, Options{})
}

func sliceString(sess *Session) []string {
	nx := sess.Series.Dims[0]
	var rows []string
	l := sess.Labels(0)
	for j := 0; j < sess.Series.Dims[1]; j++ {
		var b strings.Builder
		for i := 0; i < nx; i++ {
			b.WriteByte('0' + l[i+nx*j])
		}
		rows = append(rows, b.String())
	}
	return rows
}

func TestFillHoles(t *testing.T) {
	sess := drawSlice(t, []string{
		"0000000000",
		"0222200000",
		"0200200333",
		"0222200303",
		"0000000333",
		"0000000000",
		"0222002000",
		"0203320200",
		"0222220000",
		"0000000000",
	})
	c, err := sess.FillHoles(0, 0, study.Myocardium)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"0000000000",
		"0222200000",
		"0222200333", // hole inside myocardium filled
		"0222200303", // a hole inside LV is not myocardium's to fill
		"0000000333",
		"0000000000",
		"0222002000",
		"0203320200", // hole touching myocardium and LV: left alone
		"0222220000",
		"0000000000",
	}
	if got := sliceString(sess); !slices.Equal(got, want) || len(c.Voxels) != 2 {
		t.Fatalf("after fill (%d voxels):\n%s\nwant\n%s", len(c.Voxels), strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Label background fills every single-label hole with its own label.
	c, _ = sess.FillHoles(0, 0, study.Background)
	if sess.Labels(0)[8+10*3] != study.LV || len(c.Voxels) != 1 {
		t.Fatalf("auto fill changed %d voxels, LV hole = %d", len(c.Voxels), sess.Labels(0)[8+10*3])
	}
	// A ring closed only diagonally still holds its hole: background is
	// 4-connected.
	sess = drawSlice(t, []string{
		"00000",
		"02200",
		"02020",
		"00220",
		"00000",
	})
	c, _ = sess.FillHoles(0, 0, study.Myocardium)
	if len(c.Voxels) != 1 || sess.Labels(0)[2+5*2] != study.Myocardium {
		t.Fatalf("diagonally closed ring: filled %d voxels", len(c.Voxels))
	}
}

func TestAcceptFinalAndBadInput(t *testing.T) {
	s := synthSeries()
	rs := synthResults(t, s)
	sess := mustOpen(t, s, []*uncertainty.Result{rs[0]}, Options{}) // phase 1 not segmented
	if err := sess.Accept(0, 2, true); err != nil || !sess.Accepted(0, 2) || sess.Accepted(0, 1) {
		t.Fatalf("accept: %v", err)
	}
	if _, err := sess.Paint(1, 0, []Point{{1, 1}}, 1, 1); !errors.Is(err, ErrNoSegmentation) {
		t.Fatalf("edit of unsegmented phase: %v", err)
	}
	if err := sess.Accept(0, 4, true); err == nil {
		t.Fatal("accept of slice 4 of 4 accepted")
	}
	if _, err := sess.Paint(0, 0, []Point{{1, 1}}, 1, 1); err != nil {
		t.Fatal(err)
	}
	if err := sess.MarkFinal(true); err != nil || !sess.Final() {
		t.Fatalf("final: %v", err)
	}
	labels := slices.Clone(sess.Labels(0))
	if _, err := sess.Paint(0, 0, []Point{{5, 5}}, 1, 1); !errors.Is(err, ErrFinal) {
		t.Fatalf("edit of final study: %v", err)
	}
	if _, err := sess.Undo(); !errors.Is(err, ErrFinal) {
		t.Fatalf("undo in final study: %v", err)
	}
	if err := sess.Accept(0, 1, true); !errors.Is(err, ErrFinal) {
		t.Fatalf("accept in final study: %v", err)
	}
	if !slices.Equal(labels, sess.Labels(0)) {
		t.Fatal("refused edits changed labels")
	}
	if err := sess.MarkFinal(false); err != nil {
		t.Fatal(err)
	}
	if _, err := sess.Undo(); err != nil {
		t.Fatalf("undo after unmarking final: %v", err)
	}

	// Open rejects results that do not fit.
	other := handResult(t, study.Geometry{Dims: [3]int{4, 4, 1}, Spacing: [3]float64{1, 1, 1}}, []map[int][4]float32{{}})
	if _, err := Open(s, []*uncertainty.Result{other}, Options{}); err == nil {
		t.Error("result of another geometry accepted")
	}
	if _, err := Open(s, rs[:1], Options{UncertainThreshold: -1}); err == nil {
		t.Error("negative threshold accepted")
	}
	if _, err := Open(s, append(rs, rs[0]), Options{}); err == nil {
		t.Error("three results for two phases accepted")
	}
	if _, err := Open(nil, nil, Options{}); err == nil {
		t.Error("nil series accepted")
	}
	broken := *rs[0]
	broken.Prob = broken.Prob[:10]
	if _, err := Open(s, []*uncertainty.Result{&broken}, Options{}); err == nil {
		t.Error("truncated result accepted")
	}
}

func TestQCFlags(t *testing.T) {
	s := synthSeries()
	rs := synthResults(t, s)
	scores := rs[0].SliceScores
	// Flag exactly the slices above a threshold between the two largest
	// scores of phase 0 (and whatever phase 1 has above it).
	sorted := slices.Clone(scores)
	slices.Sort(sorted)
	thr := (sorted[len(sorted)-1] + sorted[len(sorted)-2]) / 2
	sess := mustOpen(t, s, rs, Options{QCThreshold: thr})
	flags := sess.Flags()
	var phase0 []Flag
	for _, f := range flags {
		if f.Phase == 0 {
			phase0 = append(phase0, f)
		}
		if f.Score <= thr || !sess.SliceFlagged(f.Phase, f.Slice) {
			t.Errorf("flag %+v at threshold %v", f, thr)
		}
	}
	if len(phase0) != 1 || phase0[0].Score != sorted[len(sorted)-1] {
		t.Fatalf("phase 0 flags %+v, want the one slice scoring %v (scores %v)", phase0, sorted[len(sorted)-1], scores)
	}
	if !sess.StudyFlagged() {
		t.Error("study not flagged with a flagged slice")
	}
	if err := sess.Accept(0, phase0[0].Slice, true); err != nil {
		t.Fatal(err)
	}
	for _, f := range sess.Flags() {
		if f.Phase == 0 && !f.Accepted {
			t.Error("accepted flagged slice not marked accepted")
		}
	}
	high := mustOpen(t, s, rs, Options{QCThreshold: 10})
	if len(high.Flags()) != 0 || high.StudyFlagged() {
		t.Error("flags above ln 4")
	}
	// The apical slice, where only two of five checkpoints see an RV, is
	// the most uncertain of phase 0.
	if phase0[0].Slice != 3 {
		t.Errorf("most uncertain slice %d, want the apical slice 3 (scores %v)", phase0[0].Slice, scores)
	}
}

func TestViewDefaults(t *testing.T) {
	s := synthSeries()
	sess := mustOpen(t, s, synthResults(t, s), Options{})
	v := sess.View
	if v.Phase != 0 || v.Slice != 2 || !(v.Window > 0) || v.Zoom != 1 || !v.ShowLabels {
		t.Fatalf("view %+v", v)
	}
	lo, hi := v.Level-v.Window/2, v.Level+v.Window/2
	if lo < 100 || hi > 462 || hi-lo < 200 {
		t.Errorf("window [%v, %v] does not span the synthetic intensities 100..462", lo, hi)
	}
	sess.View.Overlay = OverlayMutualInfo
	if &sess.UncertaintyMap(0)[0] != &sess.Result(0).MutualInfo[0] {
		t.Error("overlay does not switch to mutual information")
	}
}

// TestPreviewClickChangesNothing: PreviewClick returns exactly the change
// ClickCorrect then makes, and leaves labels and undo history untouched.
func TestPreviewClickChangesNothing(t *testing.T) {
	sess, _ := clickCase(t)
	orig := slices.Clone(sess.Labels(0))
	p, err := sess.PreviewClick(0, 0, 1, 1)
	if err != nil || len(p.Voxels) != 5 {
		t.Fatalf("preview: %d voxels, %v", len(p.Voxels), err)
	}
	if !slices.Equal(orig, sess.Labels(0)) || sess.CanUndo() {
		t.Fatal("PreviewClick edited the session")
	}
	c, err := sess.ClickCorrect(0, 0, 1, 1)
	if err != nil || !slices.Equal(c.Voxels, p.Voxels) || c.Note != p.Note {
		t.Fatalf("click %+v %q (%v), preview %+v %q", c.Voxels, c.Note, err, p.Voxels, p.Note)
	}
	// The next preview is the next hypothesis, from the new labels.
	if p2, err := sess.PreviewClick(0, 0, 1, 1); err != nil || slices.Equal(p2.Voxels, p.Voxels) {
		t.Fatalf("second preview %+v (%v) repeats the first", p2.Voxels, err)
	}
	if _, err := sess.PreviewClick(0, 0, 0, 5); !errors.Is(err, ErrNotUncertain) {
		t.Fatalf("preview on confident tissue: %v", err)
	}
}
