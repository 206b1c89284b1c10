package dicomio

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"cmrseg/app/shareddata"
	"cmrseg/app/study"
)

// pyResult is pydicom's reading of one file: its frames (rows*cols*samples
// values each) after RescaleSlope/Intercept, or the error pydicom raised.
type pyResult struct {
	Shape []int  `json:"shape"` // frames, rows, cols, samples
	Error string `json:"error"`
	data  []float64
}

// frame returns pydicom's frame f.
func (r *pyResult) frame(f int) []float64 {
	n := r.Shape[1] * r.Shape[2] * r.Shape[3]
	return r.data[f*n : (f+1)*n]
}

const pyOracle = `
import sys, json, numpy as np, pydicom
out, rescale = sys.argv[1], sys.argv[2] == 'rescale'
res = {}
for i, f in enumerate(sys.argv[3:]):
    try:
        ds = pydicom.dcmread(f)
        a = ds.pixel_array.astype(np.float64)
        nf = int(getattr(ds, 'NumberOfFrames', 1) or 1)
        spp = int(getattr(ds, 'SamplesPerPixel', 1))
        a = a.reshape(nf, ds.Rows, ds.Columns, spp)
        slopes = [float(getattr(ds, 'RescaleSlope', 1) or 1)] * nf
        inters = [float(getattr(ds, 'RescaleIntercept', 0) or 0)] * nf
        def pvt(item):
            if item is not None and 'PixelValueTransformationSequence' in item:
                p = item.PixelValueTransformationSequence[0]
                return float(p.RescaleSlope), float(p.RescaleIntercept)
            return None
        if 'PerFrameFunctionalGroupsSequence' in ds:
            shared = ds.SharedFunctionalGroupsSequence[0] if 'SharedFunctionalGroupsSequence' in ds else None
            for k in range(nf):
                v = pvt(ds.PerFrameFunctionalGroupsSequence[k]) or pvt(shared)
                if v:
                    slopes[k], inters[k] = v
        for k in range(nf):
            if rescale:
                a[k] = a[k] * slopes[k] + inters[k]
        a.astype('<f8').tofile('%s/%d.bin' % (out, i))
        res[i] = {'shape': list(a.shape)}
    except Exception as e:
        res[i] = {'error': '%s: %s' % (type(e).__name__, e)}
json.dump(res, open(out + '/index.json', 'w'))
`

// pydicomRead runs pydicom once over all files, returning pixel_array
// times RescaleSlope plus RescaleIntercept.
func pydicomRead(t *testing.T, files []string) map[string]*pyResult {
	return pydicomPixels(t, files, true)
}

// pydicomPixels runs pydicom once over all files; rescale applies the
// modality rescale, otherwise the stored values come back as they are.
func pydicomPixels(t *testing.T, files []string, rescale bool) map[string]*pyResult {
	t.Helper()
	py := shareddata.Python(t, "numpy", "pydicom")
	dir := t.TempDir()
	mode := "raw"
	if rescale {
		mode = "rescale"
	}
	cmd := exec.Command(py, append([]string{"-c", pyOracle, dir, mode}, files...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pydicom oracle: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	idx := map[string]*pyResult{}
	if err := json.Unmarshal(raw, &idx); err != nil {
		t.Fatal(err)
	}
	res := map[string]*pyResult{}
	for i, f := range files {
		r := idx[strconv.Itoa(i)]
		if r == nil {
			t.Fatalf("pydicom oracle: no result for %s", f)
		}
		if r.Error == "" {
			b, err := os.ReadFile(filepath.Join(dir, strconv.Itoa(i)+".bin"))
			if err != nil {
				t.Fatal(err)
			}
			r.data = make([]float64, len(b)/8)
			for j := range r.data {
				r.data[j] = math.Float64frombits(binary.LittleEndian.Uint64(b[8*j:]))
			}
		}
		res[f] = r
	}
	return res
}

// compareWithPydicom checks every frame of s against pydicom's pixels of
// the same file and frame; it returns the number of frames compared.
func compareWithPydicom(t *testing.T, s *study.Series, py map[string]*pyResult) int {
	t.Helper()
	src := s.Source.(*study.DICOMSource)
	n := s.Dims[0] * s.Dims[1]
	compared := 0
	for i, fr := range src.Frames {
		r := py[fr.Path]
		if r == nil || r.Error != "" {
			t.Errorf("%s: no pydicom pixels to compare with (%v)", fr.Path, r)
			continue
		}
		want := r.frame(fr.Frame - 1)
		got := s.Data[i*n : (i+1)*n]
		if len(want) != n {
			t.Errorf("%s frame %d: pydicom has %d values, we have %d", fr.Path, fr.Frame, len(want), n)
			continue
		}
		for j := range got {
			if d := math.Abs(float64(got[j]) - want[j]); d > 1e-5*math.Max(1, math.Abs(want[j])) {
				t.Errorf("%s frame %d pixel %d: got %g, pydicom %g", fr.Path, fr.Frame, j, got[j], want[j])
				break
			}
		}
		compared++
	}
	return compared
}

// pyGeometry is pydicom's reading of one single-frame file's plane.
type pyGeometry struct {
	IPP     [3]float64 `json:"ipp"`
	IOP     [6]float64 `json:"iop"`
	Spacing [2]float64 `json:"spacing"`
	Trigger float64    `json:"trigger"`
	Number  int        `json:"number"`
}

const pyGeometryScript = `
import sys, json, pydicom
res = {}
for f in sys.argv[1:]:
    ds = pydicom.dcmread(f, stop_before_pixels=True)
    res[f] = {'ipp': [float(v) for v in ds.ImagePositionPatient],
              'iop': [float(v) for v in ds.ImageOrientationPatient],
              'spacing': [float(v) for v in ds.PixelSpacing],
              'trigger': float(getattr(ds, 'TriggerTime', 0) or 0),
              'number': int(getattr(ds, 'InstanceNumber', 0) or 0)}
json.dump(res, sys.stdout)
`

func pydicomGeometry(t *testing.T, files []string) map[string]pyGeometry {
	t.Helper()
	py := shareddata.Python(t, "pydicom")
	out, err := exec.Command(py, append([]string{"-c", pyGeometryScript}, files...)...).Output()
	if err != nil {
		t.Fatalf("pydicom geometry: %v", err)
	}
	res := map[string]pyGeometry{}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	return res
}

func itoa(i int) string { return strconv.Itoa(i) }
