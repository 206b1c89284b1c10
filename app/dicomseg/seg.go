// Package dicomseg writes the labels of one cardiac phase as a DICOM
// Segmentation object (BINARY, multi-frame, Explicit VR Little Endian) that
// refers back to the DICOM images it was derived from, so a PACS or viewer
// shows it over the source series. It has its own small encoder: every
// element is written with a defined length, in tag order, padded to even
// length, with the file meta group length filled in.
package dicomseg

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"runtime/debug"
	"strings"
	"time"
	"unicode/utf8"

	"cmrseg/app/atomicfile"
	"cmrseg/app/study"
)

// UIDs of the standard (PS3.6 Annex A) and of this implementation.
const (
	SegmentationStorage       = "1.2.840.10008.5.1.4.1.1.66.4"
	explicitVRLittleEndian    = "1.2.840.10008.1.2.1"
	implementationClassUID    = "2.25.275056789233549250882824835953288103653"
	implementationVersionName = "CMRSEG"
	algorithmName             = "cmrseg"
)

// Segment describes how one label value is coded in the SEG. Property
// types are the DICOM codes for the structures: "Right ventricle" and
// "Left ventricle" from CID 7152 (Cardiac Structure Segmentation Types;
// DICOM has no separate "cavity" concept, the segment label says it) and
// "Left Ventricle Myocardium" as DICOM codes it in CID 12305. The category
// is "Anatomical Structure" from CID 7150.
type Segment struct {
	Label uint8
	Name  string // SegmentLabel
	Type  Code   // SegmentedPropertyTypeCodeSequence
}

// Code is one coded concept (Code Sequence Macro).
type Code struct{ Value, Scheme, Meaning string }

func (c Code) code() code { return code{c.Value, c.Scheme, c.Meaning} }

// Category is the SegmentedPropertyCategory of every segment.
var Category = Code{"123037004", "SCT", "Anatomical Structure"}

// Segments in label-value order; segment numbers are assigned in this
// order to the labels present, so with all three present the segment
// number equals the label value.
var Segments = []Segment{
	{study.RV, "Right ventricle cavity", Code{"53085002", "SCT", "Right ventricle"}},
	{study.Myocardium, "Left ventricle myocardium", Code{"49848007", "SCT", "Left Ventricle Myocardium"}},
	{study.LV, "Left ventricle cavity", Code{"87878005", "SCT", "Left Ventricle"}},
}

// Options tune what is written; the zero value is fine.
type Options struct {
	// Edited says the reader changed the ensemble's labels: the segments
	// are then SEMIAUTOMATIC rather than AUTOMATIC.
	Edited bool
	// SeriesNumber of the new series; 0 gives the source's plus 1000.
	SeriesNumber int
	// SeriesDescription; "" gives "cmrseg segmentation, <phase>".
	SeriesDescription string
	// ContentCreator is the reader's name (PN), if known.
	ContentCreator string
	// Now stamps the content, series and instance creation date and time;
	// zero means the current time.
	Now time.Time
}

// Info is what Encode wrote.
type Info struct {
	SOPInstanceUID, SeriesInstanceUID string
	Segments                          []Segment // in segment-number order
	Frames                            int
}

// Write encodes the labels of phase t of s (layout of one s volume: i
// fastest, then j, then slice) as a DICOM SEG and writes it to path
// atomically (temporary file, fsync, rename).
func Write(path string, s *study.Series, labels []uint8, t int, opts Options) (Info, error) {
	data, info, err := Encode(s, labels, t, opts)
	if err != nil {
		return Info{}, fmt.Errorf("export %s: %w", path, err)
	}
	if err := atomicfile.Write(path, data); err != nil {
		return Info{}, err
	}
	return info, nil
}

// frameRef is one SEG frame: segment seg (index into the present
// segments) on slice k.
type frameRef struct{ seg, k int }

