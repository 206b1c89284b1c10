package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strings"
	"time"

	"cmrseg/app/atomicfile"
	"cmrseg/app/contour"
	"cmrseg/app/study"
	"cmrseg/app/studyio"
	"cmrseg/inference/ensemble"
	"cmrseg/inference/torch"
	"cmrseg/inference/uncertainty"
	"cmrseg/training/evaluation"
	"cmrseg/training/metrics"
)

func init() {
	register("evaluate-contours", "LV cavity and myocardium Dice of model bundles against expert contours on a DICOM series (Sunnybrook format)", runEvaluateContours)
}

// contourScore is one bundle's agreement with the expert contours.
type contourScore struct {
	Name   string `json:"name"`
	Bundle string `json:"bundle"`
	// Per contoured image: Dice of the predicted LV cavity (label 3) with
	// the i-contour, and of the predicted myocardium (label 2) with the
	// ring between o- and i-contour where both were drawn.
	CavityImages     int       `json:"cavity_images"`
	MyocardiumImages int       `json:"myocardium_images"`
	CavityDice       float64   `json:"cavity_dice_mean"`
	CavityDiceSD     float64   `json:"cavity_dice_sd"`
	MyocardiumDice   float64   `json:"myocardium_dice_mean"`
	MyocardiumDiceSD float64   `json:"myocardium_dice_sd"`
	CavityPooled     float64   `json:"cavity_dice_pooled"`
	MyocardiumPooled float64   `json:"myocardium_dice_pooled"`
	PerImageCavity   []float64 `json:"per_image_cavity"`
	PerImageMyo      []float64 `json:"per_image_myocardium"`
	Seconds          float64   `json:"seconds"`
}

