// Package evaluation scores model bundles on labelled cases, running the
// ensemble as `cmrseg segment` runs it: Dice with and without the bundle's
// post-processing, ECE, failure-detection AUROC, the QC operating point and
// a failure analysis (Dice by group, ED/ES and slice position; islands).
// On request it stores what it chose on these cases (the largest-component
// post-processing, the slice-flag threshold) in the bundle's model.toml.
// `cmrseg evaluate` parses flags, calls Bundle and prints.
package evaluation

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"cmrseg/app/study"
	"cmrseg/inference/bundle"
	"cmrseg/inference/ensemble"
	"cmrseg/inference/postprocess"
	"cmrseg/inference/torch"
	"cmrseg/training/data"
	"cmrseg/training/metrics"
	"cmrseg/training/trainer"
)

// ECEBins is the paper's binning for Table 2.
const ECEBins = 100

// Case is a labelled case loaded once, so that every bundle predicts the
// same volumes.
type Case struct {
	ID     string
	Series *study.Series
	Phases []int // 0-based indices of the labelled phases
	Refs   []*study.Labels
}

// LoadCases reads the images and reference labels of cases.
func LoadCases(cases []data.Case) ([]Case, error) {
	var out []Case
	for _, c := range cases {
		smp, err := c.Load()
		if err != nil {
			return nil, err
		}
		l := Case{ID: c.ID, Series: smp.Series}
		for t, ref := range smp.Labels {
			if ref != nil {
				l.Phases = append(l.Phases, t)
				l.Refs = append(l.Refs, ref)
			}
		}
		out = append(out, l)
	}
	return out, nil
}

// VolumeScore is one labelled volume's evaluation.
type VolumeScore struct {
	Case string `json:"case"`
	// Phase is the 1-based phase number, as people count phases.
	Phase   int        `json:"phase_1based"`
	Dice    [3]float64 `json:"dice"`     // RV, MYO, LV, post-processed; NaN → null
	RawDice [3]float64 `json:"dice_raw"` // the same without post-processing
	ECE     float64    `json:"ece_percent"`
}

// MethodScore is one bundle's row of the tables.
type MethodScore struct {
	Name        string     `json:"name"`
	Bundle      string     `json:"bundle"`
	Kind        string     `json:"kind"`
	Checkpoints int        `json:"checkpoints"`
	Samples     int        `json:"samples"`
	Dice        [3]float64 `json:"dice"` // mean over volumes: RV, MYO, LV, post-processed
	RawDice     [3]float64 `json:"dice_raw"`
	Postprocess string     `json:"postprocess"`
	// Temperature is the bundle's logit temperature when scored (0: none).
	Temperature  float64                   `json:"temperature,omitempty"`
	ECE          float64                   `json:"ece_percent"`
	AUROC        float64                   `json:"failure_auroc"`
	FailedSlices int                       `json:"failed_slices"`
	Slices       int                       `json:"slices"`
	Seconds      float64                   `json:"seconds"`
	Reliability  string                    `json:"reliability_png,omitempty"`
	QC           *metrics.QCOperatingPoint `json:"qc_calibration,omitempty"`
	Volumes      []VolumeScore             `json:"volumes"`
	// Failure breaks the Dice down by group, ED/ES and slice position and
	// counts the raw prediction's islands.
	Failure  *FailureAnalysis `json:"failure_analysis,omitempty"`
	Warnings []string         `json:"warnings,omitempty"`
}

// Options are the ensemble's settings and what to store and report.
type Options struct {
	Device string
	TTA    bool
	Tiling ensemble.Tiling
	// CalibratePostprocessing chooses the largest-component post-processing
	// on these cases (nnU-Net's rule) and writes it into model.toml.
	CalibratePostprocessing bool
	// CalibrateTemperature fits one temperature for all the bundle's
	// checkpoints on these cases and writes it into model.toml before the
	// cases are predicted, so every score (and a QC threshold calibrated
	// in the same run) is the tempered ensemble's.
	CalibrateTemperature bool
	// CalibrateQC writes the slice-flag threshold (best Youden J for failed
	// slices on these cases) into model.toml.
	CalibrateQC bool
	// PNGDir, when set, receives a reliability diagram per bundle.
	PNGDir string
	// Warn hears warnings a reader should see at once (evaluation cases
	// that were training cases); every warning also lands in Warnings.
	Warn func(msg string)
	// OnCase hears each case before it is predicted (i from 1); OnPredicted
	// hears that every case was predicted.
	OnCase      func(name string, i, n int, caseID string)
	OnPredicted func(name string)
}

