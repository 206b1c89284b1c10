package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The commands use the model the reader made active in the training tab
// when neither --model nor $CMRSEG_MODEL says otherwise.
func TestFindModelUsesActiveModel(t *testing.T) {
	cfg := t.TempDir()
	model := filepath.Join(t.TempDir(), "my-model")
	if err := os.MkdirAll(model, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(model, "model.toml"), []byte("name = \"x\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(cfg, "cmrseg"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg, "cmrseg", "active-model"), []byte(model+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_CONFIG_HOME", cfg)
	t.Setenv("CMRSEG_MODEL", "")
	if got, err := findModel(""); err != nil || got != model {
		t.Fatalf("findModel(\"\") = %q, %v; want the active model %s", got, err, model)
	}
	if got, _ := findModel("/other"); got != "/other" {
		t.Fatalf("--model must win, got %q", got)
	}
	var out strings.Builder
	if err := runDoctor(nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "model       "+model+" (active model: ") {
		t.Fatalf("doctor does not say which model is active and why:\n%s", out.String())
	}
	t.Setenv("CMRSEG_MODEL", "demo")
	if _, err := findModel(""); err == nil || !strings.Contains(err.Error(), "demo segmenter") {
		t.Fatalf("CMRSEG_MODEL=demo for a command that needs a bundle: %v", err)
	}
}
