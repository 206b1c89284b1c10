package dicomio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// instance is one DICOM file as far as Open needs it: identity, image
// format, per-frame geometry and (when asked for) the undecoded pixels.
type instance struct {
	path      string
	syntaxUID string
	syn       syntax

	sopClass, sopInstance              string
	studyUID, seriesUID, frameOfRef    string
	patientName, patientID, birthDate  string
	sex, studyID, studyDate, studyTime string
	age                                string // PatientAge, e.g. "045Y"
	accession, referring, studyDesc    string
	seriesDesc, modality, manufacturer string
	model                              string
	seriesNumber, number               int
	// Declared phase counts (0: absent): CardiacNumberOfImages,
	// NumberOfTemporalPositions. They let assemble notice collapsed slices.
	cardiacImages, temporalPositions int
	heightM, weightKg                float64
	rows, cols, samples              int
	bitsAlloc, bitsStored, pixelRep  int
	photometric                      string
	nFrames                          int
	frames                           []frameInfo
	native                           []byte   // native pixel data, when read
	fragments                        [][]byte // encapsulated frames, when read
	bot                              []byte   // basic offset table, when not empty
	lossy                            bool     // a frame was decoded from lossy JPEG
}

// frameInfo is the geometry and value mapping of one frame.
type frameInfo struct {
	pos                [3]float64
	orient             [6]float64
	hasPos, hasOrient  bool
	spacing            [2]float64 // DICOM order: between rows, between columns
	hasSpacing         bool
	thickness, between float64
	trigger            float64
	hasTrigger         bool
	temporal           int // TemporalPositionIndex, 0 when absent
	sliceLoc           float64
	hasSliceLoc        bool // SliceLocation
	slope, intercept   float64
}

