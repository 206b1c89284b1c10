package workspace

import (
	"image"
	"image/color"
	"image/draw"
	"strings"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Annotate writes the view's corner texts (top left, top right, bottom
// left, bottom right; lines split at '\n') and orientation letters (top,
// bottom, left, right) onto img, as the window draws them, so an exported
// snapshot says whose image, which phase and slice, and which way is
// anterior. The font is a fixed 7×13 bitmap (ASCII; other characters are
// spelt out).
func Annotate(img *image.RGBA, corners, orient [4]string) {
	face := basicfont.Face7x13
	const lineH, pad = 14, 4
	b := img.Bounds()
	write := func(x, y int, s string) {
		s = asciiOnly(s)
		w := font.MeasureString(face, s).Ceil()
		// A dark box under the text keeps it legible on bright tissue.
		draw.Draw(img, image.Rect(x-2, y-11, x+w+2, y+4), image.NewUniform(color.RGBA{0, 0, 0, 160}), image.Point{}, draw.Over)
		d := &font.Drawer{Dst: img, Src: image.NewUniform(color.RGBA{255, 204, 64, 255}), Face: face, Dot: fixed.P(x, y)}
		d.DrawString(s)
	}
	width := func(s string) int { return font.MeasureString(face, asciiOnly(s)).Ceil() }
	for n, text := range corners {
		lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
		if text == "" {
			continue
		}
		for i, l := range lines {
			x := b.Min.X + pad
			if n == 1 || n == 3 {
				x = b.Max.X - pad - width(l)
			}
			y := b.Min.Y + pad + 11 + i*lineH
			if n >= 2 {
				y = b.Max.Y - pad - 3 - (len(lines)-1-i)*lineH
			}
			write(x, y, l)
		}
	}
	cx, cy := (b.Min.X+b.Max.X)/2, (b.Min.Y+b.Max.Y)/2
	if orient[0] != "" {
		write(cx-width(orient[0])/2, b.Min.Y+pad+11, orient[0])
	}
	if orient[1] != "" {
		write(cx-width(orient[1])/2, b.Max.Y-pad-3, orient[1])
	}
	if orient[2] != "" {
		write(b.Min.X+pad, cy+5, orient[2])
	}
	if orient[3] != "" {
		write(b.Max.X-pad-width(orient[3]), cy+5, orient[3])
	}
}

// asciiOnly spells out the typographic characters the window uses.
func asciiOnly(s string) string {
	r := strings.NewReplacer("·", "-", "—", "-", "–", "-", "…", "...", "×", "x", "≥", ">=", "²", "2", "│", "|", "✓", "ok")
	s = r.Replace(s)
	var out strings.Builder
	for _, c := range s {
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		out.WriteRune(c)
	}
	return out.String()
}
