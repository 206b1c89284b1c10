package dicomio

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cmrseg/app/study"
)

const pydicomTestFiles = "/usr/lib/python3/dist-packages/pydicom/data/test_files"

// TestPydicomFiles opens each of pydicom's own test files: each either
// opens with pixels equal to pydicom's, or fails with an error naming the
// file and the reason; nothing panics.
func TestPydicomFiles(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(pydicomTestFiles, "*"))
	if len(files) == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("pydicom test files missing at %s (apt-get install python3-pydicom)", pydicomTestFiles)
		}
		t.Skip("pydicom test files not installed")
	}
	var regular []string
	for _, f := range files {
		if st, err := os.Stat(f); err == nil && st.Mode().IsRegular() {
			regular = append(regular, f)
		}
	}
	py := pydicomRead(t, regular)
	opened, failed := 0, 0
	for _, f := range regular {
		base := filepath.Base(f)
		r, err := Scan(f)
		if err != nil {
			t.Errorf("%s: Scan: %v", base, err)
			continue
		}
		for _, s := range r.Study.Series {
			opened++
			switch s.Source.(*study.DICOMSource).TransferSyntaxUID {
			case jpegLS, jpegSV1, jpegP14, jpegBase, j2kLossles, j2kAny:
			default:
				compareWithPydicom(t, s, py)
				t.Logf("%-40s opened: %v × %d, pydicom ok", base, s.Dims, s.NT)
				continue
			}
			if py[f].Error != "" {
				// Compressed files pydicom has no decoder for here
				// (JPEG-LS, JPEG 2000): compressed_test.go, jpegls_test.go
				// and jpeg2000_test.go check them against dcmtk and GDCM.
				t.Logf("%-40s opened: %v × %d, pydicom cannot decode it: %.60s", base, s.Dims, s.NT, py[f].Error)
				continue
			}
			compareWithPydicom(t, s, py)
			t.Logf("%-40s opened: %v × %d, pydicom ok", base, s.Dims, s.NT)
		}
		var reasons []error
		for _, sk := range r.Skipped {
			reasons = append(reasons, sk.Reason)
		}
		for _, fe := range r.Failed {
			reasons = append(reasons, fe.Err)
		}
		for _, e := range reasons {
			failed++
			msg := e.Error()
			if strings.Contains(msg, "panic") || !strings.Contains(msg, base) {
				t.Errorf("%s: unclear error: %v", base, msg)
			}
			// Where pydicom can decode the file, the only acceptable
			// refusals are the formats this reader does not take.
			if py[f].Error == "" && !strings.Contains(msg, "colour images are not supported") &&
				!strings.Contains(msg, "BitsAllocated 1 ") {
				t.Errorf("%s: refused although pydicom decodes it: %v", base, msg)
			}
			t.Logf("%-40s refused: %v (pydicom: %s)", base, msg, py[f].Error)
		}
		for _, fe := range r.Ignored {
			t.Logf("%-40s ignored: %v", base, fe.Err)
		}
		if len(r.Study.Series) == 0 && py[f].Error == "" && len(reasons) == 0 {
			t.Logf("%-40s NOTE pydicom decodes it but we ignore it", base)
		}
	}
	t.Logf("%d files: %d series opened, %d refused", len(regular), opened, failed)
	// MR_small in 5 encodings plus padded, CT_small, 6 RT dose files.
	if opened < 13 {
		t.Errorf("only %d files opened, want at least 13", opened)
	}
}

// TestPydicomDICOMDIRTree scans pydicom's DICOMDIR test trees as folders:
// DICOMDIR files are set aside quietly, every series found either loads
// with pydicom's pixels or is skipped with a reason.
func TestPydicomDICOMDIRTree(t *testing.T) {
	root := filepath.Join(pydicomTestFiles, "dicomdirtests")
	if _, err := os.Stat(root); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	r, err := Scan(root)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, s := range r.Study.Series {
		files = append(files, s.Meta.SourcePaths...)
	}
	py := pydicomRead(t, files)
	for _, s := range r.Study.Series {
		compareWithPydicom(t, s, py)
		t.Logf("series %-20q %v × %d from %d files", s.Meta.SeriesDescription, s.Dims, s.NT, len(s.Meta.SourcePaths))
	}
	for _, sk := range r.Skipped {
		t.Logf("skipped %q (%d files): %v", sk.Description, len(sk.Files), sk.Reason)
	}
	// DICOMDIR-nooffset's last record declares 248 bytes where 224 remain:
	// corrupt, and reported as such.
	for _, fe := range r.Failed {
		msg := fe.Err.Error()
		if !strings.Contains(msg, fe.Path) || strings.Contains(msg, "panic") {
			t.Errorf("unclear error: %v", msg)
		}
		if filepath.Base(fe.Path) != "DICOMDIR-nooffset" {
			t.Errorf("failed: %v", msg)
		}
		t.Logf("failed: %v", msg)
	}
	if len(r.Study.Series) < 8 || r.Study.Series[0].Dims != [3]int{16, 16, 5} {
		t.Errorf("%d series; the first has dims %v, want the 5-slice SmartScore series", len(r.Study.Series), r.Study.Series[0].Dims)
	}
	dicomdirs := 0
	for _, fe := range r.Ignored {
		if filepath.Base(fe.Path) == "DICOMDIR" {
			dicomdirs++
		}
	}
	if dicomdirs == 0 || len(r.Study.Series) == 0 {
		t.Errorf("%d DICOMDIRs ignored, %d series loaded", dicomdirs, len(r.Study.Series))
	}
	t.Logf("%d series loaded from %d files, %d skipped, %d ignored", len(r.Study.Series), len(files), len(r.Skipped), len(r.Ignored))
}
