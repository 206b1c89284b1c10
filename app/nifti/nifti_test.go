package nifti

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"cmrseg/app/shareddata"
	"cmrseg/app/study"
)

// hashF32 is the SHA-256 of the voxels as little-endian float32, the same
// digest the Python oracle computes from nibabel's array in Fortran order.
func hashF32(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// oracle runs a Python snippet with nibabel and decodes its JSON output.
func oracle(t *testing.T, script string, input any, out any) {
	t.Helper()
	py := shareddata.Python(t, "nibabel", "numpy")
	in, err := json.Marshal(input)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, "-c", oraclePrelude+script)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	res, err := cmd.Output()
	if err != nil {
		t.Fatalf("oracle: %v\n%s", err, stderr.String())
	}
	if err := json.Unmarshal(res, out); err != nil {
		t.Fatalf("oracle output: %v\n%s", err, res)
	}
}

const oraclePrelude = `
import sys, json, hashlib
import numpy as np, nibabel as nib
def digest(a):
    return hashlib.sha256(np.asarray(a, dtype='<f4').ravel(order='F').tobytes()).hexdigest()
def info(p):
    img = nib.load(p)
    return {"shape": list(img.shape), "affine": img.affine.tolist(),
            "sha": digest(img.get_fdata()), "dtype": str(img.get_data_dtype().newbyteorder('=')),
            "sform": int(img.header['sform_code']), "qform": int(img.header['qform_code']),
            "qaffine": img.header.get_qform().tolist(), "saffine": img.header.get_sform().tolist()}
paths = json.load(sys.stdin)
`

type nibInfo struct {
	Shape   []int
	Affine  [4][4]float64
	Sha     string
	Dtype   string
	Sform   int
	Qform   int
	QAffine [4][4]float64
	SAffine [4][4]float64
}

func acdcFiles(t *testing.T) []string {
	root := shareddata.Require(t, "acdc/training")
	files, err := filepath.Glob(filepath.Join(root, "patient*", "patient*.nii.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 401 {
		t.Fatalf("found %d ACDC NIfTI files, want 401 (100 patients x 2 frames x image+gt, plus patient090_4d)", len(files))
	}
	return files
}

func shapeOf(s *study.Series) []int {
	sh := []int{s.Dims[0], s.Dims[1], s.Dims[2]}
	if s.NT > 1 {
		sh = append(sh, s.NT)
	}
	return sh
}

// TestACDCMatchesNibabel reads all 401 ACDC files and checks every voxel
// (by digest), the shape and the affine against nibabel.
func TestACDCMatchesNibabel(t *testing.T) {
	files := acdcFiles(t)
	var want map[string]nibInfo
	oracle(t, `json.dump({p: info(p) for p in paths}, sys.stdout)`, files, &want)
	var n4d, nlab int
	for _, f := range files {
		s, err := Read(f)
		if err != nil {
			t.Fatal(err)
		}
		w := want[f]
		if !slices.Equal(shapeOf(s), w.Shape) {
			t.Errorf("%s: shape %v, nibabel %v", f, shapeOf(s), w.Shape)
		}
		src := s.Source.(*Source)
		if src.Affine() != w.Affine {
			t.Errorf("%s: affine %v, nibabel %v", f, src.Affine(), w.Affine)
		}
		if got := hashF32(s.Data); got != w.Sha {
			t.Errorf("%s: voxel digest differs from nibabel's", f)
		}
		if src.Datatype().String() != w.Dtype {
			t.Errorf("%s: datatype %v, nibabel %s", f, src.Datatype(), w.Dtype)
		}
		// ACDC's sform holds only directions: spacing must come from pixdim.
		for a := 0; a < 3; a++ {
			if s.Spacing[a] != float64(src.hdr.Pixdim[a+1]) {
				t.Errorf("%s: spacing %v, pixdim %v", f, s.Spacing, src.hdr.Pixdim)
			}
		}
		if s.NT > 1 {
			n4d++
		}
		if strings.HasSuffix(f, "_gt.nii.gz") {
			nlab++
			l, err := ReadLabels(f)
			if err != nil {
				t.Fatal(err)
			}
			for i, v := range l.Data {
				if v > 3 {
					t.Fatalf("%s: voxel %d label %d", f, i, v)
				}
			}
		}
	}
	if n4d != 1 || nlab != 200 {
		t.Errorf("%d 4D files and %d label maps, want 1 and 200", n4d, nlab)
	}
}

// TestMasksWrittenBack writes every ACDC ground truth back on its image's
// grid and has nibabel confirm the affine, header transforms, dims and values.
func TestMasksWrittenBack(t *testing.T) {
	files := acdcFiles(t)
	dir := t.TempDir()
	pairs := map[string]string{} // written -> original
	for _, f := range files {
		if !strings.HasSuffix(f, "_gt.nii.gz") {
			continue
		}
		img, err := Read(strings.TrimSuffix(f, "_gt.nii.gz") + ".nii.gz")
		if err != nil {
			t.Fatal(err)
		}
		l, err := ReadLabels(f)
		if err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, filepath.Base(f))
		if err := WriteLabels(out, img, l); err != nil {
			t.Fatal(err)
		}
		pairs[out] = f
	}
	var bad []string
	oracle(t, `
bad = []
for out, orig in paths.items():
    a, b = nib.load(out), nib.load(orig)
    ha, hb = a.header, b.header
    ok = (a.shape == b.shape and np.array_equal(a.affine, b.affine)
          and a.get_data_dtype() == np.uint8
          and np.array_equal(np.asanyarray(a.dataobj), np.asanyarray(b.dataobj))
          and all(np.array_equal(ha[k], hb[k]) for k in
                  ['sform_code', 'qform_code', 'srow_x', 'srow_y', 'srow_z', 'quatern_b', 'quatern_c',
                   'quatern_d', 'qoffset_x', 'qoffset_y', 'qoffset_z'])
          and np.array_equal(ha['pixdim'][:4], hb['pixdim'][:4]))
    if not ok: bad.append(out)
json.dump(bad, sys.stdout)`, pairs, &bad)
	if len(pairs) != 200 || len(bad) != 0 {
		t.Errorf("%d masks written; nibabel disagrees on %v", len(pairs), bad)
	}
}

