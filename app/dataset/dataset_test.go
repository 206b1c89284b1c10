package dataset

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"cmrseg/app/nifti"
	"cmrseg/app/shareddata"
	"cmrseg/app/study"
)

// TestACDC opens the real ACDC training folder and checks every case's
// Info.cfg fields against an independent Python parse, the group counts,
// and that the listed frames are exactly ED and ES.
func TestACDC(t *testing.T) {
	root := shareddata.Require(t, "acdc/training")
	py := shareddata.Python(t)
	out, err := exec.Command(py, "-c", `
import sys, os, json, glob
res = {}
for cfg in glob.glob(os.path.join(sys.argv[1], '*', 'Info.cfg')):
    kv = dict(l.split(':', 1) for l in open(cfg).read().splitlines() if ':' in l)
    kv = {k.strip(): v.strip() for k, v in kv.items()}
    res[os.path.basename(os.path.dirname(cfg))] = {'ED': int(kv['ED']), 'ES': int(kv['ES']), 'Group': kv['Group'],
        'HeightCm': float(kv['Height']), 'WeightKg': float(kv['Weight']), 'NbFrame': int(kv['NbFrame'])}
json.dump(res, sys.stdout)`, root).Output()
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]Info
	if err := json.Unmarshal(out, &want); err != nil {
		t.Fatal(err)
	}

	d, err := Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if d.Layout != ACDC || len(d.Cases) != 100 || len(want) != 100 {
		t.Fatalf("layout %v with %d cases (python found %d)", d.Layout, len(d.Cases), len(want))
	}
	groups := map[string]int{}
	cines := 0
	for _, c := range d.Cases {
		groups[c.Group]++
		if c.Info != want[c.ID] {
			t.Errorf("%s: info %+v, python %+v", c.ID, c.Info, want[c.ID])
		}
		ed, es := min(c.ED, c.ES), max(c.ED, c.ES)
		if !slices.Equal(c.Frames, []int{ed, es}) {
			t.Errorf("%s: frames %v, want ED %d and ES %d", c.ID, c.Frames, c.ED, c.ES)
		}
		for i, p := range c.LabelPaths {
			if p != strings.Replace(c.ImagePaths[i], ".nii.gz", "_gt.nii.gz", 1) {
				t.Errorf("%s: label %q for image %q", c.ID, p, c.ImagePaths[i])
			}
		}
		if c.CinePath != "" {
			cines++
		}
	}
	if fmt.Sprint(groups) != "map[DCM:20 HCM:20 MINF:20 NOR:20 RV:20]" {
		t.Errorf("groups %v, want 20 each of DCM HCM MINF NOR RV", groups)
	}
	if cines != 1 {
		t.Errorf("%d cines, want 1 (patient090)", cines)
	}
}

// TestACDCLoad loads one patient per group as ED/ES pairs and patient090's
// full cine, checking phases, metadata and that voxels are the files'.
func TestACDCLoad(t *testing.T) {
	root := shareddata.Require(t, "acdc/training")
	for _, id := range []string{"patient001", "patient021", "patient041", "patient061", "patient081", "patient090"} {
		c, err := ReadPatient(filepath.Join(root, id))
		if err != nil {
			t.Fatal(err)
		}
		s, err := c.Load()
		if err != nil {
			t.Fatal(err)
		}
		ser := s.Series
		if ser.NT != 2 || ser.PhaseNumbers[ser.ED] != c.ED || ser.PhaseNumbers[ser.ES] != c.ES || ser.ED == ser.ES {
			t.Errorf("%s: NT %d ED %d ES %d phases %v, Info ED %d ES %d", id, ser.NT, ser.ED, ser.ES, ser.PhaseNumbers, c.ED, c.ES)
		}
		if ser.Meta.Group != c.Group || ser.Meta.HeightM != c.HeightCm/100 || ser.Meta.WeightKg != c.WeightKg || ser.Meta.Group == "" {
			t.Errorf("%s: metadata %+v", id, ser.Meta)
		}
		for i, p := range c.ImagePaths {
			v, err := nifti.Read(p)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(ser.Phase(i), v.Data) {
				t.Errorf("%s: phase %d is not %s", id, i, p)
			}
			if s.Labels[i] == nil || s.Labels[i].Geometry != ser.Geometry || countNonZero(s.Labels[i]) == 0 {
				t.Errorf("%s: phase %d labels missing or empty", id, i)
			}
		}
	}

	c, err := ReadPatient(filepath.Join(root, "patient090"))
	if err != nil {
		t.Fatal(err)
	}
	cine, err := c.LoadCine()
	if err != nil {
		t.Fatal(err)
	}
	pair, err := c.Load()
	if err != nil {
		t.Fatal(err)
	}
	s := cine.Series
	if s.NT != c.NbFrame || s.ED != c.ED-1 || s.ES != c.ES-1 || len(s.PhaseNumbers) != s.NT {
		t.Fatalf("cine NT %d ED %d ES %d, Info %+v", s.NT, s.ED, s.ES, c.Info)
	}
	for i, frame := range c.Frames {
		// The frame files are cut from the cine: the voxels must agree.
		if !slices.Equal(s.Phase(frame-1), pair.Series.Phase(i)) {
			t.Errorf("cine phase %d differs from %s", frame-1, c.ImagePaths[i])
		}
		if cine.Labels[frame-1] == nil {
			t.Errorf("no labels at cine phase %d", frame-1)
		}
	}
	if n := nonNil(cine.Labels); n != 2 {
		t.Errorf("%d labelled phases, want 2", n)
	}
}

