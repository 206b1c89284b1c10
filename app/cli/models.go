package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"cmrseg/app/modelpath"
	"cmrseg/app/study"
	"cmrseg/app/trainingjob"
	"cmrseg/app/workspace"
	"cmrseg/inference/bundle"
	"cmrseg/inference/ensemble"
	"cmrseg/inference/torch"
	"cmrseg/training/trainer"
	"cmrseg/ui"
)

// resolveModel applies modelpath's order (--model, $CMRSEG_MODEL, the
// training tab's active model, the bundled model) for this user.
func resolveModel(flag string) (modelpath.Choice, error) {
	return modelpath.FromEnvironment(flag, trainingjob.DefaultDirs().ActiveModelFile()).Resolve()
}

// findModel returns the bundle folder a command that needs a model uses.
func findModel(flag string) (string, error) {
	c, err := resolveModel(flag)
	if err != nil {
		return "", err
	}
	if c.Demo {
		return "", fmt.Errorf("%s=%s selects the window's demo segmenter, not a model bundle; pass --model DIR", modelpath.EnvVar, modelpath.Demo)
	}
	return c.Dir, nil
}

// engineForGUI returns the demo study and the engine the window
// uses: the model modelpath resolves (flag is the gui's --model), or the
// demo segmenter, which only knows the embedded phantom, when there is
// none or it cannot be loaded. It also returns the training tab's
// configuration, which loads models through the same loader when the
// reader switches.
func engineForGUI(flag string, stderr io.Writer) (*study.Study, workspace.Engine, ui.TrainingEnv, error) {
	st, demo := workspace.Demo()
	loader := &modelLoader{}
	reg := &trainingjob.Registry{Dirs: trainingjob.DefaultDirs(), Bundled: modelpath.BundledModel()}
	env := ui.TrainingEnv{Dirs: reg.Dirs, Bundled: reg.Bundled, LoadModel: loader.load}
	choice, err := resolveModel(flag)
	if choice.Demo {
		return st, demo, env, nil
	}
	if err != nil {
		fmt.Fprintf(stderr, "cmrseg: no model installed (set %s to a bundle folder to use one); the window uses the demo segmenter, which segments only the demo study\n", modelpath.EnvVar)
		return st, demo, env, nil
	}
	p, err := loader.load(choice.Dir)
	if err != nil {
		fmt.Fprintf(stderr, "cmrseg: model %s cannot be used (%v); the window uses the demo segmenter\n", choice.Dir, err)
		return st, demo, env, nil
	}
	return st, p, env, nil
}

// bundleOf accepts a run folder or a bundle folder.
func bundleOf(path string) (*bundle.Bundle, error) {
	if _, err := os.Stat(filepath.Join(path, bundle.ManifestName)); err != nil {
		if _, err2 := os.Stat(filepath.Join(path, trainer.BundleDir, bundle.ManifestName)); err2 == nil {
			path = filepath.Join(path, trainer.BundleDir)
		}
	}
	return bundle.Load(path)
}

// modelLoader loads bundles as ensembles, each on its own torch worker,
// and closes the previous one's worker when the reader switches models, so
// only one model's checkpoints stay resident.
type modelLoader struct {
	mu    sync.Mutex
	prev  *ensemble.Predictor
	prevW *torch.Worker
}

func (l *modelLoader) load(dir string) (workspace.Engine, error) {
	w := torch.NewWorker(0)
	p, err := ensemble.Load(w, dir, ensemble.Options{Device: "auto"})
	if err != nil {
		w.Close()
		return nil, err
	}
	eng, err := newWindowEngine(p, dir)
	if err != nil {
		p.Close()
		w.Close()
		return nil, err
	}
	l.mu.Lock()
	old, oldW := l.prev, l.prevW
	l.prev, l.prevW = p, w
	l.mu.Unlock()
	if old != nil {
		// The workspace cancels its segmentation before it takes the new
		// engine; a cancelled job still finishing its current step keeps
		// the worker busy until then, which these wait for.
		go func() {
			old.Close()
			oldW.Close()
		}()
	}
	return eng, nil
}

// windowEngine is the ensemble as the review window drives it: anytime
// updates (workspace.Streamer) and a key for the result cache
// (workspace.Keyed). QCThreshold and Device come with the Predictor.
type windowEngine struct {
	*ensemble.Predictor
	key string
}

// newWindowEngine keys p's results on everything that shapes them: the
// manifest (which names every checkpoint by its sha256) and the inference
// code's version of the pipeline.
func newWindowEngine(p *ensemble.Predictor, dir string) (*windowEngine, error) {
	m, err := os.ReadFile(filepath.Join(dir, "model.toml"))
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	fmt.Fprintf(h, "cmrseg-window-engine-v%d\x00tta %v\x00", ensemble.EngineVersion, p.TTA())
	h.Write(m)
	return &windowEngine{Predictor: p, key: hex.EncodeToString(h.Sum(nil))}, nil
}

func (e *windowEngine) Key() string { return e.key }

// ModelName names the model and its version for reports
// (workspace.Named).
func (e *windowEngine) ModelName() string {
	b := e.Bundle()
	return fmt.Sprintf("%s (%s, created %s, %d checkpoints, key %.12s), cmrseg %s", b.Name, b.Kind, b.Created.Format("2006-01-02"), e.Checkpoints(), e.key, version())
}

func (e *windowEngine) Stream(ctx context.Context, s *study.Series, phases []int, leading int, update func(workspace.PhaseUpdate)) error {
	_, err := e.Predictor.Stream(ctx, s, phases, ensemble.Stream{Leading: leading, OnUpdate: func(u ensemble.Update) {
		update(workspace.PhaseUpdate{Phase: u.Phase, Samples: u.Samples, Total: u.Total, Result: u.Result})
	}})
	return err
}
