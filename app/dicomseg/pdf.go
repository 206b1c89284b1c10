package dicomseg

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"cmrseg/app/atomicfile"
	"cmrseg/app/study"
)

// EncapsulatedPDFStorage is the SOP class of a PDF wrapped in DICOM
// (PS3.3 A.45.1, Encapsulated PDF IOD).
const EncapsulatedPDFStorage = "1.2.840.10008.5.1.4.1.1.104.1"

// PDFOptions tune the Encapsulated PDF; the zero value is fine.
type PDFOptions struct {
	// Title is the DocumentTitle; "" gives "cmrseg cardiac MR report".
	Title string
	// SeriesNumber of the new series; 0 gives the source's plus 2000.
	SeriesNumber int
	// Now stamps the content and instance creation; zero means now.
	Now time.Time
	// KeySlice and KeyPhase name the source image drawn in the PDF (its
	// key image), listed in the Source Instance Sequence; -1 for none.
	KeySlice, KeyPhase int
}

// PDFInfo is what EncodePDF wrote.
type PDFInfo struct {
	SOPInstanceUID, SeriesInstanceUID, StudyInstanceUID string
	// NewStudy: the series was not read from DICOM, so the document opens
	// a new study (with a new Study Instance UID) for its patient ID.
	NewStudy bool
}

// WritePDF wraps pdf as a DICOM Encapsulated PDF of s's study and writes
// it to path atomically.
func WritePDF(path string, s *study.Series, pdf []byte, opts PDFOptions) (PDFInfo, error) {
	data, info, err := EncodePDF(s, pdf, opts)
	if err != nil {
		return PDFInfo{}, fmt.Errorf("export %s: %w", path, err)
	}
	if err := atomicfile.Write(path, data); err != nil {
		return PDFInfo{}, err
	}
	return info, nil
}

