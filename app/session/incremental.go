package session

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"

	"cmrseg/app/study"
	"cmrseg/inference/uncertainty"
)

// errMissingPhase marks a journal record that edits a phase without a
// result yet.
var errMissingPhase = errors.New("phase not segmented yet")

// AddResult adds the result of phase t, which arrived after Open (the
// window segments ED and ES first and the other phases in the background).
// Journaled edits waiting for this phase are replayed now.
func (s *Session) AddResult(t int, r *uncertainty.Result) error {
	if t < 0 || t >= s.Series.NT {
		return fmt.Errorf("session: phase %d out of range 0..%d", t, s.Series.NT-1)
	}
	if s.results[t] != nil {
		return fmt.Errorf("session: phase %d already has a result", t)
	}
	if err := r.Validate(); err != nil {
		return fmt.Errorf("session: phase %d: %w", t, err)
	}
	if r.Dims != s.Series.Dims || r.Classes != study.NumClasses {
		return fmt.Errorf("session: phase %d: result is %v with %d classes, series is %v with %d",
			t, r.Dims, r.Classes, s.Series.Dims, study.NumClasses)
	}
	s.results[t] = r
	s.labels[t] = slices.Clone(r.Labels)
	s.resume()
	return nil
}

// resume replays pending journal records until one needs a phase that is
// still missing. A record that does not apply is set aside with the rest,
// as at Open.
func (s *Session) resume() {
	for len(s.pending) > 0 {
		rec := s.pending[0]
		err := s.replay(rec.payload)
		if errors.Is(err, errMissingPhase) {
			return
		}
		if err != nil {
			s.Warnings = append(s.Warnings, fmt.Sprintf("journal: a restored edit does not apply (%v); ignored it and the %d after it", err, len(s.pending)-1))
			if s.journal != nil {
				if cerr := s.journal.cut(rec.off); cerr != nil {
					s.Warnings = append(s.Warnings, cerr.Error())
				}
			}
			s.pending = nil
			return
		}
		s.records++
		s.pending = s.pending[1:]
	}
}

// Restoring reports whether journaled edits still wait for a phase being
// segmented; nothing can be edited until they are replayed.
func (s *Session) Restoring() bool { return len(s.pending) > 0 }

func (s *Session) restoringError() error {
	return fmt.Errorf("%w: %d journaled change(s) wait for phases still being segmented", ErrRestoring, len(s.pending))
}

// Segmented reports whether phase t has a result.
func (s *Session) Segmented(t int) bool { return t >= 0 && t < len(s.results) && s.results[t] != nil }

// StudyDir is the folder that holds series s's sessions under root (its
// journals, report settings and cached results).
func StudyDir(root string, s *study.Series) string {
	return filepath.Join(root, studyKey(s))
}