// predicted is one labelled volume's raw prediction.
type predicted struct {
	id     string
	group  string
	phase  int
	name   string // ED, ES or other
	ref    study.Labels
	raw    []uint8
	ece    float64
	scores []float64
}

// Bundle scores b on cases with torch worker w.
func Bundle(ctx context.Context, w *torch.Worker, b *bundle.Bundle, cases []Case, opt Options) (*MethodScore, error) {
	ms := &MethodScore{Name: MethodName(b.Dir, b.Kind), Bundle: b.Dir, Kind: b.Kind, Checkpoints: len(b.Checkpoints)}
	if msg := leakWarning(b, cases); msg != "" {
		ms.Warnings = append(ms.Warnings, msg)
		if opt.Warn != nil {
			opt.Warn(msg)
		}
	}
	if opt.CalibrateTemperature {
		if err := calibrateTemperature(ctx, w, b, cases, opt); err != nil {
			return nil, err
		}
	}
	if t := b.Inference.Temperature; t > 0 && t != 1 {
		ms.Temperature = t
	}
	preds, cal, err := predict(ctx, w, b, cases, opt, ms)
	if err != nil {
		return nil, err
	}

	spec := b.Inference.Postprocess
	if opt.CalibratePostprocessing {
		if spec, err = choosePostprocessing(b, preds, len(cases)); err != nil {
			return nil, err
		}
	}
	ms.Postprocess = spec.String()
	sliceDice, sliceScore, err := score(ms, preds, spec)
	if err != nil {
		return nil, err
	}
	if err := qc(ms, b, sliceDice, sliceScore, len(cases), opt.CalibrateQC); err != nil {
		return nil, err
	}
	if opt.PNGDir != "" {
		ms.Reliability = filepath.Join(opt.PNGDir, FileSafe(ms.Name)+"-reliability.png")
		if err := metrics.SaveReliability(ms.Reliability, cal, ms.ECE); err != nil {
			return nil, err
		}
	}
	return ms, nil
}

// leakWarning says when evaluation cases were among b's training cases.
func leakWarning(b *bundle.Bundle, cases []Case) string {
	train := map[string]bool{}
	for _, id := range b.Training.TrainCases {
		train[id] = true
	}
	var leaked []string
	for _, c := range cases {
		if train[c.ID] {
			leaked = append(leaked, c.ID)
		}
	}
	if len(leaked) == 0 {
		return ""
	}
	return fmt.Sprintf("%d evaluation case(s) were training cases of %s (e.g. %s): scores are optimistic", len(leaked), b.Dir, leaked[0])
}

// predict runs the ensemble on every labelled volume and accumulates the
// calibration histogram.
func predict(ctx context.Context, w *torch.Worker, b *bundle.Bundle, cases []Case, opt Options, ms *MethodScore) ([]predicted, *metrics.Calibration, error) {
	// Raw argmax maps: the bundle's post-processing (or the one chosen
	// here) is applied afterwards, so both are scored from one prediction.
	p, err := ensemble.Load(w, b.Dir, ensemble.Options{Device: opt.Device, TTA: opt.TTA, Tiling: opt.Tiling, RawLabels: true,
		OnWarning: func(m string) { ms.Warnings = append(ms.Warnings, m) }})
	if err != nil {
		return nil, nil, err
	}
	defer p.Close()
	ms.Samples = p.Samples()
	cal, _ := metrics.NewCalibration(ECEBins)
	var preds []predicted
	t0 := time.Now()
	for vi, v := range cases {
		if opt.OnCase != nil {
			opt.OnCase(ms.Name, vi+1, len(cases), v.ID)
		}
		rs, err := p.Predict(ctx, v.Series, v.Phases, nil)
		if err != nil {
			return nil, nil, err
		}
		for i, r := range rs {
			ref := *v.Refs[i]
			probs := metrics.Probs{Dims: r.Dims, Classes: r.Classes, Data: r.Prob}
			ece, err := metrics.VolumeECE(probs, ref, ECEBins)
			if err != nil {
				return nil, nil, fmt.Errorf("case %s phase %d: %w", v.ID, v.Phases[i]+1, err)
			}
			if _, err := cal.AddVolume(probs, ref); err != nil {
				return nil, nil, err
			}
			preds = append(preds, predicted{v.ID, v.Series.Meta.Group, v.Phases[i], phaseName(v.Series, v.Phases[i]), ref, r.Labels, ece, r.SliceScores})
		}
	}
	if opt.OnPredicted != nil {
		opt.OnPredicted(ms.Name)
	}
	ms.Seconds = time.Since(t0).Seconds()
	return preds, cal, nil
}

