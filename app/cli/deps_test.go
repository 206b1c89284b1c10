package cli

// The dependency rules of cmrseg, in the spirit of Go's own go/build
// deps_test.go: every package of the module is listed once, with the
// packages of the module it may import. A new import arrow that the list
// does not allow fails TestDependencyRules, so a layering change is a
// deliberate edit of this file, seen in review.
//
// The test reads the source with go/build (no go command, no network), so
// it runs offline and on machines without libtorch.

import (
	"errors"
	"fmt"
	"go/build"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// depsRules is the allowed import graph, lowest layer first. "a, b < c"
// means c may import a, b and everything a and b may import. NONE stands
// for "nothing of this module". GOTORCH (github.com/wangkuiyi/gotorch) and
// FYNE (fyne.io/...) are the two third-party libraries whose reach matters.
const depsRules = `
	# Third-party libraries we watch.
	NONE < GOTORCH, FYNE;

	# Leaves: plain data and helpers without imports of this module.
	NONE
	< app/study, app/atomicfile, app/membudget, app/shareddata, ui/startenv,
	  inference/bundle/provenance, inference/postprocess,
	  training/augment, training/schedule, training/split;

	# Torch-free data: file formats, geometry, volumes, uncertainty maps.
	app/study, app/membudget < app/geom;
	app/study < app/contour, app/phantom, app/aha, inference/uncertainty, training/metrics;
	app/geom < app/dicomio;
	app/geom, app/atomicfile < app/nifti, app/dicomseg;
	app/membudget, inference/bundle/provenance, inference/postprocess
	< inference/bundle/manifest;
	inference/bundle/provenance < app/modelpath;
	app/atomicfile < inference/weights;
	app/nifti < app/dataset;
	app/geom < inference/preprocess;
	app/atomicfile, inference/uncertainty < app/resultcache;
	app/atomicfile, app/dicomio < app/exam;
	app/dataset, app/exam < app/studyio;
	app/atomicfile, app/study < app/anonymise;
	app/anonymise, app/atomicfile < app/dicomnode;

	# Training configuration and data: torch-free, so the training tab may
	# edit a config and read a split file.
	app/atomicfile, training/augment, training/schedule, training/split
	< training/config;
	app/dataset, app/geom, inference/preprocess, training/augment, training/split
	< training/data;

	# Headless application core: sessions, corrections, reports, workspace,
	# training jobs. Never torch.
	app/atomicfile, inference/uncertainty < app/session;
	app/aha, app/session < app/report;
	app/report < app/reportpdf;
	app/report, app/studyio < app/cohort;
	app/anonymise, app/dicomseg, app/phantom, app/report, app/reportpdf, app/resultcache, app/studyio
	< app/workspace;
	app/modelpath, app/session, inference/bundle/manifest, training/config, training/data
	< app/trainingjob;

	# Torch and the models.
	GOTORCH < inference/torch;
	inference/torch, inference/weights < inference/unet;
	inference/bundle/manifest, inference/unet
	< inference/bundle;
	app/geom, app/membudget, inference/bundle, inference/preprocess, inference/uncertainty
	< inference/ensemble;

	# Training with torch.
	inference/bundle, training/config, training/data, training/metrics
	< training/trainer;
	inference/ensemble, training/trainer < training/baseline;
	app/contour, training/baseline < training/evaluation;

	# Developer tools that draw the README's figures, torch-free.
	app/atomicfile, inference/bundle/manifest, training/metrics < scripts/learningcurve;

	# The window: Fyne and the headless core, never torch.
	FYNE, app/cohort, app/dicomnode, app/trainingjob, app/workspace < ui;
	ui < ui/desktop;
	ui/desktop < ui/desktop/cmd/preview;

	# The command wiring sees every layer; only the program imports it.
	app/cohort, app/contour, app/phantom, app/reportpdf, inference/ensemble, training/baseline,
	training/evaluation, app/modelpath,
	ui/desktop, ui/startenv
	< app/cli;
	app/cli < cmrseg;
`

// torchFreeInference and torchFreeTraining are the only packages of those
// trees that the application core (app/... but app/cli) may import.
var (
	torchFreeInference = []string{"inference/uncertainty", "inference/postprocess", "inference/bundle/provenance", "inference/bundle/manifest", "inference/preprocess"}
	torchFreeTraining  = []string{"training/config", "training/data"}
)

const (
	gotorchPath = "github.com/wangkuiyi/gotorch"
	gotorchNode = "GOTORCH"
	fyneNode    = "FYNE"
)

// importGraph maps a package (relative to the module, "cmrseg" for the
// root) to its non-test imports of the module and of the watched libraries.
type importGraph struct {
	imports map[string][]string
	isMain  map[string]bool
}

func TestDependencyRules(t *testing.T) {
	g, err := loadImportGraph()
	if err != nil {
		t.Fatal(err)
	}
	if len(g.imports) < 30 {
		t.Fatalf("found only %d packages: the module walk is broken", len(g.imports))
	}
	allowed, err := parseDepsRules(depsRules)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range checkDeps(g, allowed) {
		t.Error(p)
	}
}

// TestDependencyRulesCatchNewArrows proves the checker fails on forbidden
// arrows: each case adds one to the real graph.
func TestDependencyRulesCatchNewArrows(t *testing.T) {
	allowed, err := parseDepsRules(depsRules)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ from, to, want string }{
		{"app/report", "inference/torch", "app core"},
		{"app/session", "training/trainer", "app core"},
		{"ui", "inference/ensemble", "ui"},
		{"app/trainingjob", "inference/bundle", "app core"},
		{"app/study", "GOTORCH", "links torch"},
		{"inference/uncertainty", "training/metrics", "inference"},
		{"app/workspace", "app/cli", "app/cli"},
		{"ui/desktop", "ui/desktop/cmd/preview", "package main"},
		{"app/geom", "app/nifti", "not allowed"},
	}
	for _, c := range cases {
		g, err := loadImportGraph()
		if err != nil {
			t.Fatal(err)
		}
		g.imports[c.from] = append(g.imports[c.from], c.to)
		problems := checkDeps(g, allowed)
		found := false
		for _, p := range problems {
			if strings.Contains(p, c.from) && strings.Contains(p, c.want) {
				found = true
			}
		}
		if !found {
			t.Errorf("added %s -> %s: want a problem mentioning %q, got %q", c.from, c.to, c.want, problems)
		}
	}
	if _, err := parseDepsRules("NONE < a; a < a"); err == nil {
		t.Error("a package listed twice must be an error")
	}
	if _, err := parseDepsRules("b < a"); err == nil {
		t.Error("an undefined package on the left must be an error")
	}
}

