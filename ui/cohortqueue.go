package ui

// The cohort review queue: File ▸ Open cohort… reads the output folder of
// `cmrseg batch` and lists its studies most uncertain first. Opening one
// shows the batch's saved segmentation (no forward pass); the reader
// corrects it and presses N, which marks it final, records "reviewed" or
// "corrected" in the cohort table (atomically) and opens the next study.
// Corrected studies join the training tab's "My corrected cases".

import (
	"fmt"
	"math"
	"path/filepath"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"cmrseg/app/cohort"
	"cmrseg/app/study"
	"cmrseg/app/trainingjob"
)

type cohortQueue struct {
	dir     string
	all     []*cohort.Status
	filter  cohort.Filter
	list    []*cohort.Status // the filtered queue, most uncertain first
	current string           // id of the study open from the queue
	dlg     dialog.Dialog
}

const allGroups = "All groups"

func (q *cohortQueue) refilter() { q.list = cohort.Queue(q.all, q.filter) }

func (q *cohortQueue) index(id string) int {
	for i, s := range q.list {
		if s.ID == id {
			return i
		}
	}
	return -1
}

func (v *Viewer) openCohortDialog() {
	d := dialog.NewFolderOpen(func(u fyne.ListableURI, err error) {
		if err != nil {
			v.showError("Open cohort", err)
			return
		}
		if u != nil {
			v.OpenCohort(u.Path())
		}
	}, v.win)
	d.Resize(fyne.NewSize(900, 600))
	d.Show()
}

// OpenCohort reads the status files of a `cmrseg batch` output folder and
// shows its review queue.
func (v *Viewer) OpenCohort(dir string) {
	sts, err := cohort.Collect(dir)
	if err == nil && len(cohort.Queue(sts, cohort.Filter{})) == 0 {
		err = fmt.Errorf("%s: no segmented study to review (is it the output folder of cmrseg batch?)", dir)
	}
	if err != nil {
		v.showError("Open cohort", err)
		return
	}
	v.cohort = &cohortQueue{dir: dir, all: sts}
	v.cohort.refilter()
	debugf("cohort %s: %d studies, %d in the queue", dir, len(sts), len(v.cohort.list))
	v.showCohortQueue()
}

// showCohortQueue lists the queue with its filters; a tap opens a study.
func (v *Viewer) showCohortQueue() {
	q := v.cohort
	if q == nil {
		dialog.ShowInformation("Review queue", "No cohort is open: File ▸ Open cohort… and choose the output folder of cmrseg batch.", v.win)
		return
	}
	count := widget.NewLabel("")
	list := widget.NewList(func() int { return len(q.list) },
		func() fyne.CanvasObject {
			return widget.NewLabelWithStyle("", fyne.TextAlignLeading, fyne.TextStyle{Monospace: true})
		},
		func(id widget.ListItemID, o fyne.CanvasObject) {
			o.(*widget.Label).SetText(queueLine(id, q.list[id], q.current))
		})
	update := func() {
		q.refilter()
		list.UnselectAll()
		list.Refresh()
		count.SetText(fmt.Sprintf("%d of %d studies, most uncertain (highest QC score) first. Tap one to open it; then N marks it final and opens the next.", len(q.list), len(q.all)))
	}
	flagged := widget.NewCheck("Flagged only", func(b bool) { q.filter.FlaggedOnly = b; update() })
	flagged.Checked = q.filter.FlaggedOnly
	unreviewed := widget.NewCheck("Not yet reviewed", func(b bool) { q.filter.Unreviewed = b; update() })
	unreviewed.Checked = q.filter.Unreviewed
	groups := append([]string{allGroups}, cohort.Groups(q.all)...)
	group := newSafeSelect(v.win, groups, func(s string) {
		if s == allGroups {
			s = ""
		}
		q.filter.Group = s
		update()
	})
	if q.filter.Group == "" {
		group.SetSelected(allGroups)
	} else {
		group.SetSelected(q.filter.Group)
	}
	list.OnSelected = func(id widget.ListItemID) {
		if id < len(q.list) {
			v.openQueued(q.list[id])
		}
	}
	update()
	top := container.NewVBox(widget.NewLabel("Cohort "+q.dir), count, container.NewHBox(flagged, unreviewed, group))
	d := dialog.NewCustom("Review queue", "Close", container.NewBorder(top, nil, nil, nil, list), v.win)
	d.Resize(fyne.NewSize(1000, 640))
	q.dlg = d
	d.Show()
	debugf("cohort queue shown: %d of %d studies", len(q.list), len(q.all))
}

func queueLine(i int, s *cohort.Status, current string) string {
	r := s.Results
	score := "—"
	if f := float64(r.QC.Score); !math.IsNaN(f) {
		score = fmt.Sprintf("%.3f", f)
	}
	state := "not reviewed"
	if s.Review != nil {
		state = s.Review.State
	}
	mark := "  "
	if s.ID == current {
		mark = "▶ "
	}
	group := s.Group
	if group == "" {
		group = "—"
	}
	return fmt.Sprintf("%s%3d.  %-28s QC %s   %d/%d slices flagged   group %s   %s", mark, i+1, s.ID, score, r.QC.FlaggedSlices, r.QC.Slices, group, state)
}

