package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"cmrseg/app/dataset"
	"cmrseg/app/phantom"
	"cmrseg/app/study"
	"cmrseg/app/studyio"
	"cmrseg/inference/bundle"
	"cmrseg/inference/ensemble"
	"cmrseg/inference/torch"
	"cmrseg/inference/uncertainty"
	"cmrseg/inference/unet"
)

func init() {
	registerBench("segment", "the ensemble on an ED+ES pair per checkpoint count, Go vs PyTorch", runBenchSegment)
	commands["bench-segment-child"] = command{"", runBenchSegmentChild} // hidden: the Go side of one pair
}

// benchVolume is one 3D volume handed to both sides as raw float32.
type benchVolume struct {
	Path     string         `json:"path"`
	Dims     [3]int         `json:"dims"`
	Spacing  [2]float64     `json:"spacing"`
	Geometry study.Geometry `json:"geometry"`
}

// benchSpec is what each child process reads: unet_ref.py's predict-bench
// fields plus the bundle folder for the Go side.
type benchSpec struct {
	Bundle        string        `json:"bundle"`
	Config        string        `json:"config"`
	Checkpoints   []string      `json:"checkpoints"`
	Volumes       []benchVolume `json:"volumes"`
	TargetSpacing [2]float64    `json:"target_spacing"`
	PatchSize     [2]int        `json:"patch_size"`
	TTA           bool          `json:"tta"`
	Temperature   float64       `json:"temperature"`
	Iters         int           `json:"iters"`
	Threads       int           `json:"threads"`
	Device        string        `json:"device"`
	Batch         int           `json:"batch"`
	// Tiling is the Go side's ensemble.Tiling flag; Tiles the tiles it
	// chose, which the PyTorch side runs too (nil: whole slices).
	Tiling string          `json:"tiling"`
	Tiles  *ensemble.Tiles `json:"tiles,omitempty"`
}

// stageTimes are one side's medians in seconds per ED+ES pair.
// first and locate come from one more prediction the way the window runs
// it (ED and ES refined together, an update after every sample): the time
// to its first update and the localisation pass within it (Go side only).
type stageTimes struct{ total, prep, net, comb, rssMB, load, evals, first, locate float64 }

