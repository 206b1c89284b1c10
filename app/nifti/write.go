package nifti

import (
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strings"

	"cmrseg/app/atomicfile"
	"cmrseg/app/study"

	gonii "github.com/okieraised/gonii/pkg/nifti"
)

const (
	voxOffset       = headerSize + 4 // header plus the 4-byte "no extensions" marker
	xformScanner    = 1              // NIFTI_XFORM_SCANNER_ANAT
	unitsMM         = 2              // NIFTI_UNITS_MM
	unitsMS         = 16             // NIFTI_UNITS_MSEC
	intentLabel     = 1002           // NIFTI_INTENT_LABEL
	maxDescripBytes = 79
)

// Write writes a whole series, its NT phases along dim 4, in type dt.
// Integer types take only integral in-range values: anything else is an
// error naming the voxel, never a silent rounding.
func Write(path string, s *study.Series, dt Datatype) error {
	if err := s.Validate(); err != nil {
		return fmt.Errorf("nifti: writing %s: %v", path, err)
	}
	hdr, err := header(s.Geometry, s.Source, s.NT, dt, s.Meta.SeriesDescription)
	if err != nil {
		return fmt.Errorf("nifti: writing %s: %v", path, err)
	}
	if tt := s.TriggerTimes; len(tt) > 1 && tt[1] > tt[0] {
		hdr.Pixdim[4] = float32(tt[1] - tt[0])
		hdr.Toffset = float32(tt[0])
		hdr.XyztUnits = hdr.XyztUnits&7 | unitsMS
	}
	payload, bad := dt.encode(make([]byte, 0, len(s.Data)*dt.Size()), s.Data)
	if bad >= 0 {
		return fmt.Errorf("nifti: writing %s: voxel %d has value %g, not representable as %v", path, bad, s.Data[bad], dt)
	}
	return writeFile(path, &hdr, payload)
}

// WriteLabels writes a uint8 label map with ref's exact spatial dims and
// affine (copied verbatim when ref was read from NIfTI, computed from its
// Geometry otherwise).
func WriteLabels(path string, ref *study.Series, l *study.Labels) error {
	if l.Dims != ref.Dims || len(l.Data) != ref.N() {
		return fmt.Errorf("nifti: writing %s: label map %v (%d voxels) does not match the series grid %v", path, l.Dims, len(l.Data), ref.Dims)
	}
	hdr, err := header(ref.Geometry, ref.Source, 1, Uint8, "cmrseg labels")
	if err != nil {
		return fmt.Errorf("nifti: writing %s: %v", path, err)
	}
	hdr.IntentCode = intentLabel
	return writeFile(path, &hdr, l.Data)
}

// WriteMap writes n float32 volumes on ref's grid: n = 1 for a 3D map
// (e.g. entropy), n = 4 for class probabilities stored x, y, z, class.
// data holds the volumes one after another, like Series.Data.
func WriteMap(path string, ref *study.Series, data []float32, n int) error {
	if n < 1 || len(data) != n*ref.N() {
		return fmt.Errorf("nifti: writing %s: %d values for %d volumes of %v", path, len(data), n, ref.Dims)
	}
	hdr, err := header(ref.Geometry, ref.Source, n, Float32, "cmrseg map")
	if err != nil {
		return fmt.Errorf("nifti: writing %s: %v", path, err)
	}
	payload, _ := Float32.encode(make([]byte, 0, 4*len(data)), data)
	return writeFile(path, &hdr, payload)
}

