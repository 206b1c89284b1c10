package trainingjob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cmrseg/app/dataset"
	"cmrseg/app/nifti"
	"cmrseg/app/phantom"
	"cmrseg/app/session"
	"cmrseg/app/shareddata"
	"cmrseg/app/study"
	"cmrseg/app/workspace"
	"cmrseg/inference/uncertainty"
	"cmrseg/training/config"
	"cmrseg/training/data"
	"cmrseg/training/schedule"
)

func TestFormValidatesAsYouType(t *testing.T) {
	f := NewForm(config.CPUPreset())
	if _, probs := f.Config(); len(probs) != 0 {
		t.Fatalf("CPU preset shows problems: %v", probs)
	}
	// 36 epochs cannot be split into 5 cycles: the message sits at cycles.
	probs := f.Set("schedule.cycles", "5")
	if !strings.Contains(probs["schedule.cycles"], "not divisible") || len(probs) != 1 {
		t.Fatalf("cycles 5: %v", probs)
	}
	probs = f.Set("schedule.lr0", "fast")
	if !strings.Contains(probs["schedule.lr0"], "not a number") {
		t.Fatalf("lr0 text: %v", probs)
	}
	f.Set("schedule.lr0", "0.02")
	probs = f.Set("schedule.cycles", "4")
	if len(probs) != 0 {
		t.Fatalf("after fixing: %v", probs)
	}
	if p := f.Set("train.patch", "100x160"); !strings.Contains(p["train.patch"], "divisible") {
		t.Fatalf("patch 100 with 5 stages: %v", p)
	}
	if p := f.Set("train.patch", "128×160"); len(p) != 0 {
		t.Fatalf("patch 128×160: %v", p)
	}
	if p := f.Set("schedule.mode", "linear"); !strings.Contains(p["schedule.mode"], "not one of") {
		t.Fatalf("mode: %v", p)
	}
	f.Set("schedule.mode", "cyclical")
	c, probs := f.Config()
	if len(probs) != 0 || c.Schedule.Cycles != 4 || c.Schedule.LR0 != 0.02 || c.Train.Patch != [2]int{128, 160} {
		t.Fatalf("config %+v %v", c.Schedule, probs)
	}

	// Save → load round trip through the TOML `cmrseg train` reads.
	path := filepath.Join(t.TempDir(), "train.toml")
	if err := f.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.Schedule != c.Schedule || back.Train != c.Train || back.Network != c.Network {
		t.Fatalf("round trip: %+v vs %+v", back.Schedule, c.Schedule)
	}
	g := NewForm(config.Default())
	if err := g.Load(path); err != nil || g.Text("schedule.cycles") != "4" || g.Text("train.patch") != "128x160" {
		t.Fatalf("load: %v %q %q", err, g.Text("schedule.cycles"), g.Text("train.patch"))
	}
	f.Set("schedule.cycles", "5")
	if err := f.Save(path); err == nil || !strings.Contains(err.Error(), "schedule.cycles") {
		t.Fatalf("saving an invalid form: %v", err)
	}
}

func TestScheduleSamplesEq4(t *testing.T) {
	c := config.Default() // the paper: T 1200, M 3, β 0.8, γ 0.9, η0 0.01, η_restart 0.1
	p, err := Schedule(c)
	if err != nil {
		t.Fatal(err)
	}
	cy := schedule.Paper()
	if len(p.LR) != 1200 || p.Cycles != 3 {
		t.Fatalf("%d samples, %d cycles", len(p.LR), p.Cycles)
	}
	for e, lr := range p.LR {
		if lr != cy.LR(e) {
			t.Fatalf("epoch %d: %g, Eq. 4 gives %g", e, lr, cy.LR(e))
		}
	}
	// Restarts at the start of each cycle; the floor holds over the last 20 %.
	for _, e := range []int{0, 400, 800} {
		if p.LR[e] != 0.1 {
			t.Fatalf("epoch %d: %g, want η_restart", e, p.LR[e])
		}
	}
	if p.LR[330] != p.LR[399] || p.LR[300] <= p.LR[330] {
		t.Fatalf("floor: %g %g", p.LR[330], p.LR[399])
	}
	want, _ := schedule.CheckpointEpochs(1200, 3, 5, 1)
	if fmt.Sprint(p.Checkpoints) != fmt.Sprint(want) || p.Checkpoints[len(p.Checkpoints)-1] != 1199 {
		t.Fatalf("checkpoints %v, want %v", p.Checkpoints, want)
	}
	c.Schedule.Cycles = 7
	if _, err := Schedule(c); err == nil {
		t.Fatal("invalid schedule accepted")
	}
}