// Tags this reader uses.
var (
	tSOPClass       = tag.Tag{Group: 0x0008, Element: 0x0016}
	tSOPInstance    = tag.Tag{Group: 0x0008, Element: 0x0018}
	tStudyDate      = tag.Tag{Group: 0x0008, Element: 0x0020}
	tStudyTime      = tag.Tag{Group: 0x0008, Element: 0x0030}
	tAccession      = tag.Tag{Group: 0x0008, Element: 0x0050}
	tModality       = tag.Tag{Group: 0x0008, Element: 0x0060}
	tManufacturer   = tag.Tag{Group: 0x0008, Element: 0x0070}
	tReferring      = tag.Tag{Group: 0x0008, Element: 0x0090}
	tStudyDesc      = tag.Tag{Group: 0x0008, Element: 0x1030}
	tSeriesDesc     = tag.Tag{Group: 0x0008, Element: 0x103E}
	tModel          = tag.Tag{Group: 0x0008, Element: 0x1090}
	tPatientName    = tag.Tag{Group: 0x0010, Element: 0x0010}
	tPatientID      = tag.Tag{Group: 0x0010, Element: 0x0020}
	tBirthDate      = tag.Tag{Group: 0x0010, Element: 0x0030}
	tSex            = tag.Tag{Group: 0x0010, Element: 0x0040}
	tPatientAge     = tag.Tag{Group: 0x0010, Element: 0x1010}
	tPatientSize    = tag.Tag{Group: 0x0010, Element: 0x1020}
	tPatientWeight  = tag.Tag{Group: 0x0010, Element: 0x1030}
	tThickness      = tag.Tag{Group: 0x0018, Element: 0x0050}
	tBetween        = tag.Tag{Group: 0x0018, Element: 0x0088}
	tTriggerTime    = tag.Tag{Group: 0x0018, Element: 0x1060}
	tCardiacImages  = tag.Tag{Group: 0x0018, Element: 0x1090}
	tTemporalCount  = tag.Tag{Group: 0x0020, Element: 0x0105}
	tSliceLocation  = tag.Tag{Group: 0x0020, Element: 0x1041}
	tFrameTime      = tag.Tag{Group: 0x0018, Element: 0x1063}
	tFrameTimeVec   = tag.Tag{Group: 0x0018, Element: 0x1065}
	tCardiacSync    = tag.Tag{Group: 0x0018, Element: 0x9118}
	tStudyUID       = tag.Tag{Group: 0x0020, Element: 0x000D}
	tSeriesUID      = tag.Tag{Group: 0x0020, Element: 0x000E}
	tStudyID        = tag.Tag{Group: 0x0020, Element: 0x0010}
	tSeriesNumber   = tag.Tag{Group: 0x0020, Element: 0x0011}
	tInstanceNumber = tag.Tag{Group: 0x0020, Element: 0x0013}
	tIPP            = tag.Tag{Group: 0x0020, Element: 0x0032}
	tIOP            = tag.Tag{Group: 0x0020, Element: 0x0037}
	tFrameOfRef     = tag.Tag{Group: 0x0020, Element: 0x0052}
	tFrameContent   = tag.Tag{Group: 0x0020, Element: 0x9111}
	tPlanePosition  = tag.Tag{Group: 0x0020, Element: 0x9113}
	tPlaneOrient    = tag.Tag{Group: 0x0020, Element: 0x9116}
	tTemporalIndex  = tag.Tag{Group: 0x0020, Element: 0x9128}
	tTriggerDelay   = tag.Tag{Group: 0x0020, Element: 0x9153}
	tSamples        = tag.Tag{Group: 0x0028, Element: 0x0002}
	tPhotometric    = tag.Tag{Group: 0x0028, Element: 0x0004}
	tNumberOfFrames = tag.Tag{Group: 0x0028, Element: 0x0008}
	tFrameIncrPtr   = tag.Tag{Group: 0x0028, Element: 0x0009}
	tRows           = tag.Tag{Group: 0x0028, Element: 0x0010}
	tColumns        = tag.Tag{Group: 0x0028, Element: 0x0011}
	tPixelSpacing   = tag.Tag{Group: 0x0028, Element: 0x0030}
	tBitsAllocated  = tag.Tag{Group: 0x0028, Element: 0x0100}
	tBitsStored     = tag.Tag{Group: 0x0028, Element: 0x0101}
	tPixelRep       = tag.Tag{Group: 0x0028, Element: 0x0103}
	tRescaleInter   = tag.Tag{Group: 0x0028, Element: 0x1052}
	tRescaleSlope   = tag.Tag{Group: 0x0028, Element: 0x1053}
	tPixelMeasures  = tag.Tag{Group: 0x0028, Element: 0x9110}
	tPixelValueTx   = tag.Tag{Group: 0x0028, Element: 0x9145}
	tGridOffsets    = tag.Tag{Group: 0x3004, Element: 0x000C}
	tSharedGroups   = tag.Tag{Group: 0x5200, Element: 0x9229}
	tPerFrameGroups = tag.Tag{Group: 0x5200, Element: 0x9230}
	tPixelData      = tag.Tag{Group: 0x7FE0, Element: 0x0010}
)

