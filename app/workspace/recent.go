package workspace

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"cmrseg/app/atomicfile"
)

// MaxRecent is the length of the recent-studies list.
const MaxRecent = 10

// RecentEntry is one recently opened study.
type RecentEntry struct {
	Path        string    `json:"path"`
	Description string    `json:"description,omitempty"`
	Opened      time.Time `json:"opened"`
}

// Recent is the recent-studies list, newest first, persisted as
// <dir>/recent.json (atomically: a crash leaves the old or the new list).
type Recent struct {
	dir     string
	Entries []RecentEntry
}

// RecentFile is the file name of the list inside the config folder.
const RecentFile = "recent.json"

// LoadRecent reads the list from dir ("" for an in-memory list). A missing
// file is an empty list; a damaged one is an empty list and an error saying
// so (the file is left for the next save to replace).
func LoadRecent(dir string) (*Recent, error) {
	r := &Recent{dir: dir}
	if dir == "" {
		return r, nil
	}
	path := filepath.Join(dir, RecentFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("recent studies: reading %s: %w", path, err)
	}
	var e []RecentEntry
	if err := json.Unmarshal(b, &e); err != nil {
		return r, fmt.Errorf("recent studies: %s is damaged (%v); starting a new list", path, err)
	}
	if len(e) > MaxRecent {
		e = e[:MaxRecent]
	}
	r.Entries = e
	return r, nil
}

// Add puts path at the top of the list and saves it.
func (r *Recent) Add(path, description string) error {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	out := []RecentEntry{{Path: path, Description: description, Opened: time.Now().UTC().Truncate(time.Second)}}
	for _, e := range r.Entries {
		if e.Path != path && len(out) < MaxRecent {
			out = append(out, e)
		}
	}
	r.Entries = out
	return r.save()
}

// Remove drops path (e.g. it no longer exists) and saves the list.
func (r *Recent) Remove(path string) error {
	out := r.Entries[:0:0]
	for _, e := range r.Entries {
		if e.Path != path {
			out = append(out, e)
		}
	}
	r.Entries = out
	return r.save()
}

func (r *Recent) save() error {
	if r.dir == "" {
		return nil
	}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return fmt.Errorf("recent studies: %w", err)
	}
	b, err := json.MarshalIndent(r.Entries, "", "  ")
	if err != nil {
		return fmt.Errorf("recent studies: %w", err)
	}
	return atomicfile.Write(filepath.Join(r.dir, RecentFile), append(b, '\n'))
}
