package report

import (
	"math"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"cmrseg/app/nifti"
	"cmrseg/app/phantom"
	"cmrseg/app/shareddata"
	"cmrseg/app/study"
)

// TestBasalRuleSynthetic: on the phantom, the basal slice's myocardium is
// cut back to a third of a ring, so its blood pool is less than half
// surrounded: the rule must leave exactly that slice's cavity out of the
// LV volume, and nothing else. The intact phantom loses nothing.
func TestBasalRuleSynthetic(t *testing.T) {
	s, labels, truth := phantom.Generate(phantom.Options{Seed: 1})
	g := s.Geometry
	nx, ny, nz := g.Dims[0], g.Dims[1], g.Dims[2]
	plane := nx * ny
	ed := append([]uint8(nil), labels[truth.ED].Data...)
	if ex := BasalExcluded(g, ed); len(ex) != 0 {
		t.Fatalf("intact phantom: slices %v excluded", ex)
	}
	first, _ := study.BaseAtFirst(ed, g.Dims)
	base := 0
	for k := range nz {
		if !first {
			k = nz - 1 - k
		}
		if !math.IsNaN(SurroundFraction(ed[k*plane:(k+1)*plane], nx, ny)) {
			base = k
			break
		}
	}
	lab := ed[base*plane : (base+1)*plane]
	var cu, cv float64
	n := 0
	for p, l := range lab {
		if l == study.LV {
			cu, cv, n = cu+float64(p%nx), cv+float64(p/nx), n+1
		}
	}
	cu, cv = cu/float64(n), cv/float64(n)
	cavity := 0
	for p, l := range lab {
		if l == study.LV {
			cavity++
		}
		// Keep myocardium only in a 120° sector: the LVOT-like opening.
		if a := math.Atan2(float64(p/nx)-cv, float64(p%nx)-cu) * 180 / math.Pi; l == study.Myocardium && (a < 0 || a >= 120) {
			lab[p] = study.Background
		}
	}
	if f := SurroundFraction(lab, nx, ny); !(f < 0.5) || f < 0.2 {
		t.Fatalf("cut basal slice %d: surrounded %.2f, want about a third", base+1, f)
	}
	if ex := BasalExcluded(g, ed); len(ex) != 1 || ex[0] != base {
		t.Fatalf("excluded %v, want [%d]", ex, base)
	}
	in := Input{Geometry: g, Meta: s.Meta, ED: Phase{Index: truth.ED, Labels: ed}, ES: Phase{Index: truth.ES, Labels: labels[truth.ES].Data}}
	off, err := Compute(in)
	if err != nil {
		t.Fatal(err)
	}
	in.BasalRule = true
	on, err := Compute(in)
	if err != nil {
		t.Fatal(err)
	}
	vml := g.VoxelVolumeML()
	want := mustIndex(t, off, LVEDV).Value - float64(cavity)*vml
	if got := mustIndex(t, on, LVEDV).Value; math.Abs(got-want) > 1e-9 {
		t.Errorf("EDV with the rule %.3f ml, want %.3f", got, want)
	}
	if mustIndex(t, on, LVESV).Value != mustIndex(t, off, LVESV).Value {
		t.Error("ES changed although its basal slice is intact")
	}
	if on.Basal.With[0] != mustIndex(t, on, LVEDV).Value || on.Basal.Without[0] != mustIndex(t, off, LVEDV).Value || off.Basal.With != on.Basal.With {
		t.Errorf("effect %+v / %+v does not state both ways", on.Basal, off.Basal)
	}
	if mustIndex(t, on, LVMass).Value != mustIndex(t, off, LVMass).Value {
		t.Error("the rule changed the myocardial mass")
	}
	// The ED point of the volume curve follows the rule too.
	if p, _ := on.Curves.Point(truth.ED); math.Abs(p.LV-want) > 1e-9 {
		t.Errorf("curve at ED %.3f ml, want %.3f", p.LV, want)
	}
	t.Logf("phantom: basal slice %d surrounded %.2f; LV EDV %.1f → %.1f ml, EF %.1f → %.1f %%", base+1,
		SurroundFraction(lab, nx, ny), on.Basal.Without[0], on.Basal.With[0], on.Basal.Without[2], on.Basal.With[2])
}

