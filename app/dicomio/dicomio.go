// Package dicomio reads DICOM files, folders and folder trees into
// study.Series: it groups instances into series, orders slices along the
// slice normal and phases by trigger time, checks that each series forms
// one regular 4D grid, and says why the series it cannot load were skipped.
package dicomio

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"cmrseg/app/membudget"
	"cmrseg/app/study"
)

// maxFileSize bounds what is read into memory for one file.
const maxFileSize = 2 << 30

// FileError is one file that was not used, and why.
type FileError struct {
	Path string
	Err  error
}

func (e FileError) Error() string { return e.Err.Error() }

// Skipped is a series that was found but cannot be loaded.
type Skipped struct {
	SeriesInstanceUID string
	Description       string
	SeriesNumber      int
	Files             []string
	Reason            error
}

// Result is everything found under one path.
type Result struct {
	// Study holds the loadable series, short-axis cine candidates first
	// (most slices first), then the others.
	Study *study.Study
	// Skipped are series that could not be assembled into a regular grid.
	Skipped []Skipped
	// Failed are DICOM files that could not be read at all.
	Failed []FileError
	// Ignored are files that hold no image: non-DICOM files (README,
	// thumbnails) and DICOM objects without pixel data (DICOMDIR, SR).
	Ignored []FileError
}

// Open reads a file, a folder or a folder tree and returns its loadable
// series, best first. It fails when nothing loadable is found, saying why
// for the series and files it tried.
func Open(path string) (*study.Study, error) {
	r, err := Scan(path)
	if err != nil {
		return nil, err
	}
	if len(r.Study.Series) > 0 {
		return r.Study, nil
	}
	var why []string
	var errs []error
	for _, s := range r.Skipped {
		why = append(why, fmt.Sprintf("series %q (%d files): %v", s.Description, len(s.Files), s.Reason))
		errs = append(errs, s.Reason)
	}
	for _, f := range r.Failed {
		why = append(why, f.Err.Error())
		errs = append(errs, f.Err)
	}
	if len(why) == 0 {
		return nil, fmt.Errorf("%s: no DICOM images found (%d files looked at)", path, len(r.Ignored))
	}
	const maxReasons = 5
	more := ""
	if len(why) > maxReasons {
		more = fmt.Sprintf("; and %d more", len(why)-maxReasons)
		why = why[:maxReasons]
	}
	return nil, &openError{fmt.Sprintf("%s: no loadable series: %s%s", path, strings.Join(why, "; "), more), errs}
}

// openError keeps every reason, so callers can test them with errors.Is
// (dicomio.ErrGeometry, membudget.ErrOverBudget, geom.ErrImplausible).
type openError struct {
	msg  string
	errs []error
}

func (e *openError) Error() string   { return e.msg }
func (e *openError) Unwrap() []error { return e.errs }

// Scan reads everything under path and reports what it used and why it
// left the rest. It fails only when path itself cannot be read.
func Scan(path string) (*Result, error) { return scan(path, true) }

// ScanHeaders is Scan without the pixels: its series have geometry, timing
// and sources but no Data, so a whole exam can be listed without decoding
// it; LoadSeries then decodes the one series that is needed.
func ScanHeaders(path string) (*Result, error) { return scan(path, false) }

func scan(path string, pixels bool) (*Result, error) {
	paths, err := listFiles(path)
	if err != nil {
		return nil, err
	}
	r := &Result{Study: &study.Study{Path: path}}
	var insts []*instance
	seen := map[string]string{} // SOPInstanceUID -> first path
	for _, p := range paths {
		data, err := readDICOM(p)
		if err != nil {
			if errors.Is(err, errNotDICOM) {
				r.Ignored = append(r.Ignored, FileError{p, err})
			} else {
				r.Failed = append(r.Failed, FileError{p, err})
			}
			continue
		}
		in, err := parseFile(p, data, false)
		switch {
		case errors.Is(err, errNoPixels):
			r.Ignored = append(r.Ignored, FileError{p, err})
		case err != nil:
			r.Failed = append(r.Failed, FileError{p, err})
		case in.sopInstance != "" && seen[in.sopInstance] != "":
			// The same instance twice (a copy, another export of it).
			r.Ignored = append(r.Ignored, FileError{p, fmt.Errorf("%s: same SOPInstanceUID as %s", p, seen[in.sopInstance])})
		default:
			seen[in.sopInstance] = p
			insts = append(insts, in)
		}
	}
	for _, g := range groupSeries(insts) {
		s, err := assemble(g)
		if err == nil && pixels {
			err = loadPixels(s, g)
		}
		if err != nil {
			sk := Skipped{SeriesInstanceUID: g[0].seriesUID, Description: g[0].seriesDesc, SeriesNumber: g[0].seriesNumber, Reason: err}
			for _, in := range g {
				sk.Files = append(sk.Files, in.path)
			}
			r.Skipped = append(r.Skipped, sk)
			continue
		}
		r.Study.Series = append(r.Study.Series, s)
	}
	sortSeries(r.Study.Series)
	return r, nil
}

