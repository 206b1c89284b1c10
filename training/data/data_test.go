package data

import (
	"context"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"cmrseg/app/shareddata"
	"cmrseg/training/augment"
	"cmrseg/training/split"
)

func acdcSubset(tb testing.TB, ids ...string) string {
	tb.Helper()
	src, err := filepath.Abs(shareddata.Require(tb, "acdc/training"))
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	for _, id := range ids {
		if err := os.Symlink(filepath.Join(src, id), filepath.Join(dir, id)); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

func loadSubset(t *testing.T, ids ...string) (*Set, []Case) {
	t.Helper()
	cases, err := List([]string{acdcSubset(t, ids...)})
	if err != nil {
		t.Fatal(err)
	}
	set, err := Load(context.Background(), cases, 1.5, 4, 2)
	if err != nil {
		t.Fatal(err)
	}
	return set, cases
}

// TestLoadPreprocessesEDAndES: every patient contributes its ED and ES
// frames, z-scored, on a 1.5 mm in-plane grid with the same field of view,
// labels resampled by nearest neighbour (values stay in 0..3, class volumes
// are preserved to within the resampling error).
func TestLoadPreprocessesEDAndES(t *testing.T) {
	set, cases := loadSubset(t, "patient001", "patient041")
	if len(set.Volumes) != 4 {
		t.Fatalf("%d volumes, want ED and ES of 2 patients", len(set.Volumes))
	}
	if set.Volumes[0].Frame != 1 || set.Volumes[1].Frame != 12 {
		t.Errorf("patient001 frames %d, %d; Info.cfg says ED 1, ES 12", set.Volumes[0].Frame, set.Volumes[1].Frame)
	}
	smp, err := cases[0].Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range set.Volumes {
		g, o := v.Grid, v.Original
		for a := 0; a < 2; a++ {
			if math.Abs(g.Spacing[a]-1.5) > 0.02 {
				t.Errorf("%s: spacing %v, want ≈1.5 mm", v.Case, g.Spacing)
			}
			if fov, ofov := float64(g.Dims[a])*g.Spacing[a], float64(o.Dims[a])*o.Spacing[a]; math.Abs(fov-ofov) > 1e-6 {
				t.Errorf("%s: field of view %g mm, original %g mm", v.Case, fov, ofov)
			}
		}
		if g.Dims[2] != o.Dims[2] {
			t.Errorf("%s: %d slices, original %d", v.Case, g.Dims[2], o.Dims[2])
		}
		var counts [4]float64
		for _, l := range v.Labels {
			if l > 3 {
				t.Fatalf("%s: label %d", v.Case, l)
			}
			counts[l]++
		}
		if v.Case == "patient001" && v.Phase == 0 {
			// class volumes in ml against the original labels
			var ref [4]float64
			for _, l := range smp.Labels[0].Data {
				ref[l]++
			}
			for c := 1; c < 4; c++ {
				got := counts[c] * g.VoxelVolumeML()
				want := ref[c] * o.VoxelVolumeML()
				if math.Abs(got-want)/want > 0.05 {
					t.Errorf("class %d: %.1f ml after resampling, %.1f ml before", c, got, want)
				}
			}
		}
	}
	// z-score: on the original grid mean 0, std 1; resampling keeps it close.
	z, _, err := Preprocess(smp.Series.Phase(0), smp.Series.Geometry, smp.Series.Spacing[0])
	if err != nil {
		t.Fatal(err)
	}
	var s, sq float64
	for _, v := range z {
		s += float64(v)
		sq += float64(v) * float64(v)
	}
	mean := s / float64(len(z))
	std := math.Sqrt(sq/float64(len(z)) - mean*mean)
	if math.Abs(mean) > 0.01 || math.Abs(std-1) > 0.02 {
		t.Errorf("z-scored volume on its own grid: mean %.4f std %.4f", mean, std)
	}
}

// TestBatchesDependOnlyOnSeedEpochIteration: the same (seed, epoch,
// iteration) gives the same bytes whether drawn directly, through the
// background stream with several workers, or after other batches; other
// iterations or seeds differ; foreground-oversampled samples are centred on
// foreground.
func TestBatchesDependOnlyOnSeedEpochIteration(t *testing.T) {
	set, _ := loadSubset(t, "patient001", "patient021", "patient061")
	s := &Sampler{Set: set, Params: augment.DefaultParams(), PatchH: 64, PatchW: 48, BatchSize: 6, FGFraction: 0.33, Seed: 3}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	aug, _ := s.NewAugmenter()
	draw := func(s *Sampler, epoch, iter int) *Batch {
		b := &Batch{}
		if err := s.Draw(b, aug, epoch, iter); err != nil {
			t.Fatal(err)
		}
		return b
	}
	direct := map[int]*Batch{}
	for it := 9; it >= 0; it-- { // reverse order: no hidden state
		direct[it] = draw(s, 2, it)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := 0
	for b := range s.Stream(ctx, 2, 0, 10, 3, 2) {
		if b.Err != nil {
			t.Fatal(b.Err)
		}
		if b.Iter != n {
			t.Fatalf("stream delivered iteration %d at position %d", b.Iter, n)
		}
		if !reflect.DeepEqual(b.Image, direct[n].Image) || !reflect.DeepEqual(b.Labels, direct[n].Labels) {
			t.Errorf("iteration %d: streamed batch differs from the directly drawn one", n)
		}
		n++
	}
	if n != 10 {
		t.Fatalf("stream gave %d batches", n)
	}
	if reflect.DeepEqual(direct[0].Image, direct[1].Image) {
		t.Error("iterations 0 and 1 drew the same batch")
	}
	if reflect.DeepEqual(draw(s, 3, 0).Image, direct[0].Image) {
		t.Error("epochs 2 and 3 drew the same batch at iteration 0")
	}
	s2 := *s
	s2.Seed = 4
	if reflect.DeepEqual(draw(&s2, 2, 0).Image, direct[0].Image) {
		t.Error("seeds 3 and 4 drew the same batch")
	}
	// Foreground oversampling: the last round(6·0.33) = 2 samples are
	// centred on a foreground pixel, which nearest-neighbour label
	// resampling keeps at the patch centre.
	fg, centred := 0, 0
	for _, b := range direct {
		for i := 0; i < b.N; i++ {
			if b.Foreground[i] != (i >= 4) {
				t.Fatalf("sample %d foreground %v", i, b.Foreground[i])
			}
			if b.Foreground[i] {
				fg++
				if b.Labels[i*b.H*b.W+(b.H/2)*b.W+b.W/2] != 0 {
					centred++
				}
			}
		}
	}
	if centred != fg {
		t.Errorf("%d of %d foreground samples have foreground at the patch centre", centred, fg)
	}
}

// TestSplitIsByPatient: nnU-Net-style case IDs of one patient (frames)
// always land on the same side; the record round-trips.
func TestSplitIsByPatient(t *testing.T) {
	var cases []Case
	for _, p := range []string{"patient001", "patient002", "patient003", "patient004", "patient005", "patient006"} {
		for _, f := range []string{"_frame01", "_frame12"} {
			c := Case{Patient: p}
			c.ID = p + f
			c.Group = map[bool]string{true: "DCM", false: "NOR"}[p < "patient004"]
			cases = append(cases, c)
		}
	}
	sp, err := MakeSplit(cases, split.Options{ValCount: 2, Seed: 1, Stratify: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(sp.Val) != 4 || len(sp.Train) != 8 {
		t.Fatalf("split %v / %v", sp.Train, sp.Val)
	}
	side := map[string]string{}
	for _, id := range sp.Val {
		side[id] = "val"
	}
	groups := map[string]bool{}
	for _, c := range cases {
		s := side[c.ID]
		if other := side[strings.Replace(c.ID, "_frame01", "_frame12", 1)]; s != other {
			t.Errorf("patient %s split across sides", c.Patient)
		}
		if s == "val" {
			groups[c.Group] = true
		}
	}
	if !groups["DCM"] || !groups["NOR"] {
		t.Errorf("stratified split took validation patients from groups %v", groups)
	}
	path := filepath.Join(t.TempDir(), SplitFile)
	if err := WriteSplit(path, sp); err != nil {
		t.Fatal(err)
	}
	back, err := ReadSplit(path)
	if err != nil || !reflect.DeepEqual(back, sp) {
		t.Errorf("split record round trip: %v %+v", err, back)
	}
}

func TestBadInputNamesTheFile(t *testing.T) {
	if _, err := List([]string{filepath.Join(t.TempDir(), "missing")}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing folder: %v", err)
	}
	path := filepath.Join(t.TempDir(), SplitFile)
	os.WriteFile(path, []byte(`{"train": ["a", "b"], "val": ["b"]}`), 0o644)
	if _, err := ReadSplit(path); err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "twice") {
		t.Errorf("split listing a case twice: %v", err)
	}
	// A label beyond the classes is reported with the file and voxel.
	cases, err := List([]string{acdcSubset(t, "patient001")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Load(context.Background(), cases, 1.5, 3, 1); err == nil || !strings.Contains(err.Error(), "_gt.nii.gz") || !strings.Contains(err.Error(), "outside 0..2") {
		t.Errorf("label outside the classes: %v", err)
	}
}

// TestNNUNetLayout: an nnU-Net raw data set (here ACDC frames linked into
// imagesTr/labelsTr) loads the same volumes, and the frames of one patient
// are grouped into one patient for the split.
func TestNNUNetLayout(t *testing.T) {
	src, err := filepath.Abs(shareddata.Require(t, "acdc/training"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "imagesTr"), 0o755)
	os.Mkdir(filepath.Join(dir, "labelsTr"), 0o755)
	n := 0
	for _, id := range []string{"patient001_frame01", "patient001_frame12", "patient021_frame01"} {
		p := strings.Split(id, "_")[0]
		os.Symlink(filepath.Join(src, p, id+".nii.gz"), filepath.Join(dir, "imagesTr", id+"_0000.nii.gz"))
		os.Symlink(filepath.Join(src, p, id+"_gt.nii.gz"), filepath.Join(dir, "labelsTr", id+".nii.gz"))
		n++
	}
	js := fmt.Sprintf(`{"name": "ACDC", "channel_names": {"0": "cineMRI"}, "labels": {"background": 0, "RV": 1, "MLV": 2, "LVC": 3}, "numTraining": %d, "file_ending": ".nii.gz"}`, n)
	os.WriteFile(filepath.Join(dir, "dataset.json"), []byte(js), 0o644)
	cases, err := List([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) != 3 || cases[0].Patient != "patient001" || cases[1].Patient != "patient001" || cases[2].Patient != "patient021" {
		t.Fatalf("cases %+v", cases)
	}
	set, err := Load(context.Background(), cases, 1.5, 4, 2)
	if err != nil {
		t.Fatal(err)
	}
	acdc, _ := loadSubset(t, "patient001")
	if len(set.Volumes) != 3 || !reflect.DeepEqual(set.Volumes[0].Image, acdc.Volumes[0].Image) || !reflect.DeepEqual(set.Volumes[1].Labels, acdc.Volumes[1].Labels) {
		t.Errorf("nnU-Net volumes differ from the ACDC ones")
	}
	sp, err := MakeSplit(cases, split.Options{ValCount: 1, Seed: 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(sp.Val) == 0 || (len(sp.Val) == 2) != strings.HasPrefix(sp.Val[0], "patient001") {
		t.Errorf("split %v / %v separates a patient's frames", sp.Train, sp.Val)
	}
}
