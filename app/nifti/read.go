// Package nifti reads and writes NIfTI-1 files (.nii and .nii.gz) as
// study.Series, keeping the source header so results can be written back
// on exactly the input's grid.
//
// Why this package parses the 348-byte header itself instead of calling
// gonii's reader (github.com/okieraised/gonii, the project's chosen NIfTI
// dependency): no wrapper around gonii v0.9.0's reader can be safe. It
// reads and gunzips the whole file into memory with no bound (a small
// .gz can expand without limit), then allocates the voxel buffer from the
// header's dims before checking them against the data (a header claiming
// 2 GB allocates 2 GB; negative dims panic); it panics on inputs under
// 512 bytes, reads int8 as unsigned, expands every voxel to float64
// (a 31 MB 4D file takes ~250 MB), builds a wrong qform matrix (a 1.01
// typo) and writes qfac as 0. So this package keeps gonii's on-disk
// layout type (nifti.Nii1Header, read with encoding/binary) and does the
// rest: dims are checked against what the file can hold before any
// allocation, voxels are decoded straight to float32, geometry follows
// the NIfTI-1 standard, and writes are atomic.
package nifti

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"cmrseg/app/geom"
	"cmrseg/app/membudget"
	"cmrseg/app/study"

	gonii "github.com/okieraised/gonii/pkg/nifti"
)

const (
	headerSize = 348
	// maxVoxels bounds one file (16 GiB as float32); it is far beyond any
	// CMR series and keeps size arithmetic away from overflow.
	maxVoxels = 1 << 32
	// maxDeflateRatio is deflate's largest possible expansion (about
	// 1032:1), used to reject a .gz whose header claims more voxels than
	// the compressed file could ever hold.
	maxDeflateRatio = 1032
	// chunk is the largest single allocation made before the data has
	// actually arrived.
	chunk = 16 << 20
	// streamChunk is how much raw voxel data is decoded at a time.
	streamChunk = 1 << 20
)

// Error classes (errors.Is) for callers and tests; memory and geometry
// refusals match membudget.ErrOverBudget and geom.ErrImplausible.
var (
	ErrTooLarge  = errors.New("too large for this reader")
	ErrTruncated = errors.New("truncated")
)

// Source is the NIfTI file a series was read from. Writers copy its
// spatial header fields verbatim, so a mask written for the series has
// the input's exact dims, sform and qform.
type Source struct {
	Path string
	hdr  gonii.Nii1Header
}

// Datatype is the voxel type stored in the file.
func (s *Source) Datatype() Datatype { return Datatype(s.hdr.Datatype) }

// SformCode is the header's sform_code (0 = unset).
func (s *Source) SformCode() int { return int(s.hdr.SformCode) }

// QformCode is the header's qform_code (0 = unset).
func (s *Source) QformCode() int { return int(s.hdr.QformCode) }

// Affine is the voxel-to-RAS transform the header defines, chosen as
// nibabel does: the sform when sform_code > 0, else the qform when
// qform_code > 0, else pixdim scaling (NIfTI-1 "method 1", no offset).
func (s *Source) Affine() Affine { return bestAffine(&s.hdr) }

// Read reads a .nii or .nii.gz file (gzip is recognised by content, not
// by name) as a Series with one phase per 3D volume along dim 4. ED and
// ES are -1: NIfTI does not say which phase is which.
func Read(path string) (*study.Series, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("nifti: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("nifti: %w", err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("nifti: %s is a folder, not a NIfTI file", path)
	}
	return decode(path, f, st.Size())
}

// Decode reads NIfTI content held in memory; name is used in errors and
// as the Source path.
func Decode(name string, data []byte) (*study.Series, error) {
	return decode(name, bytes.NewReader(data), int64(len(data)))
}

