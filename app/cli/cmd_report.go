package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"cmrseg/app/atomicfile"
	"cmrseg/app/dicomseg"
	"cmrseg/app/report"
	"cmrseg/app/reportpdf"
	"cmrseg/app/resultcache"
	"cmrseg/app/session"
	"cmrseg/app/study"
	"cmrseg/app/workspace"
	"cmrseg/inference/uncertainty"
	"cmrseg/ui/desktop"
)

func init() {
	register("report", "printable report: cmrseg report STUDY --pdf OUT.pdf [--dicom OUT.dcm] [--model DIR] [--sessions DIR] [--sex M|F] [--age YEARS] [--height M] [--weight KG] [--basal-rule=true|false]", runReport)
}

// runReport writes the PDF report (and optionally the DICOM Encapsulated
// PDF) of a study without opening the window. It uses the window's
// finished segmentations (the result cache) and the reviewer's journaled
// corrections when the study was reviewed with the same model; phases it
// needs that are not cached (ED and ES) are segmented and cached, as the
// window would.
func runReport(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("report", stderr)
	pdfOut := fs.String("pdf", "", "PDF report to write (required)")
	dcmOut := fs.String("dicom", "", "also write the report as a DICOM Encapsulated PDF here")
	model := fs.String("model", "", "model bundle folder (default: $CMRSEG_MODEL, the active model, the bundled model)")
	sessions := fs.String("sessions", "", "the window's session folder (default: its usual one, $XDG_DATA_HOME/cmrseg/sessions)")
	sex := fs.String("sex", "", "patient sex M or F (default: DICOM PatientSex)")
	age := fs.Float64("age", 0, "patient age in years (default: DICOM PatientAge, or PatientBirthDate and StudyDate)")
	height := fs.Float64("height", 0, "height in m (default: DICOM PatientSize, ACDC Info.cfg)")
	weight := fs.Float64("weight", 0, "weight in kg (default: DICOM PatientWeight, ACDC Info.cfg)")
	basal := fs.Bool("basal-rule", report.BasalRuleDefault, "apply the SCMR basal-slice rule to the LV volumes")
	// Flags may follow the study path.
	var pos []string
	for rest := args; ; {
		if err := parseFlags(fs, rest); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(pos) != 1 || *pdfOut == "" {
		fmt.Fprintln(stderr, "usage: cmrseg report STUDY --pdf OUT.pdf [--dicom OUT.dcm] [flags]")
		fs.PrintDefaults()
		return errUsage
	}
	in := pos[0]
	switch s := strings.ToUpper(strings.TrimSpace(*sex)); s {
	case "", "M", "F":
		*sex = s
	default:
		return fmt.Errorf("--sex %q: want M or F", *sex)
	}
	if *age < 0 || *age > 130 || *height < 0 || *height > 3 || *weight < 0 || *weight > 500 {
		return fmt.Errorf("--age %g, --height %g m, --weight %g kg: out of range", *age, *height, *weight)
	}
	st, err := workspace.Load(in)
	if err != nil {
		return err
	}
	se := st.Series[0]
	if len(st.Series) > 1 {
		fmt.Fprintf(stdout, "%s: %d series; reporting the first (%q)\n", in, len(st.Series), se.Meta.SeriesDescription)
	}
	if se.NT < 2 || se.ED < 0 || se.ES < 0 {
		return fmt.Errorf("%s: a report needs end-diastole and end-systole (the series has %d phase(s), ED %d, ES %d)", in, se.NT, se.ED+1, se.ES+1)
	}
	root := *sessions
	if root == "" {
		root = desktop.DefaultConfig().SessionRoot
	}
	// The reader's report settings from the window (ED/ES, body size, sex,
	// age, basal rule), then the flags given here.
	if root != "" {
		p := filepath.Join(session.StudyDir(root, se), workspace.ReportSettingsFile)
		rs, ok, err := workspace.LoadReportSettings(p)
		if err == nil && ok {
			err = rs.Validate(se.NT)
		}
		switch {
		case err != nil:
			fmt.Fprintf(stdout, "%s: %v; using the study's own values\n", in, err)
		case ok:
			se.ED, se.ES = rs.ED, rs.ES
			se.Meta.HeightM, se.Meta.WeightKg, se.Meta.Sex, se.Meta.AgeYears = rs.HeightCm/100, rs.WeightKg, rs.Sex, rs.AgeYears
			explicit := false
			fs.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "basal-rule" })
			if !explicit {
				*basal = !rs.BasalRuleOff
			}
			fmt.Fprintf(stdout, "%s: report settings from the window (%s)\n", in, p)
		}
	}
	if *sex != "" {
		se.Meta.Sex = *sex
	}
	if *age > 0 {
		se.Meta.AgeYears = *age
	}
	if *height > 0 {
		se.Meta.HeightM = *height
	}
	if *weight > 0 {
		se.Meta.WeightKg = *weight
	}

	dir, err := findModel(*model)
	if err != nil {
		return err
	}
	t0 := time.Now()
	loader := &modelLoader{}
	segr, err := loader.load(dir)
	if err != nil {
		return fmt.Errorf("model %s: %w", dir, err)
	}
	eng := segr.(*windowEngine)
	defer func() {
		eng.Close()
		loader.prevW.Close()
	}()
	return reportStudy(stdout, in, se, eng, eng.ModelName(), eng.QCThreshold(), root, reportOutputs{pdf: *pdfOut, dicom: *dcmOut, basal: *basal, t0: t0})
}