func runBenchSegment(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench segment", stderr)
	model := fs.String("model", "", "model bundle (default: the bundled model; none: random weights)")
	studyPath := fs.String("study", "", "study to segment: ACDC patient folder, NIfTI, DICOM, or 'phantom' (default: ACDC patient001 from ../shared/data, else the phantom)")
	device := fs.String("device", "cpu", "cpu or cuda (both sides)")
	threads := fs.Int("threads", 2, "intra-op threads on both sides")
	tta := fs.Bool("tta", false, "mirroring (4× the forward passes)")
	batch := fs.Int("batch", 0, "slices per forward pass on both sides (0: the predictor's automatic choice)")
	iters := fs.Int("iters", 3, "predictions per process (the first is warm-up)")
	rounds := fs.Int("rounds", 2, "A/B rounds per checkpoint count")
	countsFlag := fs.String("counts", "1,3,9", "checkpoint counts to time (all available are added when more than the largest)")
	tilingsFlag := fs.String("tiling", "full,auto", "tilings to compare, comma-separated: "+tilingHelp)
	base := fs.Int("base", 16, "U-Net base features of a synthesised random bundle")
	stages := fs.Int("stages", 5, "U-Net stages of a synthesised random bundle")
	ref := fs.String("reference", "", "path of inference/reference/unet_ref.py")
	python := fs.String("python", "/usr/bin/python3", "Python with PyTorch")
	keep := fs.String("keep", "", "write the bundles and volumes here instead of a temporary folder")
	agree := fs.Bool("agreement", false, "instead of timing: segment the pair on the CPU and on CUDA with the largest count and compare")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if !*agree && *device != "cpu" && *device != "cuda" {
		return fmt.Errorf("--device %q: cpu or cuda (the benchmark names the device on both sides)", *device)
	}
	var counts []int
	for _, f := range strings.Split(*countsFlag, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return fmt.Errorf("--counts %q: want positive integers", *countsFlag)
		}
		counts = append(counts, n)
	}
	script, err := findReference(*ref)
	if err != nil {
		return err
	}
	work := *keep
	if work == "" {
		if work, err = os.MkdirTemp("", "cmrseg-benchseg"); err != nil {
			return err
		}
		defer os.RemoveAll(work)
	} else if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}

	// The bundle: the given or bundled one, or random weights when it has
	// fewer checkpoints than the largest count.
	largest := 0
	for _, n := range counts {
		largest = max(largest, n)
	}
	src, origin, err := benchBundle(*model, work, largest, unet.Config{InChannels: 1, Classes: 4, Stages: *stages, BaseFeatures: *base, MaxFeatures: 512, ConvsPerStage: 2})
	if err != nil {
		return err
	}
	if n := len(src.Checkpoints); n > largest {
		counts = append(counts, n)
	}
	// The study: an ED+ES pair.
	vols, label, err := benchStudy(*studyPath, work)
	if err != nil {
		return err
	}
	if *agree {
		dir := filepath.Join(work, fmt.Sprintf("bundle-%d", largest))
		if err := subBundle(src, dir, largest); err != nil {
			return err
		}
		return agreement(stdout, dir, vols, label, *threads, *tta)
	}
	cfgPath := filepath.Join(work, "config.json")
	cj, _ := json.Marshal(src.Network)
	if err := os.WriteFile(cfgPath, cj, 0o644); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	net := src.Network
	fmt.Fprintf(stdout, "cmrseg bench segment: %s\n", label)
	fmt.Fprintf(stdout, "model: %s; U-Net %d stages, base %d (%s); %.4g mm; mirroring %s; device %s, %d threads\n",
		origin, net.Stages, net.BaseFeatures, paramText(net), src.Preprocessing.SpacingMM[0], onOff(*tta), *device, *threads)
	fmt.Fprintf(stdout, "%d rounds A/B (Go process, then PyTorch process) per count, %d predictions per process, first dropped; medians\n\n", *rounds, *iters)
	fmt.Fprintf(stdout, "%-6s %-6s %10s %10s %7s %9s %9s %7s %9s %8s %11s   %-22s %-22s\n", "tiling", "ckpts", "Go s/pair", "Torch s", "ratio", "Go MB", "Torch MB", "ratio", "evals", "Go+load", "first/loc s", "Go prep/net/comb s", "Torch prep/net/comb s")
	tilings := strings.Split(*tilingsFlag, ",")
	for _, tn := range tilings {
		if _, err := parseTiling(strings.TrimSpace(tn)); err != nil {
			return err
		}
	}
	results := map[int][2]stageTimes{}
	for _, tn := range tilings {
		tn = strings.TrimSpace(tn)
		for _, n := range counts {
			dir := filepath.Join(work, fmt.Sprintf("bundle-%d", n))
			if err := subBundle(src, dir, n); err != nil {
				return err
			}
			tiles, err := benchTiles(dir, vols, tn, *threads)
			if err != nil {
				return err
			}
			spec := benchSpec{Bundle: dir, Config: cfgPath, Volumes: vols, TargetSpacing: src.Preprocessing.SpacingMM,
				PatchSize: src.Preprocessing.PatchSize, TTA: *tta || src.Inference.MirrorTTA, Temperature: src.Inference.Temperature,
				Iters: *iters, Threads: *threads, Device: *device, Batch: *batch, Tiling: tn, Tiles: tiles}
			for _, c := range src.Checkpoints[:n] {
				spec.Checkpoints = append(spec.Checkpoints, filepath.Join(src.Dir, c.File))
			}
			specPath := filepath.Join(work, fmt.Sprintf("spec-%s-%d.json", tn, n))
			sj, _ := json.MarshalIndent(spec, "", " ")
			if err := os.WriteFile(specPath, sj, 0o644); err != nil {
				return err
			}
			var goRuns, pyRuns []stageTimes
			for r := 0; r < *rounds; r++ {
				g, err := timedStages(exec.Command(exe, "bench-segment-child", specPath))
				if err != nil {
					return fmt.Errorf("go, %d checkpoints: %w", n, err)
				}
				p, err := timedStages(exec.Command(*python, script, "predict-bench", specPath))
				if err != nil {
					return fmt.Errorf("pytorch, %d checkpoints: %w", n, err)
				}
				goRuns, pyRuns = append(goRuns, g), append(pyRuns, p)
			}
			g, p := medianStages(goRuns), medianStages(pyRuns)
			results[n] = [2]stageTimes{g, p}
			fmt.Fprintf(stdout, "%-6s %-6d %10.3f %10.3f %7.2f %9.0f %9.0f %7.2f %9.0f %8.3f %11s   %-22s %-22s\n", tn, n, g.total, p.total, g.total/p.total,
				g.rssMB, p.rssMB, g.rssMB/p.rssMB, g.evals, g.load+g.total, fmt.Sprintf("%.2f/%.2f", g.first, g.locate),
				fmt.Sprintf("%.3f/%.3f/%.3f", g.prep, g.net, g.comb), fmt.Sprintf("%.3f/%.3f/%.3f", p.prep, p.net, p.comb))
		}
	}
	fmt.Fprintln(stdout, "\nevals: network evaluations (tile × slice × checkpoint, localisation pass included) of one pair; Go+load: model load plus one pair;\nfirst/loc: the window's way (an update after every sample): time to the first update (its first contour), and the localisation pass within it")
	lo, hi := counts[0], counts[0]
	for _, n := range counts {
		lo, hi = min(lo, n), max(hi, n)
	}
	if lo != hi {
		a, b := results[lo], results[hi]
		fmt.Fprintf(stdout, "\ngrowth %d → %d checkpoints (×%.1f): Go ×%.2f, PyTorch ×%.2f; per added checkpoint: Go %.3f s, PyTorch %.3f s\n",
			lo, hi, float64(hi)/float64(lo), b[0].total/a[0].total, b[1].total/a[1].total,
			(b[0].total-a[0].total)/float64(hi-lo), (b[1].total-a[1].total)/float64(hi-lo))
	}
	return nil
}

