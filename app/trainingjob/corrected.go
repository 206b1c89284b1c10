package trainingjob

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"cmrseg/app/atomicfile"
	"cmrseg/app/nifti"
	"cmrseg/app/session"
	"cmrseg/app/study"
)

// A session's journal stores the reader's edits as diffs against the
// ensemble's output, which is not kept on disk; a closed session therefore
// cannot be turned back into label maps without segmenting again with the
// model that made it. So a study becomes a training pair when it is marked
// final while open: ExportFinal writes its image and corrected labels into
// the corrected-cases data set, and the training tab calls it for the open
// session whenever that session is final.

// CorrectedCase is one exported frame of a final study.
type CorrectedCase struct {
	ID      string    `json:"id"`
	Phase   int       `json:"phase_1based"` // as people count phases, like the ID's _frameNN
	Study   string    `json:"study"`        // series description and patient, for lists
	Source  []string  `json:"source_paths,omitempty"`
	Session string    `json:"session,omitempty"`
	Edited  int       `json:"edited_voxels"`
	Created time.Time `json:"exported"`
}

const correctedIndex = "cases.json"

// ExportFinal writes the final session's corrected frames into the
// nnU-Net raw data set at root (imagesTr/ID_0000.nii.gz, labelsTr/ID.nii.gz,
// dataset.json, plus cases.json with where each case came from). The
// frames exported are those the reader edited or accepted slices of; when
// the reader approved the segmentation without touching it, the ED and ES
// frames (else every segmented frame). Exporting the same study again
// replaces its earlier frames. Case IDs end in _frameNN so the trainer's
// split keeps one study's frames on the same side.
func ExportFinal(sess *session.Session, root string) ([]CorrectedCase, error) {
	f, err := Snapshot(sess)
	if err != nil {
		return nil, err
	}
	return f.Export(root)
}

// FinalStudy is a copy of what ExportFinal needs from a final session, so
// the GUI can take it on its event goroutine and write it in the
// background.
type FinalStudy struct {
	Series  *study.Series
	Key     string
	Session string
	Phases  []int
	Labels  map[int][]uint8
	Edited  map[int]int
}

// Snapshot copies the frames a final session exports (see ExportFinal).
func Snapshot(sess *session.Session) (*FinalStudy, error) {
	if sess == nil || !sess.Final() {
		return nil, errors.New("corrected cases: the study is not marked final")
	}
	s := sess.Series
	f := &FinalStudy{Series: s, Key: seriesKey(sess), Session: sess.Dir(), Labels: map[int][]uint8{}, Edited: map[int]int{}}
	for t := 0; t < s.NT; t++ {
		l, r := sess.Labels(t), sess.Result(t)
		if l == nil || r == nil {
			continue
		}
		n := 0
		for i := range l {
			if l[i] != r.Labels[i] {
				n++
			}
		}
		acc := false
		for _, a := range sess.AcceptedSlices(t) {
			acc = acc || a
		}
		if n > 0 || acc {
			f.Phases = append(f.Phases, t)
			f.Edited[t] = n
		}
	}
	if len(f.Phases) == 0 {
		for _, t := range []int{s.ED, s.ES} {
			if t >= 0 && t < s.NT && sess.Labels(t) != nil && !contains(f.Phases, t) {
				f.Phases = append(f.Phases, t)
			}
		}
	}
	if len(f.Phases) == 0 {
		for t := 0; t < s.NT; t++ {
			if sess.Labels(t) != nil {
				f.Phases = append(f.Phases, t)
			}
		}
	}
	if len(f.Phases) == 0 {
		return nil, errors.New("corrected cases: the study has no segmented frame")
	}
	for _, t := range f.Phases {
		f.Labels[t] = append([]uint8(nil), sess.Labels(t)...)
	}
	return f, nil
}

