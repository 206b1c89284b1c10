module cmrseg

go 1.26

require (
	fyne.io/fyne/v2 v2.7.1
	github.com/BurntSushi/toml v1.6.0
	github.com/okieraised/gonii v0.9.0
	github.com/suyashkumar/dicom v1.0.7
)

require (
	github.com/klauspost/compress v1.15.15 // indirect
	github.com/klauspost/pgzip v1.2.5 // indirect
	github.com/wangkuiyi/gotorch v0.0.0-20201028015551-9afed2f3ad7b // indirect
	golang.org/x/text v0.22.0 // indirect
)
