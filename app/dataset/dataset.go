// Package dataset lists and loads cases from the two on-disk layouts the
// project trains and evaluates on: ACDC patient folders and nnU-Net v2
// raw datasets.
package dataset

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"cmrseg/app/nifti"
	"cmrseg/app/study"
)

// Layout names a folder layout.
type Layout int

const (
	ACDC   Layout = iota + 1 // patientNNN/Info.cfg + patientNNN_frameMM[_gt].nii.gz
	NNUNet                   // dataset.json + imagesTr/*_0000.nii.gz + labelsTr/
)

func (l Layout) String() string {
	switch l {
	case ACDC:
		return "ACDC"
	case NNUNet:
		return "nnU-Net v2"
	}
	return "unknown layout"
}

// Dataset is an opened data set folder.
type Dataset struct {
	Dir    string
	Layout Layout
	// Name is dataset.json's "name", or the folder name.
	Name string
	// Labels maps label names to values as the data set declares them
	// (ACDC: the fixed convention of study.ClassNames).
	Labels map[string]int
	Cases  []Case
}

// Info is an ACDC Info.cfg.
type Info struct {
	ED, ES   int // frame numbers, 1-based
	Group    string
	HeightCm float64
	WeightKg float64
	NbFrame  int
}

// Case is one patient (ACDC) or one training case (nnU-Net).
type Case struct {
	ID string
	// Info is ACDC's Info.cfg; zero for nnU-Net cases.
	Info
	// ImagePaths holds one 3D image per phase: the ACDC frame files in
	// frame order, or the nnU-Net channel-0 file.
	ImagePaths []string
	// Frames are the ACDC frame numbers of ImagePaths; nil for nnU-Net.
	Frames []int
	// LabelPaths parallels ImagePaths; "" where a phase has no labels.
	LabelPaths []string
	// CinePath is the full 4D cine (ACDC patientNNN_4d.nii.gz), "" if absent.
	CinePath string
	// Channels is the number of input channels (nnU-Net); 1 for ACDC.
	Channels int
}

// Sample is a loaded case: the image series and, per phase, its ground
// truth on the same grid (nil for phases without labels).
type Sample struct {
	Series *study.Series
	Labels []*study.Labels
}

// Open reads a data set folder: one with dataset.json is nnU-Net v2 raw,
// one whose subfolders hold Info.cfg is ACDC.
func Open(dir string) (*Dataset, error) {
	if _, err := os.Stat(filepath.Join(dir, "dataset.json")); err == nil {
		return openNNUNet(dir)
	}
	infos, _ := filepath.Glob(filepath.Join(dir, "*", "Info.cfg"))
	if len(infos) == 0 {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("dataset: %w", err)
		}
		return nil, fmt.Errorf("dataset: %s is neither an ACDC folder (no */Info.cfg) nor an nnU-Net raw dataset (no dataset.json)", dir)
	}
	d := &Dataset{Dir: dir, Layout: ACDC, Name: filepath.Base(dir), Labels: acdcLabels()}
	for _, info := range infos {
		c, err := ReadPatient(filepath.Dir(info))
		if err != nil {
			return nil, err
		}
		d.Cases = append(d.Cases, c)
	}
	sort.Slice(d.Cases, func(i, j int) bool { return d.Cases[i].ID < d.Cases[j].ID })
	return d, nil
}

// Case returns the case with the given ID.
func (d *Dataset) Case(id string) (Case, bool) {
	for _, c := range d.Cases {
		if c.ID == id {
			return c, true
		}
	}
	return Case{}, false
}

func acdcLabels() map[string]int {
	m := map[string]int{}
	for v, name := range study.ClassNames {
		m[name] = v
	}
	return m
}

var frameFile = regexp.MustCompile(`^(.+)_frame(\d+)\.nii(\.gz)?$`)

