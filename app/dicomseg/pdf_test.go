package dicomseg

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"codeberg.org/go-pdf/fpdf"

	"cmrseg/app/dicomio"
	"cmrseg/app/shareddata"
	"cmrseg/app/study"
	"cmrseg/app/studyio"
)

func tinyPDF(t *testing.T, text string) []byte {
	p := fpdf.New("P", "mm", "A4", "")
	p.AddPage()
	p.SetFont("Helvetica", "", 12)
	p.Cell(100, 10, text)
	var b bytes.Buffer
	if err := p.Output(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// checkPDF runs dciodvfy (no errors but those accepted), dcmdump, and
// dcm2pdf, whose extracted document must be the PDF byte for byte.
func checkPDF(t *testing.T, path string, pdf []byte, accept func(string) bool) string {
	t.Helper()
	if bad := verify(t, path, accept); len(bad) > 0 {
		t.Errorf("dciodvfy:\n%s", strings.Join(bad, "\n"))
	}
	d := dump(t, path)
	out := filepath.Join(t.TempDir(), "out.pdf")
	if o, err := exec.Command(tool(t, "dcm2pdf"), path, out).CombinedOutput(); err != nil {
		t.Fatalf("dcm2pdf: %v\n%s", err, o)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	// dcm2pdf keeps a NUL pad byte of an odd-length document.
	if !bytes.Equal(bytes.TrimRight(got, "\x00"), bytes.TrimRight(pdf, "\x00")) {
		t.Errorf("dcm2pdf extracted %d bytes, wrote %d", len(got), len(pdf))
	}
	return d
}

// TestSunnybrookEncapsulatedPDF: the report joins the source study (same
// Study Instance UID, patient module copied) and references its key image;
// dciodvfy finds no error but the source's own UIDs with leading zeros,
// which the document must repeat to belong to the study.
func TestSunnybrookEncapsulatedPDF(t *testing.T) {
	st, err := dicomio.Open(shareddata.Require(t, "sunnybrook/SCD0000101"))
	if err != nil {
		t.Fatal(err)
	}
	s := st.Series[0]
	src := s.Source.(*study.DICOMSource)
	pdf := tinyPDF(t, "cmrseg test report")
	path := filepath.Join(t.TempDir(), "report.dcm")
	info, err := WritePDF(path, s, pdf, PDFOptions{KeySlice: 5, KeyPhase: 0})
	if err != nil {
		t.Fatal(err)
	}
	if info.NewStudy || info.StudyInstanceUID != src.StudyInstanceUID {
		t.Errorf("study %q (new %v), source %q", info.StudyInstanceUID, info.NewStudy, src.StudyInstanceUID)
	}
	d := checkPDF(t, path, pdf, leadingZeroUIDs(src))
	for _, w := range []string{"=EncapsulatedPDFStorage", "application/pdf", src.StudyInstanceUID, src.At(5, 0).SOPInstanceUID, "(0008,0060) CS [DOC]"} {
		if !strings.Contains(d, w) {
			t.Errorf("dcmdump lacks %q", w)
		}
	}
	if src.PatientID != "" && !strings.Contains(d, "["+src.PatientID+"]") {
		t.Errorf("patient ID %q not copied", src.PatientID)
	}
	if bad := verifyEntities(t, path, src.At(5, 0).Path); len(bad) > 0 {
		t.Errorf("dcentvfy:\n%s", strings.Join(bad, "\n"))
	}
}

// TestNIfTIEncapsulatedPDF: without a DICOM source (ACDC NIfTI) the
// document opens a new study for the patient ID; dciodvfy finds no error
// at all. A file that is not a PDF is refused.
func TestNIfTIEncapsulatedPDF(t *testing.T) {
	st, err := studyio.Open(shareddata.Require(t, "acdc/training/patient001"))
	if err != nil {
		t.Fatal(err)
	}
	s := st.Series[0]
	pdf := tinyPDF(t, "patient001")
	path := filepath.Join(t.TempDir(), "report.dcm")
	info, err := WritePDF(path, s, pdf, PDFOptions{KeySlice: -1, KeyPhase: -1})
	if err != nil {
		t.Fatal(err)
	}
	if !info.NewStudy || !strings.HasPrefix(info.StudyInstanceUID, "2.25.") {
		t.Errorf("info %+v", info)
	}
	d := checkPDF(t, path, pdf, nil)
	if !strings.Contains(d, "[patient001]") {
		t.Error("patient ID not written")
	}
	if _, err := WritePDF(filepath.Join(t.TempDir(), "x.dcm"), s, []byte("not a pdf"), PDFOptions{}); err == nil || !strings.Contains(err.Error(), "not a PDF") {
		t.Errorf("non-PDF: %v", err)
	}
}