// benchBundle loads the model to time, or synthesises one with random
// weights of the same architecture (or cfg without a model) when it has
// fewer than need checkpoints.
func benchBundle(flagDir, work string, need int, cfg unet.Config) (*bundle.Bundle, string, error) {
	m := bundle.Manifest{Network: cfg, Preprocessing: bundle.Preprocessing{SpacingMM: [2]float64{1.5625, 1.5625}, Normalization: "zscore", PatchSize: [2]int{160, 160}}}
	origin := "random weights"
	dir, err := findModel(flagDir)
	if err == nil {
		b, err := bundle.Load(dir)
		if err != nil {
			return nil, "", err
		}
		if len(b.Checkpoints) >= need {
			return b, dir, nil
		}
		m.Network, m.Preprocessing, m.Inference = b.Network, b.Preprocessing, b.Inference
		origin = fmt.Sprintf("random weights with the architecture of %s (it has %d checkpoints, %d needed)", dir, len(b.Checkpoints), need)
	} else if flagDir != "" {
		return nil, "", err
	}
	out := filepath.Join(work, "random-bundle")
	w := torch.NewWorker(0)
	defer w.Close()
	if err := ensemble.RandomBundle(w, out, m, need, 1); err != nil {
		return nil, "", err
	}
	b, err := bundle.Load(out)
	return b, origin, err
}

