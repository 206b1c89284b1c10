package report

import (
	_ "embed"
	"fmt"
	"math"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"
)

//go:embed reference/kawel-boehm-2020.toml
var referenceTOML string

// ReferenceRange is one adult range of the reference table.
type ReferenceRange struct {
	Index  string  `toml:"index"`
	PerBSA bool    `toml:"per_bsa"`
	Sex    string  `toml:"sex"`
	AgeMin float64 `toml:"age_min"`
	AgeMax float64 `toml:"age_max"`
	Low    float64 `toml:"low"`
	High   float64 `toml:"high"`
	Table  string  `toml:"table"`
	Row    string  `toml:"row"`
}

// ReferenceTable is the reference data file: its source, the labelling
// convention its ranges are chosen for, and the ranges.
type ReferenceTable struct {
	Source     string           `toml:"source"`
	DOI        string           `toml:"doi"`
	Technique  string           `toml:"technique"`
	Convention string           `toml:"convention"`
	Status     string           `toml:"status"`
	Ranges     []ReferenceRange `toml:"range"`
}

// ParseReferenceTable reads a reference table and checks that every range
// names a known index, a sex, an age band, limits and its table and row.
func ParseReferenceTable(text string) (*ReferenceTable, error) {
	var t ReferenceTable
	md, err := toml.Decode(text, &t)
	if err != nil {
		return nil, fmt.Errorf("reference ranges: %w", err)
	}
	if u := md.Undecoded(); len(u) > 0 {
		return nil, fmt.Errorf("reference ranges: unknown keys %v", u)
	}
	if t.Source == "" || t.DOI == "" {
		return nil, fmt.Errorf("reference ranges: the table names no source")
	}
	keys := map[string]bool{}
	for _, d := range definitions {
		keys[d.key] = true
	}
	for n, r := range t.Ranges {
		switch {
		case !keys[r.Index]:
			return nil, fmt.Errorf("reference ranges: range %d: unknown index %q", n+1, r.Index)
		case r.Sex != "M" && r.Sex != "F":
			return nil, fmt.Errorf("reference ranges: range %d (%s): sex %q, want M or F", n+1, r.Index, r.Sex)
		case !(r.AgeMax >= r.AgeMin) || r.AgeMin < 0:
			return nil, fmt.Errorf("reference ranges: range %d (%s): age band %g–%g", n+1, r.Index, r.AgeMin, r.AgeMax)
		case !(r.High > r.Low):
			return nil, fmt.Errorf("reference ranges: range %d (%s): limits %g–%g", n+1, r.Index, r.Low, r.High)
		case strings.TrimSpace(r.Table) == "" || strings.TrimSpace(r.Row) == "":
			return nil, fmt.Errorf("reference ranges: range %d (%s): no table and row given for its source", n+1, r.Index)
		}
	}
	return &t, nil
}

// BundledReferences is the reference table shipped with cmrseg.
func BundledReferences() (*ReferenceTable, error) { return bundled() }

// bundled parses the embedded table once: the live panel recomputes the
// report after every correction.
var bundled = sync.OnceValues(func() (*ReferenceTable, error) { return ParseReferenceTable(referenceTOML) })

// BSAFormula names the body-surface-area formula of the indexed values.
const BSAFormula = "Mosteller: BSA (m²) = sqrt(height (cm) × weight (kg) / 3600)"

// RangeFlag compares one index with its reference range.
type RangeFlag struct {
	Key       string
	PerBSA    bool
	Value     float64 // the compared value (per m² when PerBSA)
	Low, High float64
	// Status is "below", "above" or "within".
	Status     string
	Table, Row string
}

// RangeCheck is the comparison of a report with the reference table.
type RangeCheck struct {
	Source, DOI, Convention string
	BSAFormula              string
	// Note says why some or all indices were not compared (sex, age or
	// BSA unknown, no verified range); empty when all were.
	Note  string
	Flags []RangeFlag
}

// Outside lists the flags outside their range.
func (c *RangeCheck) Outside() []RangeFlag {
	var out []RangeFlag
	for _, f := range c.Flags {
		if f.Status != "within" {
			out = append(out, f)
		}
	}
	return out
}

// Flag returns the comparison of the index key, if any.
func (c *RangeCheck) Flag(key string) (RangeFlag, bool) {
	for _, f := range c.Flags {
		if f.Key == key {
			return f, true
		}
	}
	return RangeFlag{}, false
}

// CheckRanges compares r's point values with t's ranges for r's sex and
// age (indexed ranges need the BSA). Values are compared as reported:
// the interval is not used to flag, so a flag means the reported value
// lies outside the range.
func CheckRanges(r *Report, t *ReferenceTable) *RangeCheck {
	c := &RangeCheck{Source: t.Source, DOI: t.DOI, Convention: t.Convention, BSAFormula: BSAFormula}
	var notes []string
	if t.Status != "" && len(t.Ranges) == 0 {
		notes = append(notes, t.Status)
	}
	switch {
	case r.Sex == "" && r.AgeYears <= 0:
		notes = append(notes, "sex and age unknown: enter them to compare with the adult ranges")
	case r.Sex == "":
		notes = append(notes, "sex unknown: enter it to compare with the adult ranges")
	case r.AgeYears <= 0:
		notes = append(notes, "age unknown: enter it to compare with the adult ranges")
	}
	noBSA := false
	for _, rg := range t.Ranges {
		if rg.Sex != r.Sex || r.AgeYears < rg.AgeMin || r.AgeYears >= rg.AgeMax+1 {
			continue
		}
		ix, ok := r.Index(rg.Index)
		if !ok {
			continue
		}
		v := ix.Value
		if rg.PerBSA {
			v = ix.PerBSA
			if !(r.BSA > 0) {
				noBSA = true
				continue
			}
		}
		if math.IsNaN(v) {
			continue
		}
		status := "within"
		if v < rg.Low {
			status = "below"
		} else if v > rg.High {
			status = "above"
		}
		c.Flags = append(c.Flags, RangeFlag{Key: rg.Index, PerBSA: rg.PerBSA, Value: v, Low: rg.Low, High: rg.High, Status: status, Table: rg.Table, Row: rg.Row})
	}
	if noBSA {
		notes = append(notes, "height or weight unknown: indexed ranges not compared")
	}
	if len(t.Ranges) > 0 && len(c.Flags) == 0 && r.Sex != "" && r.AgeYears > 0 && !noBSA {
		notes = append(notes, fmt.Sprintf("no range in the table for sex %s, age %.0f", r.Sex, r.AgeYears))
	}
	c.Note = strings.Join(notes, "; ")
	return c
}
