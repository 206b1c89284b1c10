package report

import (
	"math"
	"strings"
	"testing"

	"cmrseg/app/study"
)

// TestBundledReferences: the shipped table parses, names its source and
// the labelling convention, and says why it holds no value it could not
// verify.
func TestBundledReferences(t *testing.T) {
	tb, err := BundledReferences()
	if err != nil {
		t.Fatal(err)
	}
	if tb.DOI != "10.1186/s12968-020-00683-3" || !strings.Contains(tb.Source, "Kawel-Boehm") || !strings.Contains(tb.Convention, "papillary") {
		t.Errorf("source %q doi %q convention %q", tb.Source, tb.DOI, tb.Convention)
	}
	if len(tb.Ranges) == 0 && tb.Status == "" {
		t.Error("no ranges and no status saying why")
	}
	r := &Report{Sex: "M", AgeYears: 45, BSA: 2}
	if c := CheckRanges(r, tb); len(tb.Ranges) == 0 && (len(c.Flags) != 0 || !strings.Contains(c.Note, "no range values verified")) {
		t.Errorf("empty table: flags %v, note %q", c.Flags, c.Note)
	}
}

// TestCheckRanges flags values against a test table (made-up limits, not
// reference data): the band is chosen by sex and age, indexed ranges
// compare the per-BSA value, and missing sex, age or BSA is said, not
// guessed. Bad tables are refused with the reason.
func TestCheckRanges(t *testing.T) {
	tb, err := ParseReferenceTable(`
source = "test"
doi = "test"
[[range]]
index = "lv_edv"
per_bsa = true
sex = "M"
age_min = 20
age_max = 39
low = 60
high = 100
table = "T"
row = "r1"
[[range]]
index = "lv_edv"
per_bsa = true
sex = "M"
age_min = 40
age_max = 59
low = 50
high = 90
table = "T"
row = "r2"
[[range]]
index = "lv_ef"
sex = "M"
age_min = 40
age_max = 59
low = 55
high = 75
table = "T"
row = "r3"
`)
	if err != nil {
		t.Fatal(err)
	}
	g := study.Geometry{Dims: [3]int{10, 10, 1}, Spacing: [3]float64{10, 10, 10}} // 1 ml voxels
	lab := func(n int) []uint8 {
		l := make([]uint8, 100)
		for i := range n {
			l[i] = study.LV
		}
		return l
	}
	// EDV 95 ml, ESV 50 ml: EF 47.4 %; BSA √(180·72/3600) = 1.9 m²: EDV/BSA 50.0.
	meta := study.Metadata{HeightM: 1.8, WeightKg: 72, Sex: "M", AgeYears: 45}
	r, err := Compute(Input{Geometry: g, Meta: meta, ED: Phase{Index: 0, Labels: lab(95)}, ES: Phase{Index: 1, Labels: lab(50)}})
	if err != nil {
		t.Fatal(err)
	}
	c := CheckRanges(r, tb)
	edv, ok1 := c.Flag(LVEDV)
	ef, ok2 := c.Flag(LVEF)
	if !ok1 || !ok2 || edv.Row != "r2" || edv.Status != "within" || math.Abs(edv.Value-50) > 0.1 || ef.Status != "below" {
		t.Errorf("45-year-old man: EDV %+v, EF %+v", edv, ef)
	}
	if len(c.Outside()) != 1 || c.Note != "" {
		t.Errorf("outside %v, note %q", c.Outside(), c.Note)
	}
	r.AgeYears = 30
	if c := CheckRanges(r, tb); len(c.Flags) != 1 || c.Flags[0].Row != "r1" || c.Flags[0].Status != "below" {
		t.Errorf("30-year-old: %+v", c.Flags)
	}
	r.Sex = ""
	if c := CheckRanges(r, tb); len(c.Flags) != 0 || !strings.Contains(c.Note, "sex unknown") {
		t.Errorf("no sex: %+v %q", c.Flags, c.Note)
	}
	r.Sex, r.BSA = "M", 0
	if c := CheckRanges(r, tb); len(c.Flags) != 0 || !strings.Contains(c.Note, "height or weight unknown") {
		t.Errorf("no BSA: %+v %q", c.Flags, c.Note)
	}
	for _, bad := range []string{
		`source = "s"` + "\n" + `doi = "d"` + "\n[[range]]\nindex = \"lv_edv\"\nsex = \"M\"\nage_min = 20\nage_max = 30\nlow = 1\nhigh = 2\n",                        // no table/row
		`source = "s"` + "\n" + `doi = "d"` + "\n[[range]]\nindex = \"lv_xx\"\nsex = \"M\"\nage_min = 20\nage_max = 30\nlow = 1\nhigh = 2\ntable=\"T\"\nrow=\"r\"\n", // unknown index
		`source = "s"` + "\n" + `doi = "d"` + "\n[[range]]\nindex = \"lv_edv\"\nsex = \"X\"\nage_min = 20\nage_max = 30\nlow = 1\nhigh = 2\ntable=\"T\"\nrow=\"r\"\n",
		`doi = "d"`,
	} {
		if _, err := ParseReferenceTable(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}
