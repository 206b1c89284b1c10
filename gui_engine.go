package main

import (
	"fmt"
	"io"

	"cmrseg/app/study"
	"cmrseg/app/workspace"
	"cmrseg/inference/ensemble"
	"cmrseg/inference/torch"
)

// segmenterForGUI returns the demo study and the segmenter the window uses:
// the bundled (or $CMRSEG_MODEL) checkpoint ensemble when one is installed,
// else the demo segmenter, which only knows the embedded phantom.
func segmenterForGUI(stderr io.Writer) (*study.Study, workspace.Segmenter, error) {
	st, demo := workspace.Demo()
	dir, err := findModel("")
	if err != nil {
		fmt.Fprintf(stderr, "cmrseg: no model installed (set CMRSEG_MODEL to a bundle folder to use one); the window uses the demo segmenter, which segments only the demo study\n")
		return st, demo, nil
	}
	w := torch.NewWorker(0)
	p, err := ensemble.Load(w, dir, ensemble.Options{Device: "auto"})
	if err != nil {
		w.Close()
		fmt.Fprintf(stderr, "cmrseg: model %s cannot be used (%v); the window uses the demo segmenter\n", dir, err)
		return st, demo, nil
	}
	return st, p, nil
}