func TestEventLineRoundTrip(t *testing.T) {
	e := Event{Kind: KindEpoch, Time: time.Unix(1700000000, 0), Epoch: 3, Epochs: 4, Iter: 5, Iters: 5, Cycle: 1, Loss: 0.5, LR: 0.01,
		ETA: 1500 * time.Millisecond, ValDice: [3]float64{0.8, math.NaN(), 0.9}, Device: "cpu"}
	b, err := MarshalLine(e)
	if err != nil || b[len(b)-1] != '\n' || strings.Count(string(b), "\n") != 1 {
		t.Fatalf("%q %v", b, err)
	}
	back, err := ParseLine(b[:len(b)-1])
	if err != nil {
		t.Fatal(err)
	}
	if back.Epoch != 3 || back.Loss != 0.5 || back.ETA != e.ETA || back.ValDice[0] != 0.8 || !math.IsNaN(back.ValDice[1]) || back.Device != "cpu" {
		t.Fatalf("%+v", back)
	}
	if _, err := ParseLine([]byte(`{"kind":"bogus"}`)); err == nil {
		t.Fatal("unknown kind accepted")
	}
}

// writeNNUNet writes a phantom-derived nnU-Net data set of n cases.
func writeNNUNet(t *testing.T, dir string, n int) {
	for _, sub := range []string{"imagesTr", "labelsTr"} {
		os.MkdirAll(filepath.Join(dir, sub), 0o755)
	}
	s, labels, _ := phantom.Generate(phantom.Options{Seed: 1})
	for c := 0; c < n; c++ {
		frame := &study.Series{Geometry: s.Geometry, NT: 1, Data: s.Phase(c), ED: -1, ES: -1}
		id := fmt.Sprintf("ph%03d", c)
		if err := nifti.Write(filepath.Join(dir, "imagesTr", id+"_0000.nii.gz"), frame, nifti.Float32); err != nil {
			t.Fatal(err)
		}
		if err := nifti.WriteLabels(filepath.Join(dir, "labelsTr", id+".nii.gz"), frame, &labels[c]); err != nil {
			t.Fatal(err)
		}
	}
	js := fmt.Sprintf(`{"name":"phantom","channel_names":{"0":"cine"},"labels":{"background":0,"RV":1,"MLV":2,"LVC":3},"numTraining":%d,"file_ending":".nii.gz"}`, n)
	os.WriteFile(filepath.Join(dir, "dataset.json"), []byte(js), 0o644)
}

func TestScanReportsProblems(t *testing.T) {
	dir := t.TempDir()
	writeNNUNet(t, dir, 3)
	s, err := Scan(context.Background(), dir, ScanOptions{Previews: 2, PreviewSize: 48})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Usable() || s.Cases != 3 || s.Labelled != 3 || s.Frames != 3 || len(s.Previews) != 2 || s.Previews[0].Image.Bounds().Dx() != 48 {
		t.Fatalf("clean set: %+v", s)
	}
	// A label value out of range, a truncated image and a missing label.
	lab, _ := nifti.ReadLabels(filepath.Join(dir, "labelsTr", "ph001.nii.gz"))
	img, _ := nifti.Read(filepath.Join(dir, "imagesTr", "ph001_0000.nii.gz"))
	lab.Data[100] = 7
	if err := nifti.WriteLabels(filepath.Join(dir, "labelsTr", "ph001.nii.gz"), img, lab); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "imagesTr", "ph002_0000.nii.gz"), []byte("not a nifti"), 0o644)
	s, err = Scan(context.Background(), dir, ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	all := fmt.Sprint(s.Problems)
	if s.Usable() || !strings.Contains(all, "ph001.nii.gz: label value 7 in 1 voxels is outside 0..3") ||
		!strings.Contains(all, "ph002_0000.nii.gz: unreadable") || s.Labelled != 1 {
		t.Fatalf("problems: %s (labelled %d)", all, s.Labelled)
	}
	os.Remove(filepath.Join(dir, "labelsTr", "ph000.nii.gz"))
	s, _ = Scan(context.Background(), dir, ScanOptions{})
	if all := fmt.Sprint(s.Problems); !strings.Contains(all, "ph000_0000.nii.gz: no label file labelsTr/ph000.nii.gz") {
		t.Fatalf("missing label: %s", all)
	}
	s, _ = Scan(context.Background(), filepath.Join(dir, "nothing"), ScanOptions{})
	if s.Usable() || len(s.Problems) == 0 {
		t.Fatalf("missing folder: %+v", s)
	}
}