// subBundle writes a bundle in dir listing the first n checkpoints of src
// (symbolic links to its files).
func subBundle(src *bundle.Bundle, dir string, n int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	m := src.Manifest
	m.Checkpoints = append([]bundle.Checkpoint(nil), src.Checkpoints[:n]...)
	for _, c := range m.Checkpoints {
		abs, err := filepath.Abs(filepath.Join(src.Dir, c.File))
		if err != nil {
			return err
		}
		link := filepath.Join(dir, c.File)
		os.Remove(link)
		if err := os.Symlink(abs, link); err != nil {
			return err
		}
	}
	return bundle.WriteManifest(dir, &m)
}

// sharedData finds ../shared/data as the tests do: $CMRSEG_SHARED_DATA, or
// beside the working folder or the binary's repository.
func sharedData() string {
	cands := []string{os.Getenv("CMRSEG_SHARED_DATA"), filepath.Join("..", "shared", "data")}
	if exe, err := os.Executable(); err == nil {
		cands = append(cands, filepath.Join(filepath.Dir(exe), "..", "..", "shared", "data"))
	}
	for _, c := range cands {
		if c == "" {
			continue
		}
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			return c
		}
	}
	return ""
}

// benchStudy writes the study's ED and ES volumes as raw float32 for both
// sides and describes them.
func benchStudy(path, work string) ([]benchVolume, string, error) {
	if path == "" {
		path = "phantom"
		if root := sharedData(); root != "" {
			path = filepath.Join(root, "acdc", "training", "patient001")
		}
	}
	var s *study.Series
	if path == "phantom" {
		s, _, _ = phantom.Generate(phantom.Options{Seed: 1})
	} else if _, err := os.Stat(filepath.Join(path, "Info.cfg")); err == nil {
		c, err := dataset.ReadPatient(path)
		if err != nil {
			return nil, "", err
		}
		smp, err := c.Load()
		if err != nil {
			return nil, "", err
		}
		s = smp.Series
	} else {
		st, err := studyio.Open(path)
		if err != nil {
			return nil, "", err
		}
		s = st.Series[0]
	}
	phases := []int{s.ED, s.ES}
	if s.NT == 1 || s.ED == s.ES {
		phases = []int{0, 0}
	}
	var vols []benchVolume
	for i, t := range phases {
		p := filepath.Join(work, fmt.Sprintf("volume-%d.f32", i))
		b := make([]byte, 4*s.N())
		for j, v := range s.Phase(t) {
			binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(v))
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return nil, "", err
		}
		vols = append(vols, benchVolume{Path: p, Dims: s.Dims, Spacing: [2]float64{s.Spacing[0], s.Spacing[1]}, Geometry: s.Geometry})
	}
	label := fmt.Sprintf("%s, phases %d and %d, %d×%d×%d at %.3g×%.3g mm", path, phases[0]+1, phases[1]+1, s.Dims[0], s.Dims[1], s.Dims[2], s.Spacing[0], s.Spacing[1])
	return vols, label, nil
}

// timedStages runs one child and returns its medians (first prediction
// dropped) and peak RSS.
func timedStages(cmd *exec.Cmd) (stageTimes, error) {
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return stageTimes{}, fmt.Errorf("%v: %s", err, strings.TrimSpace(errb.String()))
	}
	var rows [][4]float64
	var load, evals, first, locate float64
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == "load" {
			load, _ = strconv.ParseFloat(f[1], 64)
		}
		if len(f) == 2 && f[0] == "evals" {
			evals, _ = strconv.ParseFloat(f[1], 64)
		}
		if len(f) == 3 && f[0] == "first" {
			first, _ = strconv.ParseFloat(f[1], 64)
			locate, _ = strconv.ParseFloat(f[2], 64)
		}
		if len(f) != 5 || f[0] != "iter" {
			continue
		}
		var r [4]float64
		for i := range r {
			r[i], _ = strconv.ParseFloat(f[i+1], 64)
		}
		rows = append(rows, r)
	}
	if len(rows) < 2 {
		return stageTimes{}, fmt.Errorf("fewer than 2 timings in output %q (stderr %q)", out.String(), errb.String())
	}
	rows = rows[1:]
	col := func(i int) float64 {
		v := make([]float64, len(rows))
		for j, r := range rows {
			v[j] = r[i]
		}
		return median(v)
	}
	st := stageTimes{total: col(0), prep: col(1), net: col(2), comb: col(3), load: load, evals: evals, first: first, locate: locate}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		st.rssMB = float64(ru.Maxrss) / 1024
	}
	return st, nil
}

