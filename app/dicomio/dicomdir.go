package dicomio

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// Media storage directory (DICOMDIR, PS3.10 and PS3.3 F.5) attributes.
var (
	tDirRecords = tag.Tag{Group: 0x0004, Element: 0x1220}
	tRefFileID  = tag.Tag{Group: 0x0004, Element: 0x1500}
)

// isDICOMDIR says whether a file is a media directory by its name, as
// PS3.10 requires ("DICOMDIR" in the file-set's root).
func isDICOMDIR(path string) bool { return strings.EqualFold(filepath.Base(path), "DICOMDIR") }

// dicomdirFiles lists the files a DICOMDIR references, in record order.
// File IDs are relative to the DICOMDIR's folder; a component that is not
// there as written is looked up case-insensitively (media written on one
// system are read on another), and one that would leave the file-set
// (absolute, "..") is refused.
func dicomdirFiles(path string) (files []string, err error) {
	data, err := readDICOM(path)
	if err != nil {
		return nil, err
	}
	if _, _, err := checkStructure(data); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	defer func() {
		if r := recover(); r != nil {
			files, err = nil, fmt.Errorf("%s: malformed DICOMDIR (parser panicked: %v)", path, r)
		}
	}()
	ds, err := dicom.Parse(bytes.NewReader(data), int64(len(data)), nil, dicom.SkipPixelData())
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	recs, ok := elems(ds.Elements).items(tDirRecords)
	if !ok {
		return nil, fmt.Errorf("%s: not a DICOMDIR (no DirectoryRecordSequence)", path)
	}
	root := filepath.Dir(path)
	seen := map[string]bool{}
	dirs := map[string]map[string]string{} // per folder: lower-case name -> name
	for i, r := range recs {
		id, _ := r.value(tRefFileID).([]string)
		if len(id) == 0 {
			continue // patient, study and series records reference no file
		}
		p, err := resolveFileID(root, id, dirs)
		if err != nil {
			return nil, fmt.Errorf("%s: record %d: %w", path, i+1, err)
		}
		if !seen[p] {
			seen[p] = true
			files = append(files, p)
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%s: the DICOMDIR references no files", path)
	}
	return files, nil
}

func resolveFileID(root string, id []string, dirs map[string]map[string]string) (string, error) {
	p := root
	for _, c := range id {
		c = strings.TrimSpace(c)
		if c == "" || c == "." || c == ".." || strings.ContainsAny(c, `/\`) || filepath.IsAbs(c) {
			return "", fmt.Errorf("referenced file ID %q leaves the file-set", strings.Join(id, `\`))
		}
		next := filepath.Join(p, c)
		if _, err := os.Lstat(next); err != nil {
			// Each folder is listed once, however many records miss in it.
			names, ok := dirs[p]
			if !ok {
				names = map[string]string{}
				ents, _ := os.ReadDir(p)
				for _, e := range ents {
					names[strings.ToLower(e.Name())] = e.Name()
				}
				dirs[p] = names
			}
			if n, ok := names[strings.ToLower(c)]; ok {
				next = filepath.Join(p, n)
			}
		}
		p = next
	}
	// A missing file is reported by the scan, like any unreadable file.
	return p, nil
}
