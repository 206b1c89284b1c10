// Command cmrseg segments cardiac cine MRI with a checkpoint ensemble and
// shows where the segmentation may be wrong. Without arguments it opens the
// review window on the embedded demo study; the subcommands are headless.
// Everything it does lives in package app/cli.
package main

import (
	"os"

	"cmrseg/app/cli"
	_ "cmrseg/ui/startenv" // before Fyne initialises
)

func main() {
	os.Exit(cli.Run(os.Args[1:], os.Stdout, os.Stderr))
}
