package data

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"cmrseg/app/atomicfile"
	"cmrseg/training/split"
)

// SplitFile is the name of the split record inside a run folder.
const SplitFile = "split.json"

// Split is a run's division of the cases, by patient, as recorded in
// split.json: case IDs, sorted.
type Split struct {
	Train []string `json:"train"`
	Val   []string `json:"val"`
	// Groups maps every case to its pathology group ("" when unknown).
	Groups map[string]string `json:"groups"`
	// Data are the data set folders the cases were read from.
	Data []string `json:"data"`
	// Options are the split settings that produced it.
	Options split.Options `json:"options"`
}

// MakeSplit assigns patients (not slices, not frames) to training and
// validation with training/split, stratified by group when asked, and
// maps the patients back to their cases.
func MakeSplit(cases []Case, o split.Options) (Split, error) {
	groups := map[string]string{}
	byPatient := map[string][]string{}
	var patients []split.Patient
	for _, c := range cases {
		groups[c.ID] = c.Group
		if _, ok := byPatient[c.Patient]; !ok {
			patients = append(patients, split.Patient{ID: c.Patient, Group: c.Group})
		}
		byPatient[c.Patient] = append(byPatient[c.Patient], c.ID)
	}
	s, err := split.Make(patients, o)
	if err != nil {
		return Split{}, fmt.Errorf("data: %w", err)
	}
	out := Split{Groups: groups, Options: o, Train: []string{}, Val: []string{}}
	for _, p := range s.Train {
		out.Train = append(out.Train, byPatient[p]...)
	}
	for _, p := range s.Val {
		out.Val = append(out.Val, byPatient[p]...)
	}
	sort.Strings(out.Train)
	sort.Strings(out.Val)
	return out, nil
}

// Select returns the cases named by ids, in ids' order; an unknown ID is
// an error.
func Select(cases []Case, ids []string) ([]Case, error) {
	by := map[string]Case{}
	for _, c := range cases {
		by[c.ID] = c
	}
	out := make([]Case, 0, len(ids))
	for _, id := range ids {
		c, ok := by[id]
		if !ok {
			return nil, fmt.Errorf("data: case %s is not in the data set folders", id)
		}
		out = append(out, c)
	}
	return out, nil
}

// WriteSplit records s at path atomically.
func WriteSplit(path string, s Split) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'))
}

// ReadSplit reads a split record; it must list at least one training case
// and no case twice.
func ReadSplit(path string) (Split, error) {
	var s Split
	b, err := os.ReadFile(path)
	if err != nil {
		return s, fmt.Errorf("data: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("data: split %s: %v", path, err)
	}
	if len(s.Train) == 0 {
		return s, fmt.Errorf("data: split %s: no training cases", path)
	}
	seen := map[string]bool{}
	for _, id := range append(append([]string(nil), s.Train...), s.Val...) {
		if seen[id] {
			return s, fmt.Errorf("data: split %s: case %s listed twice", path, id)
		}
		seen[id] = true
	}
	return s, nil
}
