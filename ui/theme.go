package ui

import (
	"image/color"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/theme"
)

// readingRoom is a dark theme for dimmed reading rooms: the default theme
// in its dark variant with a calm teal accent and compact padding.
type readingRoom struct{ fyne.Theme }

// Theme is the application's theme (dark, whatever the desktop's setting).
func Theme() fyne.Theme { return readingRoom{theme.DefaultTheme()} }

func (r readingRoom) Color(n fyne.ThemeColorName, _ fyne.ThemeVariant) color.Color {
	switch n {
	case theme.ColorNamePrimary:
		return color.NRGBA{0x2b, 0xb3, 0xc0, 0xff}
	case theme.ColorNameBackground:
		return color.NRGBA{0x16, 0x18, 0x1b, 0xff}
	case theme.ColorNameInputBackground, theme.ColorNameMenuBackground, theme.ColorNameOverlayBackground:
		return color.NRGBA{0x22, 0x25, 0x29, 0xff}
	case theme.ColorNameHeaderBackground:
		return color.NRGBA{0x1d, 0x20, 0x24, 0xff}
	}
	return r.Theme.Color(n, theme.VariantDark)
}

func (r readingRoom) Size(n fyne.ThemeSizeName) float32 {
	switch n {
	case theme.SizeNamePadding:
		return 3
	case theme.SizeNameInnerPadding:
		return 6
	case theme.SizeNameText:
		return 13
	}
	return r.Theme.Size(n)
}

// Panel colours.
var (
	colPanel  = color.NRGBA{0x1d, 0x20, 0x24, 0xff}
	colMuted  = color.NRGBA{0x9a, 0xa3, 0xad, 0xff}
	colText   = color.NRGBA{0xe6, 0xe9, 0xec, 0xff}
	colAmber  = color.NRGBA{0xf0, 0xb4, 0x29, 0xff}
	colGood   = color.NRGBA{0x4c, 0xc9, 0x6e, 0xff}
	colBad    = color.NRGBA{0xf0, 0x5a, 0x4a, 0xff}
	colAccent = color.NRGBA{0x2b, 0xb3, 0xc0, 0xff}
)
