package dicomnode

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"cmrseg/app/anonymise"
	"cmrseg/app/atomicfile"
)

// MarkerName is the file, inside a study folder, that says the study is
// complete; the folder is moved into the inbox only after it is written.
const MarkerName = ".cmrseg-complete.json"

// Arrival is one complete study in the inbox, as the marker describes it.
type Arrival struct {
	Dir              string    `json:"-"`
	Completed        time.Time `json:"completed"`
	Files            int       `json:"files"`
	CallingAE        []string  `json:"calling_ae"`
	Refused          int       `json:"refused"` // files from calling AE titles not allowed, deleted
	PatientName      string    `json:"patient_name"`
	PatientID        string    `json:"patient_id"`
	StudyDate        string    `json:"study_date"`
	StudyDescription string    `json:"study_description"`
	StudyUID         string    `json:"study_instance_uid"`
	Series           int       `json:"series"`
}

// Title is a one-line description for lists.
func (a Arrival) Title() string {
	name := strings.ReplaceAll(a.PatientName, "^", " ")
	if name == "" {
		name = "(no name)"
	}
	desc := a.StudyDescription
	if desc == "" {
		desc = "study"
	}
	return fmt.Sprintf("%s · %s · %s · %d series, %d files · from %s · %s", name, a.PatientID, desc, a.Series, a.Files,
		strings.Join(a.CallingAE, ", "), a.Completed.Local().Format("2006-01-02 15:04"))
}

// Tags read from each received file.
const (
	tSourceAE   = 0x00020016
	tStudyDate  = 0x00080020
	tStudyDesc  = 0x00081030
	tPatName    = 0x00100010
	tPatID      = 0x00100020
	tStudyUID   = 0x0020000D
	tSeriesUID  = 0x0020000E
	maxMarkerKB = 64
)

// Complete is storescp's end-of-study hook: it checks every file of the
// study folder dir (under the incoming folder) against the allowed calling
// AE titles (storescp records the sender in each file's Source Application
// Entity Title), deletes the others, writes the marker atomically and
// moves the folder into the inbox in one rename, so the app never sees a
// partial study. A study with no file left is removed.
func Complete(c *Config, dir string) (*Arrival, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if filepath.Dir(abs) != c.Incoming() {
		return nil, fmt.Errorf("%s is not a study folder of %s", dir, c.Incoming())
	}
	ents, err := os.ReadDir(abs)
	if err != nil {
		return nil, fmt.Errorf("study folder: %w", err)
	}
	a := &Arrival{Completed: time.Now().UTC()}
	series := map[string]bool{}
	aes := map[string]bool{}
	for _, e := range ents {
		if !e.Type().IsRegular() || e.Name() == MarkerName {
			continue
		}
		p := filepath.Join(abs, e.Name())
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		f, err := anonymise.Fields(data, tSourceAE, tStudyDate, tStudyDesc, tPatName, tPatID, tStudyUID, tSeriesUID)
		if err != nil || !c.Allows(f[tSourceAE]) {
			// Not from an allowed sender (or not readable): not ours to keep.
			if rmErr := os.Remove(p); rmErr != nil {
				return nil, rmErr
			}
			a.Refused++
			why := fmt.Sprintf("calling AE title %q is not in allowed_calling_ae", f[tSourceAE])
			if err != nil {
				why = err.Error()
			}
			fmt.Fprintf(os.Stderr, "cmrseg node: deleted %s: %s\n", p, why)
			continue
		}
		a.Files++
		aes[f[tSourceAE]] = true
		series[f[tSeriesUID]] = true
		if a.StudyUID == "" {
			a.PatientName, a.PatientID, a.StudyDate = f[tPatName], f[tPatID], f[tStudyDate]
			a.StudyDescription, a.StudyUID = f[tStudyDesc], f[tStudyUID]
		}
	}
	if a.Files == 0 {
		if err := os.RemoveAll(abs); err != nil {
			return nil, err
		}
		return a, fmt.Errorf("%s: no file from an allowed calling AE title (%d deleted); study dropped", dir, a.Refused)
	}
	for ae := range aes {
		a.CallingAE = append(a.CallingAE, ae)
	}
	sort.Strings(a.CallingAE)
	a.Series = len(series)
	b, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(filepath.Join(abs, MarkerName), b); err != nil {
		return nil, err
	}
	dst := filepath.Join(c.Inbox, filepath.Base(abs))
	if err := os.Rename(abs, dst); err != nil {
		return nil, fmt.Errorf("publishing the study: %w", err)
	}
	a.Dir = dst
	return a, nil
}

// List returns the complete studies in inbox (folders holding a marker),
// oldest first. Folders without a readable marker are not listed.
func List(inbox string) ([]Arrival, error) {
	ents, err := os.ReadDir(inbox)
	if err != nil {
		return nil, fmt.Errorf("DICOM inbox: %w", err)
	}
	var out []Arrival
	for _, e := range ents {
		if !e.IsDir() || e.Name() == "incoming" {
			continue
		}
		dir := filepath.Join(inbox, e.Name())
		m := filepath.Join(dir, MarkerName)
		st, err := os.Stat(m)
		if err != nil || st.Size() > maxMarkerKB<<10 {
			continue
		}
		b, err := os.ReadFile(m)
		if err != nil {
			continue
		}
		var a Arrival
		if json.Unmarshal(b, &a) != nil {
			continue
		}
		a.Dir = dir
		out = append(out, a)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Completed.Equal(out[j].Completed) {
			return out[i].Completed.Before(out[j].Completed)
		}
		return out[i].Dir < out[j].Dir
	})
	return out, nil
}

// Watch polls inbox every interval and calls fn with the list whenever it
// changes (and once at the start), until ctx ends. It reads the folder
// only: no socket, no inotify.
func Watch(ctx context.Context, inbox string, interval time.Duration, fn func([]Arrival, error)) {
	var last []Arrival
	var lastErr string
	first := true
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		l, err := List(inbox)
		es := ""
		if err != nil {
			es = err.Error()
		}
		if first || es != lastErr || !reflect.DeepEqual(l, last) {
			fn(slices.Clone(l), err)
			last, lastErr, first = l, es, false
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
