package cohort

import (
	"bytes"
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"cmrseg/app/phantom"
)

// scoredSegment is fakeSegment with a QC score and group per study.
func scoredSegment(score map[string]float64, group map[string]string) Segment {
	f := &fakeSegment{}
	return func(s Study, in *Input, dir string, st *Status) error {
		if err := f.segment(s, in, dir, st); err != nil {
			return err
		}
		st.Results.QC.Score = Num(score[s.ID])
		if !(score[s.ID] > float64(st.Results.QC.Threshold)) {
			st.Results.QC.FlaggedSlices = 0
		}
		st.Group = group[s.ID]
		return nil
	}
}

// TestReviewQueue: the queue lists done studies most uncertain first,
// filters by flag, group and review, and a review goes into the status
// file and the cohort table.
func TestReviewQueue(t *testing.T) {
	root := phantomArchive(t, 4)
	out := filepath.Join(t.TempDir(), "out")
	studies, err := Discover(root, out)
	if err != nil {
		t.Fatal(err)
	}
	score := map[string]float64{"s00": 0.1, "s01": 0.5, "s02": math.NaN(), "s03": 0.35}
	group := map[string]string{"s00": "DCM", "s01": "NOR", "s02": "DCM", "s03": "DCM"}
	run := &Run{Out: out, Studies: studies, Shard: Shard{1, 1}, Fingerprint: Fingerprint{ModelSHA256: "m"}, Model: "m", Segment: scoredSegment(score, group)}
	if _, err := run.Execute(); err != nil {
		t.Fatal(err)
	}
	all, err := Collect(out)
	if err != nil {
		t.Fatal(err)
	}
	ids := func(sts []*Status) []string {
		var out []string
		for _, s := range sts {
			out = append(out, s.ID)
		}
		return out
	}
	// broken failed: not in the queue; NaN score last.
	if got := ids(Queue(all, Filter{})); !slices.Equal(got, []string{"s01", "s03", "s00", "s02"}) {
		t.Errorf("queue %v", got)
	}
	if got := ids(Queue(all, Filter{FlaggedOnly: true})); !slices.Equal(got, []string{"s01", "s03"}) {
		t.Errorf("flagged only %v", got)
	}
	if got := ids(Queue(all, Filter{Group: "DCM"})); !slices.Equal(got, []string{"s03", "s00", "s02"}) {
		t.Errorf("group DCM %v", got)
	}
	if got := Groups(all); !slices.Equal(got, []string{"DCM", "NOR"}) {
		t.Errorf("groups %v", got)
	}

	at := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	st, err := SetReview(out, "s01", Review{State: ReviewCorrected, Final: true, At: at})
	if err != nil || st.Review == nil || st.Review.State != ReviewCorrected {
		t.Fatalf("SetReview: %+v %v", st, err)
	}
	if again, _ := ReadStatus(filepath.Join(out, "s01")); again.Review == nil || !again.Review.At.Equal(at) || !again.Review.Final {
		t.Errorf("status file after the review: %+v", again.Review)
	}
	all, _ = Collect(out)
	if got := ids(Queue(all, Filter{Unreviewed: true})); !slices.Equal(got, []string{"s03", "s00", "s02"}) {
		t.Errorf("not yet reviewed %v", got)
	}
	raw, err := os.ReadFile(filepath.Join(out, TableCSV))
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	col := slices.Index(recs[0], "review")
	if col < 0 || slices.Index(recs[0], "reviewed_at") < 0 {
		t.Fatalf("table columns %v", recs[0])
	}
	for _, r := range recs[1:] {
		want := ""
		if r[0] == "s01" {
			want = "corrected"
		}
		if r[col] != want {
			t.Errorf("table row %s: review %q, want %q", r[0], r[col], want)
		}
	}
	if js, _ := os.ReadFile(filepath.Join(out, TableJSONL)); !strings.Contains(string(js), `"review":"corrected","review_final":true,"reviewed_at":"2026-12-03T12:00:00Z"`) {
		t.Errorf("JSON lines lack the review:\n%s", js)
	}
	if _, err := SetReview(out, "broken", Review{State: ReviewReviewed}); err == nil || !strings.Contains(err.Error(), "no finished segmentation") {
		t.Errorf("reviewing a failed study: %v", err)
	}
	if _, err := SetReview(out, "s00", Review{State: "maybe"}); err == nil {
		t.Error("an unknown review state was accepted")
	}
	if _, err := SetReview(out, "../x", Review{State: ReviewReviewed}); err == nil {
		t.Error("a study id outside the folder was accepted")
	}
}

// TestReviewSeries: a study segmented at ED and ES of a cine becomes a
// two-phase series with those phases' voxels.
func TestReviewSeries(t *testing.T) {
	s, _, truth := phantom.Generate(phantom.Options{Seed: 1})
	if s.NT < 3 {
		t.Fatalf("phantom has %d phases", s.NT)
	}
	r, idx := ReviewSeries(s, []int{truth.ED, truth.ES})
	if r.NT != 2 || r.ED != 0 || r.ES != 1 || !slices.Equal(idx, []int{0, 1}) ||
		!slices.Equal(r.Phase(0), s.Phase(truth.ED)) || !slices.Equal(r.Phase(1), s.Phase(truth.ES)) {
		t.Fatalf("review series NT %d ED %d ES %d idx %v", r.NT, r.ED, r.ES, idx)
	}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	all := make([]int, s.NT)
	for i := range all {
		all[i] = i
	}
	if r, idx := ReviewSeries(s, all); r != s || !slices.Equal(idx, all) {
		t.Error("every phase segmented: not the series itself")
	}
}