// TestMapsOnACDCGrid writes a float32 3D map and a 4-class probability map
// on a real series' grid.
func TestMapsOnACDCGrid(t *testing.T) {
	root := shareddata.Require(t, "acdc/training")
	ref, err := Read(filepath.Join(root, "patient001", "patient001_frame01.nii.gz"))
	if err != nil {
		t.Fatal(err)
	}
	n := ref.N()
	entropy := make([]float32, n)
	probs := make([]float32, 4*n)
	for i := range n {
		entropy[i] = float32(i%977) / 977
		for c := range 4 {
			probs[c*n+i] = float32((i+c)%4) / 6
		}
	}
	dir := t.TempDir()
	files := map[string]string{
		filepath.Join(dir, "entropy.nii.gz"): hashF32(entropy),
		filepath.Join(dir, "probs.nii.gz"):   hashF32(probs),
		filepath.Join(dir, "probs.nii"):      hashF32(probs),
	}
	for p := range files {
		m, data := 4, probs
		if strings.Contains(p, "entropy") {
			m, data = 1, entropy
		}
		if err := WriteMap(p, ref, data, m); err != nil {
			t.Fatal(err)
		}
	}
	var got map[string]nibInfo
	oracle(t, `json.dump({p: info(p) for p in paths}, sys.stdout)`, files, &got)
	for p, sha := range files {
		w := got[p]
		wantShape := []int{ref.Dims[0], ref.Dims[1], ref.Dims[2]}
		if !strings.Contains(p, "entropy") {
			wantShape = append(wantShape, 4)
		}
		if !slices.Equal(w.Shape, wantShape) || w.Sha != sha || w.Dtype != "float32" || w.Affine != ref.Source.(*Source).Affine() {
			t.Errorf("%s: nibabel sees shape %v dtype %s affine %v; want %v float32 %v, digest equal %v",
				p, w.Shape, w.Dtype, w.Affine, wantShape, ref.Source.(*Source).Affine(), w.Sha == sha)
		}
	}
}

// oblique is a DICOM-like grid: rotated, left-handed in RAS, offset origin.
func oblique(dims [3]int) study.Geometry {
	c, s := math.Cos(0.5), math.Sin(0.5)
	return study.Geometry{
		Dims:    dims,
		Spacing: [3]float64{1.25, 1.5, 8},
		Origin:  [3]float64{-120.5, 80.25, 33},
		Direction: [3][3]float64{
			{c, s, 0},
			{-s * 0.6, c * 0.6, 0.8},
			{s * 0.8, -c * 0.8, 0.6},
		},
	}
}

