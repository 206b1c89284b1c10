package split

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"cmrseg/app/shareddata"
)

func generated(sizes map[string]int) []Patient {
	var ps []Patient
	i := 0
	for _, g := range []string{"A", "B", "C", "D", "E", ""} {
		for j := 0; j < sizes[g]; j++ {
			i++
			ps = append(ps, Patient{ID: fmt.Sprintf("p%03d", i), Group: g})
		}
	}
	return ps
}

func countGroups(ps []Patient, ids []string) map[string]int {
	group := map[string]string{}
	for _, p := range ps {
		group[p.ID] = p.Group
	}
	c := map[string]int{}
	for _, id := range ids {
		c[group[id]]++
	}
	return c
}

// checkPartition: every patient exactly once, no overlap.
func checkPartition(t *testing.T, ps []Patient, s Split) {
	t.Helper()
	all := append(slices.Clone(s.Train), s.Val...)
	slices.Sort(all)
	var want []string
	for _, p := range ps {
		want = append(want, p.ID)
	}
	slices.Sort(want)
	if !reflect.DeepEqual(all, want) {
		t.Fatalf("train ∪ val is not the patient set exactly once (%d+%d of %d)", len(s.Train), len(s.Val), len(ps))
	}
}

func TestStratifiedProportions(t *testing.T) {
	ps := generated(map[string]int{"A": 20, "B": 20, "C": 20, "D": 20, "E": 20})
	s, err := Make(ps, Options{ValFraction: 0.2, Seed: 1, Stratify: true})
	if err != nil {
		t.Fatal(err)
	}
	checkPartition(t, ps, s)
	if got := countGroups(ps, s.Val); !reflect.DeepEqual(got, map[string]int{"A": 4, "B": 4, "C": 4, "D": 4, "E": 4}) {
		t.Errorf("val per group %v, want 4 each", got)
	}

	// Unequal groups 10/30/60, 20 %: exactly 2/6/12.
	ps = generated(map[string]int{"A": 10, "B": 30, "C": 60})
	s, err = Make(ps, Options{ValFraction: 0.2, Seed: 7, Stratify: true})
	if err != nil {
		t.Fatal(err)
	}
	checkPartition(t, ps, s)
	if got := countGroups(ps, s.Val); !reflect.DeepEqual(got, map[string]int{"A": 2, "B": 6, "C": 12}) {
		t.Errorf("val per group %v, want 2/6/12", got)
	}

	// Largest remainder: 7 of 3+3+4 → exact 2.1/2.1/2.8 → 2/2/3.
	ps = generated(map[string]int{"A": 3, "B": 3, "C": 4})
	s, err = Make(ps, Options{ValCount: 7, Seed: 3, Stratify: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := countGroups(ps, s.Val); !reflect.DeepEqual(got, map[string]int{"A": 2, "B": 2, "C": 3}) {
		t.Errorf("val per group %v, want 2/2/3", got)
	}
}

func TestDeterminism(t *testing.T) {
	ps := generated(map[string]int{"A": 20, "B": 20, "C": 20, "D": 20, "E": 20})
	o := Options{ValFraction: 0.2, Seed: 42, Stratify: true}
	a, _ := Make(ps, o)
	rev := slices.Clone(ps)
	slices.Reverse(rev)
	b, _ := Make(rev, o)
	if !reflect.DeepEqual(a, b) {
		t.Error("input order changed the split")
	}
	o.Seed = 43
	c, _ := Make(ps, o)
	if reflect.DeepEqual(a.Val, c.Val) {
		t.Error("seeds 42 and 43 gave the same validation set")
	}
	// Without stratification the count still holds; groups ignored.
	u, err := Make(ps, Options{ValCount: 13, Seed: 5})
	if err != nil || len(u.Val) != 13 || len(u.Train) != 87 {
		t.Errorf("unstratified: %d val, %d train, %v", len(u.Val), len(u.Train), err)
	}
	// Fraction rounding: 0.001 of 100 still gives one validation patient.
	tiny, _ := Make(ps, Options{ValFraction: 0.001})
	if len(tiny.Val) != 1 {
		t.Errorf("tiny fraction gave %d val", len(tiny.Val))
	}
	none, _ := Make(ps, Options{})
	if len(none.Val) != 0 || len(none.Train) != 100 {
		t.Errorf("zero fraction gave %d val", len(none.Val))
	}
}

func TestOverride(t *testing.T) {
	ps := generated(map[string]int{"A": 5, "B": 5})
	s, err := Make(ps, Options{ValFraction: 0.5, ValIDs: []string{"p007", "p002"}, Seed: 9, Stratify: true})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(s.Val, []string{"p002", "p007"}) || len(s.Train) != 8 {
		t.Errorf("override: %v / %v", s.Val, s.Train)
	}
	checkPartition(t, ps, s)
}

func TestErrors(t *testing.T) {
	ps := generated(map[string]int{"A": 3})
	for _, k := range []struct {
		ps   []Patient
		o    Options
		want string
	}{
		{ps, Options{ValIDs: []string{"p009"}}, `val_ids: names "p009"`},
		{ps, Options{ValIDs: []string{"p001", "p001"}}, `val_ids: lists "p001" twice`},
		{ps, Options{ValIDs: []string{"p001", "p002", "p003"}}, "none left for training"},
		{ps, Options{ValCount: 3}, "leave none of the 3 for training"},
		{ps, Options{ValFraction: 1}, "val_fraction: must lie in [0, 1)"},
		{ps, Options{ValCount: -1}, "val_count: must not be negative"},
		{nil, Options{}, "no patients"},
		{ps, Options{Seed: -1}, "seed: must not be negative"},
		{[]Patient{{ID: "x"}, {ID: "x"}}, Options{}, `patient "x" appears twice`},
		{[]Patient{{ID: " "}}, Options{}, "empty ID"},
	} {
		_, err := Make(k.ps, k.o)
		if err == nil || !strings.Contains(err.Error(), k.want) {
			t.Errorf("%+v: error %v, want %q", k.o, err, k.want)
		}
	}
}

// readGroup is a tiny Info.cfg parser: "Group: DCM".
func readGroup(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "Group" {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("%s: no Group line", path)
}

func TestACDC(t *testing.T) {
	root := shareddata.Require(t, "acdc/training")
	dirs, err := filepath.Glob(filepath.Join(root, "patient*"))
	if err != nil || len(dirs) != 100 {
		t.Fatalf("found %d ACDC patients (%v), want 100", len(dirs), err)
	}
	var ps []Patient
	for _, d := range dirs {
		g, err := readGroup(filepath.Join(d, "Info.cfg"))
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, Patient{ID: filepath.Base(d), Group: g})
	}
	s, err := Make(ps, Options{ValFraction: 0.2, Seed: 12345, Stratify: true})
	if err != nil {
		t.Fatal(err)
	}
	checkPartition(t, ps, s)
	want := map[string]int{"DCM": 4, "HCM": 4, "MINF": 4, "NOR": 4, "RV": 4}
	if got := countGroups(ps, s.Val); !reflect.DeepEqual(got, want) {
		t.Errorf("ACDC val per group %v, want %v", got, want)
	}
	if got := countGroups(ps, s.Train); !reflect.DeepEqual(got, map[string]int{"DCM": 16, "HCM": 16, "MINF": 16, "NOR": 16, "RV": 16}) {
		t.Errorf("ACDC train per group %v", got)
	}
	t.Logf("ACDC validation (seed 12345): %v", s.Val)
}
