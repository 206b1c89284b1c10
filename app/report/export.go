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

// CSV returns one row per index with a header row, each row naming the
// patient and the phases so rows pasted into a cohort sheet stay
// attributable; numbers have one decimal, as the window shows them (the
// JSON keeps full precision); undefined numbers are empty cells.
func (r *Report) CSV() []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"patient_id", "ed_phase_1based", "es_phase_1based", "index", "name", "unit", "value", "ci95_low", "ci95_high",
		"per_bsa", "per_bsa_ci95_low", "per_bsa_ci95_high", "per_bsa_unit", "provisional"})
	ed, es := strconv.Itoa(r.EDPhase+1), strconv.Itoa(r.ESPhase+1)
	for _, ix := range r.Indices {
		bsaUnit := ""
		if !math.IsNaN(ix.PerBSA) {
			bsaUnit = ix.Unit + "/m2"
		}
		w.Write([]string{r.PatientID, ed, es, ix.Key, ix.Name, ix.Unit, num(ix.Value), num(ix.Low), num(ix.High),
			num(ix.PerBSA), num(ix.PerBSALow), num(ix.PerBSAHigh), bsaUnit, r.Provisional})
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
		j.Indices = append(j.Indices, jsonIndex{
			Key: ix.Key, Name: ix.Name, Unit: ix.Unit,
			Value: ptr(ix.Value, false), Low: ptr(ix.Low, false), High: ptr(ix.High, false),
			PerBSA: ptr(ix.PerBSA, false), PerBSALow: ptr(ix.PerBSALow, false), PerBSAHigh: ptr(ix.PerBSAHigh, false),
		})
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
