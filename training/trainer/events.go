package trainer

import "fmt"

// The JSON-lines form of events (cmrseg train --events) is defined by
// app/trainingjob, whose reader must not link torch.

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
