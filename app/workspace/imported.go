package workspace

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"cmrseg/app/atomicfile"
	"cmrseg/app/resultcache"
	"cmrseg/app/session"
	"cmrseg/app/study"
)

// ImportResults copies saved results of series s (a result-cache tree, as
// `cmrseg batch` writes under each study's review folder) into the
// window's cache for s, so segmenting s takes them instead of running the
// network. Only results saved for the window's current engine key (the
// same model and options) are taken; it returns how many phases it copied,
// and an error naming the folder when there are none for this engine.
func (w *Workspace) ImportResults(s *study.Series, from string) (int, error) {
	k, ok := w.cfg.Engine.(Keyed)
	if !ok || k.Key() == "" || w.cfg.SessionRoot == "" {
		return 0, errors.New("the window keeps no saved results (no model or no session folder)")
	}
	dst := resultcache.New(session.StudyDir(w.cfg.SessionRoot, s), k.Key()).Dir()
	src := filepath.Join(from, filepath.Base(dst))
	es, err := os.ReadDir(src)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("%s: no saved segmentation for the window's model (the cohort was segmented with another model or options)", from)
		}
		return 0, err
	}
	n := 0
	for _, e := range es {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".result.gz") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return n, err
		}
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return n, err
		}
		if err := atomicfile.Write(filepath.Join(dst, e.Name()), b); err != nil {
			return n, err
		}
		n++
	}
	if n == 0 {
		return 0, fmt.Errorf("%s: no saved phases", src)
	}
	return n, nil
}
