package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"cmrseg/app/cohort"
	"cmrseg/app/report"
	"cmrseg/app/resultcache"
	"cmrseg/app/session"
	"cmrseg/app/study"
	"cmrseg/inference/ensemble"
	"cmrseg/inference/torch"
	"cmrseg/inference/uncertainty"
)

// cmrsegVersion goes into every batch fingerprint: a new version redoes
// finished studies. It must equal FyneApp.toml's Version (a test checks).
const cmrsegVersion = "0.1.0"

func init() {
	register("batch", "segment every study of an archive or CSV manifest: resumable, shardable, one cohort table", runBatch)
}

// batchOptions are batch's flags that the memory benchmark shares.
type batchOptions struct {
	model, device, tiling, phases string
	tta                           bool
	threads, batch                int
}

func (o *batchOptions) register(fs interface {
	String(string, string, string) *string
	Bool(string, bool, string) *bool
	Int(string, int, string) *int
}) func() {
	model := fs.String("model", "", "model bundle folder (default: the active or bundled model)")
	device := fs.String("device", "auto", "auto, cpu or cuda")
	tiling := fs.String("tiling", "auto", tilingHelp)
	phases := fs.String("phases", "ed,es", "ed,es (the report's two phases) or all (every phase of a cine, ES refined to the smallest LV)")
	tta := fs.Bool("tta", false, "test-time mirroring (4× the compute)")
	threads := fs.Int("threads", 0, "CPU intra-op threads (0: one per core)")
	batch := fs.Int("batch", 0, "slices per forward pass (0: automatic)")
	return func() {
		*o = batchOptions{model: *model, device: *device, tiling: *tiling, phases: *phases, tta: *tta, threads: *threads, batch: *batch}
	}
}

func runBatch(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("batch", stderr)
	in := fs.String("in", "", "archive folder, CSV manifest (id,path[,group]) or NIfTI file")
	out := fs.String("out", "", "output folder: one folder per study, status files, cohort.csv and cohort.jsonl")
	shardFlag := fs.String("shard", "", "I/N: run only the I-th of N shares (1-based; hash of the study id)")
	noReview := fs.Bool("no-review-cache", false, "do not save each study's segmentation for the window's review queue (about 4–5 MB per ED+ES study); the window then segments a study again when it is opened from the queue")
	merge := fs.Bool("merge", false, "write one cohort table from the status files under the folders given as arguments (shard outputs)")
	var o batchOptions
	finish := o.register(fs)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: cmrseg batch --in ARCHIVE|MANIFEST.csv --out DIR [--shard I/N] [--phases ed,es|all] [--model DIR] [--tta] [--tiling T]")
		fmt.Fprintln(stderr, "       cmrseg batch --merge [--out DIR] SHARD_DIR...")
		fmt.Fprintln(stderr, "\nFinds ACDC patient folders, NIfTI files, nnU-Net raw layouts and DICOM series folders, segments")
		fmt.Fprintln(stderr, "each into DIR/ID/ (labels, entropy, report.json, status.json, review/) and writes DIR/cohort.csv and")
		fmt.Fprintln(stderr, "DIR/cohort.jsonl. A rerun skips studies done with the same model, options and version and redoes")
		fmt.Fprintln(stderr, "failed or interrupted ones. Failed studies are listed in the table; the exit status stays 0.")
		fmt.Fprintln(stderr, "Research use only: not for clinical diagnosis.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	finish()
	if *merge {
		if fs.NArg() == 0 {
			fs.Usage()
			return errUsage
		}
		dest := *out
		if dest == "" {
			dest = fs.Arg(0)
		}
		return mergeTables(dest, fs.Args(), stdout)
	}
	if *in == "" || *out == "" || fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	shard, err := cohort.ParseShard(*shardFlag)
	if err != nil {
		return err
	}
	// Absolute, so that status files name studies wherever the window or
	// a merge reads them from.
	if abs, err := filepath.Abs(*in); err == nil {
		*in = abs
	}
	studies, err := cohort.Discover(*in, *out)
	if err != nil {
		return err
	}
	mine := shard.Select(studies)
	fmt.Fprintf(stdout, "%s: %d stud%s, shard %s takes %d\n", *in, len(studies), plural(len(studies), "y", "ies"), shard, len(mine))
	b, err := newBatch(o, stderr)
	if err != nil {
		return err
	}
	defer b.close()
	b.noReviewCache = *noReview
	run := &cohort.Run{Out: *out, Studies: mine, Shard: shard, Fingerprint: b.fp, Model: b.dir, Segment: b.segment, Log: stderr}
	if n := cohort.CountPending(*out, mine, b.fp.Hash()); n > 0 {
		if err := b.load(stdout); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "every study of the shard is done with this model and these options; the model is not loaded\n")
	}
	sum, err := run.Execute()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%d done, %d skipped (done before), %d failed; %d network evaluations\n", sum.Done, sum.Skipped, sum.Failed, sum.Evaluations)
	for _, f := range sum.Table {
		fmt.Fprintf(stdout, "wrote %s\n", f)
	}
	if sum.Failed > 0 {
		fmt.Fprintf(stderr, "cmrseg batch: %d stud%s failed; the error of each is in its status.json and in the table\n", sum.Failed, plural(sum.Failed, "y", "ies"))
	}
	return nil
}

