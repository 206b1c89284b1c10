package trainingjob

import (
	"bytes"
	"math"
	"testing"
)

// The reducer alone, without a child process: lines arrive in pieces (a
// line cut in two is applied once complete), a garbled line is skipped, and
// a resumed run's start event drops what the log held from its epoch on.
func TestProgressFoldsTheEventLog(t *testing.T) {
	nan := math.NaN()
	line := func(e Event) []byte {
		b, err := MarshalLine(e)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var log bytes.Buffer
	log.Write(line(Event{Kind: KindStart, Epochs: 3, Iters: 2, Loss: nan}))
	for ep := 0; ep < 2; ep++ {
		for it := 1; it <= 2; it++ {
			log.Write(line(Event{Kind: KindIteration, Epoch: ep, Epochs: 3, Iter: it, Iters: 2, Loss: 1 / float64(ep+it), LR: 0.01, Device: "cpu"}))
		}
		log.Write(line(Event{Kind: KindEpoch, Epoch: ep, Loss: 0.5, ValDice: [3]float64{0.7, nan, 0.9}}))
		log.Write(line(Event{Kind: KindCheckpoint, Epoch: ep, Checkpoint: "c.safetensors", Loss: nan}))
	}
	log.WriteString("{not json}\n")
	full := log.Bytes()
	cut := len(full) - len("{not json}\n") - 10 // inside the last checkpoint line

	var p progress
	if !p.read(bytes.NewReader(full[:cut])) {
		t.Fatal("no events applied")
	}
	if len(p.st.Checkpoints) != 1 {
		t.Fatalf("a half line was applied: %d checkpoints", len(p.st.Checkpoints))
	}
	p.read(bytes.NewReader(full))
	s := p.st
	if len(s.Loss) != 4 || len(s.EpochLoss) != 2 || len(s.LR) != 2 || len(s.Checkpoints) != 2 || s.Device != "cpu" {
		t.Fatalf("state after two epochs: %+v", s)
	}
	if len(s.Dice[0]) != 2 || len(s.Dice[1]) != 0 || s.Dice[2][1] != (Point{2, 0.9}) {
		t.Fatalf("validation Dice (NaN skipped): %v", s.Dice)
	}

	// Resume at epoch 1: epoch 1's iterations, Dice and checkpoint go.
	log.Write(line(Event{Kind: KindStart, Epoch: 1, Epochs: 3, Iters: 2, Resumed: true, Loss: nan}))
	log.Write(line(Event{Kind: KindStopped, Epoch: 1, Message: "paused", Loss: nan}))
	p.read(bytes.NewReader(log.Bytes()))
	s = p.st
	if len(s.Loss) != 2 || s.Loss[1] != (Point{1, 0.5}) || len(s.EpochLoss) != 1 || len(s.Checkpoints) != 1 || len(s.Dice[0]) != 1 || s.Epoch != 1 {
		t.Fatalf("state after resume at epoch 1: %+v", s)
	}
	if !p.sawStop || p.sawDone || s.Message != "paused" {
		t.Fatalf("stop not seen: sawStop %v sawDone %v message %q", p.sawStop, p.sawDone, s.Message)
	}
}