// TestBasalRuleACDCPatient001: on the expert labels of ACDC patient001 the
// surrounded fraction of every slice matches numpy's count of the cavity
// border, and the rule's effect on EDV/ESV/EF is logged.
func TestBasalRuleACDCPatient001(t *testing.T) {
	dir := shareddata.Require(t, "acdc/training/patient001")
	py := shareddata.Python(t, "numpy", "nibabel")
	script := `
import sys, numpy as np, nibabel as nib
for name in ("frame01", "frame12"):
    lab = np.rint(np.asanyarray(nib.load(f"{sys.argv[1]}/patient001_{name}_gt.nii.gz").dataobj)).astype(np.uint8)
    fr = []
    for k in range(lab.shape[2]):
        s = np.pad(lab[:, :, k], 1)  # outside the image: not myocardium
        lv = s == 3
        edges = myo = 0
        for d in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            nb = np.roll(s, (-d[0], -d[1]), axis=(0, 1))
            e = lv & (nb != 3)
            edges += int(e.sum()); myo += int((e & (nb == 2)).sum())
        fr.append(repr(myo / edges) if edges else "nan")
    print(name, *fr)
`
	out, err := exec.Command(py, "-c", script, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("numpy: %v\n%s", err, out)
	}
	want := map[string][]float64{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		for _, v := range f[1:] {
			x, _ := strconv.ParseFloat(v, 64)
			want[f[0]] = append(want[f[0]], x)
		}
	}
	var in Input
	for _, name := range []string{"frame01", "frame12"} {
		l, err := nifti.ReadLabels(filepath.Join(dir, "patient001_"+name+"_gt.nii.gz"))
		if err != nil {
			t.Fatal(err)
		}
		g := l.Geometry
		nx, ny := g.Dims[0], g.Dims[1]
		var fr []string
		for k := 0; k < g.Dims[2]; k++ {
			got := SurroundFraction(l.Data[k*nx*ny:(k+1)*nx*ny], nx, ny)
			w := want[name][k]
			if !(math.IsNaN(got) && math.IsNaN(w)) && math.Abs(got-w) > 1e-12 {
				t.Errorf("%s slice %d: surrounded %v, numpy %v", name, k+1, got, w)
			}
			fr = append(fr, strconv.FormatFloat(got, 'f', 2, 64))
		}
		t.Logf("%s surrounded fraction per slice: %s; excluded %v", name, strings.Join(fr, " "), BasalExcluded(g, l.Data))
		in.Geometry = g
		if name == "frame01" {
			in.ED = Phase{Index: 0, Labels: l.Data}
		} else {
			in.ES = Phase{Index: 11, Labels: l.Data}
		}
	}
	in.BasalRule = true
	r, err := Compute(in)
	if err != nil {
		t.Fatal(err)
	}
	b := r.Basal
	t.Logf("patient001 expert labels: basal rule excludes ED slices %v, ES slices %v; LV EDV %.1f → %.1f ml, ESV %.1f → %.1f ml, EF %.1f → %.1f %%",
		b.EDSlices, b.ESSlices, b.Without[0], b.With[0], b.Without[1], b.With[1], b.Without[2], b.With[2])
}

// TestSegment17: the phantom's stack ends in cavity, so segment 17 is not
// measured and the report says why; with the last slice's cavity turned
// into myocardium (a cap of one slice) at ED, segment 17 is one slice
// spacing thick; a sample without that cap has no segment 17 and is left
// out of its interval.
func TestSegment17(t *testing.T) {
	s, labels, truth := phantom.Generate(phantom.Options{Seed: 1})
	g := s.Geometry
	in := Input{Geometry: g, Meta: s.Meta, Segments: SegmentsWithIntervals,
		ED: Phase{Index: truth.ED, Labels: labels[truth.ED].Data}, ES: Phase{Index: truth.ES, Labels: labels[truth.ES].Data}}
	r, err := Compute(in)
	if err != nil {
		t.Fatal(err)
	}
	if r.AHA == nil || r.AHA.ApexNote == "" || !math.IsNaN(r.AHA.Segments[16].EDThickness.Value) {
		t.Fatalf("no cap: note %q, segment 17 %v", r.AHA.ApexNote, r.AHA.Segments[16].EDThickness.Value)
	}
	plane := g.Dims[0] * g.Dims[1]
	first, _ := study.BaseAtFirst(labels[truth.ED].Data, g.Dims)
	apex := g.Dims[2] - 1
	if !first {
		apex = 0
	}
	capped := append([]uint8(nil), labels[truth.ED].Data...)
	for i := apex * plane; i < (apex+1)*plane; i++ {
		if capped[i] == study.LV {
			capped[i] = study.Myocardium
		}
	}
	in.ED = Phase{Index: truth.ED, Labels: capped, Samples: [][]uint8{capped, capped, labels[truth.ED].Data}}
	in.ES = Phase{Index: truth.ES, Labels: labels[truth.ES].Data, Samples: [][]uint8{labels[truth.ES].Data, labels[truth.ES].Data, labels[truth.ES].Data}}
	r, err = Compute(in)
	if err != nil {
		t.Fatal(err)
	}
	s17 := r.AHA.Segments[16].EDThickness
	if r.AHA.ApexNote != "" || s17.Value != g.Spacing[2] || s17.Low != g.Spacing[2] || s17.High != g.Spacing[2] {
		t.Errorf("cap of one slice: note %q, segment 17 %v [%v, %v] mm, spacing %v", r.AHA.ApexNote, s17.Value, s17.Low, s17.High, g.Spacing[2])
	}
}
