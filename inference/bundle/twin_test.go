package bundle

import (
	"slices"
	"strings"
	"testing"

	"cmrseg/inference/postprocess"
)

// twins returns a model trained on cases a–e and its twin trained on a–c
// with d, e held out and calibrated on them.
func twins(t *testing.T) (dir string, all, twin *Manifest) {
	dir, all = testBundle(t)
	all.Training = Provenance{Seed: 7, Epochs: 30, Cycles: 3, TrainCases: []string{"a", "b", "c", "d", "e"}}
	tw := *all
	tw.Name = "twin"
	tw.Checkpoints = slices.Clone(all.Checkpoints)
	tw.Training = Provenance{Seed: 7, Epochs: 30, Cycles: 3, TrainCases: []string{"a", "b", "c"}, ValCases: []string{"d", "e"}}
	tw.Inference = Inference{
		Temperature: 1.42, TemperatureCalibration: "fitted on 2 cases",
		QCThreshold: 0.27, QCCalibration: "Youden on 2 cases",
		Postprocess: postprocess.Spec{LargestForeground: true, LargestClasses: []uint8{1, 3}, Decision: "chosen on 2 cases"},
	}
	return dir, all, &tw
}

func TestAdoptCalibrationCopiesTheTwinsDecisions(t *testing.T) {
	dir, all, twin := twins(t)
	if err := AdoptCalibration(all, twin); err != nil {
		t.Fatal(err)
	}
	in := all.Inference
	if in.Temperature != 1.42 || in.QCThreshold != 0.27 || !in.Postprocess.LargestForeground || !slices.Equal(in.Postprocess.LargestClasses, []uint8{1, 3}) {
		t.Fatalf("adopted %+v", in)
	}
	for _, s := range []string{in.TemperatureCalibration, in.QCCalibration, in.Postprocess.Decision} {
		if !strings.HasPrefix(s, `taken from twin "twin" (the same recipe on a split holding out 2 cases): `) {
			t.Errorf("record %q does not name the twin", s)
		}
	}
	// The copy is the model's own: changing the twin later changes nothing.
	twin.Inference.Postprocess.LargestClasses[0] = 2
	if all.Inference.Postprocess.LargestClasses[0] != 1 {
		t.Error("post-processing classes shared with the twin")
	}
	if err := WriteManifest(dir, all); err != nil {
		t.Fatal(err)
	}
	b, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !b.CalibratedOnTwin() || b.Training.CalibrationTwin != "twin" || !slices.Equal(b.Training.CalibrationCases, []string{"d", "e"}) || b.Inference.Temperature != 1.42 {
		t.Fatalf("after a round trip: %+v %+v", b.Training, b.Inference)
	}
}

func TestAdoptCalibrationRefusesWhatIsNotATwin(t *testing.T) {
	for _, tc := range []struct {
		name, want string
		edit       func(all, twin *Manifest)
	}{
		{"model has its own validation cases", "validation cases of its own", func(all, _ *Manifest) { all.Training.ValCases = []string{"e"} }},
		{"twin held nothing out", "no validation cases", func(_, tw *Manifest) { tw.Training.ValCases = nil }},
		{"twin not calibrated", "lacks a calibrated", func(_, tw *Manifest) { tw.Inference.QCCalibration = "" }},
		{"other network", "differ in network", func(_, tw *Manifest) { tw.Network.BaseFeatures = 8 }},
		{"other spacing", "differ in preprocessing", func(_, tw *Manifest) { tw.Preprocessing.SpacingMM[0] = 1.25 }},
		{"other seed", "not trained alike", func(_, tw *Manifest) { tw.Training.Seed = 8 }},
		{"other checkpoints", "different cycles and epochs", func(_, tw *Manifest) { tw.Checkpoints[2].Epoch++ }},
		{"other kind", "is single-modal", func(_, tw *Manifest) { tw.Kind = SingleModal }},
		{"model missed a twin case", "did not train on e", func(all, _ *Manifest) { all.Training.TrainCases = all.Training.TrainCases[:4] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, all, twin := twins(t)
			tc.edit(all, twin)
			before := all.Inference
			err := AdoptCalibration(all, twin)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one saying %q", err, tc.want)
			}
			if all.Inference.Temperature != before.Temperature || all.Training.CalibrationTwin != "" {
				t.Error("a refused adoption changed the model")
			}
		})
	}
}