// checkDeps returns one line per broken rule.
func checkDeps(g importGraph, allowed map[string]map[string]bool) []string {
	var problems []string
	pkgs := sortedKeys(g.imports)
	for _, p := range pkgs {
		if _, ok := allowed[p]; !ok {
			problems = append(problems, fmt.Sprintf("package %s is not in depsRules: place it in its layer", p))
		}
	}
	for p := range allowed {
		if _, ok := g.imports[p]; !ok && p != gotorchNode && p != fyneNode {
			problems = append(problems, fmt.Sprintf("depsRules lists %s, which no longer exists", p))
		}
	}
	for _, p := range pkgs {
		for _, imp := range g.imports[p] {
			if a, ok := allowed[p]; ok && !a[imp] {
				problems = append(problems, fmt.Sprintf("%s imports %s: not allowed by depsRules", p, imp))
			}
		}
	}

	// The layering's promises, checked on the graph itself so that a
	// careless edit of depsRules cannot break them unnoticed.
	closure := func(p string) map[string]bool {
		seen := map[string]bool{}
		var walk func(string)
		walk = func(q string) {
			for _, imp := range g.imports[q] {
				if !seen[imp] {
					seen[imp] = true
					walk(imp)
				}
			}
		}
		walk(p)
		return seen
	}
	for _, p := range pkgs {
		cl := closure(p)
		switch {
		case p == "app/cli" || p == "cmrseg":
		case strings.HasPrefix(p, "app/"):
			if cl[gotorchNode] {
				problems = append(problems, fmt.Sprintf("app core package %s links torch (through %s)", p, torchPath(g, p)))
			}
			for _, imp := range g.imports[p] {
				if strings.HasPrefix(imp, "inference/") && !slices.Contains(torchFreeInference, imp) ||
					strings.HasPrefix(imp, "training/") && !slices.Contains(torchFreeTraining, imp) {
					problems = append(problems, fmt.Sprintf("app core package %s imports %s: only %v and %v are allowed",
						p, imp, torchFreeInference, torchFreeTraining))
				}
			}
		case p == "ui" || strings.HasPrefix(p, "ui/"):
			if cl[gotorchNode] || cl["inference/torch"] {
				problems = append(problems, fmt.Sprintf("ui package %s links torch (through %s)", p, torchPath(g, p)))
			}
			for _, imp := range g.imports[p] {
				if strings.HasPrefix(imp, "inference/") {
					problems = append(problems, fmt.Sprintf("ui package %s imports %s: ui goes through app/", p, imp))
				}
			}
		case strings.HasPrefix(p, "inference/"):
			for q := range cl {
				if strings.HasPrefix(q, "training/") {
					problems = append(problems, fmt.Sprintf("inference package %s depends on %s", p, q))
				}
			}
		}
		for _, imp := range g.imports[p] {
			if g.isMain[imp] {
				problems = append(problems, fmt.Sprintf("%s imports %s, a package main", p, imp))
			}
			if imp == "app/cli" && p != "cmrseg" {
				problems = append(problems, fmt.Sprintf("%s imports app/cli: only the program may", p))
			}
		}
	}
	return problems
}

