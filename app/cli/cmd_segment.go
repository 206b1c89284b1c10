package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"cmrseg/app/anonymise"
	"cmrseg/app/atomicfile"
	"cmrseg/app/dataset"
	"cmrseg/app/dicomio"
	"cmrseg/app/exam"
	"cmrseg/app/nifti"
	"cmrseg/app/report"
	"cmrseg/app/study"
	"cmrseg/app/studyio"
	"cmrseg/inference/ensemble"
	"cmrseg/inference/torch"
	"cmrseg/inference/uncertainty"
)

func init() {
	register("segment", "segment NIfTI files, DICOM folders or ACDC patients: labels, entropy, probabilities", runSegment)
}

func runSegment(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("segment", stderr)
	model := fs.String("model", "", "model bundle folder (default: the bundled model)")
	device := fs.String("device", "auto", "auto, cpu or cuda")
	probs := fs.Bool("probabilities", false, "also write NAME_prob.nii.gz (x × y × z × class, float32)")
	tta := fs.Bool("tta", false, "test-time mirroring (4× the compute)")
	out := fs.String("out", "", "output folder (required)")
	threads := fs.Int("threads", 0, "CPU intra-op threads (0: one per core)")
	batch := fs.Int("batch", 0, "slices per forward pass (0: automatic)")
	tiling := fs.String("tiling", "auto", tilingHelp)
	overwrite := fs.Bool("overwrite", false, "replace outputs left by an earlier run (otherwise they are kept and that input skipped)")
	anon := fs.Bool("anonymise", false, "de-identify the outputs (PS3.15 Basic Profile): file names and report patient_id from a pseudonym, series UID replaced, no series description, height or weight")
	series := fs.String("series", "", "series of a DICOM exam to segment: its number in `cmrseg info`, #SeriesNumber or SeriesInstanceUID (default: the short-axis cine)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: cmrseg segment [--model DIR] [--device auto|cpu|cuda] [--probabilities] [--tta] [--anonymise] [--series N] --out DIR INPUT...")
		fmt.Fprintln(stderr, "\nINPUT is a NIfTI file (3D or 4D), a DICOM exam (folder tree or DICOMDIR; its short-axis cine is")
		fmt.Fprintln(stderr, "segmented unless --series chooses another) or an ACDC patient folder (its ED and ES frames).")
		fmt.Fprintln(stderr, "Writes NAME_seg.nii.gz (uint8: 0 background, 1 RV, 2 myocardium, 3 LV), NAME_entropy.nii.gz")
		fmt.Fprintln(stderr, "(float32, nats) and with --probabilities NAME_prob.nii.gz, each on the input's grid; for a cine or")
		fmt.Fprintln(stderr, "an ACDC patient also NAME_report.json and .csv (volumes, EF, mass, volume-time curves, peak")
		fmt.Fprintln(stderr, "ejection/filling rates, AHA segment wall thickness, with 95 % credible intervals).")
		fmt.Fprintln(stderr, "Research use only: not for clinical diagnosis.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" || fs.NArg() == 0 {
		fs.Usage()
		return errUsage
	}
	tile, err := parseTiling(*tiling)
	if err != nil {
		return err
	}
	dir, err := findModel(*model)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	// Temporary files of a run killed mid-write (kill -9) are ours to remove.
	if stale, err := atomicfile.CleanStale(*out); err == nil && len(stale) > 0 {
		fmt.Fprintf(stderr, "cmrseg segment: removed %d temporary file(s) left by an interrupted run: %s\n", len(stale), strings.Join(stale, ", "))
	}
	w := torch.NewWorker(*threads)
	defer w.Close()
	t0 := time.Now()
	p, err := ensemble.Load(w, dir, ensemble.Options{
		Device: *device, TTA: *tta, BatchSlices: *batch, Tiling: tile,
		OnWarning: func(msg string) { fmt.Fprintf(stderr, "cmrseg segment: warning: %s\n", msg) },
	})
	if err != nil {
		return err
	}
	defer p.Close()
	fmt.Fprintf(stdout, "model %s: %d checkpoint(s), %s, mirroring %s, loaded in %.1f s\n",
		dir, p.Checkpoints(), p.Device(), onOff(p.TTA()), time.Since(t0).Seconds())
	sg := &segmentRun{p: p, out: *out, probs: *probs, overwrite: *overwrite, pick: *series, stdout: stdout, claimed: map[string]string{}}
	if *anon {
		// One random key for the run, never written: the same patient gets
		// the same pseudonym within the run only.
		if sg.anon, err = anonymise.New(nil); err != nil {
			return err
		}
	}
	var failed []string
	for _, in := range fs.Args() {
		if err := sg.input(in); err != nil {
			fmt.Fprintf(stderr, "cmrseg segment: %v\n", err)
			failed = append(failed, in)
		}
	}
	if len(sg.kept) > 0 {
		fmt.Fprintf(stderr, "cmrseg segment: kept %d existing output(s) from an earlier run (pass --overwrite to replace them): %s\n", len(sg.kept), strings.Join(sg.kept, ", "))
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d input(s) failed: %s", len(failed), fs.NArg(), strings.Join(failed, ", "))
	}
	return nil
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

type segmentRun struct {
	p         *ensemble.Predictor
	evals     int // network evaluations of the current input
	out       string
	probs     bool
	overwrite bool
	pick      string // --series: which series of a DICOM exam
	stdout    io.Writer
	claimed   map[string]string // output name -> the input that took it in this run
	kept      []string          // existing outputs left alone (no --overwrite)
	anon      *anonymise.Anonymiser
}

// claim reserves an output name for in. A name another input of this run
// already took gets the first free _2, _3, ... suffix (in command-line
// order, so the choice is predictable), and the summary says so.
func (sg *segmentRun) claim(name, in string) string {
	got := name
	for n := 2; sg.claimed[got] != ""; n++ {
		got = fmt.Sprintf("%s_%d", name, n)
	}
	sg.claimed[got] = in
	if got != name {
		fmt.Fprintf(sg.stdout, "%s: output name %s is taken by %s in this run; writing %s instead\n", in, name, sg.claimed[name], got)
	}
	return got
}

// outputs are the files write will create for name.
func (sg *segmentRun) outputs(name string, nt int) []string {
	suffixes := []string{"_seg", "_entropy"}
	if sg.probs {
		if nt == 1 {
			suffixes = append(suffixes, "_prob")
		}
		for t := 0; t < nt && nt > 1; t++ {
			suffixes = append(suffixes, fmt.Sprintf("_phase%02d_prob", t+1))
		}
	}
	var paths []string
	for _, s := range suffixes {
		paths = append(paths, filepath.Join(sg.out, name+s+".nii.gz"))
	}
	return paths
}

// keep reports whether name's outputs already exist from an earlier run
// and must be kept (no --overwrite); it says which, and nothing is computed.
func (sg *segmentRun) keep(in, name string, nt int) bool {
	if sg.overwrite {
		return false
	}
	var existing []string
	for _, p := range sg.outputs(name, nt) {
		if _, err := os.Lstat(p); err == nil {
			existing = append(existing, p)
		}
	}
	if len(existing) == 0 {
		return false
	}
	fmt.Fprintf(sg.stdout, "%s: kept %s from an earlier run (pass --overwrite to replace)\n", in, strings.Join(existing, ", "))
	sg.kept = append(sg.kept, existing...)
	return true
}

// input segments one command-line input.
func (sg *segmentRun) input(in string) error {
	st, err := os.Stat(in)
	if err != nil {
		return fmt.Errorf("%s: %w", in, errors.Unwrap(err))
	}
	if st.IsDir() {
		if _, err := os.Stat(filepath.Join(in, "Info.cfg")); err == nil {
			return sg.acdc(in)
		}
	}
	t0 := time.Now()
	s, err := studyio.OpenSeries(in, sg.pick)
	if err != nil {
		return err
	}
	if ex, ok := s.Exam.(*exam.Exam); ok && len(ex.Entries) > 1 {
		e := ex.Entries[ex.Chosen]
		fmt.Fprintf(sg.stdout, "%s: exam of %d series; segmenting no. %d %q (%s; `cmrseg info` lists them, --series chooses another)\n",
			in, len(ex.Entries), ex.Chosen+1, e.Description, e.Class)
	}
	for i, ser := range s.Series {
		base := outputName(in, ser, i)
		if sg.anon != nil {
			if ser.Meta.PatientID == "" && ser.Meta.PatientName == "" {
				// A NIfTI file has no patient: its path keys the pseudonym.
				c := *ser
				c.Meta.PatientID = in
				ser = &c
			}
			ser = sg.anon.Series(ser)
			base = anonOutputName(ser, i)
		}
		name := sg.claim(base, in)
		if sg.keep(in, name, ser.NT) {
			continue
		}
		if err := sg.series(in, name, ser, t0); err != nil {
			return err
		}
		t0 = time.Now()
	}
	return nil
}

// acdc segments an ACDC patient folder's ED and ES frame files, one set of
// outputs per frame file, each on that file's header.
func (sg *segmentRun) acdc(dir string) error {
	t0 := time.Now()
	c, err := dataset.ReadPatient(dir)
	if err != nil {
		return err
	}
	if len(c.ImagePaths) == 0 {
		return fmt.Errorf("%s: no patientNNN_frameMM.nii.gz frame files", dir)
	}
	type frame struct {
		num int
		r   *uncertainty.Result
	}
	var frames []frame
	var geoms []study.Geometry
	var written []string
	score := 0.0
	for i, path := range c.ImagePaths {
		s, err := nifti.Read(path)
		if err != nil {
			return err
		}
		if s.NT != 1 {
			return fmt.Errorf("%s: %d volumes, want one 3D frame", path, s.NT)
		}
		base := niftiBase(path)
		if sg.anon != nil {
			base = strings.Replace(base, c.ID, sg.anon.Pseudonym(c.ID), 1)
			s = sg.anon.Series(s) // clears the header description
		}
		name := sg.claim(base, path)
		if sg.keep(path, name, 1) {
			continue
		}
		rs, err := sg.p.Predict(context.Background(), s, []int{0}, nil)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		sg.evals += sg.p.Evaluations()
		files, err := sg.write(name, s, rs)
		if err != nil {
			return err
		}
		written = append(written, files...)
		frames = append(frames, frame{c.Frames[i], rs[0]})
		geoms = append(geoms, s.Geometry)
		score = max(score, rs[0].VolumeScore)
	}
	// One report for the patient from the ED and ES frames segmented in
	// this run (phase numbers are ACDC's frame numbers; no timing).
	var rep *report.Report
	var repErr error
	if len(frames) > 1 {
		idx := make([]int, len(frames))
		rs := make([]*uncertainty.Result, len(frames))
		for n, f := range frames {
			idx[n], rs[n] = f.num-1, f.r
			if geoms[n] != geoms[0] {
				repErr = fmt.Errorf("report: frame %d is on a different grid than frame %d", f.num, frames[0].num)
			}
		}
		if repErr == nil {
			meta := study.Metadata{PatientID: c.ID, Group: c.Group, HeightM: c.HeightCm / 100, WeightKg: c.WeightKg, SeriesDescription: "ACDC " + c.ID}
			if sg.anon != nil {
				// Basic Profile: no size or weight (so no BSA indexing).
				meta = study.Metadata{PatientID: sg.anon.Pseudonym(c.ID), Group: c.Group}
			}
			rep, repErr = segmentReport(geoms[0], meta, max(c.NbFrame, len(frames)), c.ED-1, c.ES-1, idx, rs, nil)
		}
		if repErr == nil {
			files, err := sg.writeReport(sg.claim(rep.PatientID, dir), rep)
			if err != nil {
				return err
			}
			written = append(written, files...)
		}
	}
	fmt.Fprintf(sg.stdout, "%s: ACDC patient %s, %d frame file(s), %s, %.1f s\n", dir, c.ID, len(frames), sg.p.Device(), time.Since(t0).Seconds())
	for _, f := range frames {
		tag := fmt.Sprintf("frame %02d", f.num)
		switch f.num {
		case c.ED:
			tag += " (ED)"
		case c.ES:
			tag += " (ES)"
		}
		fmt.Fprintf(sg.stdout, "  %-14s %s\n", tag, volumeLine(f.r))
	}
	switch {
	case rep != nil:
		fmt.Fprintf(sg.stdout, "  %-14s %s\n", "report", reportLine(rep))
	case repErr != nil:
		fmt.Fprintf(sg.stdout, "  %-14s not written: %v\n", "report", repErr)
	}
	sg.footer(score, written)
	return nil
}

// series segments every phase of one series (NIfTI or DICOM).
func (sg *segmentRun) series(in, name string, s *study.Series, t0 time.Time) error {
	phases := make([]int, s.NT)
	for t := range phases {
		phases[t] = t
	}
	rs, err := sg.p.Predict(context.Background(), s, phases, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	sg.evals += sg.p.Evaluations()
	refined := ensemble.RefineES(s, phases, rs)
	files, err := sg.write(name, s, rs)
	if err != nil {
		return err
	}
	var rep *report.Report
	var repErr error
	if s.NT > 1 {
		if rep, repErr = segmentReport(s.Geometry, s.Meta, s.NT, s.ED, s.ES, phases, rs, s.TriggerTimes); repErr == nil {
			rf, err := sg.writeReport(name, rep)
			if err != nil {
				return err
			}
			files = append(files, rf...)
		}
	}
	desc := s.Meta.SeriesDescription
	if desc == "" {
		desc = name
	}
	fmt.Fprintf(sg.stdout, "%s: %q, %d×%d×%d, %d phase(s), %s, %.1f s\n", in, desc, s.Dims[0], s.Dims[1], s.Dims[2], s.NT, sg.p.Device(), time.Since(t0).Seconds())
	if src, ok := s.Source.(*study.DICOMSource); ok {
		for _, n := range src.Notes {
			if n == dicomio.LossyNote {
				fmt.Fprintf(sg.stdout, "  %s\n", n)
			}
		}
	}
	score := 0.0
	for _, r := range rs {
		score = max(score, r.VolumeScore)
	}
	if s.NT == 1 {
		fmt.Fprintf(sg.stdout, "  %-14s %s\n", "volume", volumeLine(rs[0]))
	} else {
		esNote := ""
		switch {
		case refined:
			esNote = "  (smallest LV cavity)"
		case s.ESProvisional:
			esNote = "  (provisional: from timing)"
		}
		fmt.Fprintf(sg.stdout, "  %-14s %s\n", fmt.Sprintf("ED phase %d", s.ED+1), volumeLine(rs[s.ED]))
		fmt.Fprintf(sg.stdout, "  %-14s %s%s\n", fmt.Sprintf("ES phase %d", s.ES+1), volumeLine(rs[s.ES]), esNote)
		if rep != nil {
			fmt.Fprintf(sg.stdout, "  %-14s %s\n", "report", reportLine(rep))
		} else {
			fmt.Fprintf(sg.stdout, "  %-14s not written: %v\n", "report", repErr)
		}
	}
	sg.footer(score, files)
	return nil
}

func (sg *segmentRun) footer(score float64, files []string) {
	fmt.Fprintf(sg.stdout, "  network        %s; %d network evaluations (tile × slice × sample)\n", sg.p.Region(), sg.evals)
	sg.evals = 0
	fmt.Fprintf(sg.stdout, "  uncertainty    %.4f (study score: worst slice's mean entropy over foreground, nats)\n", score)
	for _, f := range files {
		fmt.Fprintf(sg.stdout, "  wrote          %s\n", f)
	}
}

func volumeLine(r *uncertainty.Result) string {
	v := ensemble.Volumes(r)
	return fmt.Sprintf("LV %6.1f ml   MYO %6.1f ml   RV %6.1f ml", v[study.LV], v[study.Myocardium], v[study.RV])
}

// write saves the outputs of one series: labels and entropy (3D, or 4D for
// several phases) and, when asked, class probabilities (one x×y×z×class
// file, per phase for several phases). Every file takes ref's grid and,
// for NIfTI inputs, its header's exact affine.
func (sg *segmentRun) write(name string, ref *study.Series, rs []*uncertainty.Result) ([]string, error) {
	path := func(suffix string) string { return filepath.Join(sg.out, name+suffix+".nii.gz") }
	var files []string
	n := ref.N()
	if ref.NT == 1 {
		r := rs[0]
		if err := nifti.WriteLabels(path("_seg"), ref, &study.Labels{Geometry: ref.Geometry, Data: r.Labels}); err != nil {
			return nil, err
		}
		if err := nifti.WriteMap(path("_entropy"), ref, r.Entropy, 1); err != nil {
			return nil, err
		}
		files = append(files, path("_seg"), path("_entropy"))
	} else {
		labels := make([]float32, n*ref.NT)
		ent := make([]float32, n*ref.NT)
		for t, r := range rs {
			for i, l := range r.Labels {
				labels[t*n+i] = float32(l)
			}
			copy(ent[t*n:], r.Entropy)
		}
		for _, f := range []struct {
			suffix string
			data   []float32
			dt     nifti.Datatype
		}{{"_seg", labels, nifti.Uint8}, {"_entropy", ent, nifti.Float32}} {
			vol := study.Series{Geometry: ref.Geometry, NT: ref.NT, Data: f.data, TriggerTimes: ref.TriggerTimes,
				ED: ref.ED, ES: ref.ES, Source: ref.Source, Meta: study.Metadata{SeriesDescription: "cmrseg" + f.suffix}}
			if err := nifti.Write(path(f.suffix), &vol, f.dt); err != nil {
				return nil, err
			}
			files = append(files, path(f.suffix))
		}
	}
	if sg.probs {
		for t, r := range rs {
			suffix := "_prob"
			if ref.NT > 1 {
				suffix = fmt.Sprintf("_phase%02d_prob", t+1) // 1-based, as people count phases
			}
			if err := nifti.WriteMap(path(suffix), ref, r.Prob, r.Classes); err != nil {
				return nil, err
			}
			files = append(files, path(suffix))
		}
	}
	return files, nil
}

// niftiBase is a NIfTI file's name without .nii or .nii.gz.
func niftiBase(path string) string {
	b := filepath.Base(path)
	for _, ext := range []string{".nii.gz", ".nii", ".NII.GZ", ".NII"} {
		if strings.HasSuffix(b, ext) {
			return strings.TrimSuffix(b, ext)
		}
	}
	return b
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// outputName names the outputs of series i of input in: the NIfTI file's
// base name, or for DICOM the series description and the end of the
// series instance UID.
// anonOutputName names the outputs of an anonymised series: the
// pseudonym and the end of the replaced series UID (never the input's
// file or folder name, which often carries the patient's name).
func anonOutputName(s *study.Series, i int) string {
	uid := s.Meta.SeriesInstanceUID
	if len(uid) > 12 {
		return s.Meta.PatientID + "_" + uid[len(uid)-12:]
	}
	return fmt.Sprintf("%s_series%d", s.Meta.PatientID, i+1)
}

func outputName(in string, s *study.Series, i int) string {
	if _, ok := s.Source.(*nifti.Source); ok {
		return niftiBase(in)
	}
	desc := strings.Trim(unsafeChars.ReplaceAllString(s.Meta.SeriesDescription, "_"), "_.")
	uid := s.Meta.SeriesInstanceUID
	if len(uid) > 12 {
		uid = uid[len(uid)-12:]
	}
	parts := []string{}
	if desc != "" {
		parts = append(parts, desc)
	}
	if uid != "" {
		parts = append(parts, strings.Trim(unsafeChars.ReplaceAllString(uid, "_"), "_"))
	}
	if len(parts) == 0 {
		parts = append(parts, fmt.Sprintf("%s_series%d", strings.Trim(unsafeChars.ReplaceAllString(filepath.Base(filepath.Clean(in)), "_"), "_."), i+1))
	}
	return strings.Join(parts, "_")
}