// choosePostprocessing picks the largest-component post-processing on the
// predictions (nnU-Net's rule) and stores it in b's model.toml.
func choosePostprocessing(b *bundle.Bundle, preds []predicted, nCases int) (postprocess.Spec, error) {
	pv := make([]postprocess.Volume, len(preds))
	for i, pr := range preds {
		ref := pr.ref
		pv[i] = postprocess.Volume{Labels: pr.raw, Dims: ref.Dims, Score: func(l []uint8) ([]float64, error) {
			d, err := metrics.VolumeDice(ref, study.Labels{Geometry: ref.Geometry, Data: l})
			return d[:], err
		}}
	}
	ch, err := postprocess.Choose(pv, b.Network.Classes)
	if err != nil {
		return postprocess.Spec{}, err
	}
	spec := ch.Spec
	spec.Decision = fmt.Sprintf("nnU-Net-style choice on %d volumes of %d cases: mean Dice RV/MYO/LV %s without, %s with; %s",
		ch.Volumes, nCases, fmtDice(ch.Before), fmtDice(ch.After), time.Now().UTC().Format(time.RFC3339))
	b.Inference.Postprocess = spec
	if err := bundle.WriteManifest(b.Dir, &b.Manifest); err != nil {
		return postprocess.Spec{}, fmt.Errorf("calibrate-postprocessing: %w", err)
	}
	return spec, nil
}

// score fills the Dice and ECE columns and the per-volume rows, and
// returns every slice's Dice (post-processed) with its uncertainty score.
func score(ms *MethodScore, preds []predicted, spec postprocess.Spec) (sliceDice, sliceScore []float64, err error) {
	var dice, rawDice [3][]float64
	var eces []float64
	fa := &FailureAnalysis{Rule: PositionRule}
	for _, pr := range preds {
		rd, err := metrics.VolumeDice(pr.ref, study.Labels{Geometry: pr.ref.Geometry, Data: pr.raw})
		if err != nil {
			return nil, nil, fmt.Errorf("case %s phase %d: %w", pr.id, pr.phase+1, err)
		}
		labels := slices.Clone(pr.raw)
		spec.Apply(labels, pr.ref.Dims)
		pred := study.Labels{Geometry: pr.ref.Geometry, Data: labels}
		d, err := metrics.VolumeDice(pr.ref, pred)
		if err != nil {
			return nil, nil, fmt.Errorf("case %s phase %d: %w", pr.id, pr.phase+1, err)
		}
		sd, err := metrics.SliceDice(pr.ref, pred)
		if err != nil {
			return nil, nil, err
		}
		vf, err := analyseVolume(pr.ref, pr.raw, labels)
		if err != nil {
			return nil, nil, fmt.Errorf("case %s phase %d: %w", pr.id, pr.phase+1, err)
		}
		vf.Case, vf.Group, vf.Phase, vf.PhaseNumber = pr.id, pr.group, pr.name, pr.phase+1
		fa.Volumes = append(fa.Volumes, vf)
		sliceDice = append(sliceDice, sd...)
		sliceScore = append(sliceScore, pr.scores...)
		for c := range d {
			dice[c] = append(dice[c], d[c])
			rawDice[c] = append(rawDice[c], rd[c])
		}
		eces = append(eces, pr.ece)
		ms.Volumes = append(ms.Volumes, VolumeScore{Case: pr.id, Phase: pr.phase + 1, Dice: d, RawDice: rd, ECE: pr.ece})
	}
	for c := range dice {
		ms.Dice[c] = metrics.Mean(dice[c])
		ms.RawDice[c] = metrics.Mean(rawDice[c])
	}
	ms.ECE = metrics.Mean(eces)
	fa.aggregate()
	ms.Failure = fa
	return sliceDice, sliceScore, nil
}

