package cohort

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"cmrseg/app/nifti"
	"cmrseg/app/phantom"
	"cmrseg/app/study"
)

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestDiscoverLayouts: every supported layout in one tree, found from
// names and magic bytes only (the image files here are not valid images).
func TestDiscoverLayouts(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "acdc/patient001/Info.cfg"), "ED: 1\nES: 12\nGroup: DCM\nHeight: 184.0\nNbFrame: 30\nWeight: 95.0\n")
	write(t, filepath.Join(root, "acdc/patient001/patient001_frame01.nii.gz"), "x")
	write(t, filepath.Join(root, "acdc/patient001/patient001_frame01_gt.nii.gz"), "x")
	write(t, filepath.Join(root, "loose/cine.nii.gz"), "x")
	write(t, filepath.Join(root, "loose/cine_gt.nii.gz"), "x")
	write(t, filepath.Join(root, "loose/old_seg.nii.gz"), "x")
	write(t, filepath.Join(root, "nn/Dataset027/dataset.json"), "{}")
	write(t, filepath.Join(root, "nn/Dataset027/imagesTr/case_001_0000.nii.gz"), "x")
	write(t, filepath.Join(root, "nn/Dataset027/imagesTs/case_101_0000.nii.gz"), "x")
	write(t, filepath.Join(root, "nn/Dataset027/labelsTr/case_001.nii.gz"), "x")
	write(t, filepath.Join(root, "dicom/PAT1/SER1/IM0001"), strings.Repeat("\x00", 128)+"DICM rest")
	write(t, filepath.Join(root, "dicom/PAT1/SER1/IM0002"), strings.Repeat("\x00", 128)+"DICM rest")
	write(t, filepath.Join(root, "dicom/PAT2/a.dcm"), "x")
	write(t, filepath.Join(root, "notes/readme.txt"), "not a study")
	write(t, filepath.Join(root, ".hidden/x.nii"), "x")
	write(t, filepath.Join(root, "out/acdc/patient001/patient001_frame01_seg.nii.gz"), "x")
	write(t, filepath.Join(root, "out/x/y.nii.gz"), "x")
	// A linked folder is followed (once: a second link to the same folder
	// adds nothing); a link cycle is not a hang.
	ext := t.TempDir()
	write(t, filepath.Join(ext, "e.nii"), "x")
	os.Symlink(ext, filepath.Join(root, "ext"))
	os.Symlink(filepath.Join(root, "loose"), filepath.Join(root, "zlinked"))
	os.Symlink(root, filepath.Join(root, "loose", "cycle"))

	got, err := Discover(root, filepath.Join(root, "out"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, s := range got {
		rel, _ := filepath.Rel(root, s.Path)
		lines = append(lines, fmt.Sprintf("%s %s %s %s", s.ID, s.Kind, rel, s.Group))
	}
	want := []string{
		"acdc/patient001 acdc acdc/patient001 DCM",
		"dicom/PAT1/SER1 dicom dicom/PAT1/SER1 ",
		"dicom/PAT2 dicom dicom/PAT2 ",
		"ext/e nifti ext/e.nii ",
		"loose/cine nifti loose/cine.nii.gz ",
		"nn/Dataset027/imagesTr/case_001 nifti nn/Dataset027/imagesTr/case_001_0000.nii.gz ",
		"nn/Dataset027/imagesTs/case_101 nifti nn/Dataset027/imagesTs/case_101_0000.nii.gz ",
	}
	if !slices.Equal(lines, want) {
		t.Errorf("found\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}

	// The root itself may be one study.
	one, err := Discover(filepath.Join(root, "acdc/patient001"))
	if err != nil || len(one) != 1 || one[0].ID != "patient001" || one[0].Kind != KindACDC {
		t.Errorf("a patient folder as the root: %+v, %v", one, err)
	}
	if _, err := Discover(filepath.Join(root, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("a missing root: %v", err)
	}
	if _, err := Discover(filepath.Join(root, "notes/readme.txt")); err == nil || !strings.Contains(err.Error(), "readme.txt") {
		t.Errorf("a text file as the root: %v", err)
	}
}

func TestManifest(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "p1"), 0o755)
	write(t, filepath.Join(dir, "p1/Info.cfg"), "ED: 1\nES: 2\n")
	m := filepath.Join(dir, "cohort.csv")
	write(t, m, "\ufeffGroup, id ,path\nNOR,b,p1\n,a,/abs/x.nii.gz\n\nDCM,c,sub/dcm\n")
	got, err := ReadManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	want := []Study{
		{ID: "a", Path: "/abs/x.nii.gz", Kind: KindNIfTI},
		{ID: "b", Path: filepath.Join(dir, "p1"), Group: "NOR", Kind: KindACDC},
		{ID: "c", Path: filepath.Join(dir, "sub/dcm"), Group: "DCM", Kind: KindDICOM},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
	if viaDiscover, err := Discover(m); err != nil || !slices.Equal(viaDiscover, want) {
		t.Errorf("Discover of a manifest: %+v, %v", viaDiscover, err)
	}
	for body, wantErr := range map[string]string{
		"name,path\na,b\n":       "lacks the columns id and path",
		"id,path\na,x\nA,y\n":    "same id",
		"id,path\n,x\n":          "line 2: empty id or path",
		"id,path\n../up,x\n":     "cannot name an output folder",
		"":                       "no header line",
		"id,path\n\"a,x\n":       "manifest",
		"id,path\na/.hidden,x\n": "cannot name",
	} {
		write(t, m, body)
		_, err := ReadManifest(m)
		if err == nil || !strings.Contains(err.Error(), wantErr) || !strings.Contains(err.Error(), m) {
			t.Errorf("manifest %q: error %v, want one naming the file and %q", body, err, wantErr)
		}
	}
}

// TestShards: every study in exactly one shard, and adding studies
// never moves an existing study to another shard.
func TestShards(t *testing.T) {
	var studies []Study
	for i := range 1000 {
		studies = append(studies, Study{ID: fmt.Sprintf("patient%04d", i)})
	}
	const n = 4
	owner := map[string]int{}
	for i := 1; i <= n; i++ {
		share := Shard{i, n}.Select(studies)
		if len(share) < 200 || len(share) > 300 {
			t.Errorf("shard %d/%d takes %d of 1000: unbalanced", i, n, len(share))
		}
		for _, s := range share {
			if _, dup := owner[s.ID]; dup {
				t.Fatalf("%s in two shards", s.ID)
			}
			owner[s.ID] = i
		}
	}
	if len(owner) != len(studies) {
		t.Fatalf("%d of %d studies have a shard", len(owner), len(studies))
	}
	more := append(slices.Clone(studies), Study{ID: "new1"}, Study{ID: "another"})
	for i := 1; i <= n; i++ {
		for _, s := range (Shard{i, n}).Select(more) {
			if o, ok := owner[s.ID]; ok && o != i {
				t.Fatalf("%s moved from shard %d to %d when studies were added", s.ID, o, i)
			}
		}
	}
	for _, bad := range []string{"0/4", "5/4", "1/0", "a/b", "3", "-1/2"} {
		if _, err := ParseShard(bad); err == nil {
			t.Errorf("ParseShard(%q) accepted", bad)
		}
	}
	if s, err := ParseShard("2/4"); err != nil || s != (Shard{2, 4}) {
		t.Errorf("ParseShard(2/4) = %v, %v", s, err)
	}
}

// phantomArchive writes n small two-phase NIfTI studies (the phantom's
// ED and ES, a few slices) plus one file that is not NIfTI.
func phantomArchive(t *testing.T, n int) string {
	t.Helper()
	root := t.TempDir()
	s, _, truth := phantom.Generate(phantom.Options{Seed: 3})
	g := s.Geometry
	g.Dims[2] = 2
	per := g.N()
	data := append(slices.Clone(s.Phase(truth.ED)[:per]), s.Phase(truth.ES)[:per]...)
	small := &study.Series{Geometry: g, NT: 2, Data: data, ED: 0, ES: 1}
	for i := range n {
		if err := nifti.Write(filepath.Join(root, fmt.Sprintf("s%02d.nii.gz", i)), small, nifti.Float32); err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(root, "broken.nii.gz"), "\x1f\x8b\x08 not gzip")
	return root
}

// fakeSegment stands in for the ensemble: it counts its calls and fills
// results from the image alone.
type fakeSegment struct{ calls []string }

func (f *fakeSegment) segment(s Study, in *Input, dir string, st *Status) error {
	f.calls = append(f.calls, s.ID)
	out := filepath.Join(dir, in.Names[in.Series.ED]+"_seg.txt")
	if err := os.WriteFile(out, []byte("labels"), 0o644); err != nil {
		return err
	}
	st.Outputs = RelOutputs(dir, []string{out})
	st.Evaluations = 7
	st.Results = &Results{EDPhase1Based: in.Series.ED + 1, ESPhase1Based: in.Series.ES + 1, ESProvisional: in.Series.ESProvisional,
		Indices: []Index{{Key: "lv_edv", Unit: "ml", Value: 120.5, Low: 118, High: 123}, {Key: "lv_ef", Unit: "%", Value: Num(math.NaN()), Low: Num(math.NaN()), High: Num(math.NaN())}},
		QC:      QC{Score: 0.3, Threshold: 0.29, FlaggedSlices: 1, Slices: 4}}
	return nil
}

func TestRunResumes(t *testing.T) {
	root := phantomArchive(t, 3)
	out := filepath.Join(t.TempDir(), "out")
	studies, err := Discover(root, out)
	if err != nil || len(studies) != 4 {
		t.Fatalf("discovered %v, %v", studies, err)
	}
	fp := Fingerprint{ModelSHA256: "abc", Options: "tiling=auto", Version: "0.1.0"}
	f := &fakeSegment{}
	var log bytes.Buffer
	run := &Run{Out: out, Studies: studies, Shard: Shard{1, 1}, Fingerprint: fp, Model: "m", Segment: f.segment, Log: &log}
	sum, err := run.Execute()
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + log.String())
	if sum.Done != 3 || sum.Failed != 1 || sum.Skipped != 0 || sum.Evaluations != 21 || len(f.calls) != 3 {
		t.Fatalf("first run: %+v, calls %v", sum, f.calls)
	}
	if !strings.Contains(log.String(), "[4/4]") || !strings.Contains(log.String(), "ETA") {
		t.Errorf("progress lacks counts or ETA:\n%s", log.String())
	}
	broken, _ := ReadStatus(filepath.Join(out, "broken"))
	if broken == nil || broken.State != StateFailed || !strings.Contains(broken.Error, "broken.nii.gz") {
		t.Fatalf("broken study's status: %+v", broken)
	}
	st, _ := ReadStatus(filepath.Join(out, "s01"))
	if st.State != StateDone || st.Fingerprint != fp.Hash() || st.Results.EDPhase1Based != 1 || st.Results.ESPhase1Based != 2 ||
		!slices.Equal(st.Outputs, []string{"s01_phase01_seg.txt"}) || st.Timings.Total <= 0 || st.Timings.Open <= 0 {
		t.Errorf("status of s01: %+v", st)
	}

	// Rerun: done studies are skipped (Segment not called), the failed one is retried.
	f.calls, log = nil, bytes.Buffer{}
	if sum, err = run.Execute(); err != nil || sum.Skipped != 3 || sum.Failed != 1 || len(f.calls) != 0 {
		t.Fatalf("rerun: %+v %v, calls %v", sum, err, f.calls)
	}
	if again, _ := ReadStatus(filepath.Join(out, "s01")); !again.Started.Equal(st.Started) {
		t.Errorf("the done study's status was rewritten: started %v then %v", st.Started, again.Started)
	}

	// A run killed mid-study leaves "running" (and maybe a temporary file): redone.
	st.State = StateRunning
	WriteStatus(filepath.Join(out, "s01"), st)
	write(t, filepath.Join(out, "s01", ".s01_phase01_seg.nii.gz.tmp-123"), "torn")
	f.calls = nil
	if sum, err = run.Execute(); err != nil || sum.Done != 1 || !slices.Equal(f.calls, []string{"s01"}) {
		t.Fatalf("after an interrupted study: %+v %v, calls %v", sum, err, f.calls)
	}

	// Another option: every study again.
	run.Fingerprint.Options = "tiling=full"
	f.calls = nil
	if sum, err = run.Execute(); err != nil || sum.Done != 3 || len(f.calls) != 3 {
		t.Fatalf("changed options: %+v %v, calls %v", sum, err, f.calls)
	}

	// The table: one row per study, NaN as empty/null, failures listed.
	raw, err := os.ReadFile(filepath.Join(out, TableCSV))
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if err != nil || len(recs) != 5 || !slices.Equal(recs[0], Columns()) {
		t.Fatalf("cohort.csv: %d lines, %v", len(recs), err)
	}
	col := func(rec []string, name string) string { return rec[slices.Index(Columns(), name)] }
	if col(recs[1], "id") != "broken" || col(recs[1], "status") != StateFailed || col(recs[1], "lv_edv") != "" {
		t.Errorf("row of the broken study: %v", recs[1])
	}
	if col(recs[2], "lv_edv") != "120.5" || col(recs[2], "lv_edv_low") != "118" || col(recs[2], "lv_ef") != "" ||
		col(recs[2], "qc_score") != "0.3" || col(recs[2], "qc_flagged_slices") != "1" || col(recs[2], "model") != "m" {
		t.Errorf("row of s00: %v", recs[2])
	}
	js, _ := os.ReadFile(filepath.Join(out, TableJSONL))
	lines := strings.Split(strings.TrimSpace(string(js)), "\n")
	if len(lines) != 4 {
		t.Fatalf("cohort.jsonl has %d lines", len(lines))
	}
	var row map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &row); err != nil || row["lv_edv"] != 120.5 || row["lv_ef"] != nil || row["id"] != "s00" {
		t.Errorf("JSON row: %v, %v", row, err)
	}
}

// TestCollectShards: status files of shard folders merge into one table;
// a study in two folders is an error naming both.
func TestCollectShards(t *testing.T) {
	root := phantomArchive(t, 5)
	studies, _ := Discover(root)
	base := t.TempDir()
	var dirs []string
	for i := 1; i <= 2; i++ {
		d := filepath.Join(base, fmt.Sprint(i))
		dirs = append(dirs, d)
		f := &fakeSegment{}
		sh := Shard{i, 2}
		if _, err := (&Run{Out: d, Studies: sh.Select(studies), Shard: sh, Segment: f.segment}).Execute(); err != nil {
			t.Fatal(err)
		}
	}
	all, err := Collect(dirs...)
	if err != nil || len(all) != len(studies) {
		t.Fatalf("collected %d of %d: %v", len(all), len(studies), err)
	}
	for i, s := range all {
		if s.ID != studies[i].ID {
			t.Errorf("row %d is %s, want %s", i, s.ID, studies[i].ID)
		}
	}
	_, err = Collect(dirs[0], dirs[0])
	if err == nil || !strings.Contains(err.Error(), "status files in") {
		t.Errorf("the same folder twice: %v", err)
	}
	if _, err := Collect(filepath.Join(base, "nope")); err == nil {
		t.Error("a missing folder was accepted")
	}
	write(t, filepath.Join(dirs[0], "bad", StatusName), "{not json")
	if _, err := Collect(dirs[0]); err == nil || !strings.Contains(err.Error(), filepath.Join("bad", StatusName)) {
		t.Errorf("a corrupt status file: %v", err)
	}
}

func TestProgressTerminalLess(t *testing.T) {
	var b bytes.Buffer
	p := NewProgress(&b, 3)
	clock := time.Unix(0, 0)
	p.now = func() time.Time { return clock }
	p.Skip(Study{ID: "a"}, "done")
	p.Begin(Study{ID: "b"})
	clock = clock.Add(10 * time.Second)
	p.End(&Status{Study: Study{ID: "b"}, State: StateDone})
	p.Begin(Study{ID: "c"})
	clock = clock.Add(2 * time.Second)
	p.End(&Status{Study: Study{ID: "c"}, State: StateFailed, Error: "c.nii: bad"})
	want := "[1/3] a: skipped (done)\n[2/3] b: done in 10.0 s (open 0.0, predict 0.0, write 0.0)  (ETA 10s)\n[3/3] c: failed in 2.0 s: c.nii: bad\n"
	if b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
	if IsTerminal(&b) {
		t.Error("a buffer is not a terminal")
	}
}

func TestNumJSON(t *testing.T) {
	b, _ := json.Marshal([]Num{1.5, Num(math.NaN()), Num(math.Inf(1))})
	if string(b) != "[1.5,null,null]" {
		t.Errorf("got %s", b)
	}
	var back []Num
	if err := json.Unmarshal(b, &back); err != nil || back[0] != 1.5 || !math.IsNaN(float64(back[1])) {
		t.Errorf("round trip: %v %v", back, err)
	}
	if p, why := Pending(nil, "x"); !p || why != "new" {
		t.Error("no status must be pending")
	}
	if p, _ := Pending(&Status{State: StateDone, Fingerprint: "x"}, "x"); p {
		t.Error("done with the same fingerprint must be skipped")
	}
	if p, _ := Pending(&Status{State: StateDone, Fingerprint: "x"}, "y"); !p {
		t.Error("done with another fingerprint must be redone")
	}
	_ = errors.New
}