// ReadPatient reads one ACDC patient folder: Info.cfg, the frame images
// and their _gt label files, and the 4D cine when present.
func ReadPatient(dir string) (Case, error) {
	c := Case{ID: filepath.Base(dir), Channels: 1}
	info, err := ReadInfo(filepath.Join(dir, "Info.cfg"))
	if err != nil {
		return c, err
	}
	c.Info = info
	entries, err := os.ReadDir(dir)
	if err != nil {
		return c, fmt.Errorf("dataset: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if m := frameFile.FindStringSubmatch(name); m != nil {
			frame, err := strconv.Atoi(m[2])
			if err != nil {
				return c, fmt.Errorf("dataset: %s: bad frame number in %s", dir, name)
			}
			c.Frames = append(c.Frames, frame)
			c.ImagePaths = append(c.ImagePaths, filepath.Join(dir, name))
			gt := strings.Replace(name, ".nii", "_gt.nii", 1)
			if _, err := os.Stat(filepath.Join(dir, gt)); err == nil {
				c.LabelPaths = append(c.LabelPaths, filepath.Join(dir, gt))
			} else {
				c.LabelPaths = append(c.LabelPaths, "")
			}
		}
		if strings.HasSuffix(name, "_4d.nii.gz") || strings.HasSuffix(name, "_4d.nii") {
			c.CinePath = filepath.Join(dir, name)
		}
	}
	sortByFrame(&c)
	if len(c.Frames) == 0 && c.CinePath == "" {
		return c, fmt.Errorf("dataset: %s: no patient*_frameNN.nii.gz or _4d.nii.gz images", dir)
	}
	return c, nil
}

func sortByFrame(c *Case) {
	idx := make([]int, len(c.Frames))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return c.Frames[idx[a]] < c.Frames[idx[b]] })
	frames, images, labels := make([]int, len(idx)), make([]string, len(idx)), make([]string, len(idx))
	for i, j := range idx {
		frames[i], images[i], labels[i] = c.Frames[j], c.ImagePaths[j], c.LabelPaths[j]
	}
	c.Frames, c.ImagePaths, c.LabelPaths = frames, images, labels
}

// ReadInfo parses an ACDC Info.cfg ("Key: value" lines). ED, ES and
// Group are required; Height, Weight and NbFrame are optional.
func ReadInfo(path string) (Info, error) {
	var info Info
	raw, err := os.ReadFile(path)
	if err != nil {
		return info, fmt.Errorf("dataset: %w", err)
	}
	if len(raw) > 64<<10 {
		return info, fmt.Errorf("dataset: %s: %d bytes is too large for an Info.cfg", path, len(raw))
	}
	seen := map[string]bool{}
	for n, line := range strings.Split(string(raw), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			return info, fmt.Errorf("dataset: %s line %d: %q is not \"Key: value\"", path, n+1, line)
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		var perr error
		switch key {
		case "ED":
			info.ED, perr = strconv.Atoi(value)
		case "ES":
			info.ES, perr = strconv.Atoi(value)
		case "NbFrame":
			info.NbFrame, perr = strconv.Atoi(value)
		case "Height":
			info.HeightCm, perr = strconv.ParseFloat(value, 64)
		case "Weight":
			info.WeightKg, perr = strconv.ParseFloat(value, 64)
		case "Group":
			info.Group = value
		default:
			continue
		}
		if perr != nil {
			return info, fmt.Errorf("dataset: %s line %d: bad %s %q", path, n+1, key, value)
		}
		seen[key] = true
	}
	for _, k := range []string{"ED", "ES", "Group"} {
		if !seen[k] {
			return info, fmt.Errorf("dataset: %s: no %s entry", path, k)
		}
	}
	if info.ED < 1 || info.ES < 1 || (info.NbFrame > 0 && (info.ED > info.NbFrame || info.ES > info.NbFrame)) {
		return info, fmt.Errorf("dataset: %s: ED %d / ES %d outside frames 1–%d", path, info.ED, info.ES, info.NbFrame)
	}
	return info, nil
}

