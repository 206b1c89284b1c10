package evaluation

// Failure analysis: where in the heart the model fails. Every labelled
// volume is split by slice position (basal, mid, apical thirds of the
// slices with reference foreground, ranked from the base) and scored per
// class in each third, with and without post-processing; the raw
// prediction's islands (the components the largest-component
// post-processing would remove) are counted and measured. Volumes are then
// averaged per pathology group × ED/ES × position.

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"

	"cmrseg/app/study"
	"cmrseg/inference/postprocess"
	"cmrseg/training/metrics"
)

// Slice positions, counted from the base; Outside holds the slices
// without reference foreground (above the base or below the apex).
const (
	Basal   = study.PositionBasal
	Mid     = study.PositionMid
	Apical  = study.PositionApical
	Outside = study.PositionOutside
)

// PositionNames name the positions (index Basal, Mid, Apical, Outside).
var PositionNames = [4]string{"basal", "mid", "apical", "outside"}

// PositionRule says in words how slices are assigned, for the JSON.
const PositionRule = "slices with reference foreground (any of RV, MYO, LV), ranked from the base, " +
	"rank r of n in third floor(3(r+1/2)/n) (basal, mid, apical; the extra slices go to mid); " +
	"the base is the end whose half of those slices holds more reference foreground (ACDC: slice 1); " +
	"Dice per class pools the voxels of a third, null where the class is absent from reference and prediction there; " +
	"islands: 26-connected 3D components of the raw prediction beyond the largest, per class and for the whole foreground " +
	"(exactly what largest-component post-processing removes)"

// Scores are RV, MYO and LV values; NaN (undefined) is written as null.
type Scores [3]float64

// MarshalJSON writes NaN as null (JSON has no NaN).
func (s Scores) MarshalJSON() ([]byte, error) { return json.Marshal(nums(s)) }

// Overlap counts one class's voxels in a region: in both, in the reference,
// in the prediction.
type Overlap struct {
	Inter int `json:"both"`
	Ref   int `json:"ref"`
	Pred  int `json:"pred"`
}

// Dice is 2|R∩P|/(|R|+|P|), NaN when the class is in neither.
func (o Overlap) Dice() float64 {
	if o.Ref+o.Pred == 0 {
		return math.NaN()
	}
	return 2 * float64(o.Inter) / float64(o.Ref+o.Pred)
}

func (o *Overlap) add(p Overlap) { o.Inter += p.Inter; o.Ref += p.Ref; o.Pred += p.Pred }

// PositionScore is one position's Dice in one volume.
type PositionScore struct {
	Position string `json:"position"`
	// Slices are the position's slices, 1-based as people count them.
	Slices  []int      `json:"slices_1based"`
	Dice    Scores     `json:"dice"`     // post-processed
	RawDice Scores     `json:"dice_raw"` // without post-processing
	Counts  [3]Overlap `json:"voxels"`   // post-processed, RV, MYO, LV
}

// Islands are a raw prediction's 26-connected components beyond the
// largest, i.e. what largest-component post-processing would remove.
type Islands struct {
	Count [3]int `json:"count"` // per class RV, MYO, LV
	ML    Scores `json:"ml"`    // their total volume per class
	// CorrectML is the part of ML where the reference has the same class:
	// true structure that post-processing would remove.
	CorrectML Scores `json:"ml_correct"`
	// Foreground counts the components of the whole foreground (all
	// classes together) beyond the largest.
	Foreground   int     `json:"foreground_count"`
	ForegroundML float64 `json:"foreground_ml"`
	// ByPosition is the per-class island volume (ml) on the slices of
	// each position: basal, mid, apical, outside the reference's slices.
	ByPosition [4]Scores `json:"ml_by_position"`
}

// VolumeFailure is one labelled volume's breakdown.
type VolumeFailure struct {
	Case  string `json:"case"`
	Group string `json:"group"`
	Phase string `json:"phase"` // ED, ES or other
	// PhaseNumber is 1-based, as people count phases.
	PhaseNumber int `json:"phase_1based"`
	// BaseAtSlice1 is the detected orientation: true when the base is the
	// first slice (k = 0), as in every ACDC volume.
	BaseAtSlice1 bool             `json:"base_at_slice_1"`
	Positions    [3]PositionScore `json:"positions"`
	// OutsideML is the post-processed prediction's volume per class on
	// slices without reference foreground (all of it false positive).
	OutsideML  Scores  `json:"outside_ml"`
	Islands    Islands `json:"islands_raw"`
	RefIslands Islands `json:"islands_reference"`
}

