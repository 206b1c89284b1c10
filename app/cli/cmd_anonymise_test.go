package cli

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cmrseg/app/dicomio"
	"cmrseg/app/shareddata"
	"cmrseg/app/study"
	"cmrseg/inference/unet"
)

// sunnybrookSecrets are values of the Sunnybrook series that must not
// appear in any anonymised output: patient ID/name and the study, series
// and instance UIDs.
func sunnybrookSecrets(t *testing.T, dir string) []string {
	t.Helper()
	st, err := dicomio.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	src := st.Series[0].Source.(*study.DICOMSource)
	secrets := []string{src.PatientID, src.PatientName, src.StudyInstanceUID, src.SeriesInstanceUID, src.FrameOfReferenceUID}
	for _, f := range src.Frames {
		secrets = append(secrets, f.SOPInstanceUID)
	}
	return secrets
}

// TestAnonymiseCommand runs cmrseg anonymise on the real series and reads
// the result back as a study.
func TestAnonymiseCommand(t *testing.T) {
	dcm := shareddata.Require(t, "sunnybrook/SCD0000101")
	out := filepath.Join(t.TempDir(), "anon")
	var stdout, stderr bytes.Buffer
	if code := Run([]string{"anonymise", dcm, out}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	t.Log("\n" + stdout.String())
	if !strings.Contains(stdout.String(), "240 file(s) written, 0 skipped, 0 refused") {
		t.Errorf("summary: %s", stdout.String())
	}
	st, err := dicomio.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	if id := st.Series[0].Meta.PatientID; !strings.HasPrefix(id, "ANON") {
		t.Errorf("patient ID %q after anonymising", id)
	}
	// A second run into the same folder is refused (it would mix keys).
	stdout.Reset()
	stderr.Reset()
	if code := Run([]string{"anonymise", dcm, out}, &stdout, &stderr); code == 0 || !strings.Contains(stderr.String(), "not empty") {
		t.Errorf("second run into a full folder: exit %d, %s", code, stderr.String())
	}
}

// TestSegmentAnonymise segments the Sunnybrook cine with --anonymise and
// checks that no output file name or content (NIfTI headers decompressed,
// report JSON and CSV) carries the patient ID or any source UID.
func TestSegmentAnonymise(t *testing.T) {
	if testing.Short() {
		t.Skip("segments every phase of a cine; slow on a CPU")
	}
	dcm := shareddata.Require(t, "sunnybrook/SCD0000101")
	secrets := sunnybrookSecrets(t, dcm)
	model := randomModel(t, unet.Config{InChannels: 1, Classes: 4, Stages: 3, BaseFeatures: 4, MaxFeatures: 16, ConvsPerStage: 1}, 1)
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	if code := Run([]string{"segment", "--model", model, "--device", "cpu", "--anonymise", "--out", out, dcm}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, stdout.String(), stderr.String())
	}
	ents, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
		b, err := os.ReadFile(filepath.Join(out, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(e.Name(), ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			if b, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		for _, s := range secrets {
			if strings.Contains(e.Name(), s) || bytes.Contains(b, []byte(s)) {
				t.Errorf("%s carries %q", e.Name(), s)
			}
		}
		if !strings.HasPrefix(e.Name(), "ANON") {
			t.Errorf("output %s is not named after the pseudonym", e.Name())
		}
		if strings.HasSuffix(e.Name(), "_report.json") {
			var rep struct {
				PatientID string `json:"patient_id"`
				Series    string `json:"series_instance_uid"`
			}
			if err := json.Unmarshal(b, &rep); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(rep.PatientID, "ANON") || !strings.HasPrefix(rep.Series, "2.25.") || !strings.HasPrefix(e.Name(), rep.PatientID) {
				t.Errorf("report patient_id %q, series %q", rep.PatientID, rep.Series)
			}
		}
	}
	if len(names) < 4 { // seg, entropy, report json and csv
		t.Fatalf("outputs %v", names)
	}
	t.Logf("outputs: %s", strings.Join(names, ", "))
}
