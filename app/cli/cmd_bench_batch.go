package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"cmrseg/app/atomicfile"
	"cmrseg/app/cohort"
	"cmrseg/app/nifti"
	"cmrseg/app/phantom"
	"cmrseg/app/study"
	"cmrseg/inference/bundle"
	"cmrseg/inference/ensemble"
	"cmrseg/inference/torch"
	"cmrseg/inference/unet"
)

func init() {
	registerBench("batch", "memory over a long `cmrseg batch` on a synthetic archive: RSS of the last studies against the first", runBenchBatch)
}

// benchBatchResult is what `cmrseg bench batch` measures.
type benchBatchResult struct {
	Studies        int       `json:"studies"`
	Slices         int       `json:"slices_per_study"`
	Warmup         int       `json:"warmup"`
	Window         int       `json:"window"`
	Model          string    `json:"model"`
	Options        string    `json:"options"`
	FirstMeanMB    float64   `json:"first_window_mean_rss_mb"`
	LastMeanMB     float64   `json:"last_window_mean_rss_mb"`
	Ratio          float64   `json:"last_over_first"`
	PeakMB         float64   `json:"peak_rss_mb"`
	WallS          float64   `json:"wall_s"`
	StudiesPerHour float64   `json:"studies_per_hour"`
	RSSMB          []float64 `json:"rss_mb_after_each_study"`
}

