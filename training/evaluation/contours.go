package evaluation

import (
	"math"

	"cmrseg/app/contour"
	"cmrseg/app/study"
	"cmrseg/inference/uncertainty"
	"cmrseg/training/metrics"
)

// Agreement with expert contours drawn on some images only (Sunnybrook):
// `cmrseg evaluate-contours`.

// ContourScore is one bundle's agreement with the expert contours.
type ContourScore struct {
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

// ContouredPhases are the phases of s with at least one cavity contour.
func ContouredPhases(ref *contour.Reference, s *study.Series) []int {
	var phases []int
	for t := 0; t < s.NT; t++ {
		for k := 0; k < s.Dims[2]; k++ {
			if c, _ := ref.Contoured(k, t); c {
				phases = append(phases, t)
				break
			}
		}
	}
	return phases
}

// ScoreContours fills cs from rs, the predictions of the contoured
// phases (rs[i] is phase phases[i]): only contoured images count.
func ScoreContours(cs *ContourScore, s *study.Series, ref *contour.Reference, phases []int, rs []*uncertainty.Result) {
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

// meanSD is the mean and sample standard deviation (NaN for none).
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
