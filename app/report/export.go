package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

	"cmrseg/app/atomicfile"
)

// CSV returns one row per index with a header row; each row names the
// patient and the ED/ES phases, so rows pasted into a cohort sheet stay
// attributable; numbers have one decimal, as the window shows them (the
// JSON keeps full precision); undefined numbers are empty cells. After the
// indices come the LV peak ejection and filling rates, one lv_volume and
// one rv_volume row per segmented phase (its phase_1based and time_ms
// filled in) and three rows per AHA segment (aha_ed_thickness_NN,
// aha_es_thickness_NN, aha_thickening_NN, with segment filled in).
func (r *Report) CSV() []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"patient_id", "ed_phase_1based", "es_phase_1based", "index", "name", "unit", "value", "ci95_low", "ci95_high",
		"per_bsa", "per_bsa_ci95_low", "per_bsa_ci95_high", "per_bsa_unit", "phase_1based", "time_ms", "segment", "provisional",
		"ref_low", "ref_high", "ref_per_bsa", "ref_flag"})
	ed, es := strconv.Itoa(r.EDPhase+1), strconv.Itoa(r.ESPhase+1)
	row := func(ix Index, phase, timeMS, segment string) {
		bsaUnit := ""
		if !math.IsNaN(ix.PerBSA) {
			bsaUnit = ix.Unit + "/m2"
		}
		refLow, refHigh, refBSA, flag := "", "", "", ""
		if r.Ranges != nil && phase == "" && segment == "" {
			if f, ok := r.Ranges.Flag(ix.Key); ok {
				refLow, refHigh, refBSA, flag = num(f.Low), num(f.High), strconv.FormatBool(f.PerBSA), f.Status
			}
		}
		w.Write([]string{r.PatientID, ed, es, ix.Key, ix.Name, ix.Unit, num(ix.Value), num(ix.Low), num(ix.High),
			num(ix.PerBSA), num(ix.PerBSALow), num(ix.PerBSAHigh), bsaUnit, phase, timeMS, segment, r.Provisional,
			refLow, refHigh, refBSA, flag})
	}
	for _, ix := range r.Indices {
		row(ix, "", "", "")
	}
	if c := r.Curves; c != nil {
		row(c.PeakEjection, "", "", "")
		row(c.PeakFilling, "", "", "")
		nan := math.NaN()
		for _, p := range c.Points {
			ph := strconv.Itoa(p.Phase + 1)
			row(Index{Key: "lv_volume", Name: "LV cavity volume", Unit: "ml", Value: p.LV, Low: p.LVLow, High: p.LVHigh,
				PerBSA: nan, PerBSALow: nan, PerBSAHigh: nan}, ph, num(p.TimeMS), "")
			row(Index{Key: "rv_volume", Name: "RV cavity volume", Unit: "ml", Value: p.RV, Low: p.RVLow, High: p.RVHigh,
				PerBSA: nan, PerBSALow: nan, PerBSAHigh: nan}, ph, num(p.TimeMS), "")
		}
	}
	if a := r.AHA; a != nil {
		for _, s := range a.Segments {
			n := strconv.Itoa(s.Number)
			row(s.EDThickness, "", "", n)
			row(s.ESThickness, "", "", n)
			row(s.Thickening, "", "", n)
		}
	}
	w.Flush()
	return b.Bytes()
}

func num(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return ""
	}
	return strconv.FormatFloat(v, 'f', 1, 64)
}

type jsonIndex struct {
	Key        string   `json:"key"`
	Name       string   `json:"name"`
	Unit       string   `json:"unit"`
	Value      *float64 `json:"value"`
	Low        *float64 `json:"ci95_low"`
	High       *float64 `json:"ci95_high"`
	PerBSA     *float64 `json:"per_bsa,omitempty"`
	PerBSALow  *float64 `json:"per_bsa_ci95_low,omitempty"`
	PerBSAHigh *float64 `json:"per_bsa_ci95_high,omitempty"`
}

type jsonReport struct {
	Notice            string `json:"notice"`
	PatientID         string `json:"patient_id"`
	SeriesInstanceUID string `json:"series_instance_uid,omitempty"`
	// Phase numbers count from 1, as the window shows them.
	EDPhase     int         `json:"ed_phase_1based"`
	ESPhase     int         `json:"es_phase_1based"`
	VoxelML     float64     `json:"voxel_ml"`
	HeightM     *float64    `json:"height_m"`
	WeightKg    *float64    `json:"weight_kg"`
	BSA         *float64    `json:"bsa_m2"`
	Checkpoints int         `json:"checkpoints"`
	SinglePhase bool        `json:"single_phase,omitempty"`
	Provisional string      `json:"provisional,omitempty"`
	Indices     []jsonIndex `json:"indices"`
	Curves      *jsonCurves `json:"curves,omitempty"`
	AHA         *jsonAHA    `json:"aha,omitempty"`
	// AHANote says why there is no AHA model (e.g. no RV on any slice).
	AHANote    string      `json:"aha_note,omitempty"`
	Sex        string      `json:"sex,omitempty"`
	AgeYears   *float64    `json:"age_years"`
	BSAFormula string      `json:"bsa_formula"`
	BasalRule  jsonBasal   `json:"basal_rule"`
	Ranges     *jsonRanges `json:"reference_ranges,omitempty"`
}