// header builds a NIfTI-1 header for nt volumes of type dt on grid g. When
// src is the NIfTI file g was read from, its spatial fields are copied
// verbatim so the output overlays the input bit for bit; otherwise sform
// and qform are both computed from g (scanner coordinates).
func header(g study.Geometry, src any, nt int, dt Datatype, descrip string) (gonii.Nii1Header, error) {
	var h gonii.Nii1Header
	for _, d := range []int{g.Dims[0], g.Dims[1], g.Dims[2], nt} {
		if d < 1 || d > math.MaxInt16 {
			return h, fmt.Errorf("dimension %d does not fit a NIfTI-1 header (1–%d)", d, math.MaxInt16)
		}
	}
	if s, ok := src.(*Source); ok && sameGrid(&s.hdr, g) {
		o := &s.hdr
		h.DimInfo = o.DimInfo
		h.Pixdim = [8]float32{o.Pixdim[0], o.Pixdim[1], o.Pixdim[2], o.Pixdim[3], 1, 1, 1, 1}
		h.QformCode, h.SformCode = o.QformCode, o.SformCode
		h.QuaternB, h.QuaternC, h.QuaternD = o.QuaternB, o.QuaternC, o.QuaternD
		h.QoffsetX, h.QoffsetY, h.QoffsetZ = o.QoffsetX, o.QoffsetY, o.QoffsetZ
		h.SrowX, h.SrowY, h.SrowZ = o.SrowX, o.SrowY, o.SrowZ
		h.XyztUnits = o.XyztUnits & 7
	} else {
		m := affineOf(g)
		for c := 0; c < 4; c++ {
			h.SrowX[c], h.SrowY[c], h.SrowZ[c] = float32(m[0][c]), float32(m[1][c]), float32(m[2][c])
		}
		b, c, d, qx, qy, qz, _, _, _, qfac := affineToQuatern(m)
		h.QuaternB, h.QuaternC, h.QuaternD = float32(b), float32(c), float32(d)
		h.QoffsetX, h.QoffsetY, h.QoffsetZ = float32(qx), float32(qy), float32(qz)
		h.Pixdim = [8]float32{float32(qfac), float32(g.Spacing[0]), float32(g.Spacing[1]), float32(g.Spacing[2]), 1, 1, 1, 1}
		h.QformCode, h.SformCode = xformScanner, xformScanner
		h.XyztUnits = unitsMM
	}
	h.SizeofHdr = headerSize
	h.Magic = gonii.NIFTI_1_MAGIC_SINGLE
	h.Dim = [8]int16{3, int16(g.Dims[0]), int16(g.Dims[1]), int16(g.Dims[2]), 1, 1, 1, 1}
	if nt > 1 {
		h.Dim[0], h.Dim[4] = 4, int16(nt)
	}
	h.Datatype = int16(dt)
	h.Bitpix = int16(8 * dt.Size())
	h.VoxOffset = voxOffset
	h.SclSlope, h.SclInter = 1, 0
	if len(descrip) > maxDescripBytes {
		descrip = descrip[:maxDescripBytes]
	}
	copy(h.Descrip[:], descrip)
	return h, nil
}

// sameGrid reports whether the header still describes grid g, i.e. g was
// read from it and not resampled since.
func sameGrid(o *gonii.Nii1Header, g study.Geometry) bool {
	dims, _, err := shape(o)
	if err != nil || dims != g.Dims {
		return false
	}
	src, err := geometry(bestAffine(o), dims, [3]float64{float64(o.Pixdim[1]), float64(o.Pixdim[2]), float64(o.Pixdim[3])})
	return err == nil && src == g
}

func writeFile(path string, h *gonii.Nii1Header, payload []byte) error {
	compress := strings.HasSuffix(path, ".nii.gz")
	if !compress && !strings.HasSuffix(path, ".nii") {
		return fmt.Errorf("nifti: writing %s: the name must end in .nii or .nii.gz", path)
	}
	err := atomicfile.WriteWith(path, func(w io.Writer) error {
		var gz *gzip.Writer
		if compress {
			gz = gzip.NewWriter(w)
			w = gz
		}
		if err := binary.Write(w, binary.LittleEndian, h); err != nil {
			return err
		}
		if _, err := w.Write(make([]byte, voxOffset-headerSize)); err != nil {
			return err
		}
		if _, err := w.Write(payload); err != nil {
			return err
		}
		if gz != nil {
			return gz.Close()
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("nifti: writing %s: %w", path, err)
	}
	return nil
}
