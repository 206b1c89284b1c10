package dicomio

import (
	"encoding/binary"
	"fmt"
)

// syntax is what the reader knows about one transfer syntax.
type syntax struct {
	name      string
	order     binary.ByteOrder
	implicit  bool
	rle       bool   // encapsulated RLE Lossless, decoded here
	jpeg      bool   // encapsulated JPEG (lossless or 8-bit DCT), decoded here
	jpegls    bool   // encapsulated lossless JPEG-LS, decoded here
	j2k       bool   // encapsulated JPEG 2000 (one component), decoded here
	deflated  bool   // the data set after the file meta group is deflated
	lossy     bool   // the syntax itself is lossy
	unsupport string // non-empty: why it cannot be read, and how to convert
}

const (
	implicitLE = "1.2.840.10008.1.2"
	explicitLE = "1.2.840.10008.1.2.1"
	explicitBE = "1.2.840.10008.1.2.2"
	rleLossles = "1.2.840.10008.1.2.5"
	deflatedLE = "1.2.840.10008.1.2.1.99"
	jpegBase   = "1.2.840.10008.1.2.4.50"
	jpegP14    = "1.2.840.10008.1.2.4.57"
	jpegSV1    = "1.2.840.10008.1.2.4.70"
	jpegLS     = "1.2.840.10008.1.2.4.80"
	j2kLossles = "1.2.840.10008.1.2.4.90"
	j2kAny     = "1.2.840.10008.1.2.4.91"
)

const (
	jpegHint = "decompress it first, e.g. `dcmdjpeg IN OUT` (dcmtk) or `gdcmconv --raw IN OUT` (GDCM)"
	jplsHint = "decompress it first, e.g. `dcmdjpls IN OUT` (dcmtk) or `gdcmconv --raw IN OUT` (GDCM)"
	j2kHint  = "decompress it first, e.g. `gdcmconv --raw IN OUT` (GDCM) or `dcmdjp2k IN OUT` (dcmtk with its JPEG 2000 module)"
)

var syntaxes = map[string]syntax{
	implicitLE: {name: "Implicit VR Little Endian", order: binary.LittleEndian, implicit: true},
	explicitLE: {name: "Explicit VR Little Endian", order: binary.LittleEndian},
	explicitBE: {name: "Explicit VR Big Endian", order: binary.BigEndian},
	rleLossles: {name: "RLE Lossless", order: binary.LittleEndian, rle: true},

	deflatedLE:                {name: "Deflated Explicit VR Little Endian", order: binary.LittleEndian, deflated: true},
	jpegBase:                  {name: "JPEG Baseline (Process 1)", order: binary.LittleEndian, jpeg: true, lossy: true},
	jpegP14:                   {name: "JPEG Lossless, Non-Hierarchical (Process 14)", order: binary.LittleEndian, jpeg: true},
	jpegLS:                    {name: "JPEG-LS Lossless", order: binary.LittleEndian, jpegls: true},
	jpegSV1:                   {name: "JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14, SV1)", order: binary.LittleEndian, jpeg: true},
	"1.2.840.10008.1.2.4.51":  {name: "JPEG Extended (Process 2 & 4)", unsupport: jpegHint},
	"1.2.840.10008.1.2.4.81":  {name: "JPEG-LS Lossy (Near-Lossless)", unsupport: jplsHint},
	j2kLossles:                {name: "JPEG 2000 Lossless", order: binary.LittleEndian, j2k: true},
	j2kAny:                    {name: "JPEG 2000", order: binary.LittleEndian, j2k: true},
	"1.2.840.10008.1.2.4.92":  {name: "JPEG 2000 Part 2 Multi-component Lossless", unsupport: j2kHint},
	"1.2.840.10008.1.2.4.93":  {name: "JPEG 2000 Part 2 Multi-component", unsupport: j2kHint},
	"1.2.840.10008.1.2.4.100": {name: "MPEG2 Main Profile", unsupport: "video transfer syntaxes are not supported; export the frames as uncompressed DICOM"},
	"1.2.840.10008.1.2.4.101": {name: "MPEG2 High Profile", unsupport: "video transfer syntaxes are not supported; export the frames as uncompressed DICOM"},
	"1.2.840.10008.1.2.4.102": {name: "MPEG-4 AVC/H.264", unsupport: "video transfer syntaxes are not supported; export the frames as uncompressed DICOM"},
	"1.2.840.10008.1.2.4.103": {name: "MPEG-4 AVC/H.264 BD", unsupport: "video transfer syntaxes are not supported; export the frames as uncompressed DICOM"},
}

// lookupSyntax returns the syntax for uid, or an error that names it and
// says how to convert the file into one this reader supports.
func lookupSyntax(uid string) (syntax, error) {
	s, ok := syntaxes[uid]
	if !ok {
		return syntax{}, fmt.Errorf("unknown transfer syntax UID %q", uid)
	}
	if s.unsupport != "" {
		return s, fmt.Errorf("transfer syntax %s (%s) is not supported: %s", s.name, uid, s.unsupport)
	}
	return s, nil
}
