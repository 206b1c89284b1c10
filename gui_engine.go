package main

import (
	"io"

	"cmrseg/app/study"
	"cmrseg/app/workspace"
)

// segmenterForGUI returns the demo study and the segmenter the window uses.
// Until the bundled ensemble is wired in, it is the demo segmenter, which
// only knows the embedded phantom.
func segmenterForGUI(stderr io.Writer) (*study.Study, workspace.Segmenter, error) {
	st, seg := workspace.Demo()
	return st, seg, nil
}
