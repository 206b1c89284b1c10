package metrics

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// Reliability diagram geometry in pixels.
const (
	diagramSize = 480
	plotLeft    = 50
	plotTop     = 40
	plotSize    = 400
)

var (
	white = color.RGBA{255, 255, 255, 255}
	black = color.RGBA{0, 0, 0, 255}
	grey  = color.RGBA{200, 200, 200, 255}
	bar   = color.RGBA{60, 110, 200, 255}
	gap   = color.RGBA{230, 120, 100, 255}
	diag  = color.RGBA{0, 0, 0, 255}
)

// ReliabilityImage draws the diagram of c: per bin a bar up to its accuracy
// with the gap to its mean confidence shaded, the diagonal of perfect
// calibration, axes 0–1, and "ECE x.xx%" (ece in %, NaN prints "ECE -").
// The plot area is 400×400 pixels inside a 480×480 image.
func ReliabilityImage(c *Calibration, ece float64) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, diagramSize, diagramSize))
	fill(img, img.Rect, white)
	plot := image.Rect(plotLeft, plotTop, plotLeft+plotSize, plotTop+plotSize)
	// Grid at 0.2 steps.
	for q := 1; q < 5; q++ {
		off := q * plotSize / 5
		fill(img, image.Rect(plot.Min.X+off, plot.Min.Y, plot.Min.X+off+1, plot.Max.Y), grey)
		fill(img, image.Rect(plot.Min.X, plot.Max.Y-off, plot.Max.X, plot.Max.Y-off+1), grey)
	}
	bins := c.Bins()
	for b := 0; b < bins; b++ {
		if c.Count[b] == 0 {
			continue
		}
		x0 := plot.Min.X + b*plotSize/bins
		x1 := plot.Min.X + (b+1)*plotSize/bins
		if x1 == x0 {
			x1++
		}
		yAcc := plot.Max.Y - int(math.Round(c.Accuracy(b)*plotSize))
		yConf := plot.Max.Y - int(math.Round(c.Confidence(b)*plotSize))
		fill(img, image.Rect(x0, yAcc, x1, plot.Max.Y), bar)
		if yConf < yAcc { // over-confident: shade up to the confidence
			fill(img, image.Rect(x0, yConf, x1, yAcc), gap)
		}
	}
	// Diagonal from (0,0) to (1,1).
	for i := 0; i < plotSize; i++ {
		img.SetRGBA(plot.Min.X+i, plot.Max.Y-1-i, diag)
		img.SetRGBA(plot.Min.X+i, plot.Max.Y-i, diag)
	}
	// Frame.
	fill(img, image.Rect(plot.Min.X-1, plot.Min.Y-1, plot.Max.X+1, plot.Min.Y), black)
	fill(img, image.Rect(plot.Min.X-1, plot.Max.Y, plot.Max.X+1, plot.Max.Y+1), black)
	fill(img, image.Rect(plot.Min.X-1, plot.Min.Y-1, plot.Min.X, plot.Max.Y+1), black)
	fill(img, image.Rect(plot.Max.X, plot.Min.Y-1, plot.Max.X+1, plot.Max.Y+1), black)

	title := "ECE -"
	if !math.IsNaN(ece) {
		title = fmt.Sprintf("ECE %.2f%%", ece)
	}
	drawText(img, plot.Min.X, 12, 2, title)
	drawText(img, plot.Min.X+plotSize/2-5*6, plot.Max.Y+20, 2, "CONFIDENCE")
	drawText(img, plot.Min.X-6, plot.Max.Y+6, 1, "0")
	drawText(img, plot.Max.X-3, plot.Max.Y+6, 1, "1")
	drawText(img, plot.Min.X-12, plot.Min.Y-3, 1, "1")
	drawTextVertical(img, 14, plot.Min.Y+plotSize/2-4*12, 2, "ACCURACY")
	return img
}

// WriteReliability encodes the diagram as PNG.
func WriteReliability(w io.Writer, c *Calibration, ece float64) error {
	return png.Encode(w, ReliabilityImage(c, ece))
}

// SaveReliability writes the PNG to path atomically (temp, fsync, rename).
func SaveReliability(path string, c *Calibration, ece float64) (err error) {
	var buf bytes.Buffer
	if err := WriteReliability(&buf, c, ece); err != nil {
		return fmt.Errorf("reliability diagram %s: %w", path, err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("reliability diagram %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	_, werr := f.Write(buf.Bytes())
	if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("reliability diagram %s: %w", path, err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return fmt.Errorf("reliability diagram %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("reliability diagram %s: %w", path, err)
	}
	return nil
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Rect)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

// glyphs is a 5×7 bitmap font for the few characters the diagram needs
// (no font package is in the module graph's direct requirements).
var glyphs = map[rune][7]string{
	'0': {".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."},
	'1': {"..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."},
	'2': {".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"},
	'3': {"#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."},
	'4': {"...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."},
	'5': {"#####", "#....", "####.", "....#", "....#", "#...#", ".###."},
	'6': {"..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."},
	'7': {"#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."},
	'8': {".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."},
	'9': {".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."},
	'.': {".....", ".....", ".....", ".....", ".....", ".##..", ".##.."},
	'%': {"##...", "##..#", "...#.", "..#..", ".#...", "#..##", "...##"},
	'-': {".....", ".....", ".....", "#####", ".....", ".....", "....."},
	' ': {".....", ".....", ".....", ".....", ".....", ".....", "....."},
	'A': {".###.", "#...#", "#...#", "#####", "#...#", "#...#", "#...#"},
	'C': {".###.", "#...#", "#....", "#....", "#....", "#...#", ".###."},
	'D': {"####.", "#...#", "#...#", "#...#", "#...#", "#...#", "####."},
	'E': {"#####", "#....", "#....", "####.", "#....", "#....", "#####"},
	'F': {"#####", "#....", "#....", "####.", "#....", "#....", "#...."},
	'I': {".###.", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."},
	'N': {"#...#", "##..#", "#.#.#", "#..##", "#...#", "#...#", "#...#"},
	'O': {".###.", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."},
	'R': {"####.", "#...#", "#...#", "####.", "#.#..", "#..#.", "#...#"},
	'U': {"#...#", "#...#", "#...#", "#...#", "#...#", "#...#", ".###."},
	'Y': {"#...#", "#...#", ".#.#.", "..#..", "..#..", "..#..", "..#.."},
}

// drawText writes s with its top-left at (x, y), each font pixel scale×scale;
// characters without a glyph are drawn as a box so they are noticed.
func drawText(img *image.RGBA, x, y, scale int, s string) {
	for _, r := range strings.ToUpper(s) {
		g, ok := glyphs[r]
		for row := 0; row < 7; row++ {
			for col := 0; col < 5; col++ {
				on := !ok || g[row][col] == '#'
				if on {
					fill(img, image.Rect(x+col*scale, y+row*scale, x+(col+1)*scale, y+(row+1)*scale), black)
				}
			}
		}
		x += 6 * scale
	}
}

// drawTextVertical writes s top to bottom, one character per line.
func drawTextVertical(img *image.RGBA, x, y, scale int, s string) {
	for _, r := range s {
		drawText(img, x, y, scale, string(r))
		y += 9 * scale
	}
}