// EncodePDF builds the Encapsulated PDF in memory. With a DICOM source the
// document joins the source's study: Study Instance UID and the patient
// and general study modules are copied, and the key image's source
// instance is referenced. Without one (NIfTI), it carries the series'
// patient ID in a new study.
func EncodePDF(s *study.Series, pdf []byte, opts PDFOptions) ([]byte, PDFInfo, error) {
	if s == nil {
		return nil, PDFInfo{}, errors.New("dicomseg: no series")
	}
	if !bytes.HasPrefix(pdf, []byte("%PDF-")) {
		return nil, PDFInfo{}, errors.New("dicomseg: the document is not a PDF (no %PDF- header)")
	}
	if len(pdf) >= math.MaxUint32-2 {
		return nil, PDFInfo{}, fmt.Errorf("dicomseg: PDF of %d bytes is too large for DICOM", len(pdf))
	}
	date, clock, sopUID, seriesUID, err := newInstance(opts.Now)
	if err != nil {
		return nil, PDFInfo{}, err
	}
	info := PDFInfo{SOPInstanceUID: sopUID, SeriesInstanceUID: seriesUID}
	src, _ := s.Source.(*study.DICOMSource)
	var patientName, patientID, birth, sex, studyDate, studyTime, referring, studyID, accession, studyDesc string
	seriesNumber := opts.SeriesNumber
	if src != nil && src.StudyInstanceUID != "" {
		info.StudyInstanceUID = src.StudyInstanceUID
		patientName, patientID, birth, sex = src.PatientName, src.PatientID, validDA(src.PatientBirthDate), validSex(src.PatientSex)
		studyDate, studyTime, referring, studyID = validDA(src.StudyDate), validTM(src.StudyTime), src.ReferringPhysicianName, src.StudyID
		accession, studyDesc = src.AccessionNumber, src.StudyDescription
		if seriesNumber == 0 {
			seriesNumber = src.SeriesNumber + 2000
		}
	} else {
		if info.StudyInstanceUID, err = newUID(); err != nil {
			return nil, PDFInfo{}, err
		}
		info.NewStudy = true
		patientID = s.Meta.PatientID
		patientName = s.Meta.PatientName
		if !s.Meta.StudyDate.IsZero() {
			studyDate = s.Meta.StudyDate.Format("20060102")
		}
	}
	if seriesNumber == 0 {
		seriesNumber = 2000
	}
	title := opts.Title
	if title == "" {
		title = "cmrseg cardiac MR report"
	}
	copied := []string{patientName, patientID, referring, studyID, accession, studyDesc, title}
	for i := range copied {
		copied[i] = strings.ToValidUTF8(copied[i], "?")
	}
	for _, c := range []struct {
		v   string
		max int
	}{{copied[1], 64}, {copied[3], 16}, {copied[4], 16}, {copied[5], 64}, {copied[6], 64}} {
		if len([]rune(c.v)) > c.max {
			return nil, PDFInfo{}, fmt.Errorf("dicomseg: %q is longer than DICOM allows (%d characters)", c.v, c.max)
		}
	}
	patientName, patientID, referring, studyID, accession, studyDesc, title = copied[0], copied[1], copied[2], copied[3], copied[4], copied[5], copied[6]

	doc := pdf
	if len(doc)%2 == 1 {
		doc = append(append([]byte(nil), doc...), 0) // OB is padded to even length with NUL
	}
	set := []elem{
		str(tg(0x0008, 0x0012), "DA", date),
		str(tg(0x0008, 0x0013), "TM", clock),
		str(tg(0x0008, 0x0016), "UI", EncapsulatedPDFStorage),
		str(tg(0x0008, 0x0018), "UI", sopUID),
		str(tg(0x0008, 0x0020), "DA", studyDate),
		str(tg(0x0008, 0x0023), "DA", date),
		str(tg(0x0008, 0x002A), "DT", date+clock),
		str(tg(0x0008, 0x0030), "TM", studyTime),
		str(tg(0x0008, 0x0033), "TM", clock),
		str(tg(0x0008, 0x0050), "SH", accession),
		str(tg(0x0008, 0x0060), "CS", "DOC"),
		str(tg(0x0008, 0x0064), "CS", "WSD"),
		str(tg(0x0008, 0x0070), "LO", algorithmName),
		str(tg(0x0008, 0x0090), "PN", referring),
		str(tg(0x0008, 0x103E), "LO", "cmrseg report (research use, not for diagnosis)"),
		str(tg(0x0010, 0x0010), "PN", patientName),
		str(tg(0x0010, 0x0020), "LO", patientID),
		str(tg(0x0010, 0x0030), "DA", birth),
		str(tg(0x0010, 0x0040), "CS", sex),
		str(tg(0x0018, 0x1020), "LO", softwareVersion()),
		str(tg(0x0020, 0x000D), "UI", info.StudyInstanceUID),
		str(tg(0x0020, 0x000E), "UI", seriesUID),
		str(tg(0x0020, 0x0010), "SH", studyID),
		is(tg(0x0020, 0x0011), seriesNumber),
		is(tg(0x0020, 0x0013), 1),
		// The PDF prints the patient ID: burned-in identifying text.
		str(tg(0x0028, 0x0301), "CS", "YES"),
		sq(tg(0x0040, 0xA043)), // ConceptNameCodeSequence, type 2: present, empty
		str(tg(0x0042, 0x0010), "ST", title),
		{tag: tg(0x0042, 0x0011), vr: "OB", value: doc},
		str(tg(0x0042, 0x0012), "LO", "application/pdf"),
		ul(tg(0x0042, 0x0015), uint32(len(pdf))),
	}
	if studyDesc != "" {
		set = append(set, str(tg(0x0008, 0x1030), "LO", studyDesc))
	}
	if nonASCII(copied...) {
		set = append(set, str(tg(0x0008, 0x0005), "CS", "ISO_IR 192"))
	}
	// The key image is a rendering of a source instance: reference it.
	if src != nil && opts.KeySlice >= 0 && opts.KeyPhase >= 0 && src.Slices > 0 {
		if i := opts.KeySlice + src.Slices*opts.KeyPhase; opts.KeySlice < src.Slices && i < len(src.Frames) {
			f := src.Frames[i]
			if f.SOPClassUID != "" && f.SOPInstanceUID != "" {
				set = append(set, sq(tg(0x0042, 0x0013), []elem{
					str(tg(0x0008, 0x1150), "UI", f.SOPClassUID),
					str(tg(0x0008, 0x1155), "UI", f.SOPInstanceUID),
				}))
			}
		}
	}
	meta := []elem{
		{tag: tg(0x0002, 0x0001), vr: "OB", value: []byte{0, 1}},
		str(tg(0x0002, 0x0002), "UI", EncapsulatedPDFStorage),
		str(tg(0x0002, 0x0003), "UI", sopUID),
		str(tg(0x0002, 0x0010), "UI", explicitVRLittleEndian),
		str(tg(0x0002, 0x0012), "UI", implementationClassUID),
		str(tg(0x0002, 0x0013), "SH", implementationVersionName),
	}
	out, err := encodeFile(meta, set)
	if err != nil {
		return nil, PDFInfo{}, err
	}
	return out, info, nil
}