// Export writes the snapshot into the corrected-cases data set at root.
func (f *FinalStudy) Export(root string) ([]CorrectedCase, error) {
	s, key, phases, edited := f.Series, f.Key, f.Phases, f.Edited
	for _, sub := range []string{"imagesTr", "labelsTr"} {
		if err := os.MkdirAll(filepath.Join(root, sub), 0o755); err != nil {
			return nil, fmt.Errorf("corrected cases: %w", err)
		}
	}
	index, err := ReadCorrected(root)
	if err != nil {
		return nil, err
	}
	// Drop this study's earlier export.
	var kept []CorrectedCase
	for _, c := range index {
		if strings.HasPrefix(c.ID, key+"_frame") {
			os.Remove(filepath.Join(root, "imagesTr", c.ID+"_0000.nii.gz"))
			os.Remove(filepath.Join(root, "labelsTr", c.ID+".nii.gz"))
			continue
		}
		kept = append(kept, c)
	}
	desc := strings.TrimSpace(s.Meta.SeriesDescription + " " + s.Meta.PatientID)
	var out []CorrectedCase
	for _, t := range phases {
		id := fmt.Sprintf("%s_frame%02d", key, t+1)
		frame := &study.Series{Geometry: s.Geometry, NT: 1, Data: append([]float32(nil), s.Phase(t)...), ED: -1, ES: -1, Meta: s.Meta}
		if err := nifti.Write(filepath.Join(root, "imagesTr", id+"_0000.nii.gz"), frame, nifti.Float32); err != nil {
			return nil, fmt.Errorf("corrected cases: %w", err)
		}
		lab := &study.Labels{Geometry: s.Geometry, Data: f.Labels[t]}
		if err := nifti.WriteLabels(filepath.Join(root, "labelsTr", id+".nii.gz"), frame, lab); err != nil {
			return nil, fmt.Errorf("corrected cases: %w", err)
		}
		out = append(out, CorrectedCase{ID: id, Phase: t + 1, Study: desc, Source: s.Meta.SourcePaths, Session: f.Session,
			Edited: edited[t], Created: time.Now().UTC().Truncate(time.Second)})
	}
	all := append(kept, out...)
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	if err := writeIndex(root, all); err != nil {
		return nil, err
	}
	return out, nil
}

func contains(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// seriesKey names a study's cases: the session folder's name (the study
// key) when journaled, else a digest of the pixels.
func seriesKey(sess *session.Session) string {
	if d := sess.Dir(); d != "" {
		return "corr" + filepath.Base(d)[:min(12, len(filepath.Base(d)))]
	}
	h := sha256.New()
	fmt.Fprintf(h, "%v", sess.Series.Dims)
	binary.Write(h, binary.LittleEndian, sess.Series.Data)
	return "corr" + hex.EncodeToString(h.Sum(nil))[:12]
}

// ReadCorrected lists the exported cases (none when the folder is new).
func ReadCorrected(root string) ([]CorrectedCase, error) {
	b, err := os.ReadFile(filepath.Join(root, correctedIndex))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("corrected cases: %w", err)
	}
	var cs []CorrectedCase
	if err := json.Unmarshal(b, &cs); err != nil {
		return nil, fmt.Errorf("corrected cases: %s: %v", filepath.Join(root, correctedIndex), err)
	}
	return cs, nil
}

// writeIndex writes cases.json and the nnU-Net dataset.json atomically.
func writeIndex(root string, cs []CorrectedCase) error {
	b, err := json.MarshalIndent(cs, "", "  ")
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(root, correctedIndex), append(b, '\n')); err != nil {
		return fmt.Errorf("corrected cases: %w", err)
	}
	ds := map[string]any{
		"name":          "cmrseg-corrected",
		"description":   "Studies corrected and marked final in cmrseg's review tab",
		"channel_names": map[string]string{"0": "cineMRI"},
		"labels":        map[string]int{"background": 0, "RV": 1, "MLV": 2, "LVC": 3},
		"numTraining":   len(cs),
		"file_ending":   ".nii.gz",
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(ds); err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(root, "dataset.json"), buf.Bytes()); err != nil {
		return fmt.Errorf("corrected cases: %w", err)
	}
	return nil
}
