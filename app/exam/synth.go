package exam

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"cmrseg/app/atomicfile"
	"cmrseg/app/dicomio"
	"cmrseg/app/study"
)

// SynthSeries is one series Synthesize wrote, with the class its geometry
// was built to have.
type SynthSeries struct {
	Dir               string // folder under the exam root (a DICOM file ID component)
	SeriesInstanceUID string
	SeriesNumber      int
	Description       string
	Want              Class
	Slices, Phases    int
}

// SynthOptions chooses what Synthesize writes besides the one exam.
type SynthOptions struct {
	// Copies adds this many further copies of the short-axis cine, each a
	// series of its own (new UIDs, same pixels): a large exam for
	// measuring memory, where only one series may be decoded.
	Copies int
	// Salt makes the UIDs of one exam differ from another's.
	Salt string
	// Phases, when positive, keeps only the first Phases phases of the
	// cines (a smaller exam for tests that segment it).
	Phases int
}

// Synthesize writes a whole synthetic exam under dst from a real
// single-frame short-axis cine series in Explicit VR Little Endian (the
// Sunnybrook series): the short-axis cine itself with new UIDs, and
// around it, in the same frame of reference, a three-plane localiser, a
// four- and a two-chamber long-axis cine whose planes contain the short-
// axis stack's normal (the heart's long axis), a single-phase short-axis
// stack (like late enhancement), a single-slice single-phase short-axis
// image (like a T1 map) and an axial cine stack described as "SAX cine",
// which geometry must not take for the short axis. Pixels are the source
// series' own. Files get DICOM part-10 names (SER0001/IM00001) so that
// dcmmkdir accepts them. It returns the series written, in series order.
func Synthesize(dst, saDir string, opt SynthOptions) ([]SynthSeries, error) {
	r, err := dicomio.ScanHeaders(saDir)
	if err != nil {
		return nil, err
	}
	var sa *study.Series
	for _, s := range r.Study.Series {
		if sa == nil || s.Dims[2]*s.NT > sa.Dims[2]*sa.NT {
			sa = s
		}
	}
	if sa == nil || sa.Dims[2] < 3 || sa.NT < 2 {
		return nil, fmt.Errorf("%s: no short-axis cine series (several slices and phases) to build an exam from", saDir)
	}
	src := sa.Source.(*study.DICOMSource)
	nk, nt := sa.Dims[2], sa.NT
	frame := func(k, t int) study.DICOMFrame { return src.Frames[k+nk*t] }
	if opt.Phases > 0 {
		nt = min(nt, opt.Phases)
	}
	for _, f := range src.Frames {
		if f.Frame != 1 {
			return nil, fmt.Errorf("%s: multi-frame files are not supported by the exam synthesiser", f.Path)
		}
	}
	row, col, n := sa.Direction[0], sa.Direction[1], sa.Direction[2]
	dx, dy, dz := sa.Spacing[0], sa.Spacing[1], sa.Spacing[2]
	cols, rows := sa.Dims[0], sa.Dims[1]
	// Centre of the stack: the middle of the heart, where the long-axis
	// planes cross.
	c := add(sa.Origin, add(scale(row, dx*float64(cols-1)/2), add(scale(col, dy*float64(rows-1)/2), scale(n, dz*float64(nk-1)/2))))
	corner := func(a, b [3]float64) [3]float64 {
		return sub(c, add(scale(a, dx*float64(cols-1)/2), scale(b, dy*float64(rows-1)/2)))
	}
	mid := nk / 2

	w := &synthWriter{dst: dst, salt: opt.Salt}
	var out []SynthSeries
	emit := func(desc string, want Class, files []synthFile, slices, phases int) error {
		s, err := w.series(desc, files)
		if err != nil {
			return err
		}
		s.Want, s.Slices, s.Phases = want, slices, phases
		out = append(out, s)
		return nil
	}

	// 1. Three-plane localiser: axial, coronal and sagittal through the
	// heart, one phase, in one series (as scanners store it).
	var loc []synthFile
	for _, p := range [][2][3]float64{
		{{1, 0, 0}, {0, 1, 0}},  // axial
		{{1, 0, 0}, {0, 0, -1}}, // coronal
		{{0, 1, 0}, {0, 0, -1}}, // sagittal
	} {
		loc = append(loc, synthFile{from: frame(mid, 0).Path, pos: corner(p[0], p[1]), row: p[0], col: p[1]})
	}
	if err := emit("3-plane localizer", Other, loc, 3, 1); err != nil {
		return nil, err
	}
	// 2, 3. Long-axis cines: planes containing n through the centre, the
	// four-chamber one across the stack's rows, the two-chamber one 60°
	// from it.
	for _, la := range []struct {
		desc  string
		angle float64
	}{{"cine 4ch", 0}, {"cine 2ch", 60}} {
		a := math.Pi * la.angle / 180
		normal := unit(add(scale(row, math.Cos(a)), scale(col, math.Sin(a))))
		r := cross(n, normal) // r × n = normal
		var fs []synthFile
		for t := 0; t < nt; t++ {
			f := frame(mid, t)
			fs = append(fs, synthFile{from: f.Path, pos: corner(r, n), row: r, col: n, trigger: f.TriggerTime, hasTrigger: f.HasTriggerTime})
		}
		if err := emit(la.desc, LongAxisCine, fs, 1, nt); err != nil {
			return nil, err
		}
	}
	// 4. The short-axis cine (and its copies).
	for cp := 0; cp <= opt.Copies; cp++ {
		var fs []synthFile
		for t := 0; t < nt; t++ {
			for k := 0; k < nk; k++ {
				f := frame(k, t)
				fs = append(fs, synthFile{from: f.Path, pos: f.Position, row: row, col: col, trigger: f.TriggerTime, hasTrigger: f.HasTriggerTime, keepPhases: nt == sa.NT})
			}
		}
		desc := "SA cine"
		if cp > 0 {
			desc = fmt.Sprintf("SA cine copy %d", cp)
		}
		if err := emit(desc, ShortAxisCine, fs, nk, nt); err != nil {
			return nil, err
		}
	}
	// 5. A single-phase short-axis stack, like late enhancement.
	var lge []synthFile
	for k := 0; k < nk; k++ {
		f := frame(k, 0)
		lge = append(lge, synthFile{from: f.Path, pos: f.Position, row: row, col: col, trigger: 450, hasTrigger: true})
	}
	if err := emit("PSIR LGE SA", Other, lge, nk, 1); err != nil {
		return nil, err
	}
	// 6. One short-axis image, like a T1 map.
	f := frame(mid, 0)
	if err := emit("MOLLI T1 map SA", Other, []synthFile{{from: f.Path, pos: f.Position, row: row, col: col}}, 1, 1); err != nil {
		return nil, err
	}
	// 7. An axial cine stack that calls itself short axis: four slices
	// 8 mm apart through the heart.
	var ax []synthFile
	for t := 0; t < nt; t++ {
		for k := 0; k < 4; k++ {
			p := add(corner([3]float64{1, 0, 0}, [3]float64{0, 1, 0}), [3]float64{0, 0, 8 * (float64(k) - 1.5)})
			fr := frame(mid, t)
			ax = append(ax, synthFile{from: fr.Path, pos: p, row: [3]float64{1, 0, 0}, col: [3]float64{0, 1, 0}, trigger: fr.TriggerTime, hasTrigger: fr.HasTriggerTime})
		}
	}
	if err := emit("SAX cine (axial)", Other, ax, 4, nt); err != nil {
		return nil, err
	}
	return out, nil
}