// Load reads the case's separate 3D images as one series (ACDC: the ED
// and ES frames as 2 phases; nnU-Net: the single volume) with their labels.
func (c Case) Load() (*Sample, error) {
	if c.Channels > 1 {
		return nil, fmt.Errorf("dataset: case %s has %d channels; only single-channel (cine) cases are supported", c.ID, c.Channels)
	}
	if len(c.ImagePaths) == 0 {
		return nil, fmt.Errorf("dataset: case %s has no separate frame images", c.ID)
	}
	var s *study.Series
	for i, p := range c.ImagePaths {
		v, err := nifti.Read(p)
		if err != nil {
			return nil, fmt.Errorf("dataset: case %s: %w", c.ID, err)
		}
		if v.NT != 1 {
			return nil, fmt.Errorf("dataset: case %s: %s has %d volumes, want one 3D frame", c.ID, p, v.NT)
		}
		if i == 0 {
			s = v
			continue
		}
		if v.Geometry != s.Geometry {
			return nil, fmt.Errorf("dataset: case %s: %s is on a different grid than %s", c.ID, p, c.ImagePaths[0])
		}
		s.Data = append(s.Data, v.Data...)
		s.NT++
	}
	s.PhaseNumbers = c.Frames
	s.ED, s.ES = indexOf(c.Frames, c.ED), indexOf(c.Frames, c.ES)
	c.describe(s)
	labels, err := c.readLabels(s, c.LabelPaths, func(i int) int { return i })
	if err != nil {
		return nil, err
	}
	return &Sample{Series: s, Labels: labels}, nil
}

// LoadCine reads the full 4D cine, with ED and ES from Info.cfg and the
// frame label files placed at their phases.
func (c Case) LoadCine() (*Sample, error) {
	if c.CinePath == "" {
		return nil, fmt.Errorf("dataset: case %s has no 4D cine", c.ID)
	}
	s, err := nifti.Read(c.CinePath)
	if err != nil {
		return nil, fmt.Errorf("dataset: case %s: %w", c.ID, err)
	}
	if c.NbFrame > 0 && s.NT != c.NbFrame {
		return nil, fmt.Errorf("dataset: case %s: %s has %d phases but Info.cfg says NbFrame %d", c.ID, c.CinePath, s.NT, c.NbFrame)
	}
	if c.ED > s.NT || c.ES > s.NT {
		return nil, fmt.Errorf("dataset: case %s: ED %d / ES %d beyond the cine's %d phases", c.ID, c.ED, c.ES, s.NT)
	}
	s.PhaseNumbers = make([]int, s.NT)
	for i := range s.PhaseNumbers {
		s.PhaseNumbers[i] = i + 1
	}
	s.ED, s.ES = c.ED-1, c.ES-1
	c.describe(s)
	labels, err := c.readLabels(s, c.LabelPaths, func(i int) int { return c.Frames[i] - 1 })
	if err != nil {
		return nil, err
	}
	return &Sample{Series: s, Labels: labels}, nil
}

// readLabels reads label files onto the series' phases; phase(i) is the
// phase of LabelPaths[i].
func (c Case) readLabels(s *study.Series, paths []string, phase func(int) int) ([]*study.Labels, error) {
	out := make([]*study.Labels, s.NT)
	for i, p := range paths {
		if p == "" {
			continue
		}
		l, err := nifti.ReadLabels(p)
		if err != nil {
			return nil, fmt.Errorf("dataset: case %s: %w", c.ID, err)
		}
		if !sameGrid(l.Geometry, s.Geometry) {
			return nil, fmt.Errorf("dataset: case %s: labels %s are on grid %v, the image on %v", c.ID, p, l.Dims, s.Dims)
		}
		t := phase(i)
		if t < 0 || t >= s.NT {
			return nil, fmt.Errorf("dataset: case %s: labels %s belong to phase %d of %d", c.ID, p, t+1, s.NT)
		}
		l.Geometry = s.Geometry
		out[t] = l
	}
	return out, nil
}