// runEvaluateContours scores bundles on a series whose expert labels are
// contours of some images only: only contoured images count, so a slice
// the expert skipped cannot be scored as a false positive.
func runEvaluateContours(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("evaluate-contours", stderr)
	series := fs.String("dicom", "", "DICOM series folder (e.g. ../shared/data/sunnybrook/SCD0000101)")
	contours := fs.String("contours", "", "folder with i-contours/ and o-contours/ (Sunnybrook *contour-manual.txt)")
	models := fs.String("model", "", "model bundle(s) or run folder(s), comma-separated (default: the bundled model)")
	jsonOut := fs.String("json", "", "write the results as JSON to this file")
	threads := fs.Int("threads", 0, "torch threads (0: one per core)")
	device := fs.String("device", "auto", "auto, cpu or cuda")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *series == "" || *contours == "" {
		return fmt.Errorf("--dicom and --contours are required")
	}
	st, err := studyio.Open(*series)
	if err != nil {
		return err
	}
	s := st.Series[0]
	ref, err := contour.LoadSunnybrook(*contours, s)
	if err != nil {
		return err
	}
	nk := s.Dims[2]
	var phases []int
	for t := 0; t < s.NT; t++ {
		for k := 0; k < nk; k++ {
			if c, _ := ref.Contoured(k, t); c {
				phases = append(phases, t)
				break
			}
		}
	}
	if len(phases) == 0 {
		return fmt.Errorf("%s: no contour matches an image of %s", *contours, *series)
	}
	var dirs []string
	if *models == "" {
		d, err := findModel("")
		if err != nil {
			return err
		}
		dirs = []string{d}
	} else {
		dirs = strings.Split(*models, ",")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	w := torch.NewWorker(*threads)
	defer w.Close()

	fmt.Fprintf(stdout, "%s: %d phases with contours (%v)\n", *series, len(phases), oneBased(phases))
	var results []*contourScore
	for _, dir := range dirs {
		b, err := bundleOf(dir)
		if err != nil {
			return err
		}
		p, err := ensemble.Load(w, b.Dir, ensemble.Options{Device: *device})
		if err != nil {
			return err
		}
		t0 := time.Now()
		rs, err := p.Predict(ctx, s, phases, nil)
		p.Close()
		if err != nil {
			return err
		}
		cs := &contourScore{Name: evaluation.MethodName(b.Dir, b.Kind), Bundle: b.Dir, Seconds: time.Since(t0).Seconds()}
		scoreContours(cs, s, ref, phases, rs)
		results = append(results, cs)
	}
	fmt.Fprintf(stdout, "\n%-22s %18s %18s %9s %9s %8s\n", "method", "LV cavity Dice", "LV myo Dice", "cav pool", "myo pool", "seconds")
	for _, r := range results {
		fmt.Fprintf(stdout, "%-22s %8.3f ± %.3f %-3d %8.3f ± %.3f %-3d %9.3f %9.3f %8.1f\n", r.Name,
			r.CavityDice, r.CavityDiceSD, r.CavityImages, r.MyocardiumDice, r.MyocardiumDiceSD, r.MyocardiumImages,
			r.CavityPooled, r.MyocardiumPooled, r.Seconds)
	}
	fmt.Fprintln(stdout, "(mean ± SD over contoured images, image count; pooled = one Dice over all contoured pixels)")
	if *jsonOut != "" {
		data, err := json.MarshalIndent(results, "", "  ")
		if err != nil {
			return err
		}
		if err := atomicfile.Write(*jsonOut, append(data, '\n')); err != nil {
			return err
		}
	}
	return nil
}

// scoreContours fills cs from the predictions of the contoured phases.
func scoreContours(cs *contourScore, s *study.Series, ref *contour.Reference, phases []int, rs []*uncertainty.Result) {
	nx, ny, nk := s.Dims[0], s.Dims[1], s.Dims[2]
	plane := nx * ny
	var cavI, cavP, cavR, myoI, myoP, myoR int
	for pi, t := range phases {
		pred := rs[pi].Labels
		truth := ref.Phases[t].Data
		for k := 0; k < nk; k++ {
			cav, myo := ref.Contoured(k, t)
			if !cav {
				continue
			}
			lo, hi := k*plane, (k+1)*plane
			d, i, p, r := diceOf(truth[lo:hi], pred[lo:hi], study.LV)
			cs.PerImageCavity = append(cs.PerImageCavity, d)
			cavI, cavP, cavR = cavI+i, cavP+p, cavR+r
			if myo {
				d, i, p, r := diceOf(truth[lo:hi], pred[lo:hi], study.Myocardium)
				cs.PerImageMyo = append(cs.PerImageMyo, d)
				myoI, myoP, myoR = myoI+i, myoP+p, myoR+r
			}
		}
	}
	cs.CavityImages, cs.MyocardiumImages = len(cs.PerImageCavity), len(cs.PerImageMyo)
	cs.CavityDice, cs.CavityDiceSD = meanSD(cs.PerImageCavity)
	cs.MyocardiumDice, cs.MyocardiumDiceSD = meanSD(cs.PerImageMyo)
	cs.CavityPooled = 2 * float64(cavI) / float64(cavP+cavR)
	cs.MyocardiumPooled = 2 * float64(myoI) / float64(myoP+myoR)
}

// diceOf is the Dice of class c on one image with its counts (1 when both
// are empty, as in metrics.Dice).
func diceOf(ref, pred []uint8, c uint8) (d float64, inter, np, nr int) {
	for i := range ref {
		r, p := ref[i] == c, pred[i] == c
		if r {
			nr++
		}
		if p {
			np++
		}
		if r && p {
			inter++
		}
	}
	if np+nr == 0 {
		return 1, 0, 0, 0
	}
	return 2 * float64(inter) / float64(np+nr), inter, np, nr
}

func meanSD(xs []float64) (mean, sd float64) {
	if len(xs) == 0 {
		return math.NaN(), math.NaN()
	}
	mean = metrics.Mean(xs)
	for _, x := range xs {
		sd += (x - mean) * (x - mean)
	}
	if len(xs) > 1 {
		sd = math.Sqrt(sd / float64(len(xs)-1))
	}
	return mean, sd
}

// oneBased turns phase indices into the numbers people read.
func oneBased(ts []int) []int {
	out := make([]int, len(ts))
	for i, t := range ts {
		out[i] = t + 1
	}
	return out
}
