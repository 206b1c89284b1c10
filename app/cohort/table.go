package cohort

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"math"
	"path/filepath"
	"strconv"
	"time"

	"cmrseg/app/atomicfile"
	"cmrseg/app/report"
)

// Table file names in the output folder.
const (
	TableCSV   = "cohort.csv"
	TableJSONL = "cohort.jsonl"
)

// IndexKeys are the report's indices the table lists, each with its 95 %
// credible interval (_low, _high).
var IndexKeys = []string{report.LVEDV, report.LVESV, report.LVSV, report.LVEF, report.LVMass,
	report.RVEDV, report.RVESV, report.RVSV, report.RVEF}

// TimingColumns are the columns that differ between two runs of the same
// studies (for comparisons that should ignore them).
var TimingColumns = []string{"started", "finished", "open_s", "predict_s", "write_s", "total_s", "shard"}

type cell struct {
	key string
	val any // string, int, bool or Num
}

// Row is one study's line of the cohort table, in column order.
type Row []cell

// Columns are the table's column names in order.
func Columns() []string {
	var cols []string
	for _, c := range rowOf(&Status{}) {
		cols = append(cols, c.key)
	}
	return cols
}

func rowOf(s *Status) Row {
	r := Row{{"id", s.ID}, {"path", s.Path}, {"group", s.Group}, {"status", s.State}, {"error", s.Error}}
	res := s.Results
	if res == nil {
		res = &Results{QC: QC{Score: Num(math.NaN()), Threshold: Num(math.NaN())}}
	}
	ed, es := res.EDPhase1Based, res.ESPhase1Based
	r = append(r, cell{"ed_phase_1based", ed}, cell{"es_phase_1based", es}, cell{"es_provisional", res.ESProvisional})
	for _, k := range IndexKeys {
		ix := Index{Value: Num(math.NaN()), Low: Num(math.NaN()), High: Num(math.NaN())}
		for _, x := range res.Indices {
			if x.Key == k {
				ix = x
			}
		}
		r = append(r, cell{k, ix.Value}, cell{k + "_low", ix.Low}, cell{k + "_high", ix.High})
	}
	r = append(r,
		cell{"qc_score", res.QC.Score}, cell{"qc_threshold", res.QC.Threshold},
		cell{"qc_flagged_slices", res.QC.FlaggedSlices}, cell{"qc_slices", res.QC.Slices},
		cell{"checkpoints", res.Checkpoints},
		cell{"model", s.Model}, cell{"model_sha256", s.Inputs.ModelSHA256}, cell{"options", s.Inputs.Options},
		cell{"version", s.Inputs.Version}, cell{"fingerprint", s.Fingerprint}, cell{"shard", s.Shard},
		cell{"evaluations", s.Evaluations},
		cell{"open_s", Num(s.Timings.Open)}, cell{"predict_s", Num(s.Timings.Predict)},
		cell{"write_s", Num(s.Timings.Write)}, cell{"total_s", Num(s.Timings.Total)},
		cell{"started", timeString(s.Started)}, cell{"finished", timeString(s.Finished)})
	rv := Review{}
	if s.Review != nil {
		rv = *s.Review
	}
	r = append(r, cell{"review", rv.State}, cell{"review_final", rv.Final}, cell{"reviewed_at", timeString(rv.At)})
	return r
}

func timeString(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// Rows turns status files into table rows.
func Rows(statuses []*Status) []Row {
	rows := make([]Row, len(statuses))
	for i, s := range statuses {
		rows[i] = rowOf(s)
	}
	return rows
}

// Strings is the row as CSV fields: numbers with full precision, NaN as
// an empty field.
func (r Row) Strings() []string {
	out := make([]string, len(r))
	for i, c := range r {
		switch v := c.val.(type) {
		case string:
			out[i] = v
		case int:
			out[i] = strconv.Itoa(v)
		case bool:
			out[i] = strconv.FormatBool(v)
		case Num:
			if f := float64(v); !math.IsNaN(f) && !math.IsInf(f, 0) {
				out[i] = strconv.FormatFloat(f, 'g', -1, 64)
			}
		}
	}
	return out
}

// MarshalJSON writes the row as one object with the columns in order.
func (r Row) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, c := range r {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(c.key)
		v, err := json.Marshal(c.val)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// CSV is the table as CSV with a header line.
func CSV(rows []Row) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write(Columns())
	for _, r := range rows {
		w.Write(r.Strings())
	}
	w.Flush()
	return b.Bytes()
}

// JSONLines is the table as one JSON object per line.
func JSONLines(rows []Row) ([]byte, error) {
	var b bytes.Buffer
	for _, r := range rows {
		j, err := r.MarshalJSON()
		if err != nil {
			return nil, err
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

// WriteTable writes cohort.csv and cohort.jsonl into dir atomically and
// returns their paths.
func WriteTable(dir string, statuses []*Status) ([]string, error) {
	rows := Rows(statuses)
	js, err := JSONLines(rows)
	if err != nil {
		return nil, err
	}
	csvPath, jsPath := filepath.Join(dir, TableCSV), filepath.Join(dir, TableJSONL)
	if err := atomicfile.Write(csvPath, CSV(rows)); err != nil {
		return nil, err
	}
	if err := atomicfile.Write(jsPath, js); err != nil {
		return nil, err
	}
	return []string{csvPath, jsPath}, nil
}
