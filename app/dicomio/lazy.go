package dicomio

import (
	"fmt"

	"cmrseg/app/study"
)

// LoadSeries decodes the pixels of a series that ScanHeaders found into
// s.Data (and notes a lossy source, as Scan does).
func LoadSeries(s *study.Series) error {
	if _, ok := s.Source.(*study.DICOMSource); !ok {
		return fmt.Errorf("series %q was not read from DICOM", s.Meta.SeriesDescription)
	}
	return loadPixels(s, nil)
}

// ReadFrame decodes frame (1-based) of one DICOM file as rescaled values,
// row by row: enough for a thumbnail of a series that cannot be assembled
// (a three-plane localiser).
func ReadFrame(path string, frame int) (cols, rows int, px []float32, err error) {
	data, err := readDICOM(path)
	if err != nil {
		return 0, 0, nil, err
	}
	in, err := parseFile(path, data, true)
	if err != nil {
		return 0, 0, nil, err
	}
	if frame < 1 || frame > len(in.frames) {
		return 0, 0, nil, fmt.Errorf("%s: no frame %d (%d frames)", path, frame, len(in.frames))
	}
	if in.samples != 1 {
		return 0, 0, nil, fmt.Errorf("%s: SamplesPerPixel %d (%s): colour images are not supported", path, in.samples, in.photometric)
	}
	px = make([]float32, in.rows*in.cols)
	if err := in.decodeFrame(frame-1, px); err != nil {
		return 0, 0, nil, err
	}
	return in.cols, in.rows, px, nil
}

// LossySyntax says whether a transfer syntax stores lossy-compressed
// pixels (known from the header, before anything is decoded).
func LossySyntax(uid string) bool { return syntaxes[uid].lossy }