// synthFile is one file to write: a copy of from with new identity and
// geometry.
type synthFile struct {
	from       string
	pos        [3]float64
	row, col   [3]float64
	trigger    float64
	hasTrigger bool
	keepPhases bool // keep the declared phase count (CardiacNumberOfImages)
}

type synthWriter struct {
	dst    string
	salt   string
	number int
}

func (w *synthWriter) uid(parts ...any) string {
	h := sha256.Sum256([]byte(fmt.Sprint(append([]any{w.salt}, parts...)...)))
	// 2.25 UIDs are a decimal integer below 2^128 (PS3.5 B.2).
	return "2.25." + new(big.Int).SetBytes(h[:16]).String()
}

func (w *synthWriter) series(desc string, files []synthFile) (SynthSeries, error) {
	w.number++
	s := SynthSeries{
		Dir:               fmt.Sprintf("SER%04d", w.number),
		SeriesInstanceUID: w.uid("series", w.number),
		SeriesNumber:      w.number,
		Description:       desc,
	}
	dir := filepath.Join(w.dst, s.Dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return s, err
	}
	for i, f := range files {
		data, err := os.ReadFile(f.from)
		if err != nil {
			return s, err
		}
		els, err := parseExplicitLE(data)
		if err != nil {
			return s, fmt.Errorf("%s: %w", f.from, err)
		}
		sop := w.uid("instance", w.number, i)
		set := map[uint32][]byte{
			0x00020003: uiValue(sop),
			0x00080018: uiValue(sop),
			0x0020000E: uiValue(s.SeriesInstanceUID),
			0x00200011: textValue(strconv.Itoa(s.SeriesNumber)),
			0x0008103E: textValue(desc),
			0x00200013: textValue(strconv.Itoa(i + 1)),
			0x00200032: textValue(dsList(f.pos[:])),
			0x00200037: textValue(dsList(append(f.row[:], f.col[:]...))),
		}
		vrs := map[uint32]string{0x00020003: "UI", 0x00080018: "UI", 0x0020000E: "UI", 0x00200011: "IS", 0x0008103E: "LO",
			0x00200013: "IS", 0x00200032: "DS", 0x00200037: "DS", 0x00181060: "DS"}
		drop := map[uint32]bool{
			0x00201041: true, // SliceLocation: meaningless in a new plane
			0x00209153: true, // NominalCardiacTriggerDelayTime: TriggerTime says it
		}
		if f.hasTrigger {
			set[0x00181060] = textValue(strconv.FormatFloat(f.trigger, 'f', -1, 64))
		} else {
			drop[0x00181060] = true
		}
		if !f.keepPhases {
			drop[0x00181090] = true // CardiacNumberOfImages
			drop[0x00200105] = true // NumberOfTemporalPositions
		}
		b, err := encodeExplicitLE(data[:128], els, set, vrs, drop)
		if err != nil {
			return s, fmt.Errorf("%s: %w", f.from, err)
		}
		if err := atomicfile.Write(filepath.Join(dir, fmt.Sprintf("IM%05d", i+1)), b); err != nil {
			return s, err
		}
	}
	return s, nil
}

