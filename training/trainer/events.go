package trainer

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Lifecycle kinds the CLI appends to an event log after Train returns;
// Train itself never emits them.
const (
	EventStopped EventKind = EventDone + 1 + iota // interrupted (pause or cancel); resumable from the last complete epoch
	EventFailed                                   // Train returned an error (Message)
)

var kindNames = []string{"start", "iteration", "epoch", "checkpoint", "done", "stopped", "failed"}

func (k EventKind) String() string {
	if int(k) >= 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("event(%d)", int(k))
}

// eventJSON is an Event as one line of an event log: durations in
// seconds, NaN Dice (an epoch without validation) as null.
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

// MarshalEvent encodes e as one JSON line (with the trailing newline),
// stamped with now.
func MarshalEvent(e Event, now time.Time) ([]byte, error) {
	j := eventJSON{Kind: e.Kind.String(), Time: now.UTC(), Epoch: e.Epoch, Epochs: e.Epochs, Iter: e.Iter, Iters: e.Iters,
		Cycle: e.Cycle, LR: e.LR, ETA: e.ETA.Seconds(), Elapsed: e.Elapsed.Seconds(), Checkpoint: e.Checkpoint,
		Resumed: e.Resumed, Device: e.Device, Message: e.Message}
	if e.Kind == EventIteration || e.Kind == EventEpoch {
		j.Loss = finite(e.Loss)
	}
	if e.Kind == EventEpoch {
		j.ValDice = &[3]*float64{finite(e.ValDice[0]), finite(e.ValDice[1]), finite(e.ValDice[2])}
	}
	b, err := json.Marshal(j)
	if err != nil {
		return nil, fmt.Errorf("trainer: event: %w", err)
	}
	return append(b, '\n'), nil
}

// ParseEvent decodes one line written by MarshalEvent. Missing Dice and
// loss values come back as NaN.
func ParseEvent(line []byte) (Event, time.Time, error) {
	var j eventJSON
	if err := json.Unmarshal(line, &j); err != nil {
		return Event{}, time.Time{}, fmt.Errorf("trainer: event line: %w", err)
	}
	kind := EventKind(-1)
	for k, n := range kindNames {
		if n == j.Kind {
			kind = EventKind(k)
		}
	}
	if kind < 0 {
		return Event{}, time.Time{}, fmt.Errorf("trainer: event line: unknown kind %q", j.Kind)
	}
	e := Event{Kind: kind, Epoch: j.Epoch, Epochs: j.Epochs, Iter: j.Iter, Iters: j.Iters, Cycle: j.Cycle, LR: j.LR,
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
	return e, j.Time, nil
}
