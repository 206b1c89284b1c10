package trainingjob

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"cmrseg/app/atomicfile"
	"cmrseg/app/modelpath"
	"cmrseg/inference/bundle/manifest"
	"cmrseg/inference/bundle/provenance"
	"cmrseg/training/config"
)

// ManifestName is a model bundle's manifest.
const ManifestName = provenance.ManifestName

// Provenance is the [training] table of a bundle's model.toml.
type Provenance = provenance.Provenance

// readManifest reads and range-checks model.toml with the one reader that
// inference/bundle uses too (package manifest, torch-free).
func readManifest(dir string) (*manifest.Manifest, error) { return manifest.Read(dir) }

// verify checks every checkpoint's sha256 against the manifest, reading
// only regular files of bounded size.
func verify(dir string, m *manifest.Manifest) error { return m.Verify(dir) }

// Model is an installed (or the bundled) model bundle with its provenance.
type Model struct {
	Dir         string
	Name        string
	Kind        string
	Description string
	Created     time.Time
	Checkpoints int
	Provenance  Provenance
	Bundled     bool // the model that ships with cmrseg
	Active      bool // the review tab uses it
	Err         error
}

// Summary is one line of provenance for lists.
func (m Model) Summary() string {
	if m.Err != nil {
		return "unreadable: " + m.Err.Error()
	}
	p := m.Provenance
	s := fmt.Sprintf("%s, %d checkpoint(s), %d epochs", m.Kind, m.Checkpoints, p.Epochs)
	if len(p.TrainCases) > 0 {
		s += fmt.Sprintf(", %d training case(s)", len(p.TrainCases))
	}
	if p.CalibrationTwin != "" {
		s += fmt.Sprintf(", calibrated on the %d held-out case(s) of its twin %s", len(p.CalibrationCases), p.CalibrationTwin)
	}
	if !m.Created.IsZero() {
		s += ", " + m.Created.Local().Format("2006-01-02 15:04")
	}
	if p.Data != "" {
		s += ", data " + p.Data
	}
	return s
}

// Registry lists model bundles and remembers which one is active.
type Registry struct {
	Dirs Dirs
	// Bundled is the model that ships with the app ("" when none).
	Bundled string
}

// ReadModel reads a bundle's manifest (digests are checked when a bundle
// is installed or made active, not for every listing).
func ReadModel(dir string) Model {
	m := Model{Dir: dir, Name: filepath.Base(dir)}
	b, err := readManifest(dir)
	if err != nil {
		m.Err = err
		return m
	}
	m.Name, m.Kind, m.Description, m.Created = b.Name, b.Kind, b.Description, b.Created
	m.Checkpoints, m.Provenance = len(b.Checkpoints), b.Training
	return m
}

// List returns the bundled model (first, when there is one) and the
// installed ones, newest first.
func (r *Registry) List() []Model {
	active := r.Active()
	var out []Model
	if r.Bundled != "" {
		m := ReadModel(r.Bundled)
		m.Bundled = true
		out = append(out, m)
	}
	entries, _ := os.ReadDir(r.Dirs.Models())
	var inst []Model
	for _, e := range entries {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		inst = append(inst, ReadModel(filepath.Join(r.Dirs.Models(), e.Name())))
	}
	sort.Slice(inst, func(i, j int) bool { return inst[i].Created.After(inst[j].Created) })
	out = append(out, inst...)
	for i := range out {
		out[i].Active = sameDir(out[i].Dir, active)
	}
	return out
}

func sameDir(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	a, _ = filepath.Abs(a)
	b, _ = filepath.Abs(b)
	return filepath.Clean(a) == filepath.Clean(b)
}

// Active is the bundle the review tab should use: the saved choice when it
// still holds a model.toml, else the bundled model ("" when neither). It
// is modelpath's order without --model and $CMRSEG_MODEL, which only the
// process that starts the window sees.
func (r *Registry) Active() string {
	c, _ := modelpath.Resolver{ActiveFile: r.Dirs.ActiveModelFile(), Bundled: r.Bundled}.Resolve()
	return c.Dir
}

// SetActive makes dir the active model (persisted across restarts).
func (r *Registry) SetActive(dir string) error {
	m, err := readManifest(dir)
	if err != nil {
		return err
	}
	if err := verify(dir, m); err != nil {
		return err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(r.Dirs.Config, 0o755); err != nil {
		return fmt.Errorf("active model: %w", err)
	}
	return atomicfile.Write(r.Dirs.ActiveModelFile(), []byte(abs+"\n"))
}

// RestoreBundled forgets the saved choice, so the bundled model is active.
func (r *Registry) RestoreBundled() error {
	err := os.Remove(r.Dirs.ActiveModelFile())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("active model: %w", err)
	}
	return nil
}

// Install copies the bundle at src into the models folder under name (a
// unique suffix is added when taken) and returns the new folder. The copy
// is made in a hidden temporary folder, each file fsynced, and renamed into
// place, so a half-copied bundle is never listed.
func (r *Registry) Install(src, name string) (string, error) {
	b, err := readManifest(src)
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(r.Dirs.Models(), 0o755); err != nil {
		return "", fmt.Errorf("install model: %w", err)
	}
	name = sanitize(name)
	dst := filepath.Join(r.Dirs.Models(), name)
	for n := 2; ; n++ {
		if _, err := os.Stat(dst); errors.Is(err, os.ErrNotExist) {
			break
		}
		dst = filepath.Join(r.Dirs.Models(), fmt.Sprintf("%s-%d", name, n))
	}
	tmp, err := os.MkdirTemp(r.Dirs.Models(), ".install-")
	if err != nil {
		return "", fmt.Errorf("install model: %w", err)
	}
	files := []string{ManifestName}
	for _, c := range b.Checkpoints {
		files = append(files, c.File)
	}
	for _, f := range files {
		if err := copyFile(filepath.Join(src, f), filepath.Join(tmp, f)); err != nil {
			os.RemoveAll(tmp)
			return "", fmt.Errorf("install model %s: %w", src, err)
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("install model: %w", err)
	}
	if err := verify(dst, b); err != nil {
		os.RemoveAll(dst)
		return "", err
	}
	return dst, nil
}

func sanitize(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '-'
	}, s)
	s = strings.TrimLeft(s, ".")
	if s == "" {
		s = "model"
	}
	return s
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// FineTuneConfig adapts cfg to start from the bundle at dir: the network
// topology and the resampling spacing must be the bundle's.
func FineTuneConfig(cfg config.Config, dir string) (config.Config, error) {
	m, err := readManifest(dir)
	if err != nil {
		return cfg, err
	}
	if m.Network.Stages < 2 || m.Network.BaseFeatures < 1 {
		return cfg, fmt.Errorf("model bundle %s: no usable [network] table", dir)
	}
	cfg.Network.Stages, cfg.Network.BaseFeatures, cfg.Network.MaxFeatures = m.Network.Stages, m.Network.BaseFeatures, m.Network.MaxFeatures
	if sp := m.Preprocessing.SpacingMM[0]; sp > 0 {
		cfg.Data.TargetSpacingMM = sp
	}
	return cfg, nil
}