// rawEl is one top-level element of an Explicit VR Little Endian file.
type rawEl struct {
	tag uint32
	vr  string
	val []byte
}

func longVR(vr string) bool {
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV":
		return true
	}
	return false
}

// parseExplicitLE splits a part-10 file whose data set is Explicit VR
// Little Endian into its top-level elements (meta group included).
// Sequences are kept as raw bytes; undefined lengths are refused.
func parseExplicitLE(d []byte) ([]rawEl, error) {
	if len(d) < 132 || string(d[128:132]) != "DICM" {
		return nil, fmt.Errorf("not a DICOM part-10 file")
	}
	var out []rawEl
	p := 132
	for p < len(d) {
		if p+8 > len(d) {
			return nil, fmt.Errorf("truncated element at byte %d", p)
		}
		t := uint32(binary.LittleEndian.Uint16(d[p:]))<<16 | uint32(binary.LittleEndian.Uint16(d[p+2:]))
		vr := string(d[p+4 : p+6])
		var n uint32
		if longVR(vr) {
			if p+12 > len(d) {
				return nil, fmt.Errorf("truncated element at byte %d", p)
			}
			n, p = binary.LittleEndian.Uint32(d[p+8:]), p+12
		} else {
			n, p = uint32(binary.LittleEndian.Uint16(d[p+6:])), p+8
		}
		if n == 0xFFFFFFFF {
			return nil, fmt.Errorf("element (%04X,%04X) has undefined length, which the exam synthesiser does not rewrite", t>>16, t&0xFFFF)
		}
		if int64(p)+int64(n) > int64(len(d)) {
			return nil, fmt.Errorf("element (%04X,%04X) runs past the end of the file", t>>16, t&0xFFFF)
		}
		if t == 0x00020010 && strings.TrimRight(string(d[p:p+int(n)]), "\x00 ") != "1.2.840.10008.1.2.1" {
			return nil, fmt.Errorf("transfer syntax %s: the exam synthesiser rewrites Explicit VR Little Endian only", strings.TrimRight(string(d[p:p+int(n)]), "\x00 "))
		}
		out = append(out, rawEl{t, vr, d[p : p+int(n)]})
		p += int(n)
	}
	return out, nil
}