// Encode builds the SEG file in memory. It fails, saying why, when s was
// not read from DICOM, lacks patient geometry, or when labels or t do not
// fit s.
func Encode(s *study.Series, labels []uint8, t int, opts Options) ([]byte, Info, error) {
	if s == nil {
		return nil, Info{}, errors.New("dicomseg: no series")
	}
	src, ok := s.Source.(*study.DICOMSource)
	if !ok || src == nil {
		return nil, Info{}, fmt.Errorf("dicomseg: series %q was not read from DICOM; a DICOM SEG must refer to DICOM source images (export the mask as NIfTI instead)", s.Meta.SeriesDescription)
	}
	if err := s.Validate(); err != nil {
		return nil, Info{}, fmt.Errorf("dicomseg: %w", err)
	}
	if t < 0 || t >= s.NT {
		return nil, Info{}, fmt.Errorf("dicomseg: phase %d is out of range (the series has %d phases)", t+1, s.NT)
	}
	n := s.Dims[0] * s.Dims[1]
	nk := s.Dims[2]
	if len(labels) != s.N() {
		return nil, Info{}, fmt.Errorf("dicomseg: %d labels for a %d×%d×%d volume (%d voxels)", len(labels), s.Dims[0], s.Dims[1], nk, s.N())
	}
	if src.Slices != nk || len(src.Frames) != nk*s.NT {
		return nil, Info{}, fmt.Errorf("dicomseg: the DICOM source lists %d frames in %d slices for a series of %d slices × %d phases", len(src.Frames), src.Slices, nk, s.NT)
	}
	if !src.GeometryKnown {
		return nil, Info{}, errors.New("dicomseg: the source images lack ImagePositionPatient/ImageOrientationPatient/PixelSpacing; a SEG without patient geometry is not written")
	}
	if src.StudyInstanceUID == "" || src.SeriesInstanceUID == "" || src.FrameOfReferenceUID == "" {
		return nil, Info{}, errors.New("dicomseg: the source lacks StudyInstanceUID, SeriesInstanceUID or FrameOfReferenceUID")
	}
	if s.Dims[0] > math.MaxUint16 || s.Dims[1] > math.MaxUint16 {
		return nil, Info{}, fmt.Errorf("dicomseg: %d×%d images exceed the DICOM limit of 65535 rows or columns", s.Dims[0], s.Dims[1])
	}
	for k := 0; k < nk; k++ {
		f := src.At(k, t)
		if f.SOPClassUID == "" || f.SOPInstanceUID == "" {
			return nil, Info{}, fmt.Errorf("dicomseg: source %s of slice %d has no SOPClassUID/SOPInstanceUID", f.Path, k+1)
		}
	}

	for v, l := range labels {
		if l >= study.NumClasses {
			return nil, Info{}, fmt.Errorf("dicomseg: voxel %d has label %d; labels are 0..%d", v, l, study.NumClasses-1)
		}
	}

	// Which labels occur, and on which slices.
	var present []Segment
	var frames []frameRef
	for _, seg := range Segments {
		var on []int
		for k := 0; k < nk; k++ {
			for _, v := range labels[k*n : (k+1)*n] {
				if v == seg.Label {
					on = append(on, k)
					break
				}
			}
		}
		if len(on) == 0 {
			continue
		}
		for _, k := range on {
			frames = append(frames, frameRef{len(present), k})
		}
		present = append(present, seg)
	}
	if len(present) == 0 {
		return nil, Info{}, fmt.Errorf("dicomseg: phase %d has no labelled voxels; there is nothing to export", t+1)
	}

	date, clock, sopUID, seriesUID, err := newInstance(opts.Now)
	if err != nil {
		return nil, Info{}, err
	}
	dimUID, err := newUID()
	if err != nil {
		return nil, Info{}, err
	}
	seriesNumber := opts.SeriesNumber
	if seriesNumber == 0 {
		seriesNumber = src.SeriesNumber + 1000
	}
	desc := opts.SeriesDescription
	if desc == "" {
		desc = "cmrseg segmentation, " + phaseName(s, t)
	}
	if n := utf8.RuneCountInString(desc); n > 64 {
		return nil, Info{}, fmt.Errorf("dicomseg: series description is %d characters; DICOM allows 64", n)
	}
	algType := "AUTOMATIC"
	if opts.Edited {
		algType = "SEMIAUTOMATIC"
	}

	// Strings copied from the source were decoded to UTF-8 by the reader.
	copied := []string{src.PatientName, src.PatientID, src.ReferringPhysicianName, src.StudyID,
		src.AccessionNumber, src.StudyDescription, desc, opts.ContentCreator}
	for i := range copied {
		copied[i] = strings.ToValidUTF8(copied[i], "?")
	}
	patientName, patientID, referring, studyID, accession, studyDesc, desc, creator :=
		copied[0], copied[1], copied[2], copied[3], copied[4], copied[5], copied[6], copied[7]

	set := []elem{
		str(tg(0x0008, 0x0008), "CS", "DERIVED", "PRIMARY"),
		str(tg(0x0008, 0x0012), "DA", date),
		str(tg(0x0008, 0x0013), "TM", clock),
		str(tg(0x0008, 0x0016), "UI", SegmentationStorage),
		str(tg(0x0008, 0x0018), "UI", sopUID),
		str(tg(0x0008, 0x0020), "DA", validDA(src.StudyDate)),
		str(tg(0x0008, 0x0021), "DA", date),
		str(tg(0x0008, 0x0023), "DA", date),
		str(tg(0x0008, 0x0030), "TM", validTM(src.StudyTime)),
		str(tg(0x0008, 0x0031), "TM", clock),
		str(tg(0x0008, 0x0033), "TM", clock),
		str(tg(0x0008, 0x0050), "SH", accession),
		str(tg(0x0008, 0x0060), "CS", "SEG"),
		str(tg(0x0008, 0x0070), "LO", algorithmName),
		str(tg(0x0008, 0x0090), "PN", referring),
		str(tg(0x0008, 0x103E), "LO", desc),
		str(tg(0x0008, 0x1090), "LO", algorithmName),
		str(tg(0x0010, 0x0010), "PN", patientName),
		str(tg(0x0010, 0x0020), "LO", patientID),
		str(tg(0x0010, 0x0030), "DA", validDA(src.PatientBirthDate)),
		str(tg(0x0010, 0x0040), "CS", validSex(src.PatientSex)),
		str(tg(0x0018, 0x1000), "LO", "none"),
		str(tg(0x0018, 0x1020), "LO", softwareVersion()),
		str(tg(0x0020, 0x000D), "UI", src.StudyInstanceUID),
		str(tg(0x0020, 0x000E), "UI", seriesUID),
		str(tg(0x0020, 0x0010), "SH", studyID),
		is(tg(0x0020, 0x0011), seriesNumber),
		is(tg(0x0020, 0x0013), 1),
		str(tg(0x0020, 0x0052), "UI", src.FrameOfReferenceUID),
		str(tg(0x0020, 0x1040), "LO"),
		us(tg(0x0028, 0x0002), 1),
		str(tg(0x0028, 0x0004), "CS", "MONOCHROME2"),
		is(tg(0x0028, 0x0008), len(frames)),
		us(tg(0x0028, 0x0010), uint16(s.Dims[1])),
		us(tg(0x0028, 0x0011), uint16(s.Dims[0])),
		us(tg(0x0028, 0x0100), 1),
		us(tg(0x0028, 0x0101), 1),
		us(tg(0x0028, 0x0102), 0),
		us(tg(0x0028, 0x0103), 0),
		str(tg(0x0028, 0x2110), "CS", "00"),
		str(tg(0x0062, 0x0001), "CS", "BINARY"),
		str(tg(0x0062, 0x0013), "CS", "NO"),
		str(tg(0x0070, 0x0080), "CS", "CMRSEG"),
		str(tg(0x0070, 0x0081), "LO", fmt.Sprintf("cardiac phase %d of %d", t+1, s.NT)),
		str(tg(0x0070, 0x0084), "PN", creator),
	}
	if studyDesc != "" {
		set = append(set, str(tg(0x0008, 0x1030), "LO", studyDesc))
	}
	if nonASCII(copied...) {
		set = append(set, str(tg(0x0008, 0x0005), "CS", "ISO_IR 192"))
	}

	// Segments.
	var segItems [][]elem
	for i, seg := range present {
		segItems = append(segItems, []elem{
			sq(tg(0x0062, 0x0003), Category.code().item()),
			us(tg(0x0062, 0x0004), uint16(i+1)),
			str(tg(0x0062, 0x0005), "LO", seg.Name),
			str(tg(0x0062, 0x0008), "CS", algType),
			str(tg(0x0062, 0x0009), "LO", algorithmName),
			sq(tg(0x0062, 0x000F), seg.Type.code().item()),
		})
	}
	set = append(set, sq(tg(0x0062, 0x0002), segItems...))

	// Shared functional groups: pixel measures and orientation.
	thick := src.SliceThickness
	if !(thick > 0 && thick < 1e5) {
		thick = s.Spacing[2]
	}
	row, col := s.Direction[0], s.Direction[1]
	set = append(set, sq(tg(0x5200, 0x9229), []elem{
		sq(tg(0x0028, 0x9110), []elem{
			ds(tg(0x0018, 0x0050), thick),
			ds(tg(0x0028, 0x0030), s.Spacing[1], s.Spacing[0]),
		}),
		sq(tg(0x0020, 0x9116), []elem{
			ds(tg(0x0020, 0x0037), row[0], row[1], row[2], col[0], col[1], col[2]),
		}),
	}))

	// Source instances: a multi-frame source is referred to frame by frame.
	uses := map[string]int{}
	for _, f := range src.Frames {
		uses[f.SOPInstanceUID]++
	}
	derivation := code{"113076", "DCM", "Segmentation"}
	purpose := code{"121322", "DCM", "Source image for image processing operation"}
	var perFrame [][]elem
	for _, f := range frames {
		sf := src.At(f.k, t)
		ref := []elem{
			str(tg(0x0008, 0x1150), "UI", sf.SOPClassUID),
			str(tg(0x0008, 0x1155), "UI", sf.SOPInstanceUID),
			str(tg(0x0028, 0x135A), "CS", "YES"),
			sq(tg(0x0040, 0xA170), purpose.item()),
		}
		if uses[sf.SOPInstanceUID] > 1 {
			ref = append(ref, is(tg(0x0008, 0x1160), sf.Frame))
		}
		p := sf.Position
		perFrame = append(perFrame, []elem{
			sq(tg(0x0008, 0x9124), []elem{
				sq(tg(0x0008, 0x2112), ref),
				sq(tg(0x0008, 0x9215), derivation.item()),
			}),
			sq(tg(0x0020, 0x9111), []elem{ul(tg(0x0020, 0x9157), uint32(f.seg+1), uint32(f.k+1))}),
			sq(tg(0x0020, 0x9113), []elem{ds(tg(0x0020, 0x0032), p[0], p[1], p[2])}),
			sq(tg(0x0062, 0x000A), []elem{us(tg(0x0062, 0x000B), uint16(f.seg+1))}),
		})
	}
	set = append(set, sq(tg(0x5200, 0x9230), perFrame...))

	// Dimensions: segment, then position along the stack.
	set = append(set,
		sq(tg(0x0020, 0x9221), []elem{str(tg(0x0020, 0x9164), "UI", dimUID)}),
		sq(tg(0x0020, 0x9222),
			[]elem{
				str(tg(0x0020, 0x9164), "UI", dimUID),
				at(tg(0x0020, 0x9165), tg(0x0062, 0x000B)),
				at(tg(0x0020, 0x9167), tg(0x0062, 0x000A)),
				str(tg(0x0020, 0x9421), "LO", "Segment Number"),
			},
			[]elem{
				str(tg(0x0020, 0x9164), "UI", dimUID),
				at(tg(0x0020, 0x9165), tg(0x0020, 0x0032)),
				at(tg(0x0020, 0x9167), tg(0x0020, 0x9113)),
				str(tg(0x0020, 0x9421), "LO", "Image Position Patient"),
			}),
	)

	// Common Instance Reference: every source instance of the phase, as
	// the whole phase was segmented (empty slices included).
	var refs [][]elem
	seen := map[string]bool{}
	for k := 0; k < nk; k++ {
		f := src.At(k, t)
		if seen[f.SOPInstanceUID] {
			continue
		}
		seen[f.SOPInstanceUID] = true
		refs = append(refs, []elem{
			str(tg(0x0008, 0x1150), "UI", f.SOPClassUID),
			str(tg(0x0008, 0x1155), "UI", f.SOPInstanceUID),
		})
	}
	set = append(set, sq(tg(0x0008, 0x1115), []elem{
		sq(tg(0x0008, 0x114A), refs...),
		str(tg(0x0020, 0x000E), "UI", src.SeriesInstanceUID),
	}))

	// Pixel data: one bit per pixel, frames back to back, least
	// significant bit first (PS3.5 8.1.1), padded to an even length.
	nbits := len(frames) * n
	pix := make([]byte, (nbits+15)/16*2)
	bit := 0
	for _, f := range frames {
		want := present[f.seg].Label
		for _, v := range labels[f.k*n : (f.k+1)*n] {
			if v == want {
				pix[bit>>3] |= 1 << (bit & 7)
			}
			bit++
		}
	}
	set = append(set, elem{tag: tg(0x7FE0, 0x0010), vr: "OB", value: pix})

	meta := []elem{
		{tag: tg(0x0002, 0x0001), vr: "OB", value: []byte{0, 1}},
		str(tg(0x0002, 0x0002), "UI", SegmentationStorage),
		str(tg(0x0002, 0x0003), "UI", sopUID),
		str(tg(0x0002, 0x0010), "UI", explicitVRLittleEndian),
		str(tg(0x0002, 0x0012), "UI", implementationClassUID),
		str(tg(0x0002, 0x0013), "SH", implementationVersionName),
	}
	out, err := encodeFile(meta, set)
	if err != nil {
		return nil, Info{}, err
	}
	return out, Info{SOPInstanceUID: sopUID, SeriesInstanceUID: seriesUID, Segments: present, Frames: len(frames)}, nil
}