func testValues(dt Datatype, n int) []float32 {
	lo, hi := dt.intRange()
	v := make([]float32, n)
	for i := range v {
		switch dt {
		case Float32:
			v[i] = float32(math.Sin(float64(i))*1e5) + 1e-3
		case Float64:
			v[i] = float32(-3.5 + float64(i)*0.25)
		default:
			v[i] = float32(lo + math.Mod(float64(i*7919), min(hi-lo, 1<<24)+1))
		}
	}
	if dt != Float32 && dt != Float64 {
		v[0], v[1] = float32(lo), float32(hi)
		if float64(v[1]) > hi { // int32's maximum is not a float32
			v[1] = math.Nextafter32(v[1], 0)
		}
	}
	return v
}

// TestRoundTripEveryDatatype writes each datatype (plain and gzip) on an
// oblique grid with no NIfTI source, reads it back, and has nibabel check
// the on-disk dtype, values and affine (sform and qform both).
func TestRoundTripEveryDatatype(t *testing.T) {
	dir := t.TempDir()
	g := oblique([3]int{7, 5, 3})
	want := map[string]string{}
	for _, dt := range Datatypes {
		for _, ext := range []string{".nii", ".nii.gz"} {
			s := &study.Series{Geometry: g, NT: 2, Data: testValues(dt, 2*g.N()), ED: -1, ES: -1,
				TriggerTimes: []float64{0, 40}}
			p := filepath.Join(dir, dt.String()+ext)
			if err := Write(p, s, dt); err != nil {
				t.Fatal(err)
			}
			back, err := Read(p)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(back.Data, s.Data) {
				t.Errorf("%s: values changed in the round trip", p)
			}
			if !slices.Equal(back.TriggerTimes, s.TriggerTimes) {
				t.Errorf("%s: trigger times %v", p, back.TriggerTimes)
			}
			if e := geomErr(back.Geometry, g); e > 1e-4 {
				t.Errorf("%s: geometry off by %g: %+v", p, e, back.Geometry)
			}
			want[p] = dt.String()
		}
	}
	// Out-of-range and fractional values are refused for integer types.
	s := &study.Series{Geometry: g, NT: 1, Data: make([]float32, g.N())}
	s.Data[3] = 2.5
	if err := Write(filepath.Join(dir, "bad.nii"), s, Int16); err == nil || !strings.Contains(err.Error(), "voxel 3") {
		t.Errorf("fractional int16: %v", err)
	}
	s.Data[3] = 300
	if err := Write(filepath.Join(dir, "bad.nii"), s, Uint8); err == nil {
		t.Error("300 written as uint8 without error")
	}

	var got map[string]nibInfo
	oracle(t, `json.dump({p: info(p) for p in paths}, sys.stdout)`, want, &got)
	ras := affineOf(g)
	for p, dt := range want {
		w := got[p]
		s, _ := Read(p)
		if w.Dtype != dt || w.Sha != hashF32(s.Data) || w.Sform != 1 || w.Qform != 1 {
			t.Errorf("%s: nibabel dtype %s (want %s), sform %d qform %d, digest equal %v", p, w.Dtype, dt, w.Sform, w.Qform, w.Sha == hashF32(s.Data))
		}
		for r := range 4 {
			for c := range 4 {
				if math.Abs(w.SAffine[r][c]-ras[r][c]) > 1e-4 || math.Abs(w.QAffine[r][c]-ras[r][c]) > 1e-4 {
					t.Fatalf("%s: nibabel sform %v qform %v, want %v", p, w.SAffine, w.QAffine, ras)
				}
			}
		}
	}
}

func geomErr(a, b study.Geometry) float64 {
	e := 0.0
	if a.Dims != b.Dims {
		return math.Inf(1)
	}
	for i := range 3 {
		e = max(e, math.Abs(a.Spacing[i]-b.Spacing[i]), math.Abs(a.Origin[i]-b.Origin[i]))
		for j := range 3 {
			e = max(e, math.Abs(a.Direction[i][j]-b.Direction[i][j]))
		}
	}
	return e
}

