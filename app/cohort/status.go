package cohort

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"cmrseg/app/atomicfile"
)

// StatusName is each study's status file in its output folder.
const StatusName = "status.json"

// States of a study.
const (
	StateRunning = "running" // started; left so by a run that was killed
	StateDone    = "done"
	StateFailed  = "failed"
)

// Fingerprint is everything that shapes a study's results. A done study
// whose fingerprint differs from the current run's is redone.
type Fingerprint struct {
	// ModelSHA256 is the sha256 of the bundle's model.toml, which names
	// every checkpoint by its own sha256.
	ModelSHA256 string `json:"model_sha256"`
	// Options are the inference options that change results, e.g.
	// "tiling=auto tta=false phases=ed,es".
	Options string `json:"options"`
	// Version is cmrseg's version.
	Version string `json:"version"`
}

// Hash is the fingerprint as one hex string.
func (f Fingerprint) Hash() string {
	b, _ := json.Marshal(f)
	h := sha256.Sum256(append([]byte("cmrseg-batch-v1\x00"), b...))
	return hex.EncodeToString(h[:16])
}

// Num is a float64 that is null in JSON when NaN or infinite (an
// undefined index, an interval without samples).
type Num float64

func (n Num) MarshalJSON() ([]byte, error) {
	f := float64(n)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

func (n *Num) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = Num(math.NaN())
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	*n = Num(f)
	return err
}

// Index is one cardiac index with its 95 % credible interval.
type Index struct {
	Key   string `json:"key"`
	Unit  string `json:"unit"`
	Value Num    `json:"value"`
	Low   Num    `json:"low"`
	High  Num    `json:"high"`
}

// QC is what the window's QC list would show for the study: slices of
// the ED and ES phases whose score (mean entropy over foreground, nats)
// exceeds the model's calibrated threshold.
type QC struct {
	// Score is the study's worst slice score over ED and ES.
	Score         Num `json:"score"`
	Threshold     Num `json:"threshold"`
	FlaggedSlices int `json:"flagged_slices"`
	Slices        int `json:"slices"`
}

// Results are a finished study's measurements.
type Results struct {
	EDPhase1Based int     `json:"ed_phase_1based"`
	ESPhase1Based int     `json:"es_phase_1based"`
	ESProvisional bool    `json:"es_provisional,omitempty"`
	Checkpoints   int     `json:"checkpoints"`
	Indices       []Index `json:"indices"`
	QC            QC      `json:"qc"`
}

// Timings are seconds spent on a study.
type Timings struct {
	Open    float64 `json:"open_s"`
	Predict float64 `json:"predict_s"`
	Write   float64 `json:"write_s"`
	Total   float64 `json:"total_s"`
}

// Status is a study's status file.
type Status struct {
	Study
	State       string      `json:"state"`
	Error       string      `json:"error,omitempty"`
	Fingerprint string      `json:"fingerprint"`
	Inputs      Fingerprint `json:"fingerprint_inputs"`
	Model       string      `json:"model"`
	Shard       string      `json:"shard"`
	Started     time.Time   `json:"started"`
	Finished    time.Time   `json:"finished,omitzero"`
	Timings     Timings     `json:"timings"`
	// Evaluations counts network evaluations (tile × slice × sample).
	Evaluations int `json:"evaluations"`
	// Outputs are the files written, relative to the study's folder.
	Outputs []string `json:"outputs,omitempty"`
	// Segmented are the phases segmented (0-based, of the opened input).
	Segmented []int    `json:"segmented_phases,omitempty"`
	Results   *Results `json:"results,omitempty"`
	// Review is set by the window's review queue.
	Review *Review `json:"review,omitempty"`
}

// ReadStatus reads the status file in a study's folder; (nil, nil) when
// there is none.
func ReadStatus(dir string) (*Status, error) {
	path := filepath.Join(dir, StatusName)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, unwrap(err))
	}
	var s Status
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: not a cmrseg status file: %v", path, err)
	}
	return &s, nil
}

// WriteStatus replaces the status file in dir atomically.
func WriteStatus(dir string, s *Status) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, StatusName), append(b, '\n'))
}

// Pending says whether a study must be (re)run given its status file,
// and why.
func Pending(s *Status, fingerprint string) (bool, string) {
	switch {
	case s == nil:
		return true, "new"
	case s.State == StateRunning:
		return true, "interrupted run"
	case s.State == StateFailed:
		return true, "failed before"
	case s.State != StateDone:
		return true, fmt.Sprintf("unknown state %q", s.State)
	case s.Fingerprint != fingerprint:
		return true, "model, options or version changed"
	}
	return false, "done"
}

// Collect reads the status files under each output folder (shards of one
// cohort, or one folder), sorted by study id. A study found in two
// folders is an error naming both: shards never share a study.
func Collect(dirs ...string) ([]*Status, error) {
	var out []*Status
	where := map[string]string{}
	for _, d := range dirs {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("%s: not an output folder of cmrseg batch", d)
		}
		err := filepath.WalkDir(d, func(path string, e fs.DirEntry, err error) error {
			if err != nil {
				return fmt.Errorf("%s: %w", path, unwrap(err))
			}
			if e.IsDir() || e.Name() != StatusName {
				return nil
			}
			s, err := ReadStatus(filepath.Dir(path))
			if err != nil {
				return err
			}
			if prev, ok := where[s.ID]; ok {
				return fmt.Errorf("study %s has status files in %s and %s; merge shards of one run only", s.ID, prev, path)
			}
			where[s.ID] = path
			out = append(out, s)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// CountPending counts the studies a run with this fingerprint would
// (re)do, reading only their status files.
func CountPending(out string, studies []Study, fingerprint string) int {
	n := 0
	for _, s := range studies {
		dir, err := StudyDir(out, s.ID)
		if err != nil {
			n++
			continue
		}
		prev, _ := ReadStatus(dir)
		if run, _ := Pending(prev, fingerprint); run {
			n++
		}
	}
	return n
}
