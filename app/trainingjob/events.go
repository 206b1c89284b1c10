package trainingjob

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Event kinds of the event log; they are the names of trainer.EventKind
// (training/trainer), which this package cannot import without linking
// torch into the GUI.
const (
	KindStart      = "start"
	KindIteration  = "iteration"
	KindEpoch      = "epoch"
	KindCheckpoint = "checkpoint"
	KindDone       = "done"
	KindStopped    = "stopped" // interrupted: pause or cancel
	KindFailed     = "failed"
)

// Files of a trainer run folder (trainer.ConfigFile, trainer.BundleDir).
const (
	RunConfigFile = "config.toml"
	RunBundleDir  = "bundle"
)

// Event is one line of a `cmrseg train --events` log: a trainer.Event.
// Loss and ValDice are NaN where the trainer had none.
type Event struct {
	Kind          string
	Time          time.Time
	Epoch, Epochs int
	Iter, Iters   int
	Cycle         int
	Loss          float64
	LR            float64
	ETA, Elapsed  time.Duration
	ValDice       [3]float64
	Checkpoint    string
	Resumed       bool
	Device        string
	Message       string
}

// eventJSON is the wire form: durations in seconds, NaN as absent/null.
type eventJSON struct {
	Kind       string       `json:"kind"`
	Time       time.Time    `json:"time"`
	Epoch      int          `json:"epoch"`
	Epochs     int          `json:"epochs"`
	Iter       int          `json:"iter,omitempty"`
	Iters      int          `json:"iters,omitempty"`
	Cycle      int          `json:"cycle"`
	Loss       *float64     `json:"loss,omitempty"`
	LR         float64      `json:"lr,omitempty"`
	ETA        float64      `json:"eta_s,omitempty"`
	Elapsed    float64      `json:"elapsed_s,omitempty"`
	ValDice    *[3]*float64 `json:"val_dice,omitempty"`
	Checkpoint string       `json:"checkpoint,omitempty"`
	Resumed    bool         `json:"resumed,omitempty"`
	Device     string       `json:"device,omitempty"`
	Message    string       `json:"message,omitempty"`
}

func finite(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

// MarshalLine encodes e as one JSON line, newline included.
func MarshalLine(e Event) ([]byte, error) {
	j := eventJSON{Kind: e.Kind, Time: e.Time.UTC(), Epoch: e.Epoch, Epochs: e.Epochs, Iter: e.Iter, Iters: e.Iters,
		Cycle: e.Cycle, LR: e.LR, ETA: e.ETA.Seconds(), Elapsed: e.Elapsed.Seconds(), Checkpoint: e.Checkpoint,
		Resumed: e.Resumed, Device: e.Device, Message: e.Message}
	if e.Kind == KindIteration || e.Kind == KindEpoch {
		j.Loss = finite(e.Loss)
	}
	if e.Kind == KindEpoch {
		j.ValDice = &[3]*float64{finite(e.ValDice[0]), finite(e.ValDice[1]), finite(e.ValDice[2])}
	}
	b, err := json.Marshal(j)
	if err != nil {
		return nil, fmt.Errorf("event: %w", err)
	}
	return append(b, '\n'), nil
}

// ParseLine decodes one line written by MarshalLine.
func ParseLine(line []byte) (Event, error) {
	var j eventJSON
	if err := json.Unmarshal(line, &j); err != nil {
		return Event{}, fmt.Errorf("event line: %w", err)
	}
	switch j.Kind {
	case KindStart, KindIteration, KindEpoch, KindCheckpoint, KindDone, KindStopped, KindFailed:
	default:
		return Event{}, fmt.Errorf("event line: unknown kind %q", j.Kind)
	}
	e := Event{Kind: j.Kind, Time: j.Time, Epoch: j.Epoch, Epochs: j.Epochs, Iter: j.Iter, Iters: j.Iters, Cycle: j.Cycle, LR: j.LR,
		ETA: time.Duration(j.ETA * float64(time.Second)), Elapsed: time.Duration(j.Elapsed * float64(time.Second)),
		Checkpoint: j.Checkpoint, Resumed: j.Resumed, Device: j.Device, Message: j.Message, Loss: math.NaN(),
		ValDice: [3]float64{math.NaN(), math.NaN(), math.NaN()}}
	if j.Loss != nil {
		e.Loss = *j.Loss
	}
	if j.ValDice != nil {
		for i, v := range j.ValDice {
			if v != nil {
				e.ValDice[i] = *v
			}
		}
	}
	return e, nil
}