// GroupPosition is one row of the aggregate: the mean over volumes of one
// group and phase of the Dice at one position.
type GroupPosition struct {
	Group    string `json:"group"`
	Phase    string `json:"phase"`
	Position string `json:"position"`
	Volumes  int    `json:"volumes"`
	Dice     Scores `json:"dice"`     // mean, post-processed; undefined Dice left out
	RawDice  Scores `json:"dice_raw"` // mean without post-processing
	// Defined counts the volumes whose Dice is defined per class.
	Defined [3]int `json:"defined"`
}

// GroupIslands is the mean island burden of one group and phase.
type GroupIslands struct {
	Group   string `json:"group"`
	Phase   string `json:"phase"`
	Volumes int    `json:"volumes"`
	Count   Scores `json:"mean_count"`      // mean islands per volume, per class
	ML      Scores `json:"mean_ml"`         // mean island volume per volume, per class
	Correct Scores `json:"mean_ml_correct"` // the part of ML the reference labels the same
	// RefCount is the mean number of islands of the reference labels.
	RefCount Scores `json:"mean_reference_count"`
	With     [3]int `json:"volumes_with"` // volumes with at least one island, per class
	// ForegroundCount is the mean number of whole-foreground islands.
	ForegroundCount float64 `json:"mean_foreground_count"`
}

// FailureAnalysis is the whole breakdown of one bundle's evaluation.
type FailureAnalysis struct {
	Rule    string          `json:"rule"`
	Volumes []VolumeFailure `json:"volumes"`
	Groups  []GroupPosition `json:"groups"`
	Islands []GroupIslands  `json:"islands"`
}

// SlicePositions assigns every slice of ref a position (Basal, Mid, Apical
// or Outside) by PositionRule and reports whether the base is at k = 0.
func SlicePositions(ref study.Labels) (pos []int, baseAtFirst bool) { return study.SlicePositions(ref) }

// positionOverlaps counts each class's voxels per position (index Basal …
// Outside) for pred against ref; summed over the four positions they are
// the whole volume's counts.
func positionOverlaps(ref study.Labels, pred []uint8, pos []int) (out [4][3]Overlap) {
	plane := ref.Dims[0] * ref.Dims[1]
	for v, r := range ref.Data {
		p := pred[v]
		o := &out[pos[v/plane]]
		for c, cl := range metrics.Foreground {
			if r == cl {
				o[c].Ref++
				if p == cl {
					o[c].Inter++
				}
			}
			if p == cl {
				o[c].Pred++
			}
		}
	}
	return out
}

// countIslands measures the components of labels beyond the largest, per
// class and for the whole foreground; ref (same grid) tells which island
// voxels are right.
func countIslands(labels, ref []uint8, g study.Geometry, pos []int) Islands {
	var is Islands
	ml := g.VoxelVolumeML()
	plane := g.Dims[0] * g.Dims[1]
	for c, cl := range metrics.Foreground {
		comp, sizes := postprocess.Components(labels, g.Dims, func(l uint8) bool { return l == cl })
		keep := postprocess.Largest(sizes)
		if len(sizes) > 1 {
			is.Count[c] = len(sizes) - 1
		}
		for v, id := range comp {
			if id != 0 && id != keep {
				is.ML[c] += ml
				if ref[v] == cl {
					is.CorrectML[c] += ml
				}
				is.ByPosition[pos[v/plane]][c] += ml
			}
		}
	}
	_, sizes := postprocess.Components(labels, g.Dims, func(l uint8) bool { return l != 0 })
	if len(sizes) > 1 {
		is.Foreground = len(sizes) - 1
		total := 0
		for _, s := range sizes {
			total += s
		}
		is.ForegroundML = float64(total-sizes[postprocess.Largest(sizes)-1]) * ml
	}
	return is
}

