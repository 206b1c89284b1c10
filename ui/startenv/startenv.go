// Package startenv adjusts the process environment before Fyne's packages
// initialise: Fyne's lang package parses the user's locale in its init and
// logs "Error parsing user locale C" on every run under the C/POSIX locale
// (containers, CI, ssh sessions), which reads like a failure in CLI output.
//
// main imports it for its side effect; Go initialises packages in import-path
// order once their dependencies are ready, and "cmrseg/..." sorts before
// "fyne.io/...", so this init runs first.
package startenv

import (
	"os"
	"strings"
)

func init() {
	// The variables Fyne's locale lookup reads, in its order.
	for _, k := range []string{"LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"} {
		v := os.Getenv(k)
		if v == "" {
			continue
		}
		if isPOSIX(v) {
			// Only message language: LANGUAGE does not change number or
			// date formats.
			os.Setenv("LANGUAGE", "en")
		}
		return
	}
	os.Setenv("LANGUAGE", "en")
}

func isPOSIX(v string) bool {
	v = strings.SplitN(v, ":", 2)[0]
	return v == "C" || v == "POSIX" || strings.HasPrefix(v, "C.")
}
