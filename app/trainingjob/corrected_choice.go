package trainingjob

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"cmrseg/app/session"
)

// Adding a final study to the training set is the reader's explicit choice
// (the training tab's "Add to training set"), never a side effect of
// marking it final, and it can be taken back.

// StudyKey names the open session's cases in the corrected-cases set.
func StudyKey(sess *session.Session) string { return seriesKey(sess) }

// StudyCases lists the cases of the study with key in the set at root.
func StudyCases(root, key string) ([]CorrectedCase, error) {
	all, err := ReadCorrected(root)
	if err != nil {
		return nil, err
	}
	var out []CorrectedCase
	for _, c := range all {
		if strings.HasPrefix(c.ID, key+"_frame") {
			out = append(out, c)
		}
	}
	return out, nil
}

// RemoveStudy takes the study with key out of the set at root: its images,
// labels and index entries. It returns how many frames it removed.
func RemoveStudy(root, key string) (int, error) {
	all, err := ReadCorrected(root)
	if err != nil {
		return 0, err
	}
	var kept []CorrectedCase
	removed := 0
	for _, c := range all {
		if !strings.HasPrefix(c.ID, key+"_frame") {
			kept = append(kept, c)
			continue
		}
		for _, p := range []string{filepath.Join(root, "imagesTr", c.ID+"_0000.nii.gz"), filepath.Join(root, "labelsTr", c.ID+".nii.gz")} {
			if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
				return removed, fmt.Errorf("corrected cases: %w", err)
			}
		}
		removed++
	}
	if removed == 0 {
		return 0, nil
	}
	return removed, writeIndex(root, kept)
}
