package main

import (
	_ "fyne.io/fyne/v2"
	_ "github.com/BurntSushi/toml"
	_ "github.com/okieraised/gonii"
	_ "github.com/suyashkumar/dicom"
)

func main() {}