// parseFile reads one file's bytes. With pixels false the pixel data is
// skipped (a header scan); with pixels true it is kept undecoded. Every
// error names the file; nothing the library does escapes as a panic.
func parseFile(path string, data []byte, pixels bool) (in *instance, err error) {
	h, syn, err := checkStructure(data)
	if err == nil && syn.deflated {
		if data, err = inflateFile(data, h); err == nil {
			h, _, err = checkStructure(data)
			h.syntaxUID = deflatedLE
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	opt := dicom.SkipPixelData()
	if pixels {
		opt = dicom.SkipProcessingPixelDataValue()
	}
	defer func() {
		if r := recover(); r != nil {
			in, err = nil, fmt.Errorf("%s: malformed DICOM (parser panicked: %v)", path, r)
		}
	}()
	ds, err := dicom.Parse(bytes.NewReader(data), int64(len(data)), nil, opt)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	in = &instance{path: path, syntaxUID: h.syntaxUID, syn: syn, bot: h.bot}
	if err := in.fill(elems(ds.Elements), pixels, len(data)); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return in, nil
}

// errNoPixels marks objects without an image (DICOMDIR, SR, RT plan).
var errNoPixels = errors.New("no pixel data")

func (in *instance) fill(e elems, pixels bool, fileSize int) error {
	in.sopClass = e.str(tSOPClass)
	in.sopInstance = e.str(tSOPInstance)
	in.studyUID = e.str(tStudyUID)
	in.seriesUID = e.str(tSeriesUID)
	in.frameOfRef = e.str(tFrameOfRef)
	in.patientName = e.str(tPatientName)
	in.patientID = e.str(tPatientID)
	in.birthDate = e.str(tBirthDate)
	in.sex = e.str(tSex)
	in.age = e.str(tPatientAge)
	in.studyID = e.str(tStudyID)
	in.studyDate = e.str(tStudyDate)
	in.studyTime = e.str(tStudyTime)
	in.accession = e.str(tAccession)
	in.referring = e.str(tReferring)
	in.studyDesc = e.str(tStudyDesc)
	in.seriesDesc = e.str(tSeriesDesc)
	in.modality = e.str(tModality)
	in.manufacturer = e.str(tManufacturer)
	in.model = e.str(tModel)
	in.seriesNumber, _ = e.int(tSeriesNumber)
	in.number, _ = e.int(tInstanceNumber)
	in.cardiacImages, _ = e.int(tCardiacImages)
	in.temporalPositions, _ = e.int(tTemporalCount)
	in.heightM, _ = e.num(tPatientSize)
	in.weightKg, _ = e.num(tPatientWeight)

	pd := e.get(tPixelData)
	if pd == nil {
		return errNoPixels
	}
	var ok bool
	if in.rows, ok = e.int(tRows); !ok || in.rows <= 0 {
		return fmt.Errorf("image has no valid Rows")
	}
	if in.cols, ok = e.int(tColumns); !ok || in.cols <= 0 {
		return fmt.Errorf("image has no valid Columns")
	}
	if in.bitsAlloc, ok = e.int(tBitsAllocated); !ok {
		return fmt.Errorf("image has no BitsAllocated")
	}
	if in.bitsStored, ok = e.int(tBitsStored); !ok {
		in.bitsStored = in.bitsAlloc
	}
	in.pixelRep, _ = e.int(tPixelRep)
	if in.samples, ok = e.int(tSamples); !ok {
		in.samples = 1
	}
	in.photometric = e.str(tPhotometric)
	in.nFrames = 1
	if s := e.str(tNumberOfFrames); s != "" {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return fmt.Errorf("invalid NumberOfFrames %q", s)
		}
		in.nFrames = n
	}
	if err := in.checkFormat(pd.ValueLength, fileSize); err != nil {
		return err
	}
	if err := in.readFrames(e); err != nil {
		return err
	}
	if pixels {
		return in.keepPixels(pd)
	}
	return nil
}

// checkFormat rejects pixel formats this reader cannot turn into scalars
// and frame counts that the pixel data cannot hold, before anything is
// allocated per frame.
func (in *instance) checkFormat(pixelLen uint32, fileSize int) error {
	switch in.bitsAlloc {
	case 8, 16, 32:
	default:
		return fmt.Errorf("BitsAllocated %d is not supported (8, 16 or 32)", in.bitsAlloc)
	}
	if in.bitsStored < 1 || in.bitsStored > in.bitsAlloc {
		return fmt.Errorf("BitsStored %d does not fit BitsAllocated %d", in.bitsStored, in.bitsAlloc)
	}
	if in.samples < 1 || in.samples > 4 {
		return fmt.Errorf("invalid SamplesPerPixel %d", in.samples)
	}
	if pixelLen == tag.VLUndefinedLength {
		// Encapsulated: at least one 8-byte item header per frame, and RLE
		// expands at most 64-fold.
		if in.nFrames > fileSize/8 {
			return fmt.Errorf("NumberOfFrames %d cannot fit in a %d-byte file", in.nFrames, fileSize)
		}
		if in.syn.rle && int64(in.frameBytes())*int64(in.nFrames) > 64*int64(fileSize) {
			return fmt.Errorf("%d×%d pixels × %d frames cannot be RLE-coded in a %d-byte file", in.cols, in.rows, in.nFrames, fileSize)
		}
		// A JPEG frame needs at least 1 bit per lossless sample and 2 bits
		// per 8×8 DCT block: 256 pixels per byte bounds both, so a forged
		// size is refused before any frame buffer is allocated.
		if in.syn.jpeg && int64(in.rows)*int64(in.cols)*int64(in.samples)*int64(in.nFrames) > 256*int64(fileSize) {
			return fmt.Errorf("%d×%d pixels × %d samples × %d frames cannot be JPEG-coded in a %d-byte file", in.cols, in.rows, in.samples, in.nFrames, fileSize)
		}
		if (in.syn.jpegls || in.syn.j2k) && int64(in.rows)*int64(in.cols)*int64(in.samples) > 1024*int64(fileSize)+1<<20 {
			return fmt.Errorf("%d×%d pixels × %d samples cannot be %s-coded in a %d-byte file", in.cols, in.rows, in.samples, in.syn.name, fileSize)
		}
		return nil
	}
	if need := int64(in.frameBytes()) * int64(in.nFrames); int64(pixelLen) < need {
		return fmt.Errorf("pixel data has %d bytes but %d×%d pixels × %d frames × %d samples at %d bits need %d (truncated or wrong header)",
			pixelLen, in.cols, in.rows, in.nFrames, in.samples, in.bitsAlloc, need)
	}
	return nil
}

// frameBytes is the size of one native frame.
func (in *instance) frameBytes() int {
	samples := in.samples
	if in.photometric == "YBR_FULL_422" && samples == 3 {
		samples = 2 // chroma is subsampled horizontally
	}
	return in.rows * in.cols * samples * in.bitsAlloc / 8
}

func (in *instance) keepPixels(pd *dicom.Element) error {
	info, ok := pd.Value.GetValue().(dicom.PixelDataInfo)
	if !ok {
		return fmt.Errorf("unreadable pixel data")
	}
	if info.IsEncapsulated {
		if !in.syn.rle && !in.syn.jpeg && !in.syn.jpegls && !in.syn.j2k {
			return fmt.Errorf("encapsulated pixel data in a native transfer syntax %s", in.syntaxUID)
		}
		var frags [][]byte
		for i, f := range info.Frames {
			if f.EncapsulatedData.Data == nil {
				return fmt.Errorf("pixel data item %d is not a defined-length Item", i+1)
			}
			frags = append(frags, f.EncapsulatedData.Data)
		}
		if in.syn.rle {
			if len(frags) != in.nFrames {
				return fmt.Errorf("RLE pixel data has %d fragments for %d frames (RLE needs exactly one per frame)", len(frags), in.nFrames)
			}
			in.fragments = frags
			return nil
		}
		var err error
		in.fragments, err = splitFrames(frags, in.bot, in.nFrames)
		return err
	}
	if in.syn.rle || in.syn.jpeg || in.syn.jpegls || in.syn.j2k {
		return fmt.Errorf("%s file with native (unencapsulated) pixel data", in.syn.name)
	}
	in.native = info.UnprocessedValueData
	if need := int64(in.frameBytes()) * int64(in.nFrames); int64(len(in.native)) < need {
		return fmt.Errorf("pixel data has %d bytes, %d needed", len(in.native), need)
	}
	return nil
}

// readFrames fills in.frames from the top-level attributes, a legacy
// multi-frame's frame increment pointer, or an enhanced multi-frame's
// functional groups.
func (in *instance) readFrames(e elems) error {
	base := frameInfo{slope: 1}
	base.apply(e)
	if v, ok := e.num(tTriggerTime); ok {
		base.trigger, base.hasTrigger = v, true
	}
	perFrame, isEnhanced := e.items(tPerFrameGroups)
	if isEnhanced {
		if len(perFrame) != in.nFrames {
			return fmt.Errorf("PerFrameFunctionalGroupsSequence has %d items for %d frames", len(perFrame), in.nFrames)
		}
		shared, _ := e.items(tSharedGroups)
		in.frames = make([]frameInfo, in.nFrames)
		for f := range in.frames {
			fi := base
			for _, g := range shared {
				fi.applyGroups(g)
			}
			fi.applyGroups(perFrame[f])
			in.frames[f] = fi
		}
		return nil
	}
	in.frames = make([]frameInfo, in.nFrames)
	for f := range in.frames {
		in.frames[f] = base
	}
	if in.nFrames == 1 {
		return nil
	}
	ptrs := e.ints(tFrameIncrPtr)
	points := func(t tag.Tag) bool {
		for i := 0; i+1 < len(ptrs); i += 2 {
			if ptrs[i] == int(t.Group) && ptrs[i+1] == int(t.Element) {
				return true
			}
		}
		return false
	}
	switch {
	case points(tGridOffsets):
		off := e.nums(tGridOffsets)
		if len(off) != in.nFrames {
			return fmt.Errorf("GridFrameOffsetVector has %d values for %d frames", len(off), in.nFrames)
		}
		n, ok := base.normal()
		if !ok {
			return fmt.Errorf("GridFrameOffsetVector without ImageOrientationPatient")
		}
		for f := range in.frames {
			for a := 0; a < 3; a++ {
				in.frames[f].pos[a] += (off[f] - off[0]) * n[a]
			}
		}
	case points(tFrameTime):
		ft, ok := e.num(tFrameTime)
		if !ok {
			return fmt.Errorf("FrameIncrementPointer names FrameTime, which is missing")
		}
		for f := range in.frames {
			in.frames[f].trigger = base.trigger + float64(f)*ft
			in.frames[f].hasTrigger = true
		}
	case points(tFrameTimeVec):
		v := e.nums(tFrameTimeVec)
		if len(v) != in.nFrames {
			return fmt.Errorf("FrameTimeVector has %d values for %d frames", len(v), in.nFrames)
		}
		t := base.trigger
		for f := range in.frames {
			t += v[f]
			in.frames[f].trigger = t
			in.frames[f].hasTrigger = true
		}
	}
	return nil
}

// apply reads the classic (single-frame) image plane and value attributes.
func (fi *frameInfo) apply(e elems) {
	if v := e.nums(tIPP); len(v) == 3 {
		copy(fi.pos[:], v)
		fi.hasPos = true
	}
	if v := e.nums(tIOP); len(v) == 6 {
		copy(fi.orient[:], v)
		_, fi.hasOrient = fi.normal()
	}
	if v := e.nums(tPixelSpacing); len(v) == 2 && v[0] > 0 && v[1] > 0 {
		copy(fi.spacing[:], v)
		fi.hasSpacing = true
	}
	if v, ok := e.num(tThickness); ok {
		fi.thickness = v
	}
	if v, ok := e.num(tSliceLocation); ok && !math.IsNaN(v) {
		fi.sliceLoc, fi.hasSliceLoc = v, true
	}
	if v, ok := e.num(tBetween); ok {
		fi.between = v
	}
	if v, ok := e.num(tRescaleSlope); ok {
		fi.slope = v
	}
	if v, ok := e.num(tRescaleInter); ok {
		fi.intercept = v
	}
}

// applyGroups reads one functional groups item (shared or per-frame).
func (fi *frameInfo) applyGroups(g elems) {
	for _, t := range []tag.Tag{tPlanePosition, tPlaneOrient, tPixelMeasures, tPixelValueTx} {
		if it, _ := g.items(t); len(it) > 0 {
			fi.apply(it[0])
		}
	}
	if it, _ := g.items(tCardiacSync); len(it) > 0 {
		if v, ok := it[0].num(tTriggerDelay); ok {
			fi.trigger, fi.hasTrigger = v, true
		}
	}
	if it, _ := g.items(tFrameContent); len(it) > 0 {
		if v, ok := it[0].int(tTemporalIndex); ok {
			fi.temporal = v
		}
	}
}

// normal returns the unit slice normal (row × column cosines).
func (fi *frameInfo) normal() ([3]float64, bool) {
	r := unit([3]float64{fi.orient[0], fi.orient[1], fi.orient[2]})
	c := unit([3]float64{fi.orient[3], fi.orient[4], fi.orient[5]})
	n := cross(r, c)
	l := norm(n)
	if l < 0.5 || math.IsNaN(l) { // zero, parallel or non-unit cosines
		return n, false
	}
	return scale(n, 1/l), true
}

func cross(a, b [3]float64) [3]float64 {
	return [3]float64{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}
func dot(a, b [3]float64) float64 { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }
func norm(a [3]float64) float64   { return math.Sqrt(dot(a, a)) }
func scale(a [3]float64, s float64) [3]float64 {
	return [3]float64{a[0] * s, a[1] * s, a[2] * s}
}
func unit(a [3]float64) [3]float64 {
	l := norm(a)
	if l == 0 {
		return a
	}
	return scale(a, 1/l)
}

// elems gives typed access to a data set or sequence item.
type elems []*dicom.Element

func (e elems) get(t tag.Tag) *dicom.Element {
	for _, el := range e {
		if el.Tag == t {
			return el
		}
	}
	return nil
}

// value returns an element's value; a UN (unknown VR) value of a tag the
// dictionary knows is decoded by its dictionary VR, as pydicom does
// (some writers store standard attributes as UN).
func (e elems) value(t tag.Tag) any {
	el := e.get(t)
	if el == nil {
		return nil
	}
	v := el.Value.GetValue()
	b, ok := v.([]byte)
	if !ok || el.RawValueRepresentation != "UN" {
		return v
	}
	info, err := tag.Find(t)
	if err != nil {
		return v
	}
	switch info.VR {
	case "AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH", "ST", "TM", "UI", "UT":
		return strings.Split(strings.Trim(string(b), " \x00"), `\`)
	case "US", "AT":
		out := make([]int, len(b)/2)
		for i := range out {
			out[i] = int(binary.LittleEndian.Uint16(b[2*i:]))
		}
		return out
	case "FD":
		out := make([]float64, len(b)/8)
		for i := range out {
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*i:]))
		}
		return out
	}
	return v
}

func (e elems) str(t tag.Tag) string {
	switch v := e.value(t).(type) {
	case []string:
		return strings.TrimSpace(strings.Join(v, `\`))
	case []int:
		if len(v) > 0 {
			return strconv.Itoa(v[0])
		}
	}
	return ""
}

// nums returns an element's numbers whatever its VR (DS/IS text, binary
// ints or floats); nil when absent or when any value is not a finite number.
func (e elems) nums(t tag.Tag) []float64 {
	var out []float64
	switch v := e.value(t).(type) {
	case []string:
		for _, s := range v {
			s = strings.TrimSpace(s)
			if s == "" && len(v) == 1 {
				return nil
			}
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil
			}
			out = append(out, f)
		}
	case []int:
		for _, i := range v {
			out = append(out, float64(i))
		}
	case []float64:
		out = append(out, v...)
	}
	for _, f := range out {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil
		}
	}
	return out
}

func (e elems) num(t tag.Tag) (float64, bool) {
	v := e.nums(t)
	if len(v) == 0 {
		return 0, false
	}
	return v[0], true
}

func (e elems) int(t tag.Tag) (int, bool) {
	v, ok := e.num(t)
	if !ok || v != math.Trunc(v) || math.Abs(v) > 1<<31 {
		return 0, false
	}
	return int(v), true
}

func (e elems) ints(t tag.Tag) []int {
	v, _ := e.value(t).([]int)
	return v
}

// items returns a sequence's items; ok is false when t is not a sequence.
func (e elems) items(t tag.Tag) ([]elems, bool) {
	el := e.get(t)
	if el == nil {
		return nil, false
	}
	seq, ok := el.Value.GetValue().([]*dicom.SequenceItemValue)
	if !ok {
		return nil, false
	}
	out := make([]elems, 0, len(seq))
	for _, it := range seq {
		if it == nil {
			continue
		}
		sub, _ := it.GetValue().([]*dicom.Element)
		out = append(out, elems(sub))
	}
	return out, true
}
