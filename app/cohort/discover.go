// Package cohort is the headless core of `cmrseg batch`: it finds the
// studies of an archive or a manifest, shares them among shards, records
// each study's state in a status file, and builds the cohort table from
// those files. It never runs a model; the command plugs the ensemble in.
package cohort

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"cmrseg/app/dataset"
)

// Kinds of study.
const (
	KindACDC  = "acdc"  // an ACDC patient folder (Info.cfg)
	KindNIfTI = "nifti" // one NIfTI file, 3D or 4D
	KindDICOM = "dicom" // a folder holding one DICOM series (or several)
)

// Study is one entry of a cohort.
type Study struct {
	// ID names the study in tables and status files: its path relative to
	// the archive root (without .nii/.nii.gz), or the manifest's id.
	ID    string `json:"id"`
	Path  string `json:"path"`
	Group string `json:"group,omitempty"`
	Kind  string `json:"kind"`
}

// Discover lists the studies under root, sorted by ID. root may be a
// folder tree, a CSV manifest (.csv) or a single NIfTI file. Studies are
// recognised from names and a few header bytes only: an archive of
// thousands of studies is listed without reading any image. Folders
// named in skip (e.g. the output folder inside the archive) are not
// entered.
func Discover(root string, skip ...string) ([]Study, error) {
	st, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", root, unwrap(err))
	}
	if !st.IsDir() {
		switch {
		case strings.HasSuffix(strings.ToLower(root), ".csv"):
			return ReadManifest(root)
		case isNIfTI(root):
			return []Study{{ID: niftiBase(filepath.Base(root)), Path: root, Kind: KindNIfTI}}, nil
		}
		return nil, fmt.Errorf("%s: neither a folder, a .csv manifest nor a NIfTI file", root)
	}
	skipAbs := map[string]bool{}
	for _, s := range skip {
		if a, err := filepath.Abs(s); err == nil {
			skipAbs[a] = true
		}
	}
	var out []Study
	add := func(path, id, kind, group string) {
		out = append(out, Study{ID: filepath.ToSlash(id), Path: path, Kind: kind, Group: group})
	}
	// A hand-written walk rather than filepath.WalkDir: archives are often
	// assembled from symbolic links to folders, which WalkDir does not
	// follow; visited real paths stop link cycles.
	visited := map[string]bool{}
	var walk func(path, rel string) error
	walk = func(path, rel string) error {
		if a, err := filepath.Abs(path); err == nil && skipAbs[a] {
			return nil
		}
		if real, err := filepath.EvalSymlinks(path); err == nil {
			if visited[real] {
				return nil
			}
			visited[real] = true
		}
		if exists(filepath.Join(path, "Info.cfg")) {
			group := ""
			if info, err := dataset.ReadInfo(filepath.Join(path, "Info.cfg")); err == nil {
				group = info.Group
			}
			// A broken Info.cfg still makes a study: it fails when run, with
			// the reader's error in its status file.
			add(path, rel, KindACDC, group)
			return nil
		}
		if exists(filepath.Join(path, "dataset.json")) {
			// nnU-Net raw layout: every case's channel 0 image; labels are
			// not studies.
			for _, sub := range []string{"imagesTr", "imagesTs"} {
				imgs, _ := filepath.Glob(filepath.Join(path, sub, "*_0000.nii*"))
				sort.Strings(imgs)
				for _, img := range imgs {
					id := strings.TrimSuffix(niftiBase(filepath.Base(img)), "_0000")
					add(img, filepath.Join(rel, sub, id), KindNIfTI, "")
				}
			}
			return nil
		}
		if hasDICOM(path) {
			// The DICOM reader reads the folder tree below, so it is one study.
			add(path, rel, KindDICOM, "")
			return nil
		}
		entries, err := os.ReadDir(path)
		if err != nil {
			return fmt.Errorf("%s: %w", path, unwrap(err))
		}
		for _, e := range entries {
			name := e.Name()
			if strings.HasPrefix(name, ".") {
				continue
			}
			p, r := filepath.Join(path, name), filepath.Join(rel, name)
			if rel == "" {
				r = name
			}
			st, err := os.Stat(p) // follows links
			if err != nil {
				continue // a dangling link is not a study
			}
			if st.IsDir() {
				if err := walk(p, r); err != nil {
					return err
				}
			} else if isNIfTI(name) && !isDerived(name) {
				add(p, niftiBase(r), KindNIfTI, "")
			}
		}
		return nil
	}
	rootRel := ""
	if exists(filepath.Join(root, "Info.cfg")) || exists(filepath.Join(root, "dataset.json")) || hasDICOM(root) {
		rootRel = filepath.Base(filepath.Clean(root)) // the root is itself one study
	}
	if err := walk(root, rootRel); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, checkIDs(out, root)
}