// qc scores per-slice failure detection and finds the QC operating point;
// with store it writes the threshold into b's model.toml.
func qc(ms *MethodScore, b *bundle.Bundle, sliceDice, sliceScore []float64, nCases int, store bool) error {
	for _, d := range sliceDice {
		if !math.IsNaN(d) {
			ms.Slices++
			if d < metrics.FailureDice {
				ms.FailedSlices++
			}
		}
	}
	var aurocErr error
	if ms.AUROC, aurocErr = metrics.FailureAUROC(sliceDice, sliceScore); aurocErr != nil {
		ms.AUROC = math.NaN()
		ms.Warnings = append(ms.Warnings, "failure AUROC undefined: "+aurocErr.Error())
	}
	op, err := metrics.CalibrateQC(sliceDice, sliceScore)
	if err != nil {
		ms.Warnings = append(ms.Warnings, "QC threshold not calibrated: "+err.Error())
		return nil
	}
	ms.QC = &op
	if store {
		b.Inference.QCThreshold = op.Threshold
		b.Inference.QCCalibration = fmt.Sprintf("best Youden J for slices with Dice < %.2f on %d slices (%d failed) of %d cases: sensitivity %.3f, specificity %.3f; %s",
			metrics.FailureDice, op.Slices, op.Failed, nCases, op.Sensitivity, op.Specificity, time.Now().UTC().Format(time.RFC3339))
		if err := bundle.WriteManifest(b.Dir, &b.Manifest); err != nil {
			return fmt.Errorf("calibrate-qc: %w", err)
		}
	}
	return nil
}

// MarshalJSON writes NaN as null (JSON has no NaN).
func (v VolumeScore) MarshalJSON() ([]byte, error) {
	type plain struct {
		Case    string      `json:"case"`
		Phase   int         `json:"phase_1based"`
		Dice    [3]*float64 `json:"dice"`
		RawDice [3]*float64 `json:"dice_raw"`
		ECE     *float64    `json:"ece_percent"`
	}
	return json.Marshal(plain{v.Case, v.Phase, nums(v.Dice), nums(v.RawDice), num(v.ECE)})
}

// MarshalJSON writes NaN as null.
func (m MethodScore) MarshalJSON() ([]byte, error) {
	type alias MethodScore
	return json.Marshal(struct {
		alias
		Dice    [3]*float64 `json:"dice"`
		RawDice [3]*float64 `json:"dice_raw"`
		ECE     *float64    `json:"ece_percent"`
		AUROC   *float64    `json:"failure_auroc"`
	}{alias(m), nums(m.Dice), nums(m.RawDice), num(m.ECE), num(m.AUROC)})
}

func nums(d [3]float64) [3]*float64 { return [3]*float64{num(d[0]), num(d[1]), num(d[2])} }

func num(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	return &x
}

func fmtDice(d []float64) string {
	parts := make([]string, len(d))
	for i, x := range d {
		parts[i] = fmt.Sprintf("%.4f", x)
	}
	return strings.Join(parts, "/")
}

// MethodName names a bundle in tables: its kind and folder (the run's
// folder for a run's bundle/).
func MethodName(dir, kind string) string {
	base := filepath.Base(filepath.Clean(dir))
	if base == trainer.BundleDir {
		base = filepath.Base(filepath.Dir(filepath.Clean(dir)))
	}
	return kind + " (" + base + ")"
}

var nameChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// FileSafe turns a method name into a file name.
func FileSafe(s string) string { return strings.Trim(nameChars.ReplaceAllString(s, "_"), "_") }
