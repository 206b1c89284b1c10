package workspace

import (
	"cmrseg/app/dicomio"
	"cmrseg/app/study"
)

// SourceWarning is what the window must keep in view about where a
// series' pixels came from: that they were decoded from lossy JPEG, so
// segmentation and uncertainty on them are less trustworthy. "" when there
// is nothing to say.
func SourceWarning(s *study.Series) string {
	if s == nil {
		return ""
	}
	src, ok := s.Source.(*study.DICOMSource)
	if !ok {
		return ""
	}
	for _, n := range src.Notes {
		if n == dicomio.LossyNote {
			return "Lossy JPEG source: pixel values differ from the scanner's; segmentation and uncertainty are less reliable."
		}
	}
	return ""
}

// TakeOpenSeries returns Config.OpenSeries the first time and "" after:
// the choice applies to the study given on the command line only.
func (w *Workspace) TakeOpenSeries() string {
	sel := w.cfg.OpenSeries
	w.cfg.OpenSeries = ""
	return sel
}
