package exam

import (
	"fmt"
	"image"
	"image/color"
	"sort"

	"cmrseg/app/dicomio"
	"cmrseg/app/study"
)

// Thumbnail decodes one image of entry i (the middle slice's first phase,
// or a localiser's first file) into a grey image at most size pixels on
// its longer side, windowed to the 1st–99th percentile. Only that one
// frame is read.
func (ex *Exam) Thumbnail(i, size int) (*image.Gray, error) {
	if i < 0 || i >= len(ex.Entries) || size < 1 {
		return nil, fmt.Errorf("%s: no series %d", ex.Path, i+1)
	}
	e := ex.Entries[i]
	path, frame := "", 1
	if e.Series != nil {
		src := e.Series.Source.(*study.DICOMSource)
		f := src.Frames[e.Slices/2]
		path, frame = f.Path, f.Frame
	} else if len(e.files) > 0 {
		path = e.files[0]
	} else {
		return nil, fmt.Errorf("%s: series %s has no files", ex.Path, e.name())
	}
	cols, rows, px, err := dicomio.ReadFrame(path, frame)
	if err != nil {
		return nil, err
	}
	return grey(cols, rows, px, size), nil
}

func grey(cols, rows int, px []float32, size int) *image.Gray {
	s := append([]float32(nil), px...)
	sort.Slice(s, func(a, b int) bool { return s[a] < s[b] })
	lo, hi := s[len(s)/100], s[len(s)*99/100]
	if hi <= lo {
		hi = lo + 1
	}
	w, h := size, size
	if cols > rows {
		h = max(1, size*rows/cols)
	} else {
		w = max(1, size*cols/rows)
	}
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			v := px[(y*rows/h)*cols+x*cols/w]
			f := (v - lo) / (hi - lo)
			f = min(1, max(0, f))
			img.SetGray(x, y, color.Gray{Y: uint8(255 * f)})
		}
	}
	return img
}