// torchPath names one import chain from p to gotorch, for the message.
func torchPath(g importGraph, p string) string {
	var path []string
	seen := map[string]bool{}
	var walk func(string) bool
	walk = func(q string) bool {
		if q == gotorchNode {
			return true
		}
		if seen[q] {
			return false
		}
		seen[q] = true
		for _, imp := range g.imports[q] {
			if walk(imp) {
				path = append([]string{imp}, path...)
				return true
			}
		}
		return false
	}
	if !walk(p) {
		return "inference/torch"
	}
	return strings.Join(path, " -> ")
}

// parseDepsRules turns depsRules into the set of allowed imports of every
// package. Each package stands once on the right of a "<"; everything to
// its left, with what those may import, it may import too.
func parseDepsRules(rules string) (map[string]map[string]bool, error) {
	allowed := map[string]map[string]bool{}
	var lines []string
	for _, l := range strings.Split(rules, "\n") {
		if i := strings.Index(l, "#"); i >= 0 {
			l = l[:i]
		}
		lines = append(lines, l)
	}
	for _, rule := range strings.Split(strings.Join(lines, " "), ";") {
		if strings.TrimSpace(rule) == "" {
			continue
		}
		var left []string
		for i, group := range strings.Split(rule, "<") {
			var names []string
			for _, n := range strings.Split(group, ",") {
				if n = strings.TrimSpace(n); n != "" {
					names = append(names, n)
				}
			}
			if len(names) == 0 {
				return nil, fmt.Errorf("depsRules: empty group in %q", strings.TrimSpace(rule))
			}
			if i > 0 {
				for _, n := range names {
					if _, ok := allowed[n]; ok {
						return nil, fmt.Errorf("depsRules: %s is listed twice", n)
					}
					set := map[string]bool{}
					for _, l := range left {
						if l == "NONE" {
							continue
						}
						set[l] = true
						for q := range allowed[l] {
							set[q] = true
						}
					}
					allowed[n] = set
				}
			}
			for _, n := range names {
				if _, ok := allowed[n]; !ok && n != "NONE" {
					return nil, fmt.Errorf("depsRules: %s is used before it is defined", n)
				}
			}
			left = append(left, names...)
		}
	}
	return allowed, nil
}

// loadImportGraph reads every package of the module below its root.
func loadImportGraph() (importGraph, error) {
	root, module, err := moduleRoot()
	if err != nil {
		return importGraph{}, err
	}
	ctxt := build.Default
	ctxt.CgoEnabled = true // inference/torch imports "C"; see its imports either way
	g := importGraph{imports: map[string][]string{}, isMain: map[string]bool{}}
	err = filepath.WalkDir(root, func(dir string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if dir != root && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
			return filepath.SkipDir
		}
		if dir != root {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				return filepath.SkipDir // another module
			}
		}
		pkg, err := ctxt.ImportDir(dir, 0)
		var noGo *build.NoGoError
		if errors.As(err, &noGo) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading package in %s: %w", dir, err)
		}
		rel, _ := filepath.Rel(root, dir)
		key := module
		if rel != "." {
			key = filepath.ToSlash(rel)
		}
		var imps []string
		for _, imp := range pkg.Imports {
			switch {
			case imp == module:
				imps = append(imps, module)
			case strings.HasPrefix(imp, module+"/"):
				imps = append(imps, strings.TrimPrefix(imp, module+"/"))
			case imp == gotorchPath || strings.HasPrefix(imp, gotorchPath+"/"):
				imps = append(imps, gotorchNode)
			case strings.HasPrefix(imp, "fyne.io/"):
				imps = append(imps, fyneNode)
			}
		}
		slices.Sort(imps)
		g.imports[key] = slices.Compact(imps)
		g.isMain[key] = pkg.Name == "main"
		return nil
	})
	return g, err
}

// moduleRoot finds go.mod above the test's folder and reads the module path.
func moduleRoot() (dir, module string, err error) {
	dir, err = os.Getwd()
	if err != nil {
		return "", "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				if f := strings.Fields(l); len(f) == 2 && f[0] == "module" {
					return dir, f[1], nil
				}
			}
			return "", "", fmt.Errorf("%s: no module line", filepath.Join(dir, "go.mod"))
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", "", errors.New("no go.mod above the test's folder")
		}
		dir = parent
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
