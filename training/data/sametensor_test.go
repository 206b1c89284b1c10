package data

import (
	"os"
	"testing"

	"cmrseg/inference/ensemble"
	"cmrseg/inference/torch"
)

// TestTrainingAndInferenceSeeTheSameTensor: the training loader's slices of
// patient001's ED and ES frames are, value for value, what the deployed
// ensemble feeds its network for the same phases (inside the padding), with
// the bundled model's preprocessing. A skew between the two paths (another
// z-score, another resampling, another grid) fails here.
func TestTrainingAndInferenceSeeTheSameTensor(t *testing.T) {
	const model = "../../assets/model"
	if _, err := os.Stat(model + "/model.toml"); err != nil {
		t.Fatalf("bundled model: %v", err)
	}
	w := torch.NewWorker(2)
	defer w.Close()
	p, err := ensemble.Load(w, model, ensemble.Options{Device: "cpu"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	spacing := p.Bundle().Preprocessing.SpacingMM
	if spacing[0] != spacing[1] {
		t.Fatalf("bundle spacing %v: the trainer resamples isotropically in-plane", spacing)
	}
	set, cases := loadSubset(t, "patient001")
	smp, err := cases[0].Load()
	if err != nil {
		t.Fatal(err)
	}
	// loadSubset preprocesses at 1.5 mm; the bundle must agree or the
	// comparison means nothing.
	if spacing[0] != 1.5 {
		t.Fatalf("bundle spacing %v, loader 1.5 mm", spacing)
	}
	for _, v := range set.Volumes {
		prep, err := p.Prepare(smp.Series, v.Phase)
		if err != nil {
			t.Fatal(err)
		}
		if prep.Grid.Dims != v.Grid.Dims || prep.Grid.Spacing != v.Grid.Spacing || prep.Grid.Origin != v.Grid.Origin {
			t.Fatalf("frame %d: inference grid %v/%v, training grid %v/%v", v.Frame, prep.Grid.Dims, prep.Grid.Spacing, v.Grid.Dims, v.Grid.Spacing)
		}
		plane := v.Grid.Dims[0] * v.Grid.Dims[1]
		for k := 0; k < v.Slices(); k++ {
			got := prep.Unpad(k)
			want := v.Image[k*plane : (k+1)*plane]
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("frame %d slice %d pixel %d: inference sees %g, training %g", v.Frame, k, i, got[i], want[i])
				}
			}
		}
	}
}
