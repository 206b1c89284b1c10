package reportpdf

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"cmrseg/app/nifti"
	"cmrseg/app/report"
	"cmrseg/app/shareddata"
	"cmrseg/app/studyio"
)

// need returns the path of a poppler tool; in CI the tools must be there.
func need(t *testing.T, name string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (scripts/install-deps.sh test installs poppler-utils)", name)
		}
		t.Skipf("%s not installed", name)
	}
	return p
}

// patient001PDF builds the PDF of ACDC patient001 from its image and
// expert labels (no ensemble: no intervals), with sex and age entered.
func patient001PDF(t *testing.T, qc ...string) ([]byte, *report.Report) {
	dir := shareddata.Require(t, "acdc/training/patient001")
	st, err := studyio.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := st.Series[0]
	ed, err := nifti.ReadLabels(filepath.Join(dir, "patient001_frame01_gt.nii.gz"))
	if err != nil {
		t.Fatal(err)
	}
	es, err := nifti.ReadLabels(filepath.Join(dir, "patient001_frame12_gt.nii.gz"))
	if err != nil {
		t.Fatal(err)
	}
	meta := s.Meta
	meta.Sex, meta.AgeYears = "M", 45
	r, err := report.Compute(report.Input{Geometry: s.Geometry, Meta: meta, NT: s.NT,
		ED: report.Phase{Index: s.ED, Labels: ed.Data}, ES: report.Phase{Index: s.ES, Labels: es.Data},
		Segments: report.SegmentsWithIntervals, BasalRule: true})
	if err != nil {
		t.Fatal(err)
	}
	nx, ny, nz := s.Dims[0], s.Dims[1], s.Dims[2]
	k := nz / 2
	plane := nx * ny
	key := &KeyImage{Caption: fmt.Sprintf("End-diastole, slice %d of %d (expert labels)", k+1, nz), NX: nx, NY: ny, SX: s.Spacing[0], SY: s.Spacing[1],
		Pixels: s.Phase(s.ED)[k*plane : (k+1)*plane], Labels: ed.Data[k*plane : (k+1)*plane]}
	b, err := Build(Input{Report: r, Meta: meta, NT: s.NT, PhaseNumbers: s.PhaseNumbers, Source: "ACDC patient001", Model: "expert labels (no model)",
		QC: append([]string{"test flag: slice 3 above the uncertainty threshold"}, qc...), Key: key, Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})
	if err != nil {
		t.Fatal(err)
	}
	return b, r
}

// TestPatient001PDF: the PDF is two A4 pages whose text holds the study,
// the phases, every index with its value, the segment table, the basal
// rule, the reference source and the disclaimer; its pages render.
// CMRSEG_PDF_DIR keeps the PDF and the rendered pages there for a look.
func TestPatient001PDF(t *testing.T) {
	pdftotext, pdftoppm, pdfinfo := need(t, "pdftotext"), need(t, "pdftoppm"), need(t, "pdfinfo")
	b, r := patient001PDF(t)
	dir := t.TempDir()
	if d := os.Getenv("CMRSEG_PDF_DIR"); d != "" {
		dir = d
	}
	pdf := filepath.Join(dir, "patient001-report.pdf")
	if err := os.WriteFile(pdf, b, 0o644); err != nil {
		t.Fatal(err)
	}
	info, err := exec.Command(pdfinfo, pdf).CombinedOutput()
	if err != nil {
		t.Fatalf("pdfinfo: %v\n%s", err, info)
	}
	if !regexp.MustCompile(`Pages:\s+2\n`).Match(info) || !strings.Contains(string(info), "(A4)") {
		t.Errorf("not two A4 pages:\n%s", info)
	}
	out, err := exec.Command(pdftotext, "-layout", pdf, "-").CombinedOutput()
	if err != nil {
		t.Fatalf("pdftotext: %v\n%s", err, out)
	}
	text := string(out)
	ix := func(key string) report.Index {
		v, ok := r.Index(key)
		if !ok {
			t.Fatalf("no %s", key)
		}
		return v
	}
	want := []string{
		"Research use only, not for diagnosis.",
		"Patient ID: patient001", "Sex: male", "Age: 45 years",
		"BSA 2.20 m²", "Mosteller",
		"Phases read: 2 (source frames 1, 12); end-diastole frame 1, end-systole frame 12",
		"LV end-diastolic volume (ml)", fmt.Sprintf("%.1f", ix(report.LVEDV).Value),
		"LV ejection fraction (%)", fmt.Sprintf("%.1f", ix(report.LVEF).Value),
		"RV ejection fraction (%)", fmt.Sprintf("%.1f", ix(report.RVEF).Value),
		"LV myocardial mass (g)", fmt.Sprintf("%.1f", ix(report.LVMass).Value),
		fmt.Sprintf("%.1f", ix(report.LVEDV).PerBSA),
		"Basal-slice rule", "Kawel-Boehm", "10.1186/s12968-020-00683-3", "papillary",
		"Volume–time curves", "AHA segments", "11 mid inferolateral", "17 apex",
		fmt.Sprintf("%.1f", r.AHA.Segments[10].EDThickness.Value),
		"Key image", "slice 6 of 10", "Quality control", "test flag: slice 3 above",
		"Model: expert labels (no model)", "Page 2 of 2",
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			t.Errorf("PDF text lacks %q", w)
		}
	}
	if t.Failed() {
		t.Logf("PDF text:\n%s", text)
	}
	if o, err := exec.Command(pdftoppm, "-png", "-r", "60", pdf, filepath.Join(dir, "page")).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v\n%s", err, o)
	}
	for _, p := range []string{"page-1.png", "page-2.png"} {
		st, err := os.Stat(filepath.Join(dir, p))
		if err != nil || st.Size() < 20000 {
			t.Errorf("rendered %s: %v (%d bytes)", p, err, st.Size())
		}
	}
	t.Logf("patient001 PDF: %d bytes", len(b))
}

// TestBadInput: no report or a key image of the wrong size is an error,
// not a panic or a broken PDF.
func TestBadInput(t *testing.T) {
	if _, err := Build(Input{}); err == nil {
		t.Error("no report accepted")
	}
	if _, _, _, err := keyPNG(&KeyImage{NX: 4, NY: 4, Pixels: make([]float32, 3), Labels: make([]uint8, 16)}); err == nil {
		t.Error("short key image accepted")
	}
}

// TestManyQCFlags: a long QC list is cut to what fits, saying how many
// flags were left out, and the report stays two pages.
func TestManyQCFlags(t *testing.T) {
	pdftotext, pdfinfo := need(t, "pdftotext"), need(t, "pdfinfo")
	var qc []string
	for n := range 30 {
		qc = append(qc, fmt.Sprintf("phase %d: slices 1, 2 above the threshold", n+1))
	}
	b, _ := patient001PDF(t, qc...)
	pdf := filepath.Join(t.TempDir(), "r.pdf")
	if err := os.WriteFile(pdf, b, 0o644); err != nil {
		t.Fatal(err)
	}
	info, _ := exec.Command(pdfinfo, pdf).CombinedOutput()
	txt, _ := exec.Command(pdftotext, pdf, "-").CombinedOutput()
	if !regexp.MustCompile(`Pages:\s+2\n`).Match(info) || !strings.Contains(string(txt), "and 19 more flags") || !strings.Contains(string(txt), "Research use only, not for diagnosis.") {
		t.Errorf("pages:\n%s\ntext:\n%s", info, txt)
	}
}