// ReadLabels reads a 3D label map (e.g. an ACDC _gt file). Every voxel
// must be an integer 0–255; anything else is an error, never a silent cast.
func ReadLabels(path string) (*study.Labels, error) {
	s, err := Read(path)
	if err != nil {
		return nil, err
	}
	return labelsOf(path, s)
}

func labelsOf(name string, s *study.Series) (*study.Labels, error) {
	if s.NT != 1 {
		return nil, fmt.Errorf("nifti: %s: a label map must be 3D, found %d volumes", name, s.NT)
	}
	l := &study.Labels{Geometry: s.Geometry, Data: make([]uint8, len(s.Data))}
	for i, v := range s.Data {
		if !(v >= 0 && v <= 255) || v != float32(math.Trunc(float64(v))) {
			return nil, fmt.Errorf("nifti: %s: voxel %d has value %g, not a label 0–255", name, i, v)
		}
		l.Data[i] = uint8(v)
	}
	return l, nil
}

func decode(name string, r io.Reader, size int64) (*study.Series, error) {
	br := bufio.NewReader(r)
	compressed := false
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("nifti: %s: corrupt gzip stream: %v", name, err)
		}
		defer gz.Close()
		r, compressed = gz, true
	} else {
		r = br
	}

	raw := make([]byte, headerSize)
	if n, err := io.ReadFull(r, raw); err != nil {
		return nil, fmt.Errorf("nifti: %s: only %d bytes, a NIfTI-1 header needs %d: %v", name, n, headerSize, err)
	}
	hdr, order, err := parseHeader(raw)
	if err != nil {
		return nil, fmt.Errorf("nifti: %s: %v", name, err)
	}
	dims, nt, err := shape(&hdr)
	if err != nil {
		return nil, fmt.Errorf("nifti: %s: %v", name, err)
	}
	dt := Datatype(hdr.Datatype)
	nvox := membudget.Mul(int64(dims[0]), int64(dims[1]), int64(dims[2]), int64(nt))
	if nvox > maxVoxels || nvox < 0 {
		return nil, fmt.Errorf("nifti: %s: header claims %d voxels, more than this reader accepts (%d): %w", name, nvox, int64(maxVoxels), ErrTooLarge)
	}
	// capacity is the most bytes the input can hold once decompressed.
	capacity, what := size, fmt.Sprintf("the file has %d bytes", size)
	if compressed {
		capacity, what = size*maxDeflateRatio+headerSize, fmt.Sprintf("a %d-byte gzip file cannot hold that many", size)
	}
	off := float64(hdr.VoxOffset)
	if !(off >= headerSize) || off != math.Trunc(off) || off > float64(capacity) {
		return nil, fmt.Errorf("nifti: %s: invalid vox_offset %g", name, off)
	}
	nbytes := nvox * int64(dt.Size())
	if need := int64(off) + nbytes; need > capacity {
		return nil, fmt.Errorf("nifti: %s: header claims %d bytes of voxels (dims %v x %d, %v) from offset %d, but %s: %w",
			name, nbytes, dims, nt, dt, int64(off), what, ErrTruncated)
	}
	// A forged spacing is refused before any allocation, with the same
	// checks for info as for segment.
	aff := bestAffine(&hdr)
	g, err := geometry(aff, dims, [3]float64{float64(hdr.Pixdim[1]), float64(hdr.Pixdim[2]), float64(hdr.Pixdim[3])})
	if err != nil {
		return nil, fmt.Errorf("nifti: %s: %v", name, err)
	}
	if err := geom.Plausible(g, nt); err != nil {
		return nil, fmt.Errorf("nifti: %s: %w", name, err)
	}
	// What stays in memory: the float32 voxels plus one raw chunk. The
	// decompressed stream is never held whole.
	if err := membudget.Check(fmt.Sprintf("nifti: %s: %v x %d voxels as float32", name, dims, nt), membudget.Add(membudget.Mul(nvox, 4), chunk)); err != nil {
		return nil, err
	}
	if _, err := io.CopyN(io.Discard, r, int64(off)-headerSize); err != nil {
		return nil, fmt.Errorf("nifti: %s: truncated before the voxel data at offset %d: %v: %w", name, int64(off), err, ErrTruncated)
	}

	slope, inter := float64(hdr.SclSlope), float64(hdr.SclInter)
	scaled := slope != 0 && !math.IsNaN(slope) && !math.IsInf(slope, 0)
	if scaled && (math.IsNaN(inter) || math.IsInf(inter, 0)) {
		return nil, fmt.Errorf("nifti: %s: valid scl_slope %g but invalid scl_inter %g", name, slope, inter)
	}
	if scaled && slope == 1 && inter == 0 {
		scaled = false
	}

	s := &study.Series{
		Geometry: g,
		NT:       nt,
		ED:       -1,
		ES:       -1,
		Meta: study.Metadata{
			SeriesDescription: description(name, &hdr),
			SourcePaths:       []string{name},
		},
		Source: &Source{Path: name, hdr: hdr},
	}
	// The decompressed stream is cut at exactly nbytes and decoded chunk by
	// chunk; the output grows only as data really arrives, so neither a
	// lying header nor a gzip bomb can allocate more than what it delivers.
	s.Data, err = decodeStream(io.LimitReader(r, nbytes), nvox, dt, order, scaled, slope, inter)
	if err != nil {
		return nil, fmt.Errorf("nifti: %s: reading voxels: %v", name, err)
	}
	if int64(len(s.Data)) < nvox {
		return nil, fmt.Errorf("nifti: %s: truncated: %d of %d voxel bytes present (dims %v x %d, %v): %w", name, int64(len(s.Data))*int64(dt.Size()), nbytes, dims, nt, dt, ErrTruncated)
	}
	s.TriggerTimes = triggerTimes(&hdr, nt)
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("nifti: %s: %v", name, err)
	}
	return s, nil
}

