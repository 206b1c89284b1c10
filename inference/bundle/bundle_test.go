package bundle

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"cmrseg/inference/unet"
	"cmrseg/inference/weights"
)

// fakeWeights makes correctly named and shaped tensors without torch.
func fakeWeights(cfg unet.Config, v float32) []weights.Tensor {
	var ws []weights.Tensor
	for _, s := range cfg.Specs() {
		n := int64(1)
		for _, d := range s.Shape {
			n *= d
		}
		data := make([]float32, n)
		for i := range data {
			data[i] = v + float32(i%7)*0.125
		}
		ws = append(ws, weights.Tensor{Name: s.Name, Shape: s.Shape, Data: data})
	}
	return ws
}

func testBundle(t *testing.T) (string, *Manifest) {
	dir := t.TempDir()
	cfg := unet.Config{InChannels: 1, Classes: 4, Stages: 3, BaseFeatures: 4, MaxFeatures: 16, ConvsPerStage: 2}
	m := &Manifest{Name: "test", Kind: MultiModal, Network: cfg,
		Preprocessing: Preprocessing{SpacingMM: [2]float64{1.5, 1.5}, Normalization: "zscore", PatchSize: [2]int{64, 64}},
		Labels:        DefaultLabels()}
	for i := 0; i < 3; i++ {
		dt := weights.F32
		if i == 2 {
			dt = weights.F16
		}
		c, err := AddCheckpoint(dir, "ckpt"+string(rune('0'+i))+".safetensors", fakeWeights(cfg, float32(i)), dt, i, 10*i+9)
		if err != nil {
			t.Fatal(err)
		}
		m.Checkpoints = append(m.Checkpoints, c)
	}
	if err := WriteManifest(dir, m); err != nil {
		t.Fatal(err)
	}
	return dir, m
}

func TestRoundTripAndFloat16(t *testing.T) {
	dir, m := testBundle(t)
	b, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Checkpoints) != 3 || b.Checkpoints[1].Epoch != 19 || b.Network != m.Network {
		t.Fatalf("manifest changed on the way: %+v", b.Manifest)
	}
	want := fakeWeights(m.Network, 2)
	got, err := b.Weights(2)
	if err != nil {
		t.Fatal(err)
	}
	for i := range want {
		for k := range want[i].Data {
			// These values are exact in float16 (multiples of 1/8 below 8).
			if got[i].Data[k] != want[i].Data[k] {
				t.Fatalf("%s[%d] = %v, want %v", want[i].Name, k, got[i].Data[k], want[i].Data[k])
			}
		}
	}
	s32, _ := os.Stat(filepath.Join(dir, "ckpt0.safetensors"))
	s16, _ := os.Stat(filepath.Join(dir, "ckpt2.safetensors"))
	if r := float64(s16.Size()) / float64(s32.Size()); r > 0.6 { // header overhead on a tiny net
		t.Errorf("float16 file is %.2f of the float32 one", r)
	}
}

func TestCorruptCheckpointIsRefused(t *testing.T) {
	dir, _ := testBundle(t)
	p := filepath.Join(dir, "ckpt1.safetensors")
	b, _ := os.ReadFile(p)
	b[len(b)-3] ^= 0x40
	os.WriteFile(p, b, 0o644)
	_, err := Load(dir)
	if err == nil || !strings.Contains(err.Error(), "ckpt1.safetensors: corrupt or replaced") {
		t.Fatalf("corrupt checkpoint: %v", err)
	}
}

func TestManifestErrors(t *testing.T) {
	dir, _ := testBundle(t)
	mp := filepath.Join(dir, ManifestName)
	orig, _ := os.ReadFile(mp)
	for name, edit := range map[string]func(string) string{
		"unknown key":  func(s string) string { return s + "\nbogus = 1\n" },
		"format":       func(s string) string { return strings.Replace(s, Format, "cmrseg-bundle/9", 1) },
		"escape":       func(s string) string { return strings.Replace(s, `"ckpt0.safetensors"`, `"../ckpt0.safetensors"`, 1) },
		"missing file": func(s string) string { return strings.Replace(s, `"ckpt0.safetensors"`, `"gone.safetensors"`, 1) },
		"classes":      func(s string) string { return strings.Replace(s, "classes = 4", "classes = 3", 1) },
		"not toml":     func(s string) string { return "[[[" },
	} {
		os.WriteFile(mp, []byte(edit(string(orig))), 0o644)
		_, err := Load(dir)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if !strings.Contains(err.Error(), dir) {
			t.Errorf("%s: error does not name the bundle: %v", name, err)
		}
	}
	// A checkpoint of another architecture is refused when read.
	os.WriteFile(mp, orig, 0o644)
	b, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	b.Network.Stages = 4
	if _, err := b.Weights(0); err == nil {
		t.Error("checkpoint of another depth accepted")
	}
}
