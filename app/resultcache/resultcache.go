// Package resultcache keeps finished segmentations on disk, one file per
// cardiac phase, so reopening a study shows its contours at once instead
// of running the ensemble again. A cache folder belongs to one study and one
// segmentation key (model fingerprint and inference options): a new model
// never sees another model's results.
//
// Files are written atomically (app/atomicfile). Probabilities and the
// uncertainty maps are stored with 16-bit precision (steps of 1.5e-5 in
// probability, 2e-5 nats) and gzip-compressed: outside the heart region
// everything is constant, so a cine costs tens of megabytes, not the
// hundreds its float32 maps would. Labels, posterior samples and slice
// scores are exact. Results go through Put before the window shows them,
// so what a reader sees is exactly what a reopening restores.
package resultcache

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"

	"cmrseg/app/atomicfile"
	"cmrseg/app/study"
	"cmrseg/inference/uncertainty"
)

// magic starts every file; the version changes with the layout.
var magic = []byte("CMRSEG-RESULT\x00v1")

// Cache is one study's results under one segmentation key.
type Cache struct{ dir string }

// New returns the cache in folder dir/results-<hash of key>.
func New(dir, key string) *Cache {
	h := sha256.Sum256([]byte("cmrseg-result-cache-v1\x00" + key))
	return &Cache{dir: filepath.Join(dir, "results-"+hex.EncodeToString(h[:8]))}
}

// Dir is the cache folder.
func (c *Cache) Dir() string { return c.dir }

func (c *Cache) path(t int) string {
	return filepath.Join(c.dir, fmt.Sprintf("phase-%03d.result.gz", t+1))
}

// Put stores phase t's result and returns the result as Get will return it
// (16-bit maps): the caller shows that one.
func (c *Cache) Put(t int, r *uncertainty.Result) (*uncertainty.Result, error) {
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("resultcache: phase %d: %w", t+1, err)
	}
	raw := encode(r)
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	zw.Write(raw)
	zw.Close()
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return nil, fmt.Errorf("resultcache: %w", err)
	}
	if err := atomicfile.Write(c.path(t), buf.Bytes()); err != nil {
		return nil, fmt.Errorf("resultcache: %w", err)
	}
	return decode(raw, r.Geometry)
}

// Get returns phase t's stored result on grid g, or nil when there is none.
// A damaged or foreign file is an error naming it (the caller recomputes).
func (c *Cache) Get(t int, g study.Geometry) (*uncertainty.Result, error) {
	f, err := os.Open(c.path(t))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("resultcache: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("resultcache: %s: %w", c.path(t), err)
	}
	// A result is at most a few hundred bytes per voxel: bound what a
	// damaged file can make us allocate.
	limit := int64(len(magic)) + 64 + int64(g.N())*(16*4+2*2+1+64)
	raw, err := io.ReadAll(io.LimitReader(zr, limit+1))
	if err != nil {
		return nil, fmt.Errorf("resultcache: %s: %w", c.path(t), err)
	}
	if int64(len(raw)) > limit {
		return nil, fmt.Errorf("resultcache: %s: larger than a result for %v can be", c.path(t), g.Dims)
	}
	r, err := decode(raw, g)
	if err != nil {
		return nil, fmt.Errorf("resultcache: %s: %w", c.path(t), err)
	}
	return r, nil
}

// Layout after the magic, little-endian: dims (3 × uint32), classes,
// checkpoints (uint32), volume score (float64), slice scores (float64 per
// slice), labels (N bytes), prob (classes × N uint16, p·65535), entropy and
// mutual information (N uint16 each, h/ln(classes)·65535), samples
// (checkpoints × N bytes).
func encode(r *uncertainty.Result) []byte {
	n := r.N()
	b := append([]byte(nil), magic...)
	for _, d := range r.Dims {
		b = binary.LittleEndian.AppendUint32(b, uint32(d))
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(r.Classes))
	b = binary.LittleEndian.AppendUint32(b, uint32(r.Checkpoints))
	b = binary.LittleEndian.AppendUint64(b, math.Float64bits(r.VolumeScore))
	for _, s := range r.SliceScores {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(s))
	}
	b = append(b, r.Labels...)
	for _, p := range r.Prob {
		b = binary.LittleEndian.AppendUint16(b, q16(float64(p)))
	}
	scale := 1 / math.Log(float64(r.Classes))
	for _, m := range [][]float32{r.Entropy, r.MutualInfo} {
		for i := 0; i < n; i++ {
			b = binary.LittleEndian.AppendUint16(b, q16(float64(m[i])*scale))
		}
	}
	for _, s := range r.SampleLabels {
		b = append(b, s...)
	}
	return b
}

func q16(v float64) uint16 { return uint16(math.Round(math.Min(math.Max(v, 0), 1) * 65535)) }

func decode(b []byte, g study.Geometry) (*uncertainty.Result, error) {
	if !bytes.HasPrefix(b, magic) {
		return nil, errors.New("not a cmrseg result file")
	}
	b = b[len(magic):]
	u32 := func() int {
		if len(b) < 4 {
			return -1
		}
		v := binary.LittleEndian.Uint32(b)
		b = b[4:]
		return int(v)
	}
	f64 := func() float64 {
		if len(b) < 8 {
			return math.NaN()
		}
		v := math.Float64frombits(binary.LittleEndian.Uint64(b))
		b = b[8:]
		return v
	}
	var dims [3]int
	for i := range dims {
		dims[i] = u32()
	}
	if dims != g.Dims {
		return nil, fmt.Errorf("result is %v, the series %v", dims, g.Dims)
	}
	classes, cks := u32(), u32()
	if classes < 2 || classes > 256 || cks < 1 || cks > 4096 {
		return nil, fmt.Errorf("result has %d classes and %d samples", classes, cks)
	}
	n := g.N()
	need := 8 + 8*dims[2] + n + 2*classes*n + 4*n + cks*n
	if len(b) != need {
		return nil, fmt.Errorf("result holds %d bytes, want %d", len(b), need)
	}
	r := &uncertainty.Result{Geometry: g, Classes: classes, Checkpoints: cks}
	r.VolumeScore = f64()
	r.SliceScores = make([]float64, dims[2])
	for k := range r.SliceScores {
		r.SliceScores[k] = f64()
	}
	r.Labels = append([]uint8(nil), b[:n]...)
	b = b[n:]
	r.Prob = make([]float32, classes*n)
	for i := range r.Prob {
		r.Prob[i] = float32(float64(binary.LittleEndian.Uint16(b[2*i:])) / 65535)
	}
	b = b[2*classes*n:]
	scale := math.Log(float64(classes)) / 65535
	r.Entropy, r.MutualInfo = make([]float32, n), make([]float32, n)
	for i := 0; i < n; i++ {
		r.Entropy[i] = float32(float64(binary.LittleEndian.Uint16(b[2*i:])) * scale)
		r.MutualInfo[i] = float32(float64(binary.LittleEndian.Uint16(b[2*(n+i):])) * scale)
	}
	b = b[4*n:]
	for k := 0; k < cks; k++ {
		r.SampleLabels = append(r.SampleLabels, append([]uint8(nil), b[k*n:(k+1)*n]...))
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	return r, nil
}