// decodeStream decodes up to n voxels of type dt from r into float32,
// one raw chunk at a time. The output starts at one chunk's worth and
// doubles as data arrives, so a stream that ends early never costs more
// than twice what it held.
func decodeStream(r io.Reader, n int64, dt Datatype, order binary.ByteOrder, scaled bool, slope, inter float64) ([]float32, error) {
	es := int64(dt.Size())
	per := int64(streamChunk) / es // voxels per chunk
	raw := make([]byte, min(n, per)*es)
	out := make([]float32, 0, min(n, per))
	for int64(len(out)) < n {
		want := min(n-int64(len(out)), per)
		m, err := io.ReadFull(r, raw[:want*es])
		got := int64(m) / es
		if int64(len(out))+got > int64(cap(out)) {
			grown := make([]float32, len(out), min(n, max(2*int64(cap(out)), int64(len(out))+got)))
			copy(grown, out)
			out = grown
		}
		k := len(out)
		out = out[:k+int(got)]
		dt.decode(raw[:got*es], order, out[k:], scaled, slope, inter)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// parseHeader decodes the header in whichever byte order makes
// sizeof_hdr 348 and checks the single-file magic.
func parseHeader(raw []byte) (gonii.Nii1Header, binary.ByteOrder, error) {
	var hdr gonii.Nii1Header
	var order binary.ByteOrder
	switch {
	case binary.LittleEndian.Uint32(raw) == headerSize:
		order = binary.LittleEndian
	case binary.BigEndian.Uint32(raw) == headerSize:
		order = binary.BigEndian
	default:
		if binary.LittleEndian.Uint32(raw) == 540 || binary.BigEndian.Uint32(raw) == 540 {
			return hdr, nil, errors.New("NIfTI-2 files are not supported (only NIfTI-1)")
		}
		return hdr, nil, errors.New("not a NIfTI-1 file (sizeof_hdr is not 348)")
	}
	if err := binary.Read(bytes.NewReader(raw), order, &hdr); err != nil {
		return hdr, nil, err
	}
	switch hdr.Magic {
	case gonii.NIFTI_1_MAGIC_SINGLE:
	case gonii.NIFTI_1_MAGIC_PAIR:
		return hdr, nil, errors.New("this is the header of a .hdr/.img pair; only single-file .nii/.nii.gz is supported")
	default:
		return hdr, nil, fmt.Errorf("bad magic %q (want \"n+1\"); ANALYZE 7.5 files are not supported", hdr.Magic[:3])
	}
	if Datatype(hdr.Datatype).Size() == 0 {
		return hdr, nil, fmt.Errorf("unsupported datatype %d (supported: %v)", hdr.Datatype, Datatypes)
	}
	return hdr, order, nil
}

// shape returns the 3D dims and the number of volumes; dims above the
// fourth must be 1 because a Series has no place for them.
func shape(h *gonii.Nii1Header) ([3]int, int, error) {
	n := int(h.Dim[0])
	if n < 1 || n > 7 {
		return [3]int{}, 0, fmt.Errorf("invalid dim[0] %d (must be 1–7)", n)
	}
	size := [7]int{1, 1, 1, 1, 1, 1, 1}
	for a := 1; a <= n; a++ {
		if h.Dim[a] < 1 {
			return [3]int{}, 0, fmt.Errorf("dimension %d is %d", a, h.Dim[a])
		}
		size[a-1] = int(h.Dim[a])
	}
	for a := 4; a < 7; a++ {
		if size[a] != 1 {
			return [3]int{}, 0, fmt.Errorf("%dD data (dim %v) is not supported; at most 4D", n, h.Dim[1:n+1])
		}
	}
	return [3]int{size[0], size[1], size[2]}, size[3], nil
}

func bestAffine(h *gonii.Nii1Header) Affine {
	if h.SformCode > 0 {
		var m Affine
		for c := 0; c < 4; c++ {
			m[0][c], m[1][c], m[2][c] = float64(h.SrowX[c]), float64(h.SrowY[c]), float64(h.SrowZ[c])
		}
		m[3][3] = 1
		return m
	}
	if h.QformCode > 0 {
		qfac := 1.0
		if h.Pixdim[0] < 0 {
			qfac = -1
		}
		return quaternToAffine(float64(h.QuaternB), float64(h.QuaternC), float64(h.QuaternD),
			float64(h.QoffsetX), float64(h.QoffsetY), float64(h.QoffsetZ),
			float64(h.Pixdim[1]), float64(h.Pixdim[2]), float64(h.Pixdim[3]), qfac)
	}
	var m Affine
	for a := 0; a < 3; a++ {
		m[a][a] = float64(h.Pixdim[a+1])
		if !(m[a][a] > 0) {
			m[a][a] = 1
		}
	}
	m[3][3] = 1
	return m
}

// triggerTimes turns pixdim[4] into per-volume times in ms when the
// header names a time unit; without a unit the spacing means nothing.
func triggerTimes(h *gonii.Nii1Header, nt int) []float64 {
	dt := float64(h.Pixdim[4])
	if nt < 2 || !(dt > 0) || math.IsInf(dt, 0) {
		return nil
	}
	var ms float64
	switch h.XyztUnits & 0x38 {
	case 8: // seconds
		ms = 1000
	case 16: // milliseconds
		ms = 1
	case 24: // microseconds
		ms = 0.001
	default:
		return nil
	}
	t := make([]float64, nt)
	for i := range t {
		t[i] = float64(h.Toffset)*ms + float64(i)*dt*ms
	}
	return t
}

func description(name string, h *gonii.Nii1Header) string {
	d := h.Descrip[:]
	if i := bytes.IndexByte(d, 0); i >= 0 {
		d = d[:i]
	}
	text := strings.TrimSpace(string(d))
	if text == "" || !isPrintable(text) {
		return filepath.Base(name)
	}
	return text
}

func isPrintable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return false
		}
	}
	return true
}