func countNonZero(l *study.Labels) int {
	n := 0
	for _, v := range l.Data {
		if v != 0 {
			n++
		}
	}
	return n
}

func nonNil(ls []*study.Labels) int {
	n := 0
	for _, l := range ls {
		if l != nil {
			n++
		}
	}
	return n
}

// makeNNUNet writes a small nnU-Net v2 raw dataset of n generated cases.
func makeNNUNet(t *testing.T, n int) string {
	dir := t.TempDir()
	for _, sub := range []string{"imagesTr", "labelsTr"} {
		os.MkdirAll(filepath.Join(dir, sub), 0o755)
	}
	g := study.Geometry{Dims: [3]int{6, 5, 3}, Spacing: [3]float64{1.5, 1.5, 8}, Direction: [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}
	for i := range n {
		s := &study.Series{Geometry: g, NT: 1, Data: make([]float32, g.N())}
		l := &study.Labels{Geometry: g, Data: make([]uint8, g.N())}
		for v := range s.Data {
			s.Data[v] = float32(100*i + v)
			l.Data[v] = uint8((v + i) % 4)
		}
		id := fmt.Sprintf("ACDC_%03d", i+1)
		if err := nifti.Write(filepath.Join(dir, "imagesTr", id+"_0000.nii.gz"), s, nifti.Int16); err != nil {
			t.Fatal(err)
		}
		if err := nifti.WriteLabels(filepath.Join(dir, "labelsTr", id+".nii.gz"), s, l); err != nil {
			t.Fatal(err)
		}
	}
	writeJSON(t, dir, fmt.Sprintf(`{"name": "Dataset027_ACDC", "channel_names": {"0": "cineMRI"},
		"labels": {"background": 0, "RV": 1, "MLV": 2, "LVC": 3}, "numTraining": %d, "file_ending": ".nii.gz"}`, n))
	return dir
}

func writeJSON(t *testing.T, dir, s string) {
	if err := os.WriteFile(filepath.Join(dir, "dataset.json"), []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestNNUNet(t *testing.T) {
	dir := makeNNUNet(t, 3)
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if d.Layout != NNUNet || d.Name != "Dataset027_ACDC" || len(d.Cases) != 3 || d.Labels["LVC"] != 3 {
		t.Fatalf("%+v", d)
	}
	c, ok := d.Case("ACDC_002")
	if !ok {
		t.Fatal("case ACDC_002 not listed")
	}
	s, err := c.Load()
	if err != nil {
		t.Fatal(err)
	}
	if s.Series.NT != 1 || s.Series.Data[7] != 107 || s.Labels[0] == nil || s.Labels[0].Data[7] != 0 || s.Labels[0].Data[6] != 3 {
		t.Errorf("loaded %v labels %v", s.Series.Data[:8], s.Labels[0])
	}
	if s.Series.ED != -1 || s.Series.Meta.SeriesDescription != "ACDC_002" {
		t.Errorf("ED %d description %q", s.Series.ED, s.Series.Meta.SeriesDescription)
	}

	// Broken layouts give errors that name what is wrong.
	os.Remove(filepath.Join(dir, "labelsTr", "ACDC_003.nii.gz"))
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "ACDC_003 has no label file") {
		t.Errorf("missing label: %v", err)
	}
	dir = makeNNUNet(t, 2)
	writeJSON(t, dir, `{"channel_names": {"0": "MRI"}, "labels": {"background": 0}, "numTraining": 5}`)
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "numTraining 5 but imagesTr holds 2") {
		t.Errorf("count mismatch: %v", err)
	}
	writeJSON(t, dir, `{"channel_names": {"0": "MRI"}, "labels": {"background": 0, "heart": [1, 2]}, "numTraining": 2}`)
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "region-based") {
		t.Errorf("regions: %v", err)
	}
	writeJSON(t, dir, `{"channel_names": `)
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "dataset.json") {
		t.Errorf("bad json: %v", err)
	}
	if _, err := Open(t.TempDir()); err == nil || !strings.Contains(err.Error(), "neither") {
		t.Errorf("empty folder: %v", err)
	}
}

func TestReadInfoErrors(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ text, want string }{
		{"ED: 1\nES: x\nGroup: NOR\n", "bad ES"},
		{"ED: 1\nGroup: NOR\n", "no ES"},
		{"ED: 1\nES: 40\nGroup: NOR\nNbFrame: 30\n", "outside frames"},
		{"ED 1\n", "not \"Key: value\""},
	} {
		p := filepath.Join(dir, "Info.cfg")
		os.WriteFile(p, []byte(c.text), 0o644)
		if _, err := ReadInfo(p); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), p) {
			t.Errorf("%q: %v, want %q", c.text, err, c.want)
		}
	}
}
