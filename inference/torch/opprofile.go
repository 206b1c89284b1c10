package torch

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// OpStat is the accumulated cost of one kind of Scope operation.
type OpStat struct {
	Name  string        // the op's name, as in errors ("conv2d", "cat", …)
	Calls int64         // completed C calls
	Time  time.Duration // wall time from the operand checks to the C call's return
}

// The op profile is off unless EnableOpProfile is in effect: every Scope op
// then pays one atomic load, and only a profiled op takes the lock.
var (
	opProfiling atomic.Bool
	opProfMu    sync.Mutex
	opProfTable map[string]*OpStat
)

// EnableOpProfile starts timing every Scope operation that calls into
// libtorch, per op name, in every worker; the returned stop function ends
// the profile and returns its table, most time first. The time of an op is
// measured from its operand checks to the return of its C call, so it
// includes the Go-side argument set-up and the cgo transition; what the
// caller does between ops (and freeing tensors) is not in it. One profile
// at a time: enabling again starts a new table.
func EnableOpProfile() (stop func() []OpStat) {
	opProfMu.Lock()
	opProfTable = map[string]*OpStat{}
	opProfMu.Unlock()
	opProfiling.Store(true)
	return func() []OpStat {
		opProfiling.Store(false)
		opProfMu.Lock()
		defer opProfMu.Unlock()
		out := make([]OpStat, 0, len(opProfTable))
		for _, st := range opProfTable {
			out = append(out, *st)
		}
		opProfTable = nil
		sort.Slice(out, func(i, j int) bool {
			if out[i].Time != out[j].Time {
				return out[i].Time > out[j].Time
			}
			return out[i].Name < out[j].Name
		})
		return out
	}
}

// opBegin marks the start of an op when profiling is on; called by ready
// once the operands passed. A start that no C call follows (a later check
// of the op failed) is harmless: it leaves an error in the scope, which
// calls no C function after that.
func (s *Scope) opBegin() {
	if opProfiling.Load() {
		s.opStart = time.Now()
	}
}

// opEnd charges the time since opBegin to op; called by result and check
// right after the C call. An op with no opBegin (profiling was off when it
// started) is not counted.
func (s *Scope) opEnd(op string) {
	if s.opStart.IsZero() {
		return
	}
	d := time.Since(s.opStart)
	s.opStart = time.Time{}
	opProfMu.Lock()
	if opProfTable != nil {
		st := opProfTable[op]
		if st == nil {
			st = &OpStat{Name: op}
			opProfTable[op] = st
		}
		st.Calls++
		st.Time += d
	}
	opProfMu.Unlock()
}