func runBenchBatch(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench batch", stderr)
	n := fs.Int("studies", 300, "synthetic studies in the archive")
	warmup := fs.Int("warmup", 20, "studies before the first window (allocator and caches settle)")
	window := fs.Int("window", 100, "studies per compared window: the first after warm-up and the last")
	random := fs.Bool("random-model", false, "use a small random-weights bundle (base 8, 4 stages, 3 checkpoints) instead of the active model: same code path, a fraction of the compute")
	slicesFlag := fs.Int("slices", 10, "slices per synthetic study (the phantom has 10)")
	keep := fs.String("keep", "", "build the archive and outputs here instead of a temporary folder")
	jsonOut := fs.String("json", "", "also write the result as JSON here")
	var o batchOptions
	finish := o.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	finish()
	if *slicesFlag < 1 || *slicesFlag > 10 {
		return fmt.Errorf("--slices %d: 1 to 10", *slicesFlag)
	}
	if *n < *warmup+*window || *window < 1 || *warmup < 0 {
		return fmt.Errorf("--studies %d must be at least --warmup %d + --window %d", *n, *warmup, *window)
	}
	work := *keep
	if work == "" {
		d, err := os.MkdirTemp("", "cmrseg-bench-batch-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		work = d
	}
	if *random {
		dir := filepath.Join(work, "random-bundle")
		if _, err := os.Stat(filepath.Join(dir, bundle.ManifestName)); err != nil {
			cfg := unet.Config{InChannels: 1, Classes: 4, Stages: 4, BaseFeatures: 8, MaxFeatures: 64, ConvsPerStage: 2}
			m := bundle.Manifest{Network: cfg, Preprocessing: bundle.Preprocessing{SpacingMM: [2]float64{1.5625, 1.5625}, Normalization: "zscore", PatchSize: [2]int{160, 160}}}
			w := torch.NewWorker(0)
			err := ensemble.RandomBundle(w, dir, m, 3, 1)
			w.Close()
			if err != nil {
				return err
			}
		}
		o.model = dir
	}
	archive := filepath.Join(work, "archive")
	if err := syntheticArchive(archive, *n, *slicesFlag); err != nil {
		return err
	}
	studies, err := cohort.Discover(archive)
	if err != nil {
		return err
	}
	b, err := newBatch(o, stderr)
	if err != nil {
		return err
	}
	defer b.close()
	if err := b.load(stdout); err != nil {
		return err
	}
	out := filepath.Join(work, "out")
	os.RemoveAll(out) // every study runs, even with --keep
	var rss []float64
	progress := io.Discard
	if cohort.IsTerminal(stderr) {
		progress = stderr
	}
	run := &cohort.Run{Out: out, Studies: studies, Shard: cohort.Shard{I: 1, N: 1}, Fingerprint: b.fp, Model: b.dir, Segment: b.segment, Log: progress,
		AfterStudy: func(st *cohort.Status) {
			rss = append(rss, rssMB())
			if k := len(rss); k%25 == 0 {
				fmt.Fprintf(stdout, "  after %d studies: RSS %.0f MB (%s, %.1f s)\n", k, rss[k-1], st.State, st.Timings.Total)
			}
		}}
	t0 := time.Now()
	sum, err := run.Execute()
	if err != nil {
		return err
	}
	wall := time.Since(t0).Seconds()
	if sum.Failed > 0 {
		return fmt.Errorf("%d synthetic studies failed (see %s)", sum.Failed, out)
	}
	mean := func(xs []float64) float64 {
		s := 0.0
		for _, x := range xs {
			s += x
		}
		return s / float64(len(xs))
	}
	r := benchBatchResult{Studies: *n, Slices: *slicesFlag, Warmup: *warmup, Window: *window, Model: b.dir, Options: b.fp.Options,
		FirstMeanMB: mean(rss[*warmup : *warmup+*window]), LastMeanMB: mean(rss[len(rss)-*window:]),
		PeakMB: slices.Max(rss), WallS: wall, StudiesPerHour: float64(*n) / wall * 3600, RSSMB: rss}
	r.Ratio = r.LastMeanMB / r.FirstMeanMB
	verdict := "flat (within 5 %)"
	if r.Ratio > 1.05 {
		verdict = "GROWS by more than 5 %"
	}
	fmt.Fprintf(stdout, "%d studies of 2 × %d slices (%s), %.0f s, %.0f studies/hour\n", *n, *slicesFlag, b.fp.Options, wall, r.StudiesPerHour)
	fmt.Fprintf(stdout, "RSS mean of studies %d–%d: %.1f MB; of the last %d: %.1f MB; ratio %.4f: %s; peak %.1f MB\n",
		*warmup+1, *warmup+*window, r.FirstMeanMB, *window, r.LastMeanMB, r.Ratio, verdict, r.PeakMB)
	if *jsonOut != "" {
		js, _ := json.MarshalIndent(r, "", "  ")
		if err := atomicfile.Write(*jsonOut, append(js, '\n')); err != nil {
			return err
		}
	}
	return nil
}

// syntheticArchive writes n two-phase (ED, ES) phantom studies of nz
// slices (from the base): four
// distinct noise realisations, the rest hard links to them (each study
// is still read, segmented and written on its own; the links only save
// disk).
func syntheticArchive(dir string, n, nz int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	var originals []string
	for i := 0; i < n; i++ {
		path := filepath.Join(dir, fmt.Sprintf("synth%04d.nii.gz", i+1))
		if _, err := os.Stat(path); err == nil {
			originals = append(originals, path)
			continue
		}
		if i < 4 {
			s, _, truth := phantom.Generate(phantom.Options{Seed: uint64(i + 1)})
			g := s.Geometry
			g.Dims[2] = nz
			data := append(slices.Clone(s.Phase(truth.ED)[:g.N()]), s.Phase(truth.ES)[:g.N()]...)
			pair := &study.Series{Geometry: g, NT: 2, Data: data, ED: 0, ES: 1,
				Meta: study.Metadata{SeriesDescription: "cmrseg synthetic ED+ES"}}
			if err := nifti.Write(path, pair, nifti.Float32); err != nil {
				return err
			}
			originals = append(originals, path)
			continue
		}
		if err := os.Link(originals[i%4], path); err != nil {
			return fmt.Errorf("synthetic archive: %w", err)
		}
	}
	return nil
}

// rssMB is this process's resident set size.
func rssMB() float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			var kb float64
			fmt.Sscanf(rest, "%f", &kb)
			return kb / 1024
		}
	}
	return 0
}