func mergeTables(dest string, dirs []string, stdout io.Writer) error {
	all, err := cohort.Collect(dirs...)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	files, err := cohort.WriteTable(dest, all)
	if err != nil {
		return err
	}
	counts := map[string]int{}
	for _, s := range all {
		counts[s.State]++
	}
	fmt.Fprintf(stdout, "%d stud%s from %d folder(s): %d done, %d failed, %d interrupted\n", len(all), plural(len(all), "y", "ies"),
		len(dirs), counts[cohort.StateDone], counts[cohort.StateFailed], counts[cohort.StateRunning])
	for _, f := range files {
		fmt.Fprintf(stdout, "wrote %s\n", f)
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// batch is the ensemble as `cmrseg batch` drives it: loaded once, only
// when some study is pending.
type batch struct {
	o      batchOptions
	dir    string
	fp     cohort.Fingerprint
	tile   ensemble.Tiling
	stderr io.Writer
	w      *torch.Worker
	p      *ensemble.Predictor
	// reviewKey is the window's result-cache key for this model.
	reviewKey     string
	noReviewCache bool
}

func newBatch(o batchOptions, stderr io.Writer) (*batch, error) {
	if o.phases != "ed,es" && o.phases != "all" {
		return nil, fmt.Errorf("--phases %q: ed,es or all", o.phases)
	}
	tile, err := parseTiling(o.tiling)
	if err != nil {
		return nil, err
	}
	dir, err := findModel(o.model)
	if err != nil {
		return nil, err
	}
	m, err := os.ReadFile(filepath.Join(dir, "model.toml"))
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", dir, err)
	}
	h := sha256.Sum256(m)
	fp := cohort.Fingerprint{
		ModelSHA256: hex.EncodeToString(h[:]),
		// Threads, batch size and device change speed, not results.
		Options: fmt.Sprintf("tiling=%s tta=%v phases=%s engine=%d", o.tiling, o.tta, o.phases, ensemble.EngineVersion),
		Version: cmrsegVersion,
	}
	return &batch{o: o, dir: dir, fp: fp, tile: tile, stderr: stderr}, nil
}

func (b *batch) load(stdout io.Writer) error {
	t0 := time.Now()
	b.w = torch.NewWorker(b.o.threads)
	p, err := ensemble.Load(b.w, b.dir, ensemble.Options{
		Device: b.o.device, TTA: b.o.tta, BatchSlices: b.o.batch, Tiling: b.tile,
		OnWarning: func(msg string) { fmt.Fprintf(b.stderr, "cmrseg batch: warning: %s\n", msg) },
	})
	if err != nil {
		b.w.Close()
		b.w = nil
		return err
	}
	b.p = p
	eng, err := newWindowEngine(p, b.dir)
	if err != nil {
		return err
	}
	b.reviewKey = eng.Key()
	fmt.Fprintf(stdout, "model %s: %d checkpoint(s), %s, mirroring %s, loaded in %.1f s\n",
		b.dir, p.Checkpoints(), p.Device(), onOff(p.TTA()), time.Since(t0).Seconds())
	return nil
}

func (b *batch) close() {
	if b.p != nil {
		b.p.Close()
	}
	if b.w != nil {
		b.w.Close()
	}
}

// segment is cohort.Segment: segment's outputs for the chosen phases, the
// report, and the window's QC figures.
func (b *batch) segment(s cohort.Study, in *cohort.Input, dir string, st *cohort.Status) error {
	if b.p == nil {
		return fmt.Errorf("%s: no model loaded", s.Path)
	}
	ser := in.Series
	var phases []int
	if b.o.phases == "all" {
		for t := 0; t < ser.NT; t++ {
			phases = append(phases, t)
		}
	} else {
		phases = []int{ser.ED}
		if ser.ES != ser.ED {
			phases = append(phases, ser.ES)
		}
	}
	t0 := time.Now()
	rs, err := b.p.Predict(context.Background(), ser, phases, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", s.Path, err)
	}
	st.Evaluations = b.p.Evaluations()
	if b.o.phases == "all" {
		ensemble.RefineES(ser, phases, rs)
	}
	st.Timings.Predict = time.Since(t0).Seconds()

	t0 = time.Now()
	sg := &segmentRun{p: b.p, out: dir}
	var files []string
	if b.o.phases == "all" && ser.NT > 1 && !in.PerPhase {
		f, err := sg.write(in.Base, ser, rs)
		if err != nil {
			return err
		}
		files = append(files, f...)
	} else {
		for i, t := range phases {
			ref := &study.Series{Geometry: ser.Geometry, NT: 1, Data: ser.Phase(t), Source: ser.Source, Meta: ser.Meta}
			f, err := sg.write(in.Names[t], ref, []*uncertainty.Result{rs[i]})
			if err != nil {
				return err
			}
			files = append(files, f...)
		}
	}
	// The window's result cache, keyed as the window keys this model, so
	// that the review queue opens the study without a forward pass.
	if b.reviewKey != "" && !b.noReviewCache {
		_, idx := cohort.ReviewSeries(ser, phases)
		c := resultcache.New(filepath.Join(dir, cohort.ReviewDir), b.reviewKey)
		for i := range phases {
			if _, err := c.Put(idx[i], rs[i]); err != nil {
				return fmt.Errorf("%s: %w", s.Path, err)
			}
		}
		files = append(files, c.Dir())
	}
	st.Segmented = phases
	res, rep, err := b.results(ser, phases, rs)
	if err != nil {
		return fmt.Errorf("%s: %w", s.Path, err)
	}
	for _, f := range []struct {
		name  string
		write func(string) error
	}{{"report.json", rep.WriteJSON}, {"report.csv", rep.WriteCSV}} {
		if err := f.write(filepath.Join(dir, f.name)); err != nil {
			return err
		}
		files = append(files, filepath.Join(dir, f.name))
	}
	st.Timings.Write = time.Since(t0).Seconds()
	st.Outputs = cohort.RelOutputs(dir, files)
	st.Results = res
	if in.Note != "" {
		fmt.Fprintf(b.stderr, "cmrseg batch: %s: %s\n", s.ID, in.Note)
	}
	return nil
}

// results computes the report from the ED and ES results and the QC
// figures the window's QC list shows for them (its calibrated threshold).
func (b *batch) results(ser *study.Series, phases []int, rs []*uncertainty.Result) (*cohort.Results, *report.Report, error) {
	at := func(t int) *uncertainty.Result {
		for i, p := range phases {
			if p == t {
				return rs[i]
			}
		}
		return nil
	}
	ed, es := at(ser.ED), at(ser.ES)
	if ed == nil || es == nil {
		return nil, nil, fmt.Errorf("ED phase %d or ES phase %d was not segmented", ser.ED+1, ser.ES+1)
	}
	rep, err := report.Compute(report.Input{Geometry: ser.Geometry, Meta: ser.Meta,
		ED: report.Phase{Index: ser.ED, Labels: ed.Labels, Samples: ed.SampleLabels},
		ES: report.Phase{Index: ser.ES, Labels: es.Labels, Samples: es.SampleLabels}})
	if err != nil {
		return nil, nil, err
	}
	thr := b.p.QCThreshold()
	if !(thr > 0) {
		thr = session.DefaultQCThreshold
	}
	res := &cohort.Results{EDPhase1Based: ser.ED + 1, ESPhase1Based: ser.ES + 1, ESProvisional: ser.ESProvisional,
		Checkpoints: rep.Checkpoints, QC: cohort.QC{Threshold: cohort.Num(thr)}}
	for _, ix := range rep.Indices {
		res.Indices = append(res.Indices, cohort.Index{Key: ix.Key, Unit: ix.Unit, Value: cohort.Num(ix.Value), Low: cohort.Num(ix.Low), High: cohort.Num(ix.High)})
	}
	seen := map[*uncertainty.Result]bool{}
	for _, r := range []*uncertainty.Result{ed, es} {
		if seen[r] {
			continue
		}
		seen[r] = true
		res.QC.Score = cohort.Num(max(float64(res.QC.Score), r.VolumeScore))
		for _, sc := range r.SliceScores {
			res.QC.Slices++
			if sc > thr {
				res.QC.FlaggedSlices++
			}
		}
	}
	return res, rep, nil
}