func TestScanACDC(t *testing.T) {
	src := shareddata.Require(t, "acdc/training")
	dir := t.TempDir()
	for _, id := range []string{"patient001", "patient002"} {
		os.Symlink(filepath.Join(src, id), filepath.Join(dir, id))
	}
	s, err := Scan(context.Background(), dir, ScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Usable() || s.Layout != "ACDC" || s.Cases != 2 || s.Labelled != 2 || s.Frames != 4 || len(s.Previews) != 2 {
		t.Fatalf("%+v", s)
	}
	t.Logf("ACDC: %d cases, %d frames, %d slices", s.Cases, s.Frames, s.Slices)
}

func TestExportFinalIsATrainingSet(t *testing.T) {
	st, seg := workspace.Demo()
	s := st.Series[0]
	res, err := seg.Segment(context.Background(), s, []int{0, s.ES}, nil)
	if err != nil {
		t.Fatal(err)
	}
	all := make([]*uncertainty.Result, s.NT)
	all[0], all[s.ES] = res[0], res[1]
	sess, err := session.Open(s, all, session.Options{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	root := filepath.Join(t.TempDir(), "corrected-cases")
	if _, err := ExportFinal(sess, root); err == nil {
		t.Fatal("a study not marked final was exported")
	}
	k := s.Dims[2] / 2
	ch, err := sess.Paint(0, k, []session.Point{{I: 40, J: 40}}, 3, study.LV)
	if err != nil || ch.Empty() {
		t.Fatalf("paint: %v", err)
	}
	if err := sess.MarkFinal(true); err != nil {
		t.Fatal(err)
	}
	cs, err := ExportFinal(sess, root)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 || cs[0].Phase != 1 || cs[0].Edited != len(ch.Voxels) || !strings.HasSuffix(cs[0].ID, "_frame01") {
		t.Fatalf("exported %+v (edit changed %d voxels)", cs, len(ch.Voxels))
	}
	// The trainer's own listing reads it, and the labels are the corrected ones.
	cases, err := data.List([]string{root})
	if err != nil || len(cases) != 1 {
		t.Fatalf("data.List: %v %v", cases, err)
	}
	d, err := dataset.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	smp, err := d.Cases[0].Load()
	if err != nil {
		t.Fatal(err)
	}
	got := smp.Labels[0].Data
	want := sess.Labels(0)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("voxel %d: exported %d, session %d", i, got[i], want[i])
		}
	}
	// NIfTI stores the affine in float32: equal to that precision.
	g, h := smp.Series.Geometry, s.Geometry
	close := g.Dims == h.Dims && g.Spacing == h.Spacing
	for i := 0; i < 3; i++ {
		close = close && math.Abs(g.Origin[i]-h.Origin[i]) < 1e-4
		for j := 0; j < 3; j++ {
			close = close && math.Abs(g.Direction[i][j]-h.Direction[i][j]) < 1e-6
		}
	}
	if !close {
		t.Fatalf("geometry changed: %+v vs %+v", smp.Series.Geometry, s.Geometry)
	}
	// Exporting again replaces, never duplicates.
	if _, err := ExportFinal(sess, root); err != nil {
		t.Fatal(err)
	}
	idx, _ := ReadCorrected(root)
	imgs, _ := filepath.Glob(filepath.Join(root, "imagesTr", "*.nii.gz"))
	if len(idx) != 1 || len(imgs) != 1 {
		t.Fatalf("after re-export: %d index entries, %d images", len(idx), len(imgs))
	}
	sum, _ := Scan(context.Background(), root, ScanOptions{})
	if !sum.Usable() || sum.Labelled != 1 {
		t.Fatalf("scan of corrected cases: %+v", sum)
	}
	// Adding is reversible: the study's frames leave the set, files and all.
	if cs, err := StudyCases(root, StudyKey(sess)); err != nil || len(cs) != 1 {
		t.Fatalf("study cases %v %v", cs, err)
	}
	if n, err := RemoveStudy(root, StudyKey(sess)); err != nil || n != 1 {
		t.Fatalf("remove: %d %v", n, err)
	}
	idx, _ = ReadCorrected(root)
	imgs, _ = filepath.Glob(filepath.Join(root, "*Tr", "*.nii.gz"))
	if len(idx) != 0 || len(imgs) != 0 {
		t.Fatalf("after removal: %d index entries, %d files", len(idx), len(imgs))
	}
}

// fakeBundle writes a bundle manifest with one checkpoint file.
func fakeBundle(t *testing.T, dir, name string) {
	os.MkdirAll(dir, 0o755)
	payload := []byte("weights of " + name)
	os.WriteFile(filepath.Join(dir, "c0.safetensors"), payload, 0o644)
	sum := sha256.Sum256(payload)
	m := fmt.Sprintf(`format = "cmrseg-bundle/1"
name = %q
kind = "multi-modal"
created = 2026-01-02T03:04:05Z
[network]
in_channels = 1
classes = 4
stages = 4
base_features = 8
max_features = 64
convs_per_stage = 2
[preprocessing]
spacing_mm = [1.25, 1.25]
normalization = "zscore"
[labels]
names = ["background", "RV cavity", "LV myocardium", "LV cavity"]
values = [0, 1, 2, 3]
[training]
data = "acdc"
train_cases = ["a", "b"]
epochs = 4
[[checkpoint]]
file = "c0.safetensors"
epoch = 3
sha256 = %q
`, name, hex.EncodeToString(sum[:]))
	os.WriteFile(filepath.Join(dir, ManifestName), []byte(m), 0o644)
}

func TestRegistry(t *testing.T) {
	tmp := t.TempDir()
	dirs := Dirs{Data: filepath.Join(tmp, "data"), Config: filepath.Join(tmp, "cfg")}
	bundled := filepath.Join(tmp, "bundled")
	fakeBundle(t, bundled, "shipped")
	r := &Registry{Dirs: dirs, Bundled: bundled}
	if r.Active() != bundled {
		t.Fatalf("active %q, want the bundled model", r.Active())
	}
	src := filepath.Join(tmp, "run", "bundle")
	fakeBundle(t, src, "mine")
	inst, err := r.Install(src, "run-1")
	if err != nil {
		t.Fatal(err)
	}
	inst2, err := r.Install(src, "run-1")
	if err != nil || inst2 == inst {
		t.Fatalf("second install %q %v", inst2, err)
	}
	if err := r.SetActive(inst); err != nil {
		t.Fatal(err)
	}
	// A fresh registry (next start of the app) sees the choice.
	r2 := &Registry{Dirs: dirs, Bundled: bundled}
	if r2.Active() != inst {
		t.Fatalf("active after restart %q, want %q", r2.Active(), inst)
	}
	ms := r2.List()
	if len(ms) != 3 || !ms[0].Bundled || ms[0].Active {
		t.Fatalf("list %+v", ms)
	}
	found := false
	for _, m := range ms {
		if m.Dir == inst {
			found = m.Active && m.Name == "mine" && len(m.Provenance.TrainCases) == 2 && strings.Contains(m.Summary(), "2 training case(s)")
		}
	}
	if !found {
		t.Fatalf("installed model not listed as active with provenance: %+v", ms)
	}
	c, err := FineTuneConfig(config.CPUPreset(), inst)
	if err != nil || c.Network.Stages != 4 || c.Network.BaseFeatures != 8 || c.Data.TargetSpacingMM != 1.25 {
		t.Fatalf("fine-tune config %+v %v", c.Network, err)
	}
	// A corrupted checkpoint cannot become active.
	os.WriteFile(filepath.Join(inst2, "c0.safetensors"), []byte("tampered"), 0o644)
	if err := r2.SetActive(inst2); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("tampered bundle: %v", err)
	}
	if err := r2.RestoreBundled(); err != nil || r2.Active() != bundled {
		t.Fatalf("restore: %v, active %q", err, r2.Active())
	}
	// A removed active model falls back to the bundled one.
	r2.SetActive(inst)
	os.RemoveAll(inst)
	if r2.Active() != bundled {
		t.Fatalf("active after removal %q", r2.Active())
	}
}

// A model trained on every case says whose held-out cases calibrated it.
func TestSummaryNamesTheCalibrationTwin(t *testing.T) {
	m := Model{Kind: "multi-modal", Checkpoints: 9, Provenance: Provenance{Epochs: 48, TrainCases: make([]string, 100),
		CalibrationTwin: "acdc-cpu-7-control", CalibrationCases: make([]string, 20)}}
	want := "multi-modal, 9 checkpoint(s), 48 epochs, 100 training case(s), calibrated on the 20 held-out case(s) of its twin acdc-cpu-7-control"
	if got := m.Summary(); got != want {
		t.Errorf("summary %q, want %q", got, want)
	}
	m.Provenance.CalibrationTwin = ""
	if got := m.Summary(); strings.Contains(got, "twin") {
		t.Errorf("summary %q names a twin it has not got", got)
	}
}