func phaseName(s *study.Series, t int) string {
	switch t {
	case s.ED:
		return fmt.Sprintf("ED (phase %d)", t+1)
	case s.ES:
		return fmt.Sprintf("ES (phase %d)", t+1)
	}
	return fmt.Sprintf("phase %d", t+1)
}

// newUID returns a UUID-derived UID (PS3.5 B.2): "2.25." and the UUID as
// one decimal number.
func newUID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("dicomseg: no random numbers for a UID: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return "2.25." + new(big.Int).SetBytes(b[:]).String(), nil
}

var tmPattern = regexp.MustCompile(`^([01][0-9]|2[0-3])([0-5][0-9]([0-5][0-9](\.[0-9]{1,6})?)?)?$`)

// validDA keeps a source date only when it is a real YYYYMMDD date;
// anonymised placeholders such as 00000000 or 20120000 carry no date and
// would make the SEG invalid, so they become empty (the attributes are
// type 2).
func validDA(v string) string {
	v = strings.TrimSpace(v)
	if _, err := time.Parse("20060102", v); err != nil || len(v) != 8 {
		return ""
	}
	return v
}

func validTM(v string) string {
	v = strings.TrimSpace(v)
	if !tmPattern.MatchString(v) {
		return ""
	}
	return v
}

func validSex(v string) string {
	switch v = strings.TrimSpace(v); v {
	case "M", "F", "O":
		return v
	}
	return ""
}

func softwareVersion() string {
	v := "devel"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	return "cmrseg " + v
}

// newInstance is what every object this package writes starts from: the
// creation date and time (now, or the given time for reproducible tests)
// and fresh SOP Instance and Series Instance UIDs.
func newInstance(at time.Time) (date, clock, sopUID, seriesUID string, err error) {
	if at.IsZero() {
		at = time.Now()
	}
	if sopUID, err = newUID(); err != nil {
		return
	}
	if seriesUID, err = newUID(); err != nil {
		return
	}
	return at.Format("20060102"), at.Format("150405"), sopUID, seriesUID, nil
}
