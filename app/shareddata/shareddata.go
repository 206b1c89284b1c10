// Package shareddata finds the real data sets (../shared/data beside the
// repository) for tests and benchmarks, failing rather than skipping in CI.
package shareddata

import (
	"os"
	"path/filepath"
	"testing"
)

// Root returns the shared data folder: $CMRSEG_SHARED_DATA, else
// ../shared/data relative to the module root. It returns "" when absent.
func Root() string {
	if d := os.Getenv("CMRSEG_SHARED_DATA"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			d := filepath.Join(dir, "..", "shared", "data")
			if st, err := os.Stat(d); err == nil && st.IsDir() {
				return d
			}
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// Require returns the path of rel inside the shared data folder. When it is
// missing the test fails under CI=true (the data is always present there)
// and is skipped elsewhere.
func Require(tb testing.TB, rel string) string {
	tb.Helper()
	root := Root()
	p := filepath.Join(root, rel)
	if root != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("shared data %s is missing (CI=true requires ../shared/data)", rel)
	}
	tb.Skipf("shared data %s not found; set CMRSEG_SHARED_DATA", rel)
	return ""
}

// Python returns /usr/bin/python3 when it can import all modules, so a
// test can use numpy, nibabel, pydicom or torch as an independent oracle.
// Under CI=true a missing oracle fails the test; elsewhere it skips.
func Python(tb testing.TB, modules ...string) string {
	tb.Helper()
	const py = "/usr/bin/python3"
	args := []string{"-c", "import sys"}
	for _, m := range modules {
		args[1] += "; import " + m
	}
	if err := runQuiet(py, args...); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("oracle %s with %v unavailable: %v", py, modules, err)
		}
		tb.Skipf("oracle %s with %v unavailable: %v", py, modules, err)
	}
	return py
}
