package trainingjob

import (
	"bytes"
	"io"
	"math"
	"time"
)

// The event reducer: it folds the lines of a run's event log into the
// State the training tab shows. It knows nothing of processes; Job (job.go)
// supervises the child, feeds the log through read and decides what the
// child's exit means.

// Phase is where a job stands.
type Phase string

// Job phases.
const (
	Running   Phase = "running"
	Pausing   Phase = "pausing" // asked to stop after the current iteration
	Paused    Phase = "paused"  // stopped; resumes from the last complete epoch
	Cancelled Phase = "cancelled"
	Done      Phase = "done"
	Failed    Phase = "failed"
)

// Point is one sample of a plot.
type Point struct{ X, Y float64 }

// Checkpoint is one ensemble member written so far.
type Checkpoint struct {
	Epoch, Cycle int
	File         string
}

// State is everything the tab shows about a job.
type State struct {
	Phase          Phase
	Epoch, Epochs  int // current (0-based) and total epochs
	Iter, Iters    int
	Loss           []Point // per iteration: x = epoch + iter/iters
	EpochLoss      []Point // per epoch: mean loss
	LR             []Point // per epoch trained
	Dice           [3][]Point
	Checkpoints    []Checkpoint
	ETA            time.Duration
	Device         string
	Message        string
	Err            string
	CheckpointPlan []int // epochs the config keeps
}

// Clone is a deep copy for another goroutine.
func (s State) Clone() State {
	c := s
	c.Loss = append([]Point(nil), s.Loss...)
	c.EpochLoss = append([]Point(nil), s.EpochLoss...)
	c.LR = append([]Point(nil), s.LR...)
	for i := range s.Dice {
		c.Dice[i] = append([]Point(nil), s.Dice[i]...)
	}
	c.Checkpoints = append([]Checkpoint(nil), s.Checkpoints...)
	c.CheckpointPlan = append([]int(nil), s.CheckpointPlan...)
	return c
}

// Active reports whether a child is (or should be) running.
func (s State) Active() bool { return s.Phase == Running || s.Phase == Pausing }

// progress is the reducer's state.
type progress struct {
	st      State
	sawDone bool   // the log says the run finished
	sawStop bool   // the log says the run was interrupted (pause or cancel)
	off     int64  // bytes of the log consumed
	partial []byte // an incomplete last line, completed by the next read
}

// read applies the complete lines that f (the event log) holds beyond
// what earlier calls consumed; it reports whether any arrived. Lines that
// do not parse are skipped.
func (p *progress) read(f io.ReadSeeker) bool {
	if _, err := f.Seek(p.off, io.SeekStart); err != nil {
		return false
	}
	buf := make([]byte, 1<<20)
	any := false
	for {
		n, err := f.Read(buf)
		if n > 0 {
			p.off += int64(n)
			data := append(p.partial, buf[:n]...)
			for {
				i := bytes.IndexByte(data, '\n')
				if i < 0 {
					break
				}
				if e, perr := ParseLine(data[:i]); perr == nil {
					p.apply(e)
					any = true
				}
				data = data[i+1:]
			}
			p.partial = append([]byte(nil), data...)
		}
		if err != nil || n == 0 {
			break
		}
	}
	return any
}

// apply folds one event into the state.
func (p *progress) apply(e Event) {
	s := &p.st
	switch e.Kind {
	case KindStart:
		// A resumed run repeats the epoch it was stopped in: drop what
		// the log holds from that epoch on.
		// Iterations count from 1, so the previous epoch's last one sits
		// at x = from: it stays.
		from := float64(e.Epoch)
		s.Loss, s.EpochLoss, s.LR = trim(s.Loss, math.Nextafter(from, math.Inf(1))), trim(s.EpochLoss, from+1), trim(s.LR, from)
		for i := range s.Dice {
			s.Dice[i] = trim(s.Dice[i], from+1)
		}
		var ck []Checkpoint
		for _, c := range s.Checkpoints {
			if c.Epoch < e.Epoch {
				ck = append(ck, c)
			}
		}
		s.Checkpoints = ck
		s.Epoch, s.Epochs, s.Iter, s.Iters, s.Message = e.Epoch, e.Epochs, 0, e.Iters, e.Message
		p.sawDone, p.sawStop = false, false
	case KindIteration:
		s.Epoch, s.Epochs, s.Iter, s.Iters, s.ETA = e.Epoch, e.Epochs, e.Iter, e.Iters, e.ETA
		if e.Device != "" {
			s.Device = e.Device
		}
		if !math.IsNaN(e.Loss) {
			s.Loss = append(s.Loss, Point{float64(e.Epoch) + float64(e.Iter)/float64(max(1, e.Iters)), e.Loss})
		}
		if len(s.LR) == 0 || s.LR[len(s.LR)-1].X < float64(e.Epoch) {
			s.LR = append(s.LR, Point{float64(e.Epoch), e.LR})
		}
	case KindEpoch:
		s.Epoch, s.ETA = e.Epoch, e.ETA
		if e.Device != "" {
			s.Device = e.Device
		}
		x := float64(e.Epoch + 1)
		if !math.IsNaN(e.Loss) {
			s.EpochLoss = append(s.EpochLoss, Point{x, e.Loss})
		}
		for i, d := range e.ValDice {
			if !math.IsNaN(d) {
				s.Dice[i] = append(s.Dice[i], Point{x, d})
			}
		}
	case KindCheckpoint:
		s.Checkpoints = append(s.Checkpoints, Checkpoint{Epoch: e.Epoch, Cycle: e.Cycle, File: e.Checkpoint})
	case KindDone:
		p.sawDone = true
	case KindStopped:
		p.sawStop = true
		s.Message = e.Message
	case KindFailed:
		s.Err = e.Message
	}
}

func trim(ps []Point, x float64) []Point {
	n := 0
	for _, p := range ps {
		if p.X < x {
			ps[n] = p
			n++
		}
	}
	return ps[:n]
}