type jsonLV struct {
	EDV *float64 `json:"lv_edv_ml"`
	ESV *float64 `json:"lv_esv_ml"`
	EF  *float64 `json:"lv_ef_pct"`
}

type jsonBasal struct {
	Rule     string `json:"rule"`
	Applied  bool   `json:"applied"`
	Default  bool   `json:"default"`
	EDSlices []int  `json:"ed_excluded_slices_1based"`
	ESSlices []int  `json:"es_excluded_slices_1based"`
	With     jsonLV `json:"with_rule"`
	Without  jsonLV `json:"without_rule"`
}

type jsonFlag struct {
	Key    string  `json:"index"`
	PerBSA bool    `json:"per_bsa"`
	Value  float64 `json:"value"`
	Low    float64 `json:"low"`
	High   float64 `json:"high"`
	Status string  `json:"status"`
	Table  string  `json:"table"`
	Row    string  `json:"row"`
}

type jsonRanges struct {
	Source     string     `json:"source"`
	DOI        string     `json:"doi"`
	Convention string     `json:"convention"`
	Note       string     `json:"note,omitempty"`
	Flags      []jsonFlag `json:"flags"`
}

// BasalRuleText states the basal-slice rule in exports.
const BasalRuleText = "SCMR basal-slice rule (Schulz-Menger et al., JCMR 2020): a basal slice counts for the LV only where the blood pool is at least half surrounded by myocardium (fraction of the LV cavity border bordering LV myocardium >= 0.5), walking from the base to the first slice that passes; LV cavity volumes only, mass unchanged"

func slices1(ks []int) []int {
	out := []int{}
	for _, k := range ks {
		out = append(out, k+1)
	}
	return out
}

type jsonPoint struct {
	Phase   int      `json:"phase_1based"`
	TimeMS  *float64 `json:"time_ms"`
	LV      float64  `json:"lv_ml"`
	LVLow   *float64 `json:"lv_ci95_low"`
	LVHigh  *float64 `json:"lv_ci95_high"`
	RV      float64  `json:"rv_ml"`
	RVLow   *float64 `json:"rv_ci95_low"`
	RVHigh  *float64 `json:"rv_ci95_high"`
	Samples int      `json:"samples"`
}

type jsonCurves struct {
	Phases int `json:"phases"`
	// Timing says why rates are missing; empty when they are given.
	Timing       string      `json:"timing,omitempty"`
	PeakEjection jsonIndex   `json:"lv_peak_ejection_rate"`
	PeakFilling  jsonIndex   `json:"lv_peak_filling_rate"`
	Points       []jsonPoint `json:"points"`
}

type jsonSegment struct {
	Segment     int       `json:"segment"`
	Name        string    `json:"name"`
	EDThickness jsonIndex `json:"ed_thickness"`
	ESThickness jsonIndex `json:"es_thickness"`
	Thickening  jsonIndex `json:"thickening"`
}

type jsonSlice struct {
	Slice      int      `json:"slice_1based"`
	Level      string   `json:"level"`
	Insertions bool     `json:"rv_insertions_found"`
	Anterior   *float64 `json:"anterior_insertion_deg,omitempty"`
	Inferior   *float64 `json:"inferior_insertion_deg,omitempty"`
	Septum     float64  `json:"mid_septum_deg"`
}

type jsonAHA struct {
	Method    string        `json:"method"`
	Samples   int           `json:"samples"`
	BaseFirst bool          `json:"base_at_first_slice"`
	CapSlices int           `json:"apical_cap_slices"`
	ApexNote  string        `json:"apex_note,omitempty"`
	Segments  []jsonSegment `json:"segments"`
	EDSlices  []jsonSlice   `json:"ed_slices"`
}

// AHAMethod is the one-line statement of the segment rules in exports.
const AHAMethod = "AHA 17 segments from the labels: slices with LV cavity and myocardium split base to apex into thirds by count (base: the end with the larger LV area); segment 17 = myocardium-only slices beyond the apical cavity, thickness = their count × slice spacing (not measured when the stack shows no cap); septum = middle of the LV-myocardium/RV-cavity contact arc, anterior insertion from the patient geometry; thickness = mean radial chord (first myocardium run along rays from the LV cavity centroid, one per degree); image angles atan2(j, i) in degrees"

var levelNames = map[int]string{0: "basal", 1: "mid", 2: "apical", 3: "apex", 4: "none"}