// openQueued opens a queue study on its saved segmentation.
func (v *Viewer) openQueued(s *cohort.Status) {
	q := v.cohort
	if q.dlg != nil {
		q.dlg.Hide()
		q.dlg = nil
	}
	v.stopCine()
	v.setMessage("Opening " + s.ID + " from the cohort …")
	prog := showBusy("Opening study", truncate(s.Path, 80), v.win)
	go func() {
		ser, imported, err := v.loadQueued(s)
		onUI(func() {
			defer v.signal()
			prog.Close()
			if err != nil {
				debugf("cohort open failed: %v", err)
				v.showError("Could not open "+s.ID, err)
				return
			}
			q.current = s.ID
			pos := q.index(s.ID)
			debugf("cohort open %s (%d of %d): %d saved phase(s) of %d", s.ID, pos+1, len(q.list), imported, ser.NT)
			v.setStudy(&study.Study{Path: s.Path, Series: []*study.Series{ser}})
			v.setMessage(fmt.Sprintf("Cohort study %d of %d: %s. Correct it, then press N to mark it final and open the next.", pos+1, len(q.list), s.ID))
			if j := v.ws.Running(); j != nil {
				go func() {
					<-j.Done()
					debugf("cohort study %s: %d of %d phase(s) from the saved result, %d segmented now", s.ID, j.Cached(), ser.NT, ser.NT-j.Cached())
				}()
			}
		})
	}()
}

// loadQueued reads the study as the batch did and puts the batch's saved
// results into the window's cache.
func (v *Viewer) loadQueued(s *cohort.Status) (*study.Series, int, error) {
	in, err := cohort.Open(s.Study)
	if err != nil {
		return nil, 0, err
	}
	phases := s.Segmented
	if len(phases) == 0 { // written before segmented_phases existed
		phases = []int{in.Series.ED}
		if in.Series.ES != in.Series.ED {
			phases = append(phases, in.Series.ES)
		}
	}
	for _, t := range phases {
		if t < 0 || t >= in.Series.NT {
			return nil, 0, fmt.Errorf("%s: the status file names phase %d, the study has %d", s.Path, t+1, in.Series.NT)
		}
	}
	ser, _ := cohort.ReviewSeries(in.Series, phases)
	dir, err := cohort.StudyDir(v.cohort.dir, s.ID)
	if err != nil {
		return nil, 0, err
	}
	n, err := v.ws.ImportResults(ser, filepath.Join(dir, cohort.ReviewDir))
	if err != nil {
		// The study still opens; the window segments it itself.
		onUI(func() { v.setMessage(err.Error() + "; segmenting it in the window") })
	}
	return ser, n, nil
}

// cohortNext (key N) marks the open queue study final, records the review
// in the cohort table and opens the next study of the queue.
func (v *Viewer) cohortNext() {
	q := v.cohort
	if q == nil {
		v.setMessage("No cohort is open: File ▸ Open cohort…")
		return
	}
	pos := q.index(q.current)
	if q.current != "" && v.ws.Session != nil && v.ws.Study != nil && pos >= 0 && v.ws.Study.Path == q.list[pos].Path {
		if !v.ws.Final() {
			if err := v.ws.MarkFinal(); err != nil {
				v.showError("Mark final", err)
				return
			}
		}
		snap, err := trainingjob.Snapshot(v.ws.Session)
		if err != nil {
			v.showError("Mark final", err)
			return
		}
		edited := 0
		for _, n := range snap.Edited {
			edited += n
		}
		state := cohort.ReviewReviewed
		if edited > 0 {
			state = cohort.ReviewCorrected
		}
		st, err := cohort.SetReview(q.dir, q.current, cohort.Review{State: state, Final: true, At: time.Now().UTC()})
		if err != nil {
			v.showError("Recording the review in the cohort table", err)
			return
		}
		for i, s := range q.all {
			if s.ID == st.ID {
				q.all[i] = st
			}
		}
		debugf("cohort review %s: %s (%d voxels changed), table updated", st.ID, state, edited)
		if edited > 0 {
			root := v.training.env.Dirs.Corrected()
			go func() {
				cs, err := snap.Export(root)
				onUI(func() {
					if err != nil {
						v.setMessage("Adding " + st.ID + " to the training set: " + err.Error())
						return
					}
					debugf("cohort corrected case %s: %d frame(s) in %s", st.ID, len(cs), root)
				})
			}()
		}
		v.refreshView()
		v.refreshData()
	}
	// The next study: the one after the current in the queue's order, or
	// the one now at its place when the filter dropped the current.
	prevID := q.current
	q.refilter()
	next := -1
	if i := q.index(prevID); i >= 0 {
		next = i + 1
	} else if pos >= 0 {
		next = pos
	} else {
		next = 0
	}
	if next >= len(q.list) {
		v.setMessage("End of the review queue.")
		debugf("cohort queue end")
		v.showCohortQueue()
		return
	}
	v.openQueued(q.list[next])
}

// StartOnCohort starts the window on the review queue of a batch output
// folder (gui --cohort): no study is open, and the demo is not touched.
func (v *Viewer) StartOnCohort(dir string) {
	v.afterStudyChange()
	// Once the window is up, so the queue dialog is laid out on it.
	go onUI(func() { v.OpenCohort(dir) })
}