// encodeExplicitLE writes the elements back with set values replaced or
// added and drop removed; group lengths other than the meta group's are
// dropped (they are retired and would be stale), and that one recomputed.
func encodeExplicitLE(preamble []byte, els []rawEl, set map[uint32][]byte, vrs map[uint32]string, drop map[uint32]bool) ([]byte, error) {
	var keep []rawEl
	done := map[uint32]bool{}
	for _, e := range els {
		switch {
		case drop[e.tag] || e.tag&0xFFFF == 0:
		case set[e.tag] != nil:
			keep = append(keep, rawEl{e.tag, e.vr, set[e.tag]})
			done[e.tag] = true
		default:
			keep = append(keep, e)
		}
	}
	for t, v := range set {
		if !done[t] && !drop[t] {
			keep = append(keep, rawEl{t, vrs[t], v})
		}
	}
	sort.SliceStable(keep, func(a, b int) bool { return keep[a].tag < keep[b].tag })
	enc := func(b *bytes.Buffer, e rawEl) {
		var h [12]byte
		binary.LittleEndian.PutUint16(h[0:], uint16(e.tag>>16))
		binary.LittleEndian.PutUint16(h[2:], uint16(e.tag))
		copy(h[4:6], e.vr)
		if longVR(e.vr) {
			binary.LittleEndian.PutUint32(h[8:], uint32(len(e.val)))
			b.Write(h[:12])
		} else {
			binary.LittleEndian.PutUint16(h[6:], uint16(len(e.val)))
			b.Write(h[:8])
		}
		b.Write(e.val)
	}
	var meta, body bytes.Buffer
	for _, e := range keep {
		if len(e.val) > 0xFFFF && !longVR(e.vr) {
			return nil, fmt.Errorf("value of (%04X,%04X) too long for VR %s", e.tag>>16, e.tag&0xFFFF, e.vr)
		}
		if e.tag>>16 == 2 {
			enc(&meta, e)
		} else {
			enc(&body, e)
		}
	}
	var out bytes.Buffer
	out.Write(preamble)
	out.WriteString("DICM")
	gl := make([]byte, 4)
	binary.LittleEndian.PutUint32(gl, uint32(meta.Len()))
	enc(&out, rawEl{0x00020000, "UL", gl})
	out.Write(meta.Bytes())
	out.Write(body.Bytes())
	return out.Bytes(), nil
}

func uiValue(s string) []byte {
	if len(s)%2 == 1 {
		s += "\x00"
	}
	return []byte(s)
}

func textValue(s string) []byte {
	if len(s)%2 == 1 {
		s += " "
	}
	return []byte(s)
}

// dsList formats decimal strings of at most 16 characters each.
func dsList(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatFloat(x, 'g', 10, 64)
		if len(s[i]) > 16 {
			s[i] = strconv.FormatFloat(x, 'g', 8, 64)
		}
	}
	return strings.Join(s, `\`)
}

func add(a, b [3]float64) [3]float64 { return [3]float64{a[0] + b[0], a[1] + b[1], a[2] + b[2]} }
func sub(a, b [3]float64) [3]float64 { return [3]float64{a[0] - b[0], a[1] - b[1], a[2] - b[2]} }
func dot(a, b [3]float64) float64    { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }
func norm(a [3]float64) float64      { return math.Sqrt(dot(a, a)) }
func scale(a [3]float64, s float64) [3]float64 {
	return [3]float64{a[0] * s, a[1] * s, a[2] * s}
}
func cross(a, b [3]float64) [3]float64 {
	return [3]float64{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}
func unit(a [3]float64) [3]float64 {
	if l := norm(a); l > 0 {
		return scale(a, 1/l)
	}
	return a
}
