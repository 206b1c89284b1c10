package cli

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"cmrseg/app/nifti"
	"cmrseg/app/phantom"
	"cmrseg/app/report"
	"cmrseg/app/resultcache"
	"cmrseg/app/session"
	"cmrseg/app/study"
	"cmrseg/app/workspace"
	"cmrseg/inference/uncertainty"
)

// TestReportStudyUsesCacheAndJournal: the headless report of a study
// segments only ED and ES the first time and caches them where the window
// looks; after a reviewer's correction journaled in the window's session,
// the second report takes every phase from the cache, replays the
// correction and reports the corrected LV volume. The PDF's text says so.
func TestReportStudyUsesCacheAndJournal(t *testing.T) {
	pdftotext, err := exec.LookPath("pdftotext")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("pdftotext not installed (poppler-utils)")
		}
		t.Skip("pdftotext not installed")
	}
	dir := t.TempDir()
	ph, labels, _ := phantom.Generate(phantom.Options{Seed: 1})
	path := filepath.Join(dir, "phantom.nii.gz")
	if err := nifti.Write(path, ph, nifti.Float32); err != nil {
		t.Fatal(err)
	}
	load := func() *study.Series {
		st, err := workspace.Load(path)
		if err != nil {
			t.Fatal(err)
		}
		s := st.Series[0]
		if s.ED < 0 || s.ES < 0 || s.ED == s.ES {
			t.Fatalf("phantom NIfTI: ED %d ES %d", s.ED, s.ES)
		}
		return s
	}
	eng := &workspace.DemoEngine{Labels: labels}
	root := filepath.Join(dir, "sessions")
	run := func(name string) (string, string) {
		var out bytes.Buffer
		pdf := filepath.Join(dir, name+".pdf")
		if err := reportStudy(&out, path, load(), eng, "demo phantom segmenter", 0, root, reportOutputs{pdf: pdf, basal: true, t0: time.Now()}); err != nil {
			t.Fatalf("%v\n%s", err, out.String())
		}
		txt, err := exec.Command(pdftotext, "-layout", pdf, "-").CombinedOutput()
		if err != nil {
			t.Fatalf("pdftotext: %v", err)
		}
		return out.String(), string(txt)
	}
	out1, txt1 := run("first")
	s := load()
	if !strings.Contains(out1, fmt.Sprintf("0 of %d phases from the window's result cache, 2 segmented now, 0 journaled corrections", s.NT)) {
		t.Errorf("first run:\n%s", out1)
	}

	// The reviewer erases the LV cavity of one ED slice in the window.
	cache := resultcache.New(session.StudyDir(root, s), eng.Key())
	results := make([]*uncertainty.Result, s.NT)
	for _, tt := range []int{s.ED, s.ES} {
		if results[tt], err = cache.Get(tt, s.Geometry); err != nil || results[tt] == nil {
			t.Fatalf("phase %d not cached: %v", tt+1, err)
		}
	}
	ses, err := session.Open(s, results, session.Options{Root: root, Key: eng.Key()})
	if err != nil {
		t.Fatal(err)
	}
	k := s.Dims[2] / 2
	before, _ := report.FromSession(ses)
	if _, err := ses.Erase(s.ED, k, []session.Point{{I: float64(s.Dims[0]) / 2, J: float64(s.Dims[1]) / 2}}, 200, study.LV); err != nil {
		t.Fatal(err)
	}
	after, _ := report.FromSession(ses)
	if err := ses.Close(); err != nil {
		t.Fatal(err)
	}
	edv := func(r *report.Report) float64 { v, _ := r.Index(report.LVEDV); return v.Value }
	if !(edv(after) < edv(before)-1) {
		t.Fatalf("erase did not change the LV EDV: %.1f → %.1f ml", edv(before), edv(after))
	}

	out2, txt2 := run("second")
	if !strings.Contains(out2, fmt.Sprintf("2 of %d phases from the window's result cache, 0 segmented now, 1 journaled corrections applied", s.NT)) {
		t.Errorf("second run:\n%s", out2)
	}
	for name, c := range map[string]struct {
		txt  string
		want float64
	}{"first": {txt1, edv(before)}, "second": {txt2, edv(after)}} {
		if !strings.Contains(c.txt, fmt.Sprintf("%.1f", c.want)) {
			t.Errorf("%s PDF lacks LV EDV %.1f ml", name, c.want)
		}
		for _, w := range []string{"Research use only, not for diagnosis.", "Model: demo phantom segmenter", "AHA segments", "Basal-slice rule"} {
			if !strings.Contains(c.txt, w) {
				t.Errorf("%s PDF lacks %q", name, w)
			}
		}
	}
	t.Logf("LV EDV %.1f ml before the correction, %.1f after; second run:\n%s", edv(before), edv(after), out2)
}

// TestReportBadArguments: bad input is a clear error naming the problem.
func TestReportBadArguments(t *testing.T) {
	var out, errb bytes.Buffer
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{filepath.Join(dir, "missing")}, "usage"},
		{[]string{filepath.Join(dir, "missing"), "--pdf", filepath.Join(dir, "x.pdf")}, "missing"},
		{[]string{dir, "--pdf", filepath.Join(dir, "x.pdf"), "--sex", "X"}, "--sex"},
		{[]string{dir, "--pdf", filepath.Join(dir, "x.pdf"), "--age", "-3"}, "out of range"},
	} {
		err := runReport(c.args, &out, &errb)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error with %q", c.args, err, c.want)
		}
	}
}
