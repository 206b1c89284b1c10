package trainingjob

import (
	"context"
	"fmt"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"sort"

	"cmrseg/app/dataset"
	"cmrseg/app/nifti"
	"cmrseg/app/study"
)

// Classes is the label range training accepts: 0 background, 1 RV,
// 2 myocardium, 3 LV.
const Classes = 4

// Problem is something wrong with one file (or the folder).
type Problem struct {
	File    string
	Message string
}

func (p Problem) String() string { return p.File + ": " + p.Message }

// Preview is one case's mid-ventricular slice with its labels drawn in.
type Preview struct {
	Case  string
	Image *image.RGBA
}

// Summary describes a data set folder for the training tab.
type Summary struct {
	Dir    string
	Layout string
	Name   string
	// Cases in the folder; Labelled of them have at least one label file.
	Cases, Labelled int
	// Frames is the number of labelled 3D frames (training volumes);
	// Slices the number of their 2D slices.
	Frames, Slices int
	Problems       []Problem
	Previews       []Preview
}

// Usable reports whether training can start on the folder: some labelled
// case and no problem that would stop the trainer.
func (s *Summary) Usable() bool { return s.Labelled > 0 && len(s.Problems) == 0 }

// ScanOptions bound the work of Scan.
type ScanOptions struct {
	// Previews is the number of preview thumbnails (default 8).
	Previews int
	// PreviewSize is the thumbnails' edge in pixels (default 96).
	PreviewSize int
	// Progress, when set, is called after each case.
	Progress func(done, total int)
}

// Scan opens dir (ACDC or nnU-Net raw layout) and reads every image and
// label file, reporting missing labels, unreadable files, label values
// outside 0..3 and label maps that do not match their image.
func Scan(ctx context.Context, dir string, o ScanOptions) (*Summary, error) {
	if o.Previews == 0 {
		o.Previews = 8
	}
	if o.PreviewSize == 0 {
		o.PreviewSize = 96
	}
	s := &Summary{Dir: dir}
	d, err := dataset.Open(dir)
	if err != nil {
		// nnU-Net folders fail as a whole on a missing label file; still
		// say which files are affected.
		s.Problems = append(s.Problems, Problem{File: dir, Message: err.Error()})
		s.Problems = append(s.Problems, nnunetMissing(dir)...)
		return s, nil
	}
	s.Layout, s.Name, s.Cases = d.Layout.String(), d.Name, len(d.Cases)
	for n, c := range d.Cases {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		labelled := false
		for i, img := range c.ImagePaths {
			lp := ""
			if i < len(c.LabelPaths) {
				lp = c.LabelPaths[i]
			}
			if lp == "" {
				if d.Layout == dataset.ACDC && c.Frames != nil && (c.Frames[i] == c.ED || c.Frames[i] == c.ES) {
					s.Problems = append(s.Problems, Problem{File: img, Message: "no label file (_gt) for this ED/ES frame"})
				}
				continue
			}
			vol, lab, probs := checkPair(img, lp)
			s.Problems = append(s.Problems, probs...)
			if vol == nil || lab == nil || len(probs) > 0 {
				continue
			}
			labelled = true
			s.Frames++
			s.Slices += vol.Dims[2]
			if len(s.Previews) < o.Previews && i == 0 {
				s.Previews = append(s.Previews, Preview{Case: c.ID, Image: PreviewImage(vol, lab.Data, o.PreviewSize)})
			}
		}
		if labelled {
			s.Labelled++
		} else if len(c.ImagePaths) > 0 {
			s.Problems = append(s.Problems, Problem{File: filepath.Dir(c.ImagePaths[0]), Message: fmt.Sprintf("case %s has no usable labelled frame", c.ID)})
		}
		if o.Progress != nil {
			o.Progress(n+1, len(d.Cases))
		}
	}
	return s, nil
}

