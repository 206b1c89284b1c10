package config

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"cmrseg/app/shareddata"
)

func TestDefaultsArePaperValues(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	s := c.Schedule
	if s.Mode != "cyclical" || s.Epochs != 1200 || s.Cycles != 3 || s.LR0 != 0.01 || s.LRRestart != 0.1 || s.Gamma != 0.9 || s.Beta != 0.8 {
		t.Errorf("schedule defaults %+v", s)
	}
	if o := c.Optimizer; o.Momentum != 0.99 || !o.Nesterov || o.WeightDecay != 3e-5 {
		t.Errorf("optimizer defaults %+v", o)
	}
	if c.Loss.DiceWeight != 1 || c.Loss.CEWeight != 1 || c.Train.ItersPerEpoch != 250 || c.Train.ForegroundFraction != 0.33 {
		t.Errorf("loss/train defaults %+v %+v", c.Loss, c.Train)
	}
	if got := c.Network.Features(); !reflect.DeepEqual(got, []int{32, 64, 128, 256, 512, 512}) {
		t.Errorf("features %v", got)
	}
	// 5 decoder outputs: 1, 1/2, 1/4, 1/8 and 0 for the lowest, over 15/8.
	want := []float64{8.0 / 15, 4.0 / 15, 2.0 / 15, 1.0 / 15, 0}
	got := c.Network.DeepSupervisionWeights()
	if len(got) != len(want) {
		t.Fatalf("ds weights %v", got)
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-15 {
			t.Errorf("ds weight %d = %v, want %v", i, got[i], want[i])
		}
	}
	c.Network.DeepSupervision = false
	if w := c.Network.DeepSupervisionWeights(); !reflect.DeepEqual(w, []float64{1}) {
		t.Errorf("no deep supervision: %v", w)
	}
	ck, err := Default().CheckpointEpochs()
	if err != nil || !reflect.DeepEqual(ck, []int{395, 396, 397, 398, 399, 795, 796, 797, 798, 799, 1195, 1196, 1197, 1198, 1199}) {
		t.Errorf("checkpoints %v %v", ck, err)
	}
	if lr := Default().LRSchedule().LR(400); lr != 0.1 {
		t.Errorf("LR at restart %v", lr)
	}
}

func TestCPUPreset(t *testing.T) {
	c := CPUPreset()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := c.Network.Features(); !reflect.DeepEqual(got, []int{16, 32, 64, 128, 256}) {
		t.Errorf("features %v", got)
	}
	if c.Train.Patch != [2]int{160, 160} || c.Train.BatchSize != 16 || c.Run.Device != "cpu" || c.Run.Threads != 2 {
		t.Errorf("preset %+v %+v", c.Train, c.Run)
	}
	if it := c.Schedule.Epochs * c.Train.ItersPerEpoch; it != 1800 {
		t.Errorf("iterations %d, want 1800 (≈45 min at 1.5 s)", it)
	}
	ck, err := c.CheckpointEpochs()
	if err != nil || !reflect.DeepEqual(ck, []int{10, 11, 22, 23, 34, 35}) {
		t.Fatalf("checkpoints %v %v", ck, err)
	}
	// Tc 12, β·Tc 9.6: kept epochs sit on the floor 0.01·0.2^0.9.
	sch := c.LRSchedule()
	for _, e := range ck {
		if lr := sch.LR(e); math.Abs(lr-0.0023492378861760376) > 1e-15 {
			t.Errorf("LR(%d) = %v, not on the floor", e, lr)
		}
	}
	if sch.LR(12) != 0.1 {
		t.Errorf("no restart at epoch 12")
	}
}

func TestRoundTripAndPythonReadsIt(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "train.toml")
	c := CPUPreset()
	c.Split.ValIDs = []string{"patient001", "patient042"}
	c.Data.Paths = []string{"/a", "/b c"}
	c.Run.Seed = 1 << 40
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Errorf("round trip changed the config:\n got %+v\nwant %+v", got, c)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("Save left %d entries in the folder, want only the file", len(ents))
	}
	// Save over an existing file replaces it.
	c.Schedule.Mode = Poly
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	if got, _ := Load(path); got.Schedule.Mode != Poly {
		t.Errorf("overwrite lost: mode %q", got.Schedule.Mode)
	}

	// Independent reader: Python's tomllib sees the same values.
	py := shareddata.Python(t, "tomllib")
	out, err := exec.Command(py, "-c", `import sys, tomllib, json
d = tomllib.load(open(sys.argv[1], "rb"))
print(json.dumps([d["schedule"]["mode"], d["schedule"]["cycles"], d["schedule"]["gamma"],
  d["train"]["patch"], d["network"]["base_features"], d["augment"]["rotation"]["p"],
  d["augment"]["scaling"]["max"], d["split"]["val_ids"], d["data"]["paths"], d["run"]["seed"],
  d["optimizer"]["weight_decay"], d["network"]["deep_supervision"]]))`, path).CombinedOutput()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, out)
	}
	var v []any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	want := []any{"poly", 3.0, 0.9, []any{160.0, 160.0}, 16.0, 0.2, 1.4, []any{"patient001", "patient042"}, []any{"/a", "/b c"}, float64(1 << 40), 3e-5, true}
	if !reflect.DeepEqual(v, want) {
		t.Errorf("tomllib read %v\nwant %v", v, want)
	}
}