// listFiles returns path itself or the regular files under it, sorted.
// Symbolic links are followed, the root included; a folder already on the
// way down (a link loop) is never entered again, and a file reached through
// two links is listed once, under the first name found.
func listFiles(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		if isDICOMDIR(path) {
			return dicomdirFiles(path)
		}
		return []string{path}, nil
	}
	w := walker{dirs: map[fileID]bool{}, files: map[fileID]bool{}}
	if err := w.walk(path, st); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return w.out, nil
}

type fileID struct{ dev, ino uint64 }

func idOf(st os.FileInfo) (fileID, bool) {
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		return fileID{uint64(sys.Dev), uint64(sys.Ino)}, true
	}
	return fileID{}, false
}

type walker struct {
	dirs, files map[fileID]bool
	out         []string
}

// maxFiles bounds one folder tree (a link farm must not run forever).
const maxFiles = 1 << 20

func (w *walker) walk(dir string, st os.FileInfo) error {
	if id, ok := idOf(st); ok {
		if w.dirs[id] {
			return nil // a loop, or the same folder through another link
		}
		w.dirs[id] = true
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		var fst os.FileInfo
		if e.Type()&fs.ModeSymlink != 0 {
			if fst, err = os.Stat(p); err != nil {
				continue // a dangling link is not a file of the study
			}
		} else if e.IsDir() || e.Type().IsRegular() {
			if fst, err = e.Info(); err != nil {
				return err
			}
		} else {
			continue // FIFOs, sockets, devices: never opened
		}
		switch {
		case fst.IsDir():
			if err := w.walk(p, fst); err != nil {
				return err
			}
		case fst.Mode().IsRegular():
			if id, ok := idOf(fst); ok {
				if w.files[id] {
					continue
				}
				w.files[id] = true
			}
			if len(w.out) >= maxFiles {
				return fmt.Errorf("more than %d files", maxFiles)
			}
			w.out = append(w.out, p)
		}
	}
	return nil
}

// readDICOM reads a file after checking its DICM marker, so that large
// non-DICOM files in a folder are never read whole.
func readDICOM(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	var head [132]byte
	if _, err := io.ReadFull(f, head[:]); err != nil || string(head[128:]) != "DICM" {
		return nil, fmt.Errorf("%s: %w", path, errNotDICOM)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if st.Size() > maxFileSize {
		return nil, fmt.Errorf("%s: %d bytes is more than the %d this reader accepts for one file", path, st.Size(), int64(maxFileSize))
	}
	if err := membudget.Check(path, st.Size()); err != nil {
		return nil, err
	}
	data := make([]byte, st.Size())
	copy(data, head[:])
	if _, err := io.ReadFull(f, data[132:]); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return data, nil
}

// groupSeries groups instances by SeriesInstanceUID, keeping file order.
func groupSeries(insts []*instance) [][]*instance {
	idx := map[string]int{}
	var out [][]*instance
	for _, in := range insts {
		key := in.seriesUID
		if key == "" {
			key = "no SeriesInstanceUID: " + filepath.Dir(in.path)
		}
		i, ok := idx[key]
		if !ok {
			i = len(out)
			idx[key] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], in)
	}
	return out
}

// sortSeries puts series with the scanner's own pixel values before lossy
// JPEG ones, then cine series first, then more slices, more phases, and
// the scanner's series order.
func sortSeries(ss []*study.Series) {
	sort.SliceStable(ss, func(a, b int) bool {
		sa, sb := ss[a].Source.(*study.DICOMSource), ss[b].Source.(*study.DICOMSource)
		if la, lb := isLossy(sa), isLossy(sb); la != lb {
			return lb
		}
		if sa.Cine != sb.Cine {
			return sa.Cine
		}
		if ss[a].Dims[2] != ss[b].Dims[2] {
			return ss[a].Dims[2] > ss[b].Dims[2]
		}
		if ss[a].NT != ss[b].NT {
			return ss[a].NT > ss[b].NT
		}
		return sa.SeriesNumber < sb.SeriesNumber
	})
}

// isLossy says whether a series was decoded from lossy JPEG (or, before
// its pixels are read, is stored in a lossy transfer syntax).
func isLossy(src *study.DICOMSource) bool {
	if LossySyntax(src.TransferSyntaxUID) {
		return true
	}
	for _, n := range src.Notes {
		if n == LossyNote {
			return true
		}
	}
	return false
}