// checkPair reads an image and its labels.
func checkPair(img, lp string) (*study.Series, *study.Labels, []Problem) {
	var probs []Problem
	vol, err := nifti.Read(img)
	if err != nil {
		probs = append(probs, Problem{File: img, Message: "unreadable: " + err.Error()})
	}
	lab, err := nifti.ReadLabels(lp)
	if err != nil {
		probs = append(probs, Problem{File: lp, Message: "unreadable: " + err.Error()})
	}
	if vol == nil || lab == nil {
		return vol, lab, probs
	}
	if lab.Dims != vol.Dims {
		probs = append(probs, Problem{File: lp, Message: fmt.Sprintf("label map is %v, image %s is %v", lab.Dims, filepath.Base(img), vol.Dims)})
		return vol, lab, probs
	}
	var bad [256]int
	for _, v := range lab.Data {
		bad[v]++
	}
	for v := Classes; v < 256; v++ {
		if bad[v] > 0 {
			probs = append(probs, Problem{File: lp, Message: fmt.Sprintf("label value %d in %d voxels is outside 0..%d", v, bad[v], Classes-1)})
		}
	}
	return vol, lab, probs
}

// nnunetMissing lists nnU-Net images without a label file.
func nnunetMissing(dir string) []Problem {
	var out []Problem
	for _, end := range []string{".nii.gz", ".nii"} {
		imgs, _ := filepath.Glob(filepath.Join(dir, "imagesTr", "*_0000"+end))
		sort.Strings(imgs)
		for _, img := range imgs {
			id := filepath.Base(img)
			id = id[:len(id)-len("_0000"+end)]
			if _, err := os.Stat(filepath.Join(dir, "labelsTr", id+end)); err != nil {
				out = append(out, Problem{File: img, Message: "no label file labelsTr/" + id + end})
			}
		}
	}
	return out
}

// LabelColors are the preview colours of RV, myocardium and LV.
var LabelColors = [Classes]color.RGBA{{}, {R: 230, G: 80, B: 60, A: 255}, {R: 80, G: 200, B: 90, A: 255}, {R: 70, G: 130, B: 240, A: 255}}

// PreviewImage renders the middle slice of the first phase of s with
// labels (same grid, may be nil) blended in, scaled into size×size.
func PreviewImage(s *study.Series, labels []uint8, size int) *image.RGBA {
	nx, ny, nz := s.Dims[0], s.Dims[1], s.Dims[2]
	k := nz / 2
	sl := s.Data[k*nx*ny : (k+1)*nx*ny]
	lo, hi := percentile(sl, 0.01), percentile(sl, 0.99)
	if hi <= lo {
		hi = lo + 1
	}
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	scale := float64(max(nx, ny)) / float64(size)
	ox, oy := (float64(size)-float64(nx)/scale)/2, (float64(size)-float64(ny)/scale)/2
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			i, j := int((float64(x)-ox)*scale), int((float64(y)-oy)*scale)
			if i < 0 || j < 0 || i >= nx || j >= ny {
				img.SetRGBA(x, y, color.RGBA{A: 255})
				continue
			}
			g := (float64(sl[i+nx*j]) - lo) / (hi - lo)
			g = min(1, max(0, g)) * 255
			c := color.RGBA{uint8(g), uint8(g), uint8(g), 255}
			if labels != nil {
				if l := labels[k*nx*ny+i+nx*j]; l > 0 && int(l) < Classes {
					lc := LabelColors[l]
					c = color.RGBA{uint8((int(c.R) + int(lc.R)) / 2), uint8((int(c.G) + int(lc.G)) / 2), uint8((int(c.B) + int(lc.B)) / 2), 255}
				}
			}
			img.SetRGBA(x, y, c)
		}
	}
	return img
}

func percentile(v []float32, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	c := make([]float32, len(v))
	copy(c, v)
	sort.Slice(c, func(i, j int) bool { return c[i] < c[j] })
	return float64(c[int(q*float64(len(c)-1))])
}