func TestPartialFileOverridesDefaults(t *testing.T) {
	c, err := Parse("p.toml", []byte(`
[schedule]
cycles = 4
[data]
paths = ["/only/this"]
[augment.rotation]
p = 0
`))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Schedule.Cycles = 4
	want.Data.Paths = []string{"/only/this"}
	want.Augment.Rotation.P = 0
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v\nwant %+v", c, want)
	}
	empty, err := Parse("e.toml", nil)
	if err != nil || !reflect.DeepEqual(empty, Default()) {
		t.Errorf("empty file: %v", err)
	}
}

func TestErrorsNameTheField(t *testing.T) {
	for _, k := range []struct{ toml, want string }{
		{"[schedule]\ncycles = 7", "x.toml: schedule.cycles: 1200 epochs are not divisible by 7 cycles"},
		{"[network]\nbase_featurs = 8\n[foo]\nbar = 1", "x.toml: unknown keys: network.base_featurs, foo, foo.bar"},
		{"[schedule]\nmode = \"adam\"", `schedule.mode: "adam" is not "cyclical" or "poly"`},
		{"[run]\ndevice = \"tpu\"", `run.device: "tpu" is not auto, cpu or cuda`},
		{"[train]\npatch = [100, 224]", "train.patch: height 100 is not divisible by 32, the downsampling of 6 stages"},
		{"[train]\nbatch_size = 0", "train.batch_size: must be positive"},
		{"[train]\nforeground_fraction = 1.5", "train.foreground_fraction"},
		{"[network]\nmax_features = 16", "network.max_features: 16 is below base_features 32"},
		{"[network]\nstages = \"six\"", "network.stages"},
		{"[schedule]\nbeta = 0", "schedule.beta: must lie in (0, 1]"},
		{"[schedule]\nkeep_per_cycle = 401", "schedule.keep_per_cycle: 401 checkpoints 1 epochs apart do not fit in a 400-epoch cycle"},
		{"[schedule]\nmode = \"poly\"\npoly_exponent = -1", "schedule.poly_exponent"},
		{"[optimizer]\nmomentum = 1", "optimizer.momentum"},
		{"[loss]\ndice_weight = 0\nce_weight = 0", "loss: dice_weight and ce_weight are both 0"},
		{"[augment.gamma]\nmin = 2\nmax = 1", "augment.gamma: min 2 is above max 1"},
		{"[augment]\nmirror_p = 2", "augment.mirror_p"},
		{"[split]\nval_fraction = 1", "split.val_fraction: must lie in [0, 1)"},
		{"[split]\nval_ids = [\"a\", \"a\"]", `split.val_ids: lists "a" twice`},
		{"[data]\npaths = []", "data.paths: no data set folder given"},
		{"[data]\ntarget_spacing_mm = 0", "data.target_spacing_mm"},
		{"[run]\nthreads = -2", "run.threads"},
		{"[run]\nseed = -1", "run.seed: must not be negative"},
		{"[split]\nseed = -1", "split.seed: must not be negative"},
		{"[train]\npatch = [160, 160, 3]", "expected array length 2"},
		{"[schedule\ncycles = 3", "x.toml"},
	} {
		_, err := Parse("x.toml", []byte(k.toml))
		if err == nil || !strings.Contains(err.Error(), k.want) {
			t.Errorf("%q:\n error %v\n want %q", k.toml, err, k.want)
		}
	}
	// Poly mode ignores cycles, so 7 cycles is fine there.
	if _, err := Parse("x.toml", []byte("[schedule]\nmode = \"poly\"\ncycles = 7")); err != nil {
		t.Errorf("poly with 7 cycles: %v", err)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "missing.toml")); err == nil || !strings.Contains(err.Error(), "missing.toml") {
		t.Errorf("missing file: %v", err)
	}
	bad := Default()
	bad.Schedule.Cycles = 7
	p := filepath.Join(t.TempDir(), "c.toml")
	if err := bad.Save(p); err == nil {
		t.Error("Save accepted an invalid config")
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Error("invalid Save created the file")
	}
	if err := Default().Save(filepath.Join(t.TempDir(), "no", "dir.toml")); err == nil {
		t.Error("Save into a missing folder succeeded")
	}
}

// Every training configuration the README tells people to run loads and
// validates: a reproduction recipe that no longer parses is a broken
// promise, found here rather than an hour into someone's run.
func TestShippedConfigsLoad(t *testing.T) {
	paths, err := filepath.Glob("../../assets/train-*.toml")
	if err != nil {
		t.Fatal(err)
	}
	more, _ := filepath.Glob("../../assets/table1/*.toml")
	paths = append(paths, more...)
	if len(paths) < 8 {
		t.Fatalf("found only %d shipped configurations: %v", len(paths), paths)
	}
	for _, p := range paths {
		c, err := Load(p)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", p, err)
		}
		if strings.HasSuffix(p, "-elastic.toml") && c.Augment.Elastic.P == 0 {
			t.Errorf("%s: elastic deformation is off", p)
		}
	}
}
