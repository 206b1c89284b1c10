package workspace

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cmrseg/app/anonymise"
	"cmrseg/app/contour"
	"cmrseg/app/shareddata"
	"cmrseg/app/study"
)

// TestAnonymisedExport exports a segmented Sunnybrook phase with
// anonymising on: the SEG, mask and report carry the pseudonym and no
// source identity, and the SEG's references resolve to the anonymised
// images written beside it.
func TestAnonymisedExport(t *testing.T) {
	dir := shareddata.Require(t, "sunnybrook/SCD0000101")
	st, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	full := st.Series[0]
	ref, err := contour.LoadSunnybrook(shareddata.Require(t, "sunnybrook/contours/SC-HF-I-1"), full)
	if err != nil {
		t.Fatal(err)
	}
	ph := -1
	for tt := 0; tt < full.NT && ph < 0; tt++ {
		for kk := 0; kk < full.Dims[2]; kk++ {
			if _, myo := ref.Contoured(kk, tt); myo {
				ph = tt
				break
			}
		}
	}
	s := onePhase(full, ph)
	src := s.Source.(*study.DICOMSource)
	secrets := []string{src.PatientID, src.StudyInstanceUID, src.SeriesInstanceUID}
	for _, f := range src.Frames {
		secrets = append(secrets, f.SOPInstanceUID)
	}
	w := New(Config{Engine: &DemoEngine{Labels: ref.Phases[ph : ph+1]}, SessionRoot: t.TempDir()})
	defer w.Close()
	if err := w.SetStudy(&study.Study{Path: dir, Series: []*study.Series{s}}); err != nil {
		t.Fatal(err)
	}
	if err := w.Segment(); err != nil {
		t.Fatal(err)
	}
	plain := w.ExportBaseName(-1)
	if err := w.SetAnonymise(true); err != nil {
		t.Fatal(err)
	}
	base := w.ExportBaseName(-1)
	if !strings.HasPrefix(base, "ANON") || base == plain || strings.Contains(w.DefaultExportDir("/x"), "SCD") {
		t.Fatalf("anonymised base name %q (plain %q), folder %s", base, plain, w.DefaultExportDir("/x"))
	}
	out := t.TempDir()
	seg := filepath.Join(out, base+"_seg.dcm")
	mask := filepath.Join(out, base+"_mask.nii.gz")
	for _, f := range []func() error{
		func() error { return w.ExportSEG(seg, 0) },
		func() error { return w.ExportMask(mask, 0) },
		func() error { return w.ExportReport(filepath.Join(out, base+"_report.json")) },
		func() error { return w.ExportReport(filepath.Join(out, base+"_report.csv")) },
	} {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	imgs, _ := filepath.Glob(filepath.Join(out, base+"_images", "*.dcm"))
	if len(imgs) != s.Dims[2] {
		t.Fatalf("%d anonymised images beside the SEG, want %d", len(imgs), s.Dims[2])
	}
	// Every file, decompressed, free of the source identity.
	err = filepath.Walk(out, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.HasSuffix(p, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				return err
			}
			if b, err = io.ReadAll(zr); err != nil {
				return err
			}
		}
		for _, sec := range secrets {
			if bytes.Contains(b, []byte(sec)) || strings.Contains(p, sec) {
				t.Errorf("%s carries %q", p, sec)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The SEG refers to the images written with it.
	sops := map[string]bool{}
	for _, p := range imgs {
		b, _ := os.ReadFile(p)
		f, err := anonymise.Fields(b, 0x00080018)
		if err != nil {
			t.Fatal(err)
		}
		sops[f[0x00080018]] = true
	}
	b, _ := os.ReadFile(seg)
	n := 0
	if err := anonymise.Walk(b, func(tag uint32, vr string, v []byte, depth int) {
		if tag == 0x00081155 {
			n++
			if u := strings.TrimRight(string(v), "\x00 "); !sops[u] {
				t.Errorf("SEG references %s, not among the exported images", u)
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("the anonymised SEG references no image")
	}
	// Turning it off gives the plain names back.
	w.SetAnonymise(false)
	if w.ExportBaseName(-1) != plain {
		t.Errorf("base name after anonymising off: %s", w.ExportBaseName(-1))
	}
}
