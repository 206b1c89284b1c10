package cli

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"cmrseg/app/cohort"
	"cmrseg/inference/unet"
)

// TestGUIWindowCohortQueue walks the review queue in the real window:
// `cmrseg batch` segments three real ACDC patients, the window opens the
// output folder (gui --cohort, what File ▸ Open cohort… calls), N opens the
// most uncertain study on its saved segmentation (no forward pass), a
// brush stroke corrects it, N marks it final and opens the next, N again
// (reviewed unchanged), N at the end shows the queue. The cohort table
// then says corrected / reviewed, and the corrected study is in the
// training tab's corrected cases.
func TestGUIWindowCohortQueue(t *testing.T) {
	needTools(t)
	root := batchArchive(t)
	model := randomModel(t, unet.Config{InChannels: 1, Classes: 4, Stages: 3, BaseFeatures: 4, MaxFeatures: 16, ConvsPerStage: 1}, 2)
	out := filepath.Join(t.TempDir(), "cohort")
	runBatchCLI(t, "--model", model, "--device", "cpu", "--threads", "2", "--tiling", "whole", "--in", root, "--out", out)
	all, err := cohort.Collect(out)
	if err != nil {
		t.Fatal(err)
	}
	queue := cohort.Queue(all, cohort.Filter{})
	if len(queue) != 3 {
		t.Fatalf("queue of %d studies, want the 3 patients", len(queue))
	}

	x := startXvfb(t)
	shots := screensDir(t)
	dir := t.TempDir()
	g := launchApp(t, x, shots, appEnv(dir, "CMRSEG_MODEL="+model), "gui", "--cohort", out)
	g.wait(`^cmrseg-debug: cohort .*: 4 studies, 3 in the queue$`, 5*time.Minute)
	g.wait(`^cmrseg-debug: cohort queue shown: 3 of 4 studies$`, time.Minute)
	g.shot("cohort-queue")

	// N with nothing open yet: the first (most uncertain) study.
	g.key("n")
	g.wait(`^cmrseg-debug: cohort open `+queue[0].ID+` \(1 of 3\): 2 saved phase\(s\) of 2$`, 5*time.Minute)
	g.wait(`^cmrseg-debug: cohort study `+queue[0].ID+`: 2 of 2 phase\(s\) from the saved result, 0 segmented now$`, 5*time.Minute)
	g.wait(`^cmrseg-debug: segmented `, 5*time.Minute)
	g.settle()
	g.shot("cohort-first-opened")

	// Correct with a brush stroke across the middle of the slice.
	g.key("b")
	vg := g.geometry()
	cx, cy := vg.Viewport.Cols/2, vg.Viewport.Rows/2
	x0, y0 := g.pointAt(cx-8, cy)
	x1, y1 := g.screenPos(cx+8, cy)
	g.do("mousedown", "1")
	for n := 1; n <= 8; n++ {
		g.do("mousemove", "--sync", strconv.Itoa(x0+(x1-x0)*n/8), strconv.Itoa(y0+(y1-y0)*n/8))
	}
	g.do("mouseup", "1")
	m := g.wait(`^cmrseg-debug: stroke \d+ points: Brush changed (\d+) voxels`, 2*time.Minute)
	if n, _ := strconv.Atoi(m[1]); n == 0 {
		t.Fatal("the brush stroke changed nothing")
	}
	g.shot("cohort-first-corrected")

	// N: final, recorded as corrected, added to the corrected cases, next.
	g.key("n")
	g.wait(`^cmrseg-debug: cohort review `+queue[0].ID+`: corrected \(\d+ voxels changed\), table updated$`, time.Minute)
	// The corrected case is written in the background: its line may come
	// before or after the next study's, so it is looked for anywhere.
	cc := g.find(`^cmrseg-debug: cohort corrected case `+queue[0].ID+`: (\d+) frame\(s\) in (.*)$`, 2*time.Minute)
	g.wait(`^cmrseg-debug: cohort open `+queue[1].ID+` \(2 of 3\): 2 saved phase\(s\) of 2$`, 5*time.Minute)
	g.wait(`^cmrseg-debug: cohort study `+queue[1].ID+`: 2 of 2 phase\(s\) from the saved result, 0 segmented now$`, 5*time.Minute)
	g.wait(`^cmrseg-debug: segmented `, 5*time.Minute)
	g.settle()
	g.shot("cohort-second-opened")

	// N without a change: reviewed; then the third; N at the end shows the queue.
	g.key("n")
	g.wait(`^cmrseg-debug: cohort review `+queue[1].ID+`: reviewed \(0 voxels changed\), table updated$`, time.Minute)
	g.wait(`^cmrseg-debug: cohort open `+queue[2].ID+` \(3 of 3\)`, 5*time.Minute)
	g.wait(`^cmrseg-debug: cohort study `+queue[2].ID+`: 2 of 2 phase\(s\) from the saved result, 0 segmented now$`, 5*time.Minute)
	g.wait(`^cmrseg-debug: segmented `, 5*time.Minute)
	g.key("n")
	g.wait(`^cmrseg-debug: cohort review `+queue[2].ID+`: reviewed`, time.Minute)
	g.wait(`^cmrseg-debug: cohort queue end$`, time.Minute)
	g.wait(`^cmrseg-debug: cohort queue shown: 3 of 4 studies$`, time.Minute)
	g.shot("cohort-queue-reviewed")
	g.key("Escape")
	g.quit()

	raw, err := os.ReadFile(filepath.Join(out, cohort.TableCSV))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col, fin := slices.Index(recs[0], "review"), slices.Index(recs[0], "review_final")
	want := map[string]string{queue[0].ID: "corrected", queue[1].ID: "reviewed", queue[2].ID: "reviewed", "broken": ""}
	for _, r := range recs[1:] {
		if r[col] != want[r[0]] || (want[r[0]] != "") != (r[fin] == "true") {
			t.Errorf("cohort table row %s: review %q final %s, want %q", r[0], r[col], r[fin], want[r[0]])
		}
	}
	st, _ := cohort.ReadStatus(filepath.Join(out, filepath.FromSlash(queue[0].ID)))
	if st == nil || st.Review == nil || st.Review.State != "corrected" || time.Since(st.Review.At) > 30*time.Minute {
		t.Errorf("status of %s: %+v", queue[0].ID, st)
	}
	// The corrected study is a training case; the reviewed ones are not.
	files := 0
	filepath.WalkDir(cc[2], func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			files++
		}
		return nil
	})
	if n, _ := strconv.Atoi(cc[1]); n == 0 || files == 0 {
		t.Errorf("corrected cases in %s: %d frame(s), %d files", cc[2], n, files)
	}
	t.Logf("queue %s, %s, %s; screenshots in %s", queue[0].ID, queue[1].ID, queue[2].ID, shots)
}
