// Package split divides patients into training and validation sets by
// patient (never by slice or frame), stratified by pathology group when
// groups are known, deterministically from a seed.
package split

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
)

// Patient is one case to assign; Group is "" when unknown.
type Patient struct {
	ID    string
	Group string
}

// Options says how large the validation set is and how it is drawn.
type Options struct {
	// ValFraction of the patients go to validation (rounded, at least one
	// when positive). Ignored when ValCount > 0.
	ValFraction float64 `toml:"val_fraction"`
	// ValCount, when positive, is the exact number of validation patients.
	ValCount int `toml:"val_count"`
	// Seed makes the draw reproducible; int64 because TOML integers are,
	// and a negative one is rejected rather than wrapped.
	Seed int64 `toml:"seed"`
	// Stratify by Group: each group contributes in proportion to its size
	// (largest-remainder rounding). Patients without a group form their
	// own stratum.
	Stratify bool `toml:"stratify"`
	// ValIDs, when non-empty, is the validation set verbatim and overrides
	// fraction, count and seed.
	ValIDs []string `toml:"val_ids"`
}

// Validate checks the options on their own (patient IDs are checked by Make).
func (o Options) Validate() error {
	if !(o.ValFraction >= 0 && o.ValFraction < 1) {
		return fmt.Errorf("split: val_fraction: must lie in [0, 1), got %g", o.ValFraction)
	}
	if o.ValCount < 0 {
		return fmt.Errorf("split: val_count: must not be negative, got %d", o.ValCount)
	}
	if o.Seed < 0 {
		return fmt.Errorf("split: seed: must not be negative, got %d", o.Seed)
	}
	seen := map[string]bool{}
	for _, id := range o.ValIDs {
		if strings.TrimSpace(id) == "" {
			return fmt.Errorf("split: val_ids: contains an empty ID")
		}
		if seen[id] {
			return fmt.Errorf("split: val_ids: lists %q twice", id)
		}
		seen[id] = true
	}
	return nil
}

// Split is the result: patient IDs, each list sorted.
type Split struct {
	Train, Val []string
}

// Make assigns every patient to exactly one of Train and Val.
func Make(patients []Patient, o Options) (Split, error) {
	if err := o.Validate(); err != nil {
		return Split{}, err
	}
	if len(patients) == 0 {
		return Split{}, fmt.Errorf("split: no patients")
	}
	byID := make(map[string]Patient, len(patients))
	for _, p := range patients {
		if strings.TrimSpace(p.ID) == "" {
			return Split{}, fmt.Errorf("split: a patient has an empty ID")
		}
		if _, dup := byID[p.ID]; dup {
			return Split{}, fmt.Errorf("split: patient %q appears twice", p.ID)
		}
		byID[p.ID] = p
	}
	n := len(patients)

	val := map[string]bool{}
	if len(o.ValIDs) > 0 {
		for _, id := range o.ValIDs {
			if _, ok := byID[id]; !ok {
				return Split{}, fmt.Errorf("split: val_ids: names %q, which is not among the %d patients", id, n)
			}
			val[id] = true
		}
	} else {
		k := o.ValCount
		if k == 0 && o.ValFraction > 0 {
			k = max(1, int(math.Round(o.ValFraction*float64(n))))
		}
		if k >= n && k > 0 {
			return Split{}, fmt.Errorf("split: %d validation patients leave none of the %d for training", k, n)
		}
		for _, id := range draw(patients, k, o) {
			val[id] = true
		}
	}
	if len(val) >= n {
		return Split{}, fmt.Errorf("split: val_ids: takes all %d patients; none left for training", n)
	}

	var s Split
	for _, p := range patients {
		if val[p.ID] {
			s.Val = append(s.Val, p.ID)
		} else {
			s.Train = append(s.Train, p.ID)
		}
	}
	sort.Strings(s.Train)
	sort.Strings(s.Val)
	return s, nil
}

// draw picks k IDs: per stratum in sorted group order, each stratum's IDs
// sorted then shuffled by one seeded generator, so the result depends only
// on the patient set, k and the seed, not on the input order.
func draw(patients []Patient, k int, o Options) []string {
	if k == 0 {
		return nil
	}
	strata := map[string][]string{}
	for _, p := range patients {
		g := ""
		if o.Stratify {
			g = p.Group
		}
		strata[g] = append(strata[g], p.ID)
	}
	groups := make([]string, 0, len(strata))
	for g := range strata {
		groups = append(groups, g)
	}
	sort.Strings(groups)

	quota := allocate(groups, strata, k, len(patients))
	rng := rand.New(rand.NewPCG(uint64(o.Seed), 0x9e3779b97f4a7c15))
	var out []string
	for i, g := range groups {
		ids := strata[g]
		sort.Strings(ids)
		rng.Shuffle(len(ids), func(a, b int) { ids[a], ids[b] = ids[b], ids[a] })
		out = append(out, ids[:quota[i]]...)
	}
	return out
}

// allocate splits k over the strata in proportion to their sizes by the
// largest-remainder method (ties to the earlier group).
func allocate(groups []string, strata map[string][]string, k, n int) []int {
	quota := make([]int, len(groups))
	rem := make([]float64, len(groups))
	left := k
	for i, g := range groups {
		exact := float64(k) * float64(len(strata[g])) / float64(n)
		quota[i] = int(math.Floor(exact))
		rem[i] = exact - float64(quota[i])
		left -= quota[i]
	}
	order := make([]int, len(groups))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(a, b int) bool { return rem[order[a]] > rem[order[b]] })
	for _, i := range order {
		if left == 0 {
			break
		}
		if quota[i] < len(strata[groups[i]]) {
			quota[i]++
			left--
		}
	}
	return quota
}