// TestReadsNibabelFiles reads files nibabel wrote in every datatype, with
// scaling, big-endian, qform-only rotations and 4D time units.
func TestReadsNibabelFiles(t *testing.T) {
	dir := t.TempDir()
	var got map[string]nibInfo
	oracle(t, `
out = {}
rng = np.random.default_rng(7)
def save(name, arr, aff, slope=None, inter=None, qform_only=False, units=None, pixdim4=None):
    img = nib.Nifti1Image(arr, aff)
    h = img.header
    if qform_only:
        img.set_qform(aff, code=1); img.set_sform(None, code=0)
    if slope is not None:
        h['scl_slope'] = slope; h['scl_inter'] = inter
    if units: h.set_xyzt_units('mm', units)
    if pixdim4: h['pixdim'][4] = pixdim4
    p = paths + '/' + name
    nib.save(img, p)
    out[p] = info(p)
aff = np.diag([1.5, 1.25, 8.0, 1.0]); aff[:3, 3] = [10, -20, 30]
for dt in ['uint8', 'int8', 'int16', 'uint16', 'int32', 'float32', 'float64']:
    info_ = np.iinfo(dt) if dt[0] in 'ui' else None
    if info_ is not None:
        a = rng.integers(info_.min, info_.max, size=(6, 5, 4), endpoint=True).astype(dt)
        a.flat[0] = info_.min; a.flat[1] = info_.max
        save(dt + '_scaled.nii.gz', a, aff, slope=0.5, inter=-3.0)
    else:
        a = (rng.standard_normal((6, 5, 4)) * 100).astype(dt)
    save(dt + '.nii', a, aff)
save('int16_be.nii', np.arange(120, dtype='>i2').reshape(6, 5, 4) - 60, aff)
c, s = np.cos(0.7), np.sin(0.7)
rot = np.array([[c, -s, 0], [s * 0.6, c * 0.6, -0.8], [s * 0.8, c * 0.8, 0.6]])
qa = np.eye(4); qa[:3, :3] = rot @ np.diag([1.4, 1.4, 9.0]); qa[:3, 3] = [-50, 60, 70]
save('qform_only.nii.gz', rng.standard_normal((6, 5, 4)).astype('float32'), qa, qform_only=True)
flip = qa.copy(); flip[:3, 2] *= -1
save('qform_flipped.nii.gz', rng.standard_normal((6, 5, 4)).astype('float32'), flip, qform_only=True)
save('cine_4d.nii.gz', rng.integers(0, 900, size=(6, 5, 4, 3)).astype('int16'), aff, units='msec', pixdim4=35.0)
json.dump(out, sys.stdout)`, dir, &got)
	if len(got) != 16 {
		t.Fatalf("oracle wrote %d files", len(got))
	}
	for p, w := range got {
		s, err := Read(p)
		if err != nil {
			t.Fatal(err)
		}
		src := s.Source.(*Source)
		if !slices.Equal(shapeOf(s), w.Shape) || hashF32(s.Data) != w.Sha || src.Datatype().String() != w.Dtype {
			t.Errorf("%s: shape %v dtype %v, nibabel %v %s; digest equal %v", p, shapeOf(s), src.Datatype(), w.Shape, w.Dtype, hashF32(s.Data) == w.Sha)
		}
		a := src.Affine()
		for r := range 4 {
			for c := range 4 {
				if math.Abs(a[r][c]-w.Affine[r][c]) > 1e-5 {
					t.Fatalf("%s: affine %v, nibabel %v", p, a, w.Affine)
				}
			}
		}
		if strings.Contains(p, "cine_4d") && !slices.Equal(s.TriggerTimes, []float64{0, 35, 70}) {
			t.Errorf("%s: trigger times %v", p, s.TriggerTimes)
		}
	}
}

