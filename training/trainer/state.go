package trainer

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"cmrseg/inference/bundle"
	"cmrseg/inference/weights"
)

// File names inside a run folder.
const (
	ConfigFile = "config.toml" // the training config, verbatim
	StateFile  = "state.bin"   // resumable state after the last complete epoch
	LogFile    = "log.csv"     // one row per complete epoch
	BundleDir  = "bundle"      // the multi-modal model bundle
)

const stateMagic = "cmrseg-train-state/1\n"

// Row is one epoch of the CSV log.
type Row struct {
	Epoch        int        `json:"epoch"` // 0-based
	Cycle        int        `json:"cycle"` // 0-based
	LR           float64    `json:"lr"`
	TrainLoss    float64    `json:"train_loss"` // mean over the epoch's iterations
	ValDice      [3]float64 `json:"val_dice"`   // RV, MYO, LV, mean over validation volumes
	EpochSeconds float64    `json:"epoch_seconds"`
	Checkpoint   string     `json:"checkpoint"` // file written into the bundle, if any
}

// ValMean is the mean of the three validation Dice values.
func (r Row) ValMean() float64 { return (r.ValDice[0] + r.ValDice[1] + r.ValDice[2]) / 3 }

// state is everything needed to continue after the last complete epoch.
// It is one file, written atomically, so it is never half old, half new.
type state struct {
	Epochs      int                 `json:"epochs_done"` // complete epochs
	WallSeconds float64             `json:"wall_seconds"`
	Log         string              `json:"log_csv"` // the rows as log.csv renders them (JSON has no NaN)
	Rows        []Row               `json:"-"`
	Checkpoints []bundle.Checkpoint `json:"checkpoints"`
	Sections    []section           `json:"sections"`

	weights []weights.Tensor
	optim   []byte
	rng     []byte
}

type section struct {
	Name   string   `json:"name"`
	Offset int64    `json:"offset"`
	Length int64    `json:"length"`
	SHA256 string   `json:"sha256"`
	Shapes [][]int  `json:"shapes,omitempty"` // weights: shape per tensor
	Names  []string `json:"names,omitempty"`
}

// encode lays the state out as: magic, uint64 header length, JSON header,
// then the weights (float32 little-endian, tensor after tensor), the
// optimizer's serialised state and torch's RNG state.
func (st *state) encode() ([]byte, error) {
	var wbuf bytes.Buffer
	ws := section{Name: "weights"}
	for _, t := range st.weights {
		shape := make([]int, len(t.Shape))
		for i, d := range t.Shape {
			shape[i] = int(d)
		}
		ws.Shapes = append(ws.Shapes, shape)
		ws.Names = append(ws.Names, t.Name)
		b := make([]byte, 4*len(t.Data))
		for i, v := range t.Data {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
		wbuf.Write(b)
	}
	blobs := [][]byte{wbuf.Bytes(), st.optim, st.rng}
	secs := []section{ws, {Name: "optimizer"}, {Name: "rng"}}
	var off int64
	for i := range secs {
		sum := sha256.Sum256(blobs[i])
		secs[i].Offset, secs[i].Length, secs[i].SHA256 = off, int64(len(blobs[i])), hex.EncodeToString(sum[:])
		off += int64(len(blobs[i]))
	}
	st.Sections = secs
	st.Log = string(encodeLog(st.Rows))
	hdr, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.WriteString(stateMagic)
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(hdr)))
	out.Write(n[:])
	out.Write(hdr)
	for _, b := range blobs {
		out.Write(b)
	}
	return out.Bytes(), nil
}