func medianStages(runs []stageTimes) stageTimes {
	pick := func(f func(stageTimes) float64) float64 {
		v := make([]float64, len(runs))
		for i, r := range runs {
			v[i] = f(r)
		}
		return median(v)
	}
	return stageTimes{
		total:  pick(func(s stageTimes) float64 { return s.total }),
		prep:   pick(func(s stageTimes) float64 { return s.prep }),
		net:    pick(func(s stageTimes) float64 { return s.net }),
		comb:   pick(func(s stageTimes) float64 { return s.comb }),
		rssMB:  pick(func(s stageTimes) float64 { return s.rssMB }),
		load:   pick(func(s stageTimes) float64 { return s.load }),
		evals:  pick(func(s stageTimes) float64 { return s.evals }),
		first:  pick(func(s stageTimes) float64 { return s.first }),
		locate: pick(func(s stageTimes) float64 { return s.locate }),
	}
}

// runBenchSegmentChild is the Go side: the same protocol as unet_ref.py's
// predict-bench ("iter TOTAL PREPARE NETWORK COMBINE" per prediction).
func runBenchSegmentChild(args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		return fmt.Errorf("bench-segment-child SPEC.json")
	}
	raw, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	var spec benchSpec
	if err := json.Unmarshal(raw, &spec); err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	if len(spec.Volumes) == 0 {
		return fmt.Errorf("%s: no volumes", args[0])
	}
	s, err := seriesOf(spec.Volumes)
	if err != nil {
		return err
	}
	phases := make([]int, s.NT)
	for t := range phases {
		phases[t] = t
	}
	tiling, err := parseTiling(spec.Tiling)
	if err != nil {
		return err
	}
	t0 := time.Now()
	w := torch.NewWorker(spec.Threads)
	defer w.Close()
	p, err := ensemble.Load(w, spec.Bundle, ensemble.Options{Device: spec.Device, TTA: spec.TTA, BatchSlices: spec.Batch, Tiling: tiling,
		OnWarning: func(m string) { fmt.Fprintln(stderr, "warning:", m) }})
	if err != nil {
		return err
	}
	defer p.Close()
	fmt.Fprintf(stdout, "load %.6f\n", time.Since(t0).Seconds())
	for i := 0; i < spec.Iters; i++ {
		t0 := time.Now()
		if _, err := p.Predict(context.Background(), s, phases, nil); err != nil {
			return err
		}
		if i == 0 {
			fmt.Fprintf(stdout, "evals %d\n", p.Evaluations())
		}
		tm := p.LastTimings()
		fmt.Fprintf(stdout, "iter %.6f %.6f %.6f %.6f\n", time.Since(t0).Seconds(), tm.Prepare.Seconds(), tm.Network.Seconds(), tm.Combine.Seconds())
	}
	// The window's way: every phase leading, an update per sample; the
	// first update is when its first contour can be drawn.
	var first time.Duration
	t0 = time.Now()
	_, err = p.Stream(context.Background(), s, phases, ensemble.Stream{Leading: len(phases), OnUpdate: func(ensemble.Update) {
		if first == 0 {
			first = time.Since(t0)
		}
	}})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "first %.6f %.6f\n", first.Seconds(), p.LastTimings().Locate.Seconds())
	return nil
}