// ReadManifest reads a CSV manifest with a header naming the columns id
// and path (and optionally group), in any order. Relative paths are
// relative to the manifest's folder.
func ReadManifest(path string) ([]Study, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, unwrap(err))
	}
	r := csv.NewReader(bytes.NewReader(raw))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	head, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("manifest %s: no header line (want columns id,path[,group]): %v", path, err)
	}
	col := map[string]int{}
	for i, h := range head {
		col[strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))] = i
	}
	idCol, ok1 := col["id"]
	pathCol, ok2 := col["path"]
	groupCol, hasGroup := col["group"]
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("manifest %s: header %q lacks the columns id and path", path, strings.Join(head, ","))
	}
	base := filepath.Dir(path)
	var out []Study
	for line := 2; ; line++ {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("manifest %s: %v", path, err)
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		field := func(i int) string {
			if i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		s := Study{ID: field(idCol), Path: field(pathCol)}
		if hasGroup {
			s.Group = field(groupCol)
		}
		if s.ID == "" || s.Path == "" {
			return nil, fmt.Errorf("manifest %s line %d: empty id or path", path, line)
		}
		if !filepath.IsAbs(s.Path) {
			s.Path = filepath.Join(base, s.Path)
		}
		s.Kind = kindOf(s.Path)
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, checkIDs(out, path)
}

// kindOf guesses a manifest entry's kind from its path; a path that does
// not exist is left to fail when the study is run, so one typo does not
// stop a cohort.
func kindOf(path string) string {
	if isNIfTI(path) {
		return KindNIfTI
	}
	if exists(filepath.Join(path, "Info.cfg")) {
		return KindACDC
	}
	return KindDICOM
}

// checkIDs rejects duplicate IDs and IDs that cannot name a folder inside
// the output folder.
func checkIDs(studies []Study, src string) error {
	seen := map[string]string{}
	for i := range studies {
		s := &studies[i]
		if _, err := StudyDir("", s.ID); err != nil {
			return fmt.Errorf("%s: %w", src, err)
		}
		if prev, ok := seen[strings.ToLower(s.ID)]; ok {
			return fmt.Errorf("%s: studies %s and %s have the same id %q (ids name output folders, case-insensitively)", src, prev, s.Path, s.ID)
		}
		seen[strings.ToLower(s.ID)] = s.Path
	}
	return nil
}

// StudyDir is the output folder of the study with this id: the id's
// slash-separated parts below out, each made safe for a file name.
func StudyDir(out, id string) (string, error) {
	parts := strings.Split(id, "/")
	for i, p := range parts {
		p = unsafeChars.Replace(p)
		if p == "" || p == "." || p == ".." || strings.HasPrefix(p, ".") {
			return "", fmt.Errorf("study id %q cannot name an output folder", id)
		}
		parts[i] = p
	}
	return filepath.Join(append([]string{out}, parts...)...), nil
}

var unsafeChars = strings.NewReplacer("\\", "_", ":", "_", "*", "_", "?", "_", "\"", "_", "<", "_", ">", "_", "|", "_", "\x00", "_")

// hasDICOM reports whether dir directly holds a DICOM file: a .dcm name,
// or the "DICM" magic at byte 128 of one of its first few files.
func hasDICOM(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	peeked := 0
	for _, e := range entries {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		if strings.HasSuffix(strings.ToLower(e.Name()), ".dcm") {
			return true
		}
		if isNIfTI(e.Name()) || peeked >= 8 {
			continue
		}
		peeked++
		if dicomMagic(filepath.Join(dir, e.Name())) {
			return true
		}
	}
	return false
}

func dicomMagic(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [132]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		return false
	}
	return string(b[128:]) == "DICM"
}

// isDerived reports NIfTI files that are labels or cmrseg outputs, not
// images: ACDC ground truth and segment's outputs.
func isDerived(name string) bool {
	b := niftiBase(name)
	for _, s := range []string{"_gt", "_seg", "_entropy", "_prob"} {
		if strings.HasSuffix(b, s) {
			return true
		}
	}
	return false
}

func isNIfTI(name string) bool {
	l := strings.ToLower(name)
	return strings.HasSuffix(l, ".nii") || strings.HasSuffix(l, ".nii.gz")
}

// niftiBase is a NIfTI name without .nii or .nii.gz.
func niftiBase(name string) string {
	for _, ext := range []string{".nii.gz", ".nii", ".NII.GZ", ".NII"} {
		if strings.HasSuffix(name, ext) {
			return strings.TrimSuffix(name, ext)
		}
	}
	return name
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// unwrap drops the *PathError's own path, which the caller's message names.
func unwrap(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
