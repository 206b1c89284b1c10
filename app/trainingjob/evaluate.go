package trainingjob

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"cmrseg/training/data"
)

// Score is one bundle's row of the end-of-run comparison.
type Score struct {
	Name    string
	Bundle  string
	Dice    [3]float64 // RV, MYO, LV; NaN when undefined
	ECE     float64    // percent
	Volumes int
}

// MeanDice is the mean of the three structures' Dice.
func (s Score) MeanDice() float64 { return (s.Dice[0] + s.Dice[1] + s.Dice[2]) / 3 }

// Evaluation compares the new bundle with the previous one.
type Evaluation struct {
	Cases  []string
	Note   string // which cases were scored
	Scores []Score
}

// EvalProgress says how far an evaluation is: case Case of Cases (1-based)
// of model Model of Models (the new bundle first).
type EvalProgress struct {
	Model, Models int
	Case, Cases   int
	ID            string // the case being predicted
}

// Fraction is the share of the evaluation done before the current case.
func (p EvalProgress) Fraction() float64 {
	if p.Models == 0 || p.Cases == 0 {
		return 0
	}
	return (float64(p.Model-1)*float64(p.Cases) + float64(p.Case-1)) / float64(p.Models*p.Cases)
}

// Evaluate scores the run's bundle and, when given, the previous bundle
// with `exe evaluate` on the run's validation cases (on its training cases
// when the split has none, e.g. a fine-tune on a few corrected studies,
// which the Note says). The JSON report is kept in the run folder.
// progress, when not nil, is called from another goroutine as each case
// starts; cancelling ctx stops the child.
func Evaluate(ctx context.Context, exe, runDir, previous string, progress func(EvalProgress)) (*Evaluation, error) {
	sp, err := data.ReadSplit(filepath.Join(runDir, data.SplitFile))
	if err != nil {
		return nil, fmt.Errorf("evaluation: %w", err)
	}
	models := []string{filepath.Join(runDir, RunBundleDir)}
	if previous != "" {
		models = append(models, previous)
	}
	out := filepath.Join(runDir, EvalFile)
	args := []string{"evaluate", "--model", strings.Join(models, ","), "--json", out, "--threads", "1"}
	ev := &Evaluation{}
	if len(sp.Val) > 0 {
		args = append(args, "--split-from", runDir)
		ev.Cases, ev.Note = sp.Val, fmt.Sprintf("%d validation case(s) of the run's split", len(sp.Val))
	} else {
		args = append(args, "--data", strings.Join(sp.Data, ","), "--cases", strings.Join(sp.Train, ","))
		ev.Cases, ev.Note = sp.Train, fmt.Sprintf("no validation split: scored on the %d training case(s)", len(sp.Train))
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	var logs lockedBuffer
	cmd.Stderr = &logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("evaluation: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("evaluation: %s evaluate: %w", exe, err)
	}
	readProgress(io.TeeReader(stdout, &logs), len(models), progress)
	if err := cmd.Wait(); err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("evaluation cancelled: %w", ctx.Err())
		}
		return nil, fmt.Errorf("evaluation: %s evaluate: %v: %s", exe, err, tail2(logs.String(), 600))
	}
	if err := readEvaluation(out, ev); err != nil {
		return nil, err
	}
	if len(ev.Scores) != len(models) {
		return nil, fmt.Errorf("evaluation: %s has %d rows for %d models", out, len(ev.Scores), len(models))
	}
	return ev, nil
}

// ReadEvaluation reads the comparison a finished job already made ("" and
// nil when there is none).
func ReadEvaluation(runDir string) (*Evaluation, error) {
	path := filepath.Join(runDir, EvalFile)
	if _, err := os.Stat(path); err != nil {
		return nil, nil
	}
	ev := &Evaluation{Note: "scored when the run finished"}
	if err := readEvaluation(path, ev); err != nil {
		return nil, err
	}
	return ev, nil
}

func readEvaluation(path string, ev *Evaluation) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("evaluation: %w", err)
	}
	var rep struct {
		Cases   []string `json:"cases"`
		Methods []struct {
			Name    string      `json:"name"`
			Bundle  string      `json:"bundle"`
			Dice    [3]*float64 `json:"dice"`
			ECE     *float64    `json:"ece_percent"`
			Volumes []struct{}  `json:"volumes"`
		} `json:"methods"`
	}
	if err := json.Unmarshal(raw, &rep); err != nil {
		return fmt.Errorf("evaluation: %s: %v", path, err)
	}
	if ev.Cases == nil {
		ev.Cases = rep.Cases
	}
	names := []string{"new", "previous"}
	for i, m := range rep.Methods {
		s := Score{Name: m.Name, Bundle: m.Bundle, Volumes: len(m.Volumes), ECE: nan(m.ECE)}
		if i < len(names) {
			s.Name = names[i]
		}
		for k := range s.Dice {
			s.Dice[k] = nan(m.Dice[k])
		}
		ev.Scores = append(ev.Scores, s)
	}
	return nil
}

func nan(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

func tail2(s string, n int) string {
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return strings.TrimSpace(s)
}

// caseLine is evaluate's progress line ("NAME: case I/N ID", ended by \r).
var caseLine = regexp.MustCompile(`^(.+): case (\d+)/(\d+) (\S+)`)

// readProgress turns evaluate's progress lines into calls of progress; a
// new method name, or a case number that starts again, means the next
// model (two bundles may carry the same name).
func readProgress(r io.Reader, models int, progress func(EvalProgress)) {
	sc := bufio.NewScanner(r)
	sc.Split(func(data []byte, atEOF bool) (int, []byte, error) {
		if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
			return i + 1, data[:i], nil
		}
		if atEOF && len(data) > 0 {
			return len(data), data, nil
		}
		return 0, nil, nil
	})
	model, last, name := 0, 0, ""
	for sc.Scan() {
		m := caseLine.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil || progress == nil {
			continue
		}
		i, _ := strconv.Atoi(m[2])
		n, _ := strconv.Atoi(m[3])
		if model == 0 || m[1] != name || i <= last {
			model++
		}
		name, last = m[1], i
		progress(EvalProgress{Model: model, Models: max(models, model), Case: i, Cases: n, ID: m[4]})
	}
	// Drain whatever is left so the child never blocks on a full pipe.
	_, _ = io.Copy(io.Discard, r)
}

// lockedBuffer collects the child's output from two goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