// reportEngine is what a report needs of a segmenter: the window's cache
// key and a way to segment the phases missing from the cache.
type reportEngine interface {
	Key() string
	Segment(ctx context.Context, s *study.Series, phases []int, progress func(done, total int)) ([]*uncertainty.Result, error)
}

type reportOutputs struct {
	pdf, dicom string
	basal      bool
	t0         time.Time
}

// reportStudy writes the report of series se (read from in) with eng's
// results: those the window cached under root, the others segmented now
// and cached; the session journal under root supplies the reviewer's
// corrections.
func reportStudy(stdout io.Writer, in string, se *study.Series, eng reportEngine, modelName string, qc float64, root string, o reportOutputs) error {
	t0 := o.t0

	// The window's cache of finished phases for this study and model.
	var cache *resultcache.Cache
	if root != "" {
		cache = resultcache.New(session.StudyDir(root, se), eng.Key())
	}
	results := make([]*uncertainty.Result, se.NT)
	cached := 0
	if cache != nil {
		for t := range results {
			r, err := cache.Get(t, se.Geometry)
			if err != nil {
				fmt.Fprintf(stdout, "%s: cached phase %d unreadable (%v); segmenting it again\n", in, t+1, err)
				continue
			}
			if r != nil {
				results[t] = r
				cached++
			}
		}
	}
	var missing []int
	for _, t := range []int{se.ED, se.ES} {
		if results[t] == nil && !containsInt(missing, t) {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		rs, err := eng.Segment(context.Background(), se, missing, nil)
		if err != nil {
			return fmt.Errorf("%s: %w", in, err)
		}
		for n, t := range missing {
			r := rs[n]
			if cache != nil {
				// The window shows what the cache returns (16-bit maps):
				// report the same.
				if c, err := cache.Put(t, r); err == nil {
					r = c
				} else {
					fmt.Fprintf(stdout, "%s: phase %d not cached: %v\n", in, t+1, err)
				}
			}
			results[t] = r
		}
	}
	ses, err := session.Open(se, results, session.Options{Root: root, Key: eng.Key(), QCThreshold: qc})
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	defer ses.Close()
	for _, w := range ses.Warnings {
		fmt.Fprintf(stdout, "%s: %s\n", in, w)
	}
	if ses.Restoring() {
		return fmt.Errorf("%s: journaled corrections wait for phases not segmented yet; open the study in the window to finish segmenting it", in)
	}
	rep, err := report.FromSessionWith(ses, report.Settings{Segments: report.SegmentsWithIntervals, BasalRule: o.basal})
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	if se.ESProvisional {
		rep.Provisional = fmt.Sprintf("end-systole (phase %d) is estimated from timing (the source does not say); the window refines it to the phase of smallest LV volume once every phase is segmented, or choose ES there", se.ES+1)
	}
	pin := reportpdf.FromSession(ses, rep, modelName, in)
	pdf, err := reportpdf.Build(pin)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(o.pdf, pdf); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: %s written (%d bytes); %d of %d phases from the window's result cache, %d segmented now, %d journaled corrections applied; %.1f s\n",
		in, o.pdf, len(pdf), cached, se.NT, len(missing), ses.JournalRecords(), time.Since(t0).Seconds())
	fmt.Fprintf(stdout, "  %s\n", reportLine(rep))
	fmt.Fprintf(stdout, "  %s\n", basalLine(rep))
	if rep.Provisional != "" {
		fmt.Fprintf(stdout, "  provisional: %s\n", rep.Provisional)
	}
	if rep.Ranges != nil && rep.Ranges.Note != "" {
		fmt.Fprintf(stdout, "  reference ranges not compared: %s\n", rep.Ranges.Note)
	}
	if o.dicom != "" {
		k := -1
		if pin.Key != nil {
			k = reportpdf.KeySlice(se.Geometry, ses.Labels(se.ED))
		}
		info, err := dicomseg.WritePDF(o.dicom, se, pdf, dicomseg.PDFOptions{KeySlice: k, KeyPhase: se.ED})
		if err != nil {
			return err
		}
		where := "in the source study " + info.StudyInstanceUID
		if info.NewStudy {
			where = "in a new study " + info.StudyInstanceUID + " (the source is not DICOM)"
		}
		fmt.Fprintf(stdout, "  %s written: DICOM Encapsulated PDF %s\n", o.dicom, where)
	}
	return nil
}

// version is the module version of this build ("devel" for a checkout).
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// basalLine states the basal-slice rule's setting and effect.
func basalLine(r *report.Report) string {
	b := r.Basal
	on := "off"
	if b.Applied {
		on = "on"
	}
	list := func(ks []int) string {
		if len(ks) == 0 {
			return "none"
		}
		var s []string
		for _, k := range ks {
			s = append(s, fmt.Sprint(k+1))
		}
		return strings.Join(s, ",")
	}
	return fmt.Sprintf("basal-slice rule %s: excludes ED slices %s, ES slices %s; LV EDV %.1f/%.1f ml, ESV %.1f/%.1f ml, EF %.1f/%.1f %% (with/without)",
		on, list(b.EDSlices), list(b.ESSlices), b.With[0], b.Without[0], b.With[1], b.Without[1], b.With[2], b.Without[2])
}
