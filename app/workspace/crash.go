package workspace

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"cmrseg/app/atomicfile"
)

// crashNoteName is the marker a crash leaves in the session root so that
// the next start can offer to reopen the study.
const crashNoteName = "last-crash.json"

// CrashNote is what the next start needs after a crash: the study to
// offer and the report written for the bug report.
type CrashNote struct {
	Time   time.Time `json:"time"`
	Study  string    `json:"study"` // the study's path, to reopen ("" for the demo)
	Report string    `json:"report"`
}

// RecordCrash is the last-resort handler's headless part, for a panic on
// the GUI thread: it closes the workspace (the journal is flushed and
// closed, so every edit made before the crash is on disk), writes a crash
// report beside the session folders (the panic, the stack and the study's
// path with the patient's name and ID blanked out: the report is meant to
// be sent to developers) and leaves a note for the next start. It returns
// the report's path. Without a session root the report goes to the
// system's temporary folder and no note is left.
func (w *Workspace) RecordCrash(panicValue any, stack []byte) (string, error) {
	studyPath := ""
	var secrets []string
	if w.Study != nil {
		studyPath = w.Study.Path
		for _, s := range w.Study.Series {
			secrets = append(secrets, s.Meta.PatientName, s.Meta.PatientID,
				strings.ReplaceAll(s.Meta.PatientName, "^", " "), strings.ReplaceAll(s.Meta.PatientName, "^", "_"))
		}
	}
	closeErr := w.Close()

	now := time.Now().UTC()
	root := w.cfg.SessionRoot
	dir := root
	if dir == "" {
		dir = os.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("crash report: %w", err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "cmrseg crash report, %s\n\n", now.Format(time.RFC3339))
	fmt.Fprintf(&b, "Study: %s\n", orNone(redact(studyPath, secrets)))
	if closeErr != nil {
		fmt.Fprintf(&b, "Closing the session after the crash: %s\n", redact(closeErr.Error(), secrets))
	} else {
		b.WriteString("The session was closed after the crash: every edit is in its journal.\n")
	}
	fmt.Fprintf(&b, "\nPanic: %s\n\n%s", redact(fmt.Sprint(panicValue), secrets), redact(string(stack), secrets))
	report := filepath.Join(dir, "crash-"+now.Format("20060102-150405")+".txt")
	if err := atomicfile.Write(report, []byte(b.String())); err != nil {
		return "", fmt.Errorf("crash report: %w", err)
	}
	if root == "" {
		return report, nil
	}
	note, _ := json.MarshalIndent(CrashNote{Time: now, Study: studyPath, Report: report}, "", "  ")
	if err := atomicfile.Write(filepath.Join(root, crashNoteName), note); err != nil {
		return report, fmt.Errorf("crash note: %w", err)
	}
	return report, nil
}

// TakeCrashNote returns the note of the last crash (nil when the last run
// ended normally) and removes it, so the reader is asked once.
func (w *Workspace) TakeCrashNote() (*CrashNote, error) {
	if w.cfg.SessionRoot == "" {
		return nil, nil
	}
	p := filepath.Join(w.cfg.SessionRoot, crashNoteName)
	data, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("crash note %s: %w", p, err)
	}
	os.Remove(p)
	var n CrashNote
	if err := json.Unmarshal(data, &n); err != nil {
		return nil, fmt.Errorf("crash note %s: %w", p, err)
	}
	return &n, nil
}

// redact blanks the patient's identifiers wherever they appear in s.
func redact(s string, secrets []string) string {
	for _, x := range secrets {
		if len(strings.TrimSpace(x)) >= 2 {
			s = strings.ReplaceAll(s, x, "<patient>")
		}
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "(demo study, no file)"
	}
	return s
}