// sameGrid allows float32 round-off between files written separately.
func sameGrid(a, b study.Geometry) bool {
	if a.Dims != b.Dims {
		return false
	}
	const tol = 1e-3
	for i := 0; i < 3; i++ {
		if diff(a.Spacing[i], b.Spacing[i]) > tol || diff(a.Origin[i], b.Origin[i]) > tol {
			return false
		}
		for j := 0; j < 3; j++ {
			if diff(a.Direction[i][j], b.Direction[i][j]) > tol {
				return false
			}
		}
	}
	return true
}

func diff(a, b float64) float64 {
	if a > b {
		return a - b
	}
	return b - a
}

func (c Case) describe(s *study.Series) {
	s.Meta.PatientID = c.ID
	s.Meta.Group = c.Group
	s.Meta.HeightM = c.HeightCm / 100
	s.Meta.WeightKg = c.WeightKg
	if c.Frames != nil || c.CinePath != "" {
		s.Meta.SeriesDescription = "ACDC " + c.ID
	} else {
		s.Meta.SeriesDescription = c.ID
	}
}

func indexOf(xs []int, x int) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return -1
}

// nnunetJSON is the part of nnU-Net v2's dataset.json this package uses.
type nnunetJSON struct {
	Name         string                     `json:"name"`
	ChannelNames map[string]string          `json:"channel_names"`
	Labels       map[string]json.RawMessage `json:"labels"`
	NumTraining  int                        `json:"numTraining"`
	FileEnding   string                     `json:"file_ending"`
}

func openNNUNet(dir string) (*Dataset, error) {
	jpath := filepath.Join(dir, "dataset.json")
	raw, err := os.ReadFile(jpath)
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	var dj nnunetJSON
	if err := json.Unmarshal(raw, &dj); err != nil {
		return nil, fmt.Errorf("dataset: %s: %v", jpath, err)
	}
	if len(dj.ChannelNames) == 0 {
		return nil, fmt.Errorf("dataset: %s: no channel_names", jpath)
	}
	if dj.FileEnding == "" {
		dj.FileEnding = ".nii.gz"
	}
	if dj.FileEnding != ".nii.gz" && dj.FileEnding != ".nii" {
		return nil, fmt.Errorf("dataset: %s: file_ending %q is not supported (only .nii.gz and .nii)", jpath, dj.FileEnding)
	}
	d := &Dataset{Dir: dir, Layout: NNUNet, Name: dj.Name, Labels: map[string]int{}}
	if d.Name == "" {
		d.Name = filepath.Base(dir)
	}
	for name, v := range dj.Labels {
		var value int
		if err := json.Unmarshal(v, &value); err != nil {
			return nil, fmt.Errorf("dataset: %s: label %q is %s; region-based labels are not supported", jpath, name, v)
		}
		d.Labels[name] = value
	}
	images, err := filepath.Glob(filepath.Join(dir, "imagesTr", "*_0000"+dj.FileEnding))
	if err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	for _, img := range images {
		id := strings.TrimSuffix(filepath.Base(img), "_0000"+dj.FileEnding)
		c := Case{ID: id, ImagePaths: []string{img}, Channels: len(dj.ChannelNames)}
		for ch := 1; ch < c.Channels; ch++ {
			p := filepath.Join(dir, "imagesTr", fmt.Sprintf("%s_%04d%s", id, ch, dj.FileEnding))
			if _, err := os.Stat(p); err != nil {
				return nil, fmt.Errorf("dataset: case %s: channel %d missing: %w", id, ch, err)
			}
		}
		label := filepath.Join(dir, "labelsTr", id+dj.FileEnding)
		if _, err := os.Stat(label); err != nil {
			return nil, fmt.Errorf("dataset: case %s has no label file %s", id, label)
		}
		c.LabelPaths = []string{label}
		d.Cases = append(d.Cases, c)
	}
	if len(d.Cases) == 0 {
		return nil, fmt.Errorf("dataset: %s: no imagesTr/*_0000%s files", dir, dj.FileEnding)
	}
	if dj.NumTraining != len(d.Cases) {
		return nil, fmt.Errorf("dataset: %s says numTraining %d but imagesTr holds %d cases", jpath, dj.NumTraining, len(d.Cases))
	}
	return d, nil
}