// analyseVolume breaks one volume down by position and counts the raw
// prediction's islands; raw and post are the prediction without and with
// post-processing, on ref's grid.
func analyseVolume(ref study.Labels, raw, post []uint8) (VolumeFailure, error) {
	if len(ref.Data) != ref.N() || len(raw) != ref.N() || len(post) != ref.N() {
		return VolumeFailure{}, fmt.Errorf("failure analysis: %d/%d/%d voxels for grid %v", len(ref.Data), len(raw), len(post), ref.Dims)
	}
	pos, baseFirst := SlicePositions(ref)
	vf := VolumeFailure{BaseAtSlice1: baseFirst}
	rawO := positionOverlaps(ref, raw, pos)
	postO := positionOverlaps(ref, post, pos)
	for p := range vf.Positions {
		ps := PositionScore{Position: PositionNames[p], Slices: []int{}, Counts: postO[p]}
		for c := range 3 {
			ps.Dice[c] = postO[p][c].Dice()
			ps.RawDice[c] = rawO[p][c].Dice()
		}
		vf.Positions[p] = ps
	}
	for k, p := range pos {
		if p != Outside {
			vf.Positions[p].Slices = append(vf.Positions[p].Slices, k+1)
		}
	}
	for c := range 3 {
		vf.OutsideML[c] = float64(postO[Outside][c].Pred) * ref.VoxelVolumeML()
	}
	vf.Islands = countIslands(raw, ref.Data, ref.Geometry, pos)
	vf.RefIslands = countIslands(ref.Data, ref.Data, ref.Geometry, pos)
	return vf, nil
}

// phaseName names phase t of s as people know it.
func phaseName(s *study.Series, t int) string {
	switch {
	case s == nil:
		return "other"
	case t == s.ED:
		return "ED"
	case t == s.ES:
		return "ES"
	}
	return "other"
}

// groupOrder lists ACDC's groups first, then any other, then "all".
func groupOrder(vs []VolumeFailure) []string {
	order := []string{"DCM", "HCM", "MINF", "NOR", "RV"}
	seen := map[string]bool{}
	for _, g := range order {
		seen[g] = true
	}
	var extra []string
	for _, v := range vs {
		if !seen[v.Group] {
			seen[v.Group] = true
			extra = append(extra, v.Group)
		}
	}
	slices.Sort(extra)
	return append(append(order, extra...), "all")
}

// aggregate fills Groups and Islands from Volumes: one row per group
// (and "all") × phase × position, groups without volumes left out.
func (fa *FailureAnalysis) aggregate() {
	fa.Groups, fa.Islands = nil, nil
	for _, g := range groupOrder(fa.Volumes) {
		for _, ph := range []string{"ED", "ES", "other"} {
			var sel []VolumeFailure
			for _, v := range fa.Volumes {
				if (g == "all" || v.Group == g) && v.Phase == ph {
					sel = append(sel, v)
				}
			}
			if len(sel) == 0 {
				continue
			}
			for p := range 3 {
				row := GroupPosition{Group: g, Phase: ph, Position: PositionNames[p], Volumes: len(sel)}
				for c := range 3 {
					var d, rd []float64
					for _, v := range sel {
						d = append(d, v.Positions[p].Dice[c])
						rd = append(rd, v.Positions[p].RawDice[c])
						if !math.IsNaN(v.Positions[p].Dice[c]) {
							row.Defined[c]++
						}
					}
					row.Dice[c], row.RawDice[c] = metrics.Mean(d), metrics.Mean(rd)
				}
				fa.Groups = append(fa.Groups, row)
			}
			gi := GroupIslands{Group: g, Phase: ph, Volumes: len(sel)}
			n := float64(len(sel))
			for _, v := range sel {
				for c := range 3 {
					gi.Count[c] += float64(v.Islands.Count[c]) / n
					gi.ML[c] += v.Islands.ML[c] / n
					gi.Correct[c] += v.Islands.CorrectML[c] / n
					gi.RefCount[c] += float64(v.RefIslands.Count[c]) / n
					if v.Islands.Count[c] > 0 {
						gi.With[c]++
					}
				}
				gi.ForegroundCount += float64(v.Islands.Foreground) / n
			}
			fa.Islands = append(fa.Islands, gi)
		}
	}
}

// Cell returns the aggregate row of group, phase and position (nil when
// there is none).
func (fa *FailureAnalysis) Cell(group, phase, position string) *GroupPosition {
	for i := range fa.Groups {
		r := &fa.Groups[i]
		if r.Group == group && r.Phase == phase && r.Position == position {
			return r
		}
	}
	return nil
}
