package modelpath

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func bundleDir(t *testing.T, name string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "model.toml"), []byte("name = \""+name+"\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func activeFile(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "active-model")
	if err := os.WriteFile(p, []byte(dir+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestResolveOrder(t *testing.T) {
	flag, env, active, bundled := bundleDir(t, "flag"), bundleDir(t, "env"), bundleDir(t, "active"), bundleDir(t, "bundled")
	af := activeFile(t, active)
	cases := []struct {
		name string
		r    Resolver
		dir  string
		src  Source
	}{
		{"flag wins", Resolver{Flag: flag, Env: env, ActiveFile: af, Bundled: bundled}, flag, Flag},
		{"env before active", Resolver{Env: env, ActiveFile: af, Bundled: bundled}, env, Env},
		{"active before bundled", Resolver{ActiveFile: af, Bundled: bundled}, active, Active},
		{"bundled last", Resolver{ActiveFile: filepath.Join(t.TempDir(), "missing"), Bundled: bundled}, bundled, Bundled},
	}
	for _, c := range cases {
		got, err := c.r.Resolve()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got.Dir != c.dir || got.Source != c.src || got.Demo || got.Why == "" {
			t.Errorf("%s: got %+v, want %s from %s", c.name, got, c.dir, c.src)
		}
	}
}

func TestResolveDemo(t *testing.T) {
	got, err := Resolver{Env: Demo, Bundled: bundleDir(t, "b")}.Resolve()
	if err != nil || !got.Demo || got.Dir != "" || got.Source != Env {
		t.Fatalf("CMRSEG_MODEL=demo: got %+v, %v", got, err)
	}
	// --model still wins over the demo request.
	flag := bundleDir(t, "flag")
	if got, _ := (Resolver{Flag: flag, Env: Demo}).Resolve(); got.Demo || got.Dir != flag {
		t.Fatalf("--model with CMRSEG_MODEL=demo: got %+v", got)
	}
}

// A saved choice whose folder lost its model.toml falls back to the bundled
// model and says so; with no bundled model the error says what was tried.
func TestResolveStaleActive(t *testing.T) {
	gone := filepath.Join(t.TempDir(), "deleted-model")
	af := activeFile(t, gone)
	bundled := bundleDir(t, "bundled")
	got, err := Resolver{ActiveFile: af, Bundled: bundled}.Resolve()
	if err != nil || got.Dir != bundled || got.Source != Bundled || !strings.Contains(got.Why, gone) {
		t.Fatalf("stale active: got %+v, %v", got, err)
	}
	got, err = Resolver{ActiveFile: af, BundledSearched: []string{"/x/model", "/y/model"}}.Resolve()
	if !errors.Is(err, ErrNoModel) || got.Source != None {
		t.Fatalf("nothing found: got %+v, %v", got, err)
	}
	for _, want := range []string{"/x/model, /y/model", gone, "--model", EnvVar} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestFromEnvironment(t *testing.T) {
	env := bundleDir(t, "env")
	t.Setenv(EnvVar, env)
	got, err := FromEnvironment("", "").Resolve()
	if err != nil || got.Dir != env || got.Source != Env {
		t.Fatalf("got %+v, %v", got, err)
	}
	if len(FromEnvironment("", "").BundledSearched) == 0 {
		t.Error("no bundled-model folders searched")
	}
}