// seriesOf rebuilds the benchmark's series from its raw volumes.
func seriesOf(vols []benchVolume) (*study.Series, error) {
	s := &study.Series{Geometry: vols[0].Geometry, ED: 0, ES: len(vols) - 1}
	for _, v := range vols {
		b, err := os.ReadFile(v.Path)
		if err != nil {
			return nil, err
		}
		if len(b) != 4*s.N() {
			return nil, fmt.Errorf("%s: %d bytes for %v", v.Path, len(b), s.Dims)
		}
		for i := 0; i < len(b); i += 4 {
			s.Data = append(s.Data, math.Float32frombits(binary.LittleEndian.Uint32(b[i:])))
		}
		s.NT++
	}
	return s, nil
}

// agreement segments the pair with the same bundle on the CPU and on CUDA
// and reports how far the two differ.
func agreement(stdout io.Writer, dir string, vols []benchVolume, label string, threads int, tta bool) error {
	s, err := seriesOf(vols)
	if err != nil {
		return err
	}
	phases := []int{0, s.NT - 1}
	w := torch.NewWorker(threads)
	defer w.Close()
	var out [2][]*uncertainty.Result
	var secs [2]float64
	for i, dev := range []string{"cpu", "cuda"} {
		p, err := ensemble.Load(w, dir, ensemble.Options{Device: dev, TTA: tta})
		if err != nil {
			return err
		}
		if dev == "cuda" && !strings.HasPrefix(p.Device(), "CUDA") {
			p.Close()
			return fmt.Errorf("CUDA predictor runs on %s", p.Device())
		}
		t0 := time.Now()
		out[i], err = p.Predict(context.Background(), s, phases, nil)
		secs[i] = time.Since(t0).Seconds()
		for _, m := range p.Warnings() {
			fmt.Fprintln(stdout, "warning:", m)
		}
		p.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", dev, err)
		}
	}
	fmt.Fprintf(stdout, "CPU vs CUDA agreement: %s; %d checkpoints; mirroring %s\n", label, out[0][0].Checkpoints, onOff(tta))
	fmt.Fprintf(stdout, "first prediction (incl. warm-up): CPU %.2f s, CUDA %.2f s\n", secs[0], secs[1])
	worst := 0.0
	for k := range phases {
		a, b := out[0][k], out[1][k]
		dp, dh, dmi, same := 0.0, 0.0, 0.0, 0
		for i := range a.Prob {
			dp = max(dp, math.Abs(float64(a.Prob[i]-b.Prob[i])))
		}
		for i := range a.Labels {
			dh = max(dh, math.Abs(float64(a.Entropy[i]-b.Entropy[i])))
			dmi = max(dmi, math.Abs(float64(a.MutualInfo[i]-b.MutualInfo[i])))
			if a.Labels[i] == b.Labels[i] {
				same++
			}
		}
		worst = max(worst, dp)
		fmt.Fprintf(stdout, "phase %d: max |Δp| %.3g, max |Δentropy| %.3g, max |ΔMI| %.3g, labels agree on %.4f %% of %d voxels\n",
			phases[k]+1, dp, dh, dmi, 100*float64(same)/float64(len(a.Labels)), len(a.Labels))
	}
	if worst > 1e-3 {
		return fmt.Errorf("CPU and CUDA probabilities differ by %.3g (> 1e-3)", worst)
	}
	fmt.Fprintln(stdout, "agreement ok (max |Δp| ≤ 1e-3)")
	return nil
}

// benchTiles is the tiling the Go side chooses for the pair (its first
// volume locates the heart), for the PyTorch side to run the same tiles.
func benchTiles(dir string, vols []benchVolume, tilingName string, threads int) (*ensemble.Tiles, error) {
	tiling, err := parseTiling(tilingName)
	if err != nil {
		return nil, err
	}
	s, err := seriesOf(vols)
	if err != nil {
		return nil, err
	}
	w := torch.NewWorker(threads)
	defer w.Close()
	p, err := ensemble.Load(w, dir, ensemble.Options{Device: "cpu", Tiling: tiling})
	if err != nil {
		return nil, err
	}
	defer p.Close()
	return p.TilesFor(context.Background(), s, 0)
}