func readState(path string) (*state, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("trainer: run state %s: %s", path, fmt.Sprintf(format, a...))
	}
	if !bytes.HasPrefix(b, []byte(stateMagic)) {
		return nil, bad("not a cmrseg training state (wrong magic)")
	}
	b = b[len(stateMagic):]
	if len(b) < 8 {
		return nil, bad("truncated header")
	}
	hl := binary.LittleEndian.Uint64(b)
	if hl > uint64(len(b)-8) {
		return nil, bad("header length %d exceeds the file", hl)
	}
	st := &state{}
	if err := json.Unmarshal(b[8:8+hl], st); err != nil {
		return nil, bad("header: %v", err)
	}
	data := b[8+hl:]
	blob := func(name string) (section, []byte, error) {
		for _, s := range st.Sections {
			if s.Name != name {
				continue
			}
			if s.Offset < 0 || s.Length < 0 || s.Offset+s.Length > int64(len(data)) {
				return s, nil, bad("section %s [%d, %d) outside the %d data bytes", name, s.Offset, s.Offset+s.Length, len(data))
			}
			p := data[s.Offset : s.Offset+s.Length]
			sum := sha256.Sum256(p)
			if hex.EncodeToString(sum[:]) != s.SHA256 {
				return s, nil, bad("section %s is corrupt (sha256 mismatch)", name)
			}
			return s, p, nil
		}
		return section{}, nil, bad("no %s section", name)
	}
	ws, wb, err := blob("weights")
	if err != nil {
		return nil, err
	}
	if len(ws.Names) != len(ws.Shapes) {
		return nil, bad("%d weight names for %d shapes", len(ws.Names), len(ws.Shapes))
	}
	for i, shape := range ws.Shapes {
		n := 1
		t := weights.Tensor{Name: ws.Names[i]}
		for _, d := range shape {
			n *= d
			t.Shape = append(t.Shape, int64(d))
		}
		if n < 0 || 4*n > len(wb) {
			return nil, bad("weights section too short for tensor %s", t.Name)
		}
		t.Data = make([]float32, n)
		for j := range t.Data {
			t.Data[j] = math.Float32frombits(binary.LittleEndian.Uint32(wb[4*j:]))
		}
		wb = wb[4*n:]
		st.weights = append(st.weights, t)
	}
	if len(wb) != 0 {
		return nil, bad("%d bytes left over after the weights", len(wb))
	}
	if _, st.optim, err = blob("optimizer"); err != nil {
		return nil, err
	}
	if _, st.rng, err = blob("rng"); err != nil {
		return nil, err
	}
	if st.Rows, err = parseLog(path, []byte(st.Log)); err != nil {
		return nil, err
	}
	if st.Epochs != len(st.Rows) {
		return nil, bad("%d epochs done but %d log rows", st.Epochs, len(st.Rows))
	}
	return st, nil
}

// csvHeader is the log's first line.
var csvHeader = []string{"epoch", "cycle", "lr", "train_loss", "val_dice_rv", "val_dice_myo", "val_dice_lv", "val_dice_mean", "epoch_seconds", "checkpoint"}

// encodeLog renders the rows as CSV. Floats use the shortest
// representation that reads back exactly, so the LR column can be compared
// with the schedule bit for bit.
func encodeLog(rows []Row) []byte {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	w.Write(csvHeader)
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	for _, r := range rows {
		w.Write([]string{strconv.Itoa(r.Epoch), strconv.Itoa(r.Cycle), f(r.LR), f(r.TrainLoss),
			f(r.ValDice[0]), f(r.ValDice[1]), f(r.ValDice[2]), f(r.ValMean()), strconv.FormatFloat(r.EpochSeconds, 'f', 3, 64), r.Checkpoint})
	}
	w.Flush()
	return buf.Bytes()
}

// ReadLog parses a run's log.csv.
func ReadLog(path string) ([]Row, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseLog(path, b)
}

func parseLog(path string, b []byte) ([]Row, error) {
	recs, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("trainer: log %s: %v", path, err)
	}
	if len(recs) == 0 || strings.Join(recs[0], ",") != strings.Join(csvHeader, ",") {
		return nil, fmt.Errorf("trainer: log %s: missing or unexpected header", path)
	}
	var rows []Row
	for i, rec := range recs[1:] {
		var r Row
		var errs []error
		atoi := func(s string) int { v, err := strconv.Atoi(s); errs = append(errs, err); return v }
		atof := func(s string) float64 { v, err := strconv.ParseFloat(s, 64); errs = append(errs, err); return v }
		r.Epoch, r.Cycle, r.LR, r.TrainLoss = atoi(rec[0]), atoi(rec[1]), atof(rec[2]), atof(rec[3])
		r.ValDice = [3]float64{atof(rec[4]), atof(rec[5]), atof(rec[6])}
		r.EpochSeconds, r.Checkpoint = atof(rec[8]), rec[9]
		for _, e := range errs {
			if e != nil {
				return nil, fmt.Errorf("trainer: log %s line %d: %v", path, i+2, e)
			}
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// removeTemps deletes the temporary files an interrupted atomic write
// leaves behind (".NAME.tmpNNNN").
func removeTemps(dir string) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, ".") && strings.Contains(n, ".tmp") && !e.IsDir() {
			os.Remove(filepath.Join(dir, n))
		}
	}
}