func jsonIx(ix Index) jsonIndex {
	return jsonIndex{
		Key: ix.Key, Name: ix.Name, Unit: ix.Unit,
		Value: ptr(ix.Value, false), Low: ptr(ix.Low, false), High: ptr(ix.High, false),
		PerBSA: ptr(ix.PerBSA, false), PerBSALow: ptr(ix.PerBSALow, false), PerBSAHigh: ptr(ix.PerBSAHigh, false),
	}
}

// ptr maps undefined (NaN) and, where zero means unknown, zero to null.
func ptr(v float64, zeroUnknown bool) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) || (zeroUnknown && v == 0) {
		return nil
	}
	return &v
}

// JSON returns the report with its notice and source; undefined numbers are
// null.
func (r *Report) JSON() ([]byte, error) {
	j := jsonReport{
		Notice: Notice, PatientID: r.PatientID, SeriesInstanceUID: r.SeriesInstanceUID,
		EDPhase: r.EDPhase + 1, ESPhase: r.ESPhase + 1, VoxelML: r.VoxelML,
		HeightM: ptr(r.HeightM, true), WeightKg: ptr(r.WeightKg, true), BSA: ptr(r.BSA, true),
		Checkpoints: r.Checkpoints, SinglePhase: r.SinglePhase, Provisional: r.Provisional, Indices: []jsonIndex{},
	}
	for _, ix := range r.Indices {
		j.Indices = append(j.Indices, jsonIx(ix))
	}
	if c := r.Curves; c != nil {
		jc := &jsonCurves{Phases: c.NT, Timing: c.Timing, PeakEjection: jsonIx(c.PeakEjection), PeakFilling: jsonIx(c.PeakFilling), Points: []jsonPoint{}}
		for _, p := range c.Points {
			jc.Points = append(jc.Points, jsonPoint{Phase: p.Phase + 1, TimeMS: ptr(p.TimeMS, false),
				LV: p.LV, LVLow: ptr(p.LVLow, false), LVHigh: ptr(p.LVHigh, false),
				RV: p.RV, RVLow: ptr(p.RVLow, false), RVHigh: ptr(p.RVHigh, false), Samples: p.Samples})
		}
		j.Curves = jc
	}
	j.AHANote = r.AHANote
	j.Sex, j.AgeYears, j.BSAFormula = r.Sex, ptr(r.AgeYears, true), BSAFormula
	be := r.Basal
	j.BasalRule = jsonBasal{Rule: BasalRuleText, Applied: be.Applied, Default: BasalRuleDefault,
		EDSlices: slices1(be.EDSlices), ESSlices: slices1(be.ESSlices),
		With:    jsonLV{ptr(be.With[0], false), ptr(be.With[1], false), ptr(be.With[2], false)},
		Without: jsonLV{ptr(be.Without[0], false), ptr(be.Without[1], false), ptr(be.Without[2], false)}}
	if c := r.Ranges; c != nil {
		jr := &jsonRanges{Source: c.Source, DOI: c.DOI, Convention: c.Convention, Note: c.Note, Flags: []jsonFlag{}}
		for _, f := range c.Flags {
			jr.Flags = append(jr.Flags, jsonFlag{f.Key, f.PerBSA, f.Value, f.Low, f.High, f.Status, f.Table, f.Row})
		}
		j.Ranges = jr
	}
	if a := r.AHA; a != nil {
		ja := &jsonAHA{Method: AHAMethod, Samples: a.Samples, BaseFirst: a.ED.BaseFirst, CapSlices: a.ED.CapSlices, ApexNote: a.ApexNote}
		for _, s := range a.Segments {
			ja.Segments = append(ja.Segments, jsonSegment{Segment: s.Number, Name: s.Name,
				EDThickness: jsonIx(s.EDThickness), ESThickness: jsonIx(s.ESThickness), Thickening: jsonIx(s.Thickening)})
		}
		for _, sl := range a.ED.Slices {
			js := jsonSlice{Slice: sl.K + 1, Level: levelNames[sl.Level], Insertions: sl.Insertions, Septum: sl.SeptumDeg}
			if sl.Insertions {
				js.Anterior, js.Inferior = ptr(sl.AnteriorDeg, false), ptr(sl.InferiorDeg, false)
			}
			ja.EDSlices = append(ja.EDSlices, js)
		}
		j.AHA = ja
	}
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("report: encoding JSON: %w", err)
	}
	return append(b, '\n'), nil
}

// WriteCSV writes the CSV export to path atomically.
func (r *Report) WriteCSV(path string) error {
	return atomicfile.Write(path, r.CSV())
}

// WriteJSON writes the JSON export to path atomically.
func (r *Report) WriteJSON(path string) error {
	b, err := r.JSON()
	if err != nil {
		return err
	}
	return atomicfile.Write(path, b)
}