// minimal builds a valid single-file NIfTI-1 in memory.
func minimal(t testing.TB, dims [3]int, dt Datatype, values []float32) []byte {
	t.Helper()
	g := study.Geometry{Dims: dims, Spacing: [3]float64{1, 1, 1}, Direction: [3][3]float64{{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}}
	h, err := header(g, nil, 1, dt, "seed")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, &h)
	b.Write(make([]byte, 4))
	payload, bad := dt.encode(nil, values)
	if bad >= 0 {
		t.Fatalf("value %d", bad)
	}
	b.Write(payload)
	return b.Bytes()
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

// TestBadInput checks that broken files give errors naming the file and
// the problem, and that a header claiming huge dims is refused before
// anything near that size is allocated.
func TestBadInput(t *testing.T) {
	good := minimal(t, [3]int{4, 3, 2}, Int16, make([]float32, 24))
	huge := slices.Clone(good)
	binary.LittleEndian.PutUint16(huge[42:], 2000) // dim[1]
	binary.LittleEndian.PutUint16(huge[44:], 2000) // dim[2]
	binary.LittleEndian.PutUint16(huge[46:], 250)  // dim[3]: 2 GB of int16
	fiveD := slices.Clone(good)
	binary.LittleEndian.PutUint16(fiveD[40:], 5)
	binary.LittleEndian.PutUint16(fiveD[48:], 1)
	binary.LittleEndian.PutUint16(fiveD[50:], 3)
	badType := slices.Clone(good)
	binary.LittleEndian.PutUint16(badType[70:], 32) // complex64
	negDim := slices.Clone(good)
	binary.LittleEndian.PutUint16(negDim[42:], 0xfff0)
	pair := slices.Clone(good)
	copy(pair[344:], "ni1\x00")
	nanSform := slices.Clone(good)
	binary.LittleEndian.PutUint32(nanSform[280:], math.Float32bits(float32(math.NaN())))

	cases := []struct {
		name, want string
		data       []byte
	}{
		{"empty.nii", "only 0 bytes", nil},
		{"short.nii", "only 100 bytes", good[:100]},
		{"text.nii", "not a NIfTI-1 file", bytes.Repeat([]byte("hello "), 100)},
		{"truncated.nii", "but the file has", good[:len(good)-3]},
		{"truncated.nii.gz", "truncated", gz(good[:len(good)-3])},
		{"huge.nii", "claims 2000000000 bytes", huge},
		{"huge.nii.gz", "gzip file cannot hold", gz(huge)},
		{"fived.nii", "at most 4D", fiveD},
		{"complex.nii", "unsupported datatype 32", badType},
		{"negdim.nii", "dimension 1 is -16", negDim},
		{"pair.hdr", ".hdr/.img pair", pair},
		{"nansform.nii", "non-finite", nanSform},
		{"corrupt.nii.gz", "corrupt gzip", []byte{0x1f, 0x8b, 0, 0}},
	}
	for _, c := range cases {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := Decode(c.name, c.data)
		runtime.ReadMemStats(&after)
		if err == nil || !strings.Contains(err.Error(), c.name) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming the file and %q", c.name, err, c.want)
		}
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 2<<20 {
			t.Errorf("%s: allocated %d bytes for a %d-byte input", c.name, alloc, len(c.data))
		}
	}
	// The same through the file path, and a non-label map as labels.
	dir := t.TempDir()
	p := filepath.Join(dir, "huge.nii")
	os.WriteFile(p, huge, 0o644)
	if _, err := Read(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("huge file: %v", err)
	}
	if _, err := Read(filepath.Join(dir, "missing.nii")); err == nil || !strings.Contains(err.Error(), "missing.nii") {
		t.Errorf("missing file: %v", err)
	}
	frac := filepath.Join(dir, "frac.nii")
	os.WriteFile(frac, minimal(t, [3]int{2, 2, 1}, Float32, []float32{0, 1, 2.5, 3}), 0o644)
	if _, err := ReadLabels(frac); err == nil || !strings.Contains(err.Error(), "voxel 2 has value 2.5") {
		t.Errorf("fractional labels: %v", err)
	}
	if err := WriteLabels(filepath.Join(dir, "x.png"), &study.Series{Geometry: study.Geometry{Dims: [3]int{1, 1, 1}}}, &study.Labels{Geometry: study.Geometry{Dims: [3]int{1, 1, 1}}, Data: []uint8{0}}); err == nil || !strings.Contains(err.Error(), ".nii.gz") {
		t.Errorf("bad extension: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 2 {
		t.Errorf("failed writes left files behind: %v", entries)
	}
}

// TestQuaternionInverse checks affineToQuatern against quaternToAffine on
// right- and left-handed rotations, including the 180° branches.
func TestQuaternionInverse(t *testing.T) {
	for _, g := range []study.Geometry{
		oblique([3]int{2, 2, 2}),
		{Spacing: [3]float64{1, 2, 3}, Direction: [3][3]float64{{-1, 0, 0}, {0, -1, 0}, {0, 0, 1}}},
		{Spacing: [3]float64{1, 2, 3}, Direction: [3][3]float64{{1, 0, 0}, {0, -1, 0}, {0, 0, -1}}},
		{Spacing: [3]float64{1, 2, 3}, Direction: [3][3]float64{{0, 1, 0}, {1, 0, 0}, {0, 0, 1}}},
		{Spacing: [3]float64{1, 2, 3}, Direction: [3][3]float64{{0, 0, 1}, {0, 1, 0}, {-1, 0, 0}}},
	} {
		m := affineOf(g)
		b, c, d, qx, qy, qz, dx, dy, dz, qfac := affineToQuatern(m)
		back := quaternToAffine(b, c, d, qx, qy, qz, dx, dy, dz, qfac)
		for r := range 4 {
			for col := range 4 {
				if math.Abs(back[r][col]-m[r][col]) > 1e-9 {
					t.Fatalf("direction %v: quaternion round trip %v, want %v", g.Direction, back, m)
				}
			}
		}
	}
}
