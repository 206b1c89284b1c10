package cohort

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"cmrseg/app/atomicfile"
)

// Segment runs the model on an opened study, writes its outputs into dir
// (atomically) and fills st's Results, Outputs, Evaluations and the
// Predict and Write timings.
type Segment func(s Study, in *Input, dir string, st *Status) error

// Run is one batch over a cohort (or one shard of it).
type Run struct {
	Out         string
	Studies     []Study // already the shard's share
	Shard       Shard
	Fingerprint Fingerprint
	Model       string
	Segment     Segment
	Log         io.Writer // progress; nil for none
	// AfterStudy, when set, is called after each study that ran (the
	// memory benchmark samples RSS there).
	AfterStudy func(st *Status)
}

// Summary counts what a run did.
type Summary struct {
	Done, Skipped, Failed int
	Evaluations           int
	Table                 []string // the table files written
}

// Execute runs every pending study, records each in its status file,
// and writes the table of everything under Out. A failed study is
// recorded and the run goes on; only a status or table that cannot be
// written stops it.
func (r *Run) Execute() (Summary, error) {
	var sum Summary
	if err := os.MkdirAll(r.Out, 0o755); err != nil {
		return sum, fmt.Errorf("output folder: %w", err)
	}
	log := r.Log
	if log == nil {
		log = io.Discard
	}
	fp := r.Fingerprint.Hash()
	prog := NewProgress(log, len(r.Studies))
	for _, s := range r.Studies {
		dir, err := StudyDir(r.Out, s.ID)
		if err != nil {
			return sum, err
		}
		prev, err := ReadStatus(dir)
		if err != nil {
			prev = nil // unreadable (e.g. hand-edited): run the study again
		}
		if run, why := Pending(prev, fp); !run {
			prog.Skip(s, why)
			sum.Skipped++
			continue
		}
		prog.Begin(s)
		st, err := r.one(s, dir, fp)
		if err != nil {
			prog.Finish()
			return sum, err
		}
		prog.End(st)
		if st.State == StateDone {
			sum.Done++
		} else {
			sum.Failed++
		}
		sum.Evaluations += st.Evaluations
		if r.AfterStudy != nil {
			r.AfterStudy(st)
		}
	}
	prog.Finish()
	all, err := Collect(r.Out)
	if err != nil {
		return sum, err
	}
	sum.Table, err = WriteTable(r.Out, all)
	return sum, err
}

// one runs a study: status "running" first, so that a run killed
// meanwhile leaves a study that the next run redoes.
func (r *Run) one(s Study, dir string, fp string) (*Status, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, unwrap(err))
	}
	atomicfile.CleanStale(dir) // temporary files of a killed run
	st := &Status{Study: s, State: StateRunning, Fingerprint: fp, Inputs: r.Fingerprint,
		Model: r.Model, Shard: r.Shard.String(), Started: time.Now().UTC()}
	if err := WriteStatus(dir, st); err != nil {
		return nil, err
	}
	t0 := time.Now()
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("%s: internal error (please report): %v\n%s", s.Path, p, firstLines(string(debug.Stack()), 12))
			}
		}()
		in, err := Open(s)
		st.Timings.Open = time.Since(t0).Seconds()
		if err != nil {
			return err
		}
		if in.Series.Meta.Group != "" && st.Group == "" {
			st.Group = in.Series.Meta.Group
		}
		return r.Segment(s, in, dir, st)
	}()
	st.Finished = time.Now().UTC()
	st.Timings.Total = time.Since(t0).Seconds()
	st.State = StateDone
	if err != nil {
		st.State, st.Error, st.Results = StateFailed, err.Error(), nil
	}
	if err := WriteStatus(dir, st); err != nil {
		return nil, err
	}
	return st, nil
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, "\n")
}

// RelOutputs makes written paths relative to the study's folder.
func RelOutputs(dir string, paths []string) []string {
	out := make([]string, len(paths))
	for i, p := range paths {
		if r, err := filepath.Rel(dir, p); err == nil {
			out[i] = filepath.ToSlash(r)
		} else {
			out[i] = p
		}
	}
	return out
}
