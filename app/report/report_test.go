package report

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"cmrseg/app/shareddata"
	"cmrseg/app/study"
)

// 4x4x2 voxels of 10 mm: one voxel is exactly 1 ml.
var cube = study.Geometry{Dims: [3]int{4, 4, 2}, Spacing: [3]float64{10, 10, 10}}

// labelMap puts counts[c] voxels of class c one after another.
func labelMap(n int, counts map[uint8]int) []uint8 {
	l := make([]uint8, n)
	i := 0
	for c := uint8(1); c < study.NumClasses; c++ {
		for range counts[c] {
			l[i] = c
			i++
		}
	}
	return l
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func mustIndex(t *testing.T, r *Report, key string) Index {
	t.Helper()
	ix, ok := r.Index(key)
	if !ok {
		t.Fatalf("no index %s", key)
	}
	return ix
}

func TestHandComputed(t *testing.T) {
	n := cube.N()
	in := Input{
		Geometry: cube,
		Meta:     study.Metadata{PatientID: "P1", HeightM: 1.8, WeightKg: 80}, // BSA sqrt(180*80/3600) = 2
		ED:       Phase{Index: 0, Labels: labelMap(n, map[uint8]int{study.LV: 10, study.RV: 8, study.Myocardium: 6})},
		ES:       Phase{Index: 9, Labels: labelMap(n, map[uint8]int{study.LV: 4, study.RV: 6, study.Myocardium: 9})},
	}
	r, err := Compute(in)
	if err != nil {
		t.Fatal(err)
	}
	if !near(r.BSA, 2) || !near(r.VoxelML, 1) {
		t.Fatalf("BSA %v voxel %v, want 2 and 1", r.BSA, r.VoxelML)
	}
	want := map[string][2]float64{ // value, per BSA (NaN: not indexed)
		LVEDV: {10, 5}, LVESV: {4, 2}, LVSV: {6, 3}, LVEF: {60, math.NaN()},
		RVEDV: {8, 4}, RVESV: {6, 3}, RVSV: {2, 1}, RVEF: {25, math.NaN()},
		LVMass: {6.3, 3.15},
	}
	for key, w := range want {
		ix := mustIndex(t, r, key)
		if !near(ix.Value, w[0]) {
			t.Errorf("%s = %v, want %v", key, ix.Value, w[0])
		}
		if math.IsNaN(w[1]) != math.IsNaN(ix.PerBSA) || (!math.IsNaN(w[1]) && !near(ix.PerBSA, w[1])) {
			t.Errorf("%s per BSA = %v, want %v", key, ix.PerBSA, w[1])
		}
		if !math.IsNaN(ix.Low) || !math.IsNaN(ix.High) {
			t.Errorf("%s has an interval without samples", key)
		}
	}
	if len(r.Indices) != len(want) {
		t.Errorf("%d indices, want %d", len(r.Indices), len(want))
	}
	// Unknown height: no indexing.
	in.Meta.HeightM = 0
	r, _ = Compute(in)
	if r.BSA != 0 || !math.IsNaN(mustIndex(t, r, LVEDV).PerBSA) {
		t.Errorf("unknown height still indexed: BSA %v", r.BSA)
	}
	// Empty ventricle: EF undefined, not a division by zero.
	in.ED.Labels = make([]uint8, n)
	r, _ = Compute(in)
	if !math.IsNaN(mustIndex(t, r, LVEF).Value) {
		t.Errorf("EF of empty LV = %v, want NaN", mustIndex(t, r, LVEF).Value)
	}
}

func TestCredibleIntervals(t *testing.T) {
	n := cube.N()
	var edS, esS [][]uint8
	for _, lv := range []int{8, 9, 10, 11, 12} {
		edS = append(edS, labelMap(n, map[uint8]int{study.LV: lv, study.Myocardium: 5}))
		esS = append(esS, labelMap(n, map[uint8]int{study.LV: 4, study.Myocardium: 5}))
	}
	in := Input{
		Geometry: cube,
		ED:       Phase{Labels: edS[2], Samples: edS, Ensemble: edS[2]},
		ES:       Phase{Index: 7, Labels: esS[0], Samples: esS, Ensemble: esS[0]},
	}
	r, err := Compute(in)
	if err != nil {
		t.Fatal(err)
	}
	if r.Checkpoints != 5 {
		t.Fatalf("checkpoints %d, want 5", r.Checkpoints)
	}
	edv := mustIndex(t, r, LVEDV)
	// numpy.percentile([8,9,10,11,12], [2.5, 97.5]) = [8.1, 11.9]
	if !near(edv.Value, 10) || !near(edv.Low, 8.1) || !near(edv.High, 11.9) {
		t.Errorf("LV EDV %v [%v, %v], want 10 [8.1, 11.9]", edv.Value, edv.Low, edv.High)
	}
	// EF per checkpoint pairs ED k with ES k: 50, 55.6, 60, 63.6, 66.7.
	efs := []float64{50, 500.0 / 9, 60, 700.0 / 11, 800.0 / 12}
	ef := mustIndex(t, r, LVEF)
	wantLo := efs[0] + 0.1*(efs[1]-efs[0])
	wantHi := efs[3] + 0.9*(efs[4]-efs[3])
	if !near(ef.Low, wantLo) || !near(ef.High, wantHi) {
		t.Errorf("LV EF interval [%v, %v], want [%v, %v]", ef.Low, ef.High, wantLo, wantHi)
	}
	esv := mustIndex(t, r, LVESV)
	if !near(esv.Low, 4) || !near(esv.High, 4) {
		t.Errorf("LV ESV interval [%v, %v], want [4, 4]", esv.Low, esv.High)
	}

	// labelMap puts myocardium at voxels 0..4 and LV from 5 on, so sample k
	// has LV at 5..4+lv. The reviewer erases LV voxels 13 and 14 of the
	// ensemble's labels (edS[2]): every sample now has background there and
	// the per-sample LV counts become 8, 8, 8, 9, 10.
	edited := append([]uint8(nil), edS[2]...)
	edited[13], edited[14] = 0, 0
	in.ED.Labels = edited
	r, _ = Compute(in)
	edv = mustIndex(t, r, LVEDV)
	if !near(edv.Value, 8) || !near(edv.Low, 8) || !near(edv.High, 9.9) {
		t.Errorf("after edit LV EDV %v [%v, %v], want 8 [8, 9.9]", edv.Value, edv.Low, edv.High)
	}
	if mass := mustIndex(t, r, LVMass); !near(mass.Value, 5*MyocardialDensity) || !near(mass.High, mass.Low) {
		t.Errorf("mass after edit %v [%v, %v], want %v", mass.Value, mass.Low, mass.High, 5*MyocardialDensity)
	}

	// Accepting every slice settles all voxels: the interval collapses.
	in.ED.Accepted = []bool{true, true}
	r, _ = Compute(in)
	edv = mustIndex(t, r, LVEDV)
	if !near(edv.Low, 8) || !near(edv.High, 8) {
		t.Errorf("all accepted: LV EDV interval [%v, %v], want [8, 8]", edv.Low, edv.High)
	}

	// Unpaired sample counts: no intervals rather than wrong ones.
	in.ES.Samples = esS[:3]
	r, _ = Compute(in)
	if r.Checkpoints != 0 || !math.IsNaN(mustIndex(t, r, LVEF).Low) {
		t.Errorf("unpaired samples gave intervals")
	}
}

// A single-frame study (ED = ES) has no stroke volume: ESV, SV and EF are
// undefined, in the values and the intervals, while EDV and mass stand.
func TestSinglePhase(t *testing.T) {
	n := cube.N()
	l := labelMap(n, map[uint8]int{study.LV: 10, study.RV: 8, study.Myocardium: 6})
	samples := [][]uint8{l, l, l}
	r, err := Compute(Input{Geometry: cube,
		ED: Phase{Index: 3, Labels: l, Samples: samples},
		ES: Phase{Index: 3, Labels: l, Samples: samples}})
	if err != nil {
		t.Fatal(err)
	}
	if !r.SinglePhase {
		t.Error("ED = ES not reported as a single phase")
	}
	for _, key := range []string{LVESV, LVSV, LVEF, RVESV, RVSV, RVEF} {
		if ix := mustIndex(t, r, key); !math.IsNaN(ix.Value) || !math.IsNaN(ix.Low) || !math.IsNaN(ix.High) {
			t.Errorf("%s = %v [%v, %v] from one phase, want undefined", key, ix.Value, ix.Low, ix.High)
		}
	}
	if v := mustIndex(t, r, LVEDV).Value; !near(v, 10) {
		t.Errorf("LV EDV %v, want 10", v)
	}
	if v := mustIndex(t, r, LVMass).Value; !near(v, 6*MyocardialDensity) {
		t.Errorf("LV mass %v, want %v", v, 6*MyocardialDensity)
	}
	b, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var j struct {
		SinglePhase bool `json:"single_phase"`
		Indices     []struct {
			Key   string   `json:"key"`
			Value *float64 `json:"value"`
		} `json:"indices"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatal(err)
	}
	if !j.SinglePhase {
		t.Errorf("JSON lacks single_phase: %s", b)
	}
	for _, ix := range j.Indices {
		if ix.Key == LVEF && ix.Value != nil {
			t.Errorf("JSON LV EF %v from one phase, want null", *ix.Value)
		}
	}
}

func TestComputeRejectsBadInput(t *testing.T) {
	n := cube.N()
	good := make([]uint8, n)
	cases := map[string]Input{
		"geometry":  {Geometry: study.Geometry{}, ED: Phase{Labels: good}, ES: Phase{Labels: good}},
		"ed size":   {Geometry: cube, ED: Phase{Labels: good[:3]}, ES: Phase{Labels: good}},
		"es sample": {Geometry: cube, ED: Phase{Labels: good}, ES: Phase{Labels: good, Samples: [][]uint8{good[:1]}}},
		"ensemble":  {Geometry: cube, ED: Phase{Labels: good, Ensemble: good[:5]}, ES: Phase{Labels: good}},
	}
	for name, in := range cases {
		if _, err := Compute(in); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestPercentileMatchesNumpy(t *testing.T) {
	py := shareddata.Python(t, "numpy")
	rng := rand.New(rand.NewPCG(3, 4))
	var lines []string
	var want [][]float64
	qs := []float64{0, 2.5, 50, 97.5, 100}
	for trial := 0; trial < 20; trial++ {
		v := make([]float64, 1+rng.IntN(15))
		var s []string
		for i := range v {
			v[i] = math.Round(rng.NormFloat64()*1000) / 10
			s = append(s, strconv.FormatFloat(v[i], 'g', -1, 64))
		}
		lines = append(lines, strings.Join(s, " "))
		var w []float64
		for _, q := range qs {
			w = append(w, Percentile(v, q))
		}
		want = append(want, w)
	}
	script := `
import sys, numpy as np
for line in sys.stdin:
    v = np.array([float(x) for x in line.split()])
    print(" ".join(repr(float(x)) for x in np.percentile(v, [0, 2.5, 50, 97.5, 100])))
`
	cmd := exec.Command(py, "-c", script)
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for trial := 0; sc.Scan(); trial++ {
		for q, f := range strings.Fields(sc.Text()) {
			np, _ := strconv.ParseFloat(f, 64)
			if math.Abs(np-want[trial][q]) > 1e-9 {
				t.Errorf("trial %d q=%v: %v, numpy %v", trial, qs[q], want[trial][q], np)
			}
		}
	}
	if !math.IsNaN(Percentile(nil, 50)) {
		t.Error("percentile of nothing is not NaN")
	}
}

func TestExport(t *testing.T) {
	n := cube.N()
	r, err := Compute(Input{
		Geometry: cube,
		Meta:     study.Metadata{PatientID: "P1", HeightM: 1.8, WeightKg: 80},
		ED:       Phase{Labels: labelMap(n, map[uint8]int{study.LV: 10, study.Myocardium: 6})},
		ES:       Phase{Index: 5, Labels: labelMap(n, map[uint8]int{study.LV: 4})},
		Segments: SegmentsWithIntervals,
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	csvPath, jsonPath := filepath.Join(dir, "r.csv"), filepath.Join(dir, "r.json")
	if err := os.WriteFile(csvPath, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteCSV(csvPath); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteJSON(jsonPath); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Open(csvPath)
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	// Indices, the two rates, LV and RV volume of the two phases; the
	// cube's labels have no RV against myocardium, so no AHA rows.
	if len(rows) != 1+len(r.Indices)+2+2*2 || rows[0][0] != "patient_id" || rows[0][3] != "index" || r.AHA != nil || r.AHANote == "" {
		t.Fatalf("CSV has %d rows, header %v; AHA %v (%s)", len(rows), rows[0], r.AHA, r.AHANote)
	}
	// Every row names the patient and the 1-based phases.
	byKey := map[string][]string{}
	for _, row := range rows[1:] {
		// Every row names the patient and the 1-based ED and ES phases.
		if row[0] != r.PatientID || row[1] != strconv.Itoa(r.EDPhase+1) || row[2] != strconv.Itoa(r.ESPhase+1) {
			t.Fatalf("CSV row %v does not name patient %q, ED %d, ES %d", row, r.PatientID, r.EDPhase+1, r.ESPhase+1)
		}
		row = row[3:]
		if row[0] == "lv_volume" {
			byKey[row[0]+row[10]] = row
			continue
		}
		byKey[row[0]] = row
	}
	// Volume rows name their phase (1-based); no trigger times: no time.
	if v := byKey["lv_volume6"]; len(v) != 18 || v[3] != "4.0" || v[11] != "" || byKey["lv_volume1"][3] != "10.0" {
		t.Errorf("CSV LV volume rows %v / %v", byKey["lv_volume1"], v)
	}
	if v := byKey[LVPeakEjection]; v[2] != "ml/s" || v[3] != "" {
		t.Errorf("CSV peak ejection without timing %v, want an empty value", v)
	}
	if v := byKey[LVEF]; v[3] != "60.0" || v[4] != "" || v[6] != "" {
		t.Errorf("CSV LV EF row %v, want value 60.0 and empty interval and per-BSA", v)
	}
	if v := byKey[LVEDV]; v[6] != "5.0" || v[9] != "ml/m2" {
		t.Errorf("CSV LV EDV row %v, want 5.0 ml/m2 per BSA", v)
	}
	if v := byKey[RVEF]; v[3] != "" {
		t.Errorf("CSV RV EF of empty RV = %q, want empty", v[3])
	}

	b, err := os.ReadFile(jsonPath)
	if err != nil {
		t.Fatal(err)
	}
	var j struct {
		Notice    string   `json:"notice"`
		PatientID string   `json:"patient_id"`
		ED        int      `json:"ed_phase_1based"`
		ES        int      `json:"es_phase_1based"`
		BSA       *float64 `json:"bsa_m2"`
		Indices   []struct {
			Key   string   `json:"key"`
			Value *float64 `json:"value"`
			Low   *float64 `json:"ci95_low"`
		} `json:"indices"`
		Curves struct {
			Timing string `json:"timing"`
			Points []struct {
				Phase  int      `json:"phase_1based"`
				TimeMS *float64 `json:"time_ms"`
				LV     float64  `json:"lv_ml"`
			} `json:"points"`
		} `json:"curves"`
		AHANote string `json:"aha_note"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		t.Fatalf("JSON does not parse: %v\n%s", err, b)
	}
	if j.PatientID != "P1" || j.BSA == nil || !near(*j.BSA, 2) || !strings.Contains(j.Notice, "Research use only") {
		t.Errorf("JSON header: %+v", j)
	}
	// Phase numbers in exports count from 1, as the window shows them.
	if j.ED != 1 || j.ES != 6 {
		t.Errorf("JSON phases ED %d ES %d, want 1 and 6 (1-based)", j.ED, j.ES)
	}
	if p := j.Curves.Points; len(p) != 2 || p[0].Phase != 1 || p[1].Phase != 6 || p[1].LV != 4 || p[0].TimeMS != nil ||
		!strings.Contains(j.Curves.Timing, "unknown") || !strings.Contains(j.AHANote, "RV") {
		t.Errorf("JSON curves %+v, AHA note %q", j.Curves, j.AHANote)
	}
	for _, ix := range j.Indices {
		switch ix.Key {
		case LVEDV:
			if ix.Value == nil || *ix.Value != 10 || ix.Low != nil {
				t.Errorf("JSON LV EDV %+v", ix)
			}
		case RVEF:
			if ix.Value != nil {
				t.Errorf("JSON RV EF of empty RV = %v, want null", *ix.Value)
			}
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("export left %d files behind, want 2", len(ents))
	}
	if err := r.WriteCSV(filepath.Join(dir, "missing", "r.csv")); err == nil {
		t.Error("writing into a missing folder succeeded")
	}
}

// TestACDCPatient001 compares LV and RV volumes and EF from the ground-truth
// labels with numpy's count x voxel volume read independently by nibabel.
func TestACDCPatient001(t *testing.T) {
	dir := shareddata.Require(t, "acdc/training/patient001")
	py := shareddata.Python(t, "numpy", "nibabel")
	tmp := t.TempDir()
	script := `
import sys, numpy as np, nibabel as nib
src, out = sys.argv[1], sys.argv[2]
for name in ("frame01", "frame12"):
    img = nib.load(f"{src}/patient001_{name}_gt.nii.gz")
    lab = np.rint(np.asanyarray(img.dataobj)).astype(np.uint8)
    z = [float(v) for v in img.header.get_zooms()[:3]]
    lab.ravel(order="F").tofile(f"{out}/{name}.u8")
    vml = z[0]*z[1]*z[2]/1000
    counts = [int((lab == c).sum()) for c in range(4)]
    print(name, *lab.shape, *z, *[counts[c]*vml for c in range(4)])
`
	out, err := exec.Command(py, "-c", script, dir, tmp).CombinedOutput()
	if err != nil {
		t.Fatalf("nibabel: %v\n%s", err, out)
	}
	type ref struct {
		g   study.Geometry
		vol [4]float64
	}
	refs := map[string]ref{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		var v []float64
		for _, s := range f[1:] {
			x, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatalf("bad oracle line %q", line)
			}
			v = append(v, x)
		}
		refs[f[0]] = ref{
			g:   study.Geometry{Dims: [3]int{int(v[0]), int(v[1]), int(v[2])}, Spacing: [3]float64{v[3], v[4], v[5]}},
			vol: [4]float64{v[6], v[7], v[8], v[9]},
		}
	}
	ed, es := refs["frame01"], refs["frame12"]
	read := func(name string) []uint8 {
		b, err := os.ReadFile(filepath.Join(tmp, name+".u8"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	r, err := Compute(Input{
		Geometry: ed.g,
		Meta:     study.Metadata{PatientID: "patient001", HeightM: 1.84, WeightKg: 95},
		ED:       Phase{Index: 0, Labels: read("frame01")},
		ES:       Phase{Index: 11, Labels: read("frame12")},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantEF := 100 * (ed.vol[3] - es.vol[3]) / ed.vol[3]
	checks := []struct {
		key  string
		want float64
	}{
		{LVEDV, ed.vol[3]}, {LVESV, es.vol[3]}, {LVEF, wantEF},
		{RVEDV, ed.vol[1]}, {RVESV, es.vol[1]}, {LVMass, ed.vol[2] * 1.05},
	}
	for _, c := range checks {
		got := mustIndex(t, r, c.key).Value
		if math.Abs(got-c.want) > 1e-6*math.Max(1, math.Abs(c.want)) {
			t.Errorf("%s = %v, numpy %v", c.key, got, c.want)
		}
	}
	// patient001 is a DCM case: dilated LV with a low EF.
	if edv := mustIndex(t, r, LVEDV).Value; edv < 200 || wantEF > 40 {
		t.Errorf("patient001 LV EDV %v ml, EF %v %%: not the dilated, poorly contracting LV of a DCM case", edv, wantEF)
	}
	t.Logf("patient001: LV EDV %.1f ml, ESV %.1f ml, EF %.1f %%, mass %.1f g, BSA %.2f m²",
		ed.vol[3], es.vol[3], wantEF, mustIndex(t, r, LVMass).Value, r.BSA)
}
