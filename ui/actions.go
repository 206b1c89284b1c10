package ui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/driver/desktop"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/storage"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"cmrseg/app/study"
	"cmrseg/app/workspace"
)

func (v *Viewer) menu() *fyne.MainMenu {
	recent := fyne.NewMenuItem("Open recent…", v.showRecent)
	openFile := fyne.NewMenuItem("Open file (NIfTI)…", v.openFileDialog)
	openFile.Shortcut = &desktop.CustomShortcut{KeyName: fyne.KeyO, Modifier: fyne.KeyModifierShortcutDefault}
	segmentAgain := fyne.NewMenuItem("Segment again", v.logged("segment", func() { v.startSegmentation() }))
	segmentAgain.Shortcut = &desktop.CustomShortcut{KeyName: fyne.KeyR, Modifier: fyne.KeyModifierShortcutDefault}
	// Our own Quit (Fyne adds one without a shortcut on Linux) closes the
	// session first, as closing the window does.
	quit := fyne.NewMenuItem("Quit", v.closeWindow)
	quit.IsQuit = true
	quit.Shortcut = &desktop.CustomShortcut{KeyName: fyne.KeyQ, Modifier: fyne.KeyModifierShortcutDefault}
	file := fyne.NewMenu("File",
		openFile,
		fyne.NewMenuItem("Open folder (DICOM / ACDC patient)…", v.openFolderDialog),
		recent,
		fyne.NewMenuItemSeparator(),
		fyne.NewMenuItem("Open demo study", func() {
			st, _ := workspace.Demo()
			v.setStudy(st)
		}),
		// After the items whose place the real-window tests click.
		fyne.NewMenuItem("Exam series (DICOM)…", v.showExamBrowser),
		segmentAgain,
		// Below the demo item, whose position the real-window stress test clicks.
		fyne.NewMenuItem("DICOM inbox…", v.showInbox),
		fyne.NewMenuItem("Open cohort (cmrseg batch output)…", v.openCohortDialog),
		fyne.NewMenuItem("Review queue (N: final, next)", v.showCohortQueue),
		fyne.NewMenuItemSeparator(),
		quit,
	)
	undo := fyne.NewMenuItem("Undo", v.logged("undo", v.undo))
	undo.Shortcut = &fyne.ShortcutUndo{}
	redo := fyne.NewMenuItem("Redo", v.logged("redo", v.redo))
	redo.Shortcut = &desktop.CustomShortcut{KeyName: fyne.KeyZ, Modifier: fyne.KeyModifierShortcutDefault | fyne.KeyModifierShift}
	edit := fyne.NewMenu("Edit", undo, redo,
		fyne.NewMenuItemSeparator(),
		fyne.NewMenuItem("Fill holes on this slice", v.fillHoles),
		fyne.NewMenuItem("Accept / unaccept slice (A)", v.toggleAccept),
		fyne.NewMenuItem("Mark final / reopen", v.toggleFinal),
	)
	view := fyne.NewMenu("View",
		fyne.NewMenuItem("Fit to window (F)", func() { v.ws.ResetView(); v.refreshView() }),
		fyne.NewMenuItem("Play / pause cine (Space)", v.toggleCine),
		fyne.NewMenuItem("Labels on/off (L)", func() { v.typedRune('l') }),
		fyne.NewMenuItem("Contour / fill (C)", func() { v.typedRune('c') }),
		fyne.NewMenuItem("Uncertainty on/off (U)", func() { v.typedRune('u') }),
		fyne.NewMenuItem("Entropy / mutual information (M)", func() { v.typedRune('m') }),
	)
	exportAll := fyne.NewMenuItem("Everything (ED/ES masks, report, snapshot; DICOM SEG for DICOM studies)…", v.logged("export", v.exportAll))
	exportAll.Shortcut = &desktop.CustomShortcut{KeyName: fyne.KeyE, Modifier: fyne.KeyModifierShortcutDefault}
	export := fyne.NewMenu("Export",
		exportAll,
		fyne.NewMenuItemSeparator(),
		fyne.NewMenuItem("Mask of this phase (NIfTI)…", func() { v.exportDialog(exportMask) }),
		fyne.NewMenuItem("Masks of ED and ES (NIfTI)…", func() { v.exportDialog(exportMasksEDES) }),
		fyne.NewMenuItem("Segmentations of ED and ES (DICOM SEG, DICOM studies)…", func() { v.exportDialog(exportSEGEDES) }),
		fyne.NewMenuItem("Report (CSV)…", func() { v.exportDialog(exportCSV) }),
		fyne.NewMenuItem("Report (JSON)…", func() { v.exportDialog(exportJSON) }),
		fyne.NewMenuItem("Export PDF report (and DICOM Encapsulated PDF for DICOM studies)…", func() { v.exportDialog(exportPDF) }),
		fyne.NewMenuItem("Snapshot of the view (PNG)…", func() { v.exportDialog(exportPNG) }),
	)
	help := fyne.NewMenu("Help",
		fyne.NewMenuItem("Keyboard and mouse", v.showHelp),
		fyne.NewMenuItem("About cmrseg", v.showAbout),
	)
	return fyne.NewMainMenu(file, edit, view, export, help)
}

// showRecent lists the recent studies in a dialog; a tap opens one. A
// dialog, not a submenu, so opening a study never has to rebuild the menu
// bar: SetMainMenu (and MainMenu.Refresh, which calls it) replaces the
// menu overlay, and Fyne 2.7 then loses track of which canvas the window's
// widgets are on until the next paint (see safeSelect).
func (v *Viewer) showRecent() {
	entries := v.ws.Recent().Entries
	if len(entries) == 0 {
		dialog.ShowInformation("Open recent", "No recent studies yet.", v.win)
		return
	}
	var d dialog.Dialog
	list := widget.NewList(func() int { return len(entries) },
		func() fyne.CanvasObject { return widget.NewLabel("") },
		func(id widget.ListItemID, o fyne.CanvasObject) {
			e := entries[id]
			label := e.Path
			if e.Description != "" {
				label = fmt.Sprintf("%s  (%s)", e.Path, truncate(e.Description, 40))
			}
			o.(*widget.Label).SetText(label)
		})
	list.OnSelected = func(id widget.ListItemID) {
		d.Hide()
		v.openPath(entries[id].Path)
	}
	d = dialog.NewCustom("Open recent", "Cancel", container.NewGridWrap(fyne.NewSize(760, 300), list), v.win)
	d.Show()
}

// logged runs f and, under CMRSEG_DEBUG, reports its outcome (the status
// line) on stderr for scripts; menu items and their shortcuts use it, since
// a menu's shortcut takes precedence over the canvas'.
func (v *Viewer) logged(name string, f func()) func() {
	return func() {
		f()
		debugf("action %s: %s", name, v.messageText.Text)
	}
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func (v *Viewer) bindKeys() {
	c := v.win.Canvas()
	c.SetOnTypedKey(v.typedKey)
	c.SetOnTypedRune(v.typedRune)
	sc := fyne.KeyModifierShortcutDefault
	key := func(name string, f func()) func(fyne.Shortcut) {
		g := v.logged(name, f)
		return func(fyne.Shortcut) { g() }
	}
	// The desktop driver turns Ctrl+Z and Ctrl+Y into the standard Undo and
	// Redo shortcuts; other drivers may deliver them as plain key chords.
	c.AddShortcut(&fyne.ShortcutUndo{}, key("undo", v.undo))
	c.AddShortcut(&fyne.ShortcutRedo{}, key("redo", v.redo))
	c.AddShortcut(&desktop.CustomShortcut{KeyName: fyne.KeyZ, Modifier: sc}, key("undo", v.undo))
	c.AddShortcut(&desktop.CustomShortcut{KeyName: fyne.KeyZ, Modifier: sc | fyne.KeyModifierShift}, key("redo", v.redo))
	c.AddShortcut(&desktop.CustomShortcut{KeyName: fyne.KeyY, Modifier: sc}, key("redo", v.redo))
	c.AddShortcut(&desktop.CustomShortcut{KeyName: fyne.KeyO, Modifier: sc}, func(fyne.Shortcut) { v.openFileDialog() })
	c.AddShortcut(&desktop.CustomShortcut{KeyName: fyne.KeyR, Modifier: sc}, key("segment", func() { v.startSegmentation() }))
	c.AddShortcut(&desktop.CustomShortcut{KeyName: fyne.KeyQ, Modifier: sc}, func(fyne.Shortcut) { v.closeWindow() })
	c.AddShortcut(&desktop.CustomShortcut{KeyName: fyne.KeyE, Modifier: sc}, key("export", v.exportAll))
}

// typedKey: ↑/↓ slice, ←/→ phase, Page keys slice, +/- zoom, Escape
// stops the cine.
func (v *Viewer) typedKey(ev *fyne.KeyEvent) {
	switch ev.Name {
	case fyne.KeyUp, fyne.KeyPageUp:
		v.stepSlice(-1)
	case fyne.KeyDown, fyne.KeyPageDown:
		v.stepSlice(1)
	case fyne.KeyLeft:
		v.stepPhase(-1)
	case fyne.KeyRight:
		v.stepPhase(1)
	case fyne.KeySpace:
		v.toggleCine()
	case fyne.KeyEscape:
		v.stopCine()
	case fyne.KeyHome:
		v.ws.ResetView()
		v.refreshView()
	}
}

// typedRune: 1/2/3 toggle RV, MYO, LV; L labels; C contour/fill; U
// uncertainty; M entropy/MI; F fit; A accept; Q/B/E/P tools; +/- zoom;
// [ ] brush size. (Space arrives as a key, not a rune.)
func (v *Viewer) typedRune(r rune) {
	ws := v.ws
	vw := ws.View()
	switch r {
	case '1', '2', '3':
		c := int(r - '0')
		ws.Display.Hidden[c] = !ws.Display.Hidden[c]
	case 'l', 'L':
		vw.ShowLabels = !vw.ShowLabels
	case 'c', 'C':
		ws.Display.Fill = !ws.Display.Fill
	case 'u', 'U':
		vw.ShowUncertainty = !vw.ShowUncertainty
	case 'm', 'M':
		if vw.Overlay == 0 {
			vw.Overlay = 1
		} else {
			vw.Overlay = 0
		}
	case 'f', 'F':
		ws.ResetView()
	case 'a', 'A':
		v.toggleAccept()
		return
	case 'n', 'N':
		v.logged("cohort next", v.cohortNext)()
		return
	case 'q', 'Q', 'b', 'B', 'e', 'E', 'p', 'P':
		t := map[rune]workspace.Tool{'q': workspace.ToolCorrect, 'b': workspace.ToolBrush, 'e': workspace.ToolEraser, 'p': workspace.ToolPan}[toLower(r)]
		v.toolRadio.SetSelected(workspace.ToolNames[t])
		return
	case '+', '=':
		sz := v.view.viewport()
		ws.SetViewport(sz.ZoomAt(sz.W/2, sz.H/2, 1.25))
	case '-':
		sz := v.view.viewport()
		ws.SetViewport(sz.ZoomAt(sz.W/2, sz.H/2, 1/1.25))
	case '[':
		v.brushSlider.SetValue(v.brushSlider.Value - 0.5)
		return
	case ']':
		v.brushSlider.SetValue(v.brushSlider.Value + 0.5)
		return
	default:
		return
	}
	v.refreshView()
}

func toLower(r rune) rune {
	if r >= 'A' && r <= 'Z' {
		return r + 'a' - 'A'
	}
	return r
}

// Opening studies.

func (v *Viewer) openFileDialog() {
	d := dialog.NewFileOpen(func(r fyne.URIReadCloser, err error) {
		if err != nil {
			v.showError("Open file", err)
			return
		}
		if r == nil {
			return
		}
		path := r.URI().Path()
		r.Close()
		v.openPath(path)
	}, v.win)
	d.SetFilter(storage.NewExtensionFileFilter([]string{".nii", ".gz"}))
	d.Resize(fyne.NewSize(900, 600))
	d.Show()
}

func (v *Viewer) openFolderDialog() {
	d := dialog.NewFolderOpen(func(u fyne.ListableURI, err error) {
		if err != nil {
			v.showError("Open folder", err)
			return
		}
		if u == nil {
			return
		}
		v.openPath(u.Path())
	}, v.win)
	d.Resize(fyne.NewSize(900, 600))
	d.Show()
}

// openPath reads a study in the background, then shows it (or an error
// naming the path).
func (v *Viewer) openPath(path string) {
	v.stopCine()
	v.setMessage("Opening " + path + " …")
	prog := showBusy("Opening study", truncate(path, 80), v.win)
	sel := v.ws.TakeOpenSeries()
	go func() {
		st, err := workspace.LoadSeries(path, sel)
		onUI(func() {
			defer v.signal()
			prog.Close()
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					v.ws.Recent().Remove(path)
				}
				debugf("open failed: %v", err)
				v.showError("Could not open "+filepath.Base(path), err)
				return
			}
			debugf("opened %s: %d series, first %s", path, len(st.Series), workspace.SeriesLabel(st.Series[0]))
			v.setStudy(st)
			v.offerExam()
		})
	}()
}

// setStudy shows st: directly with one series, after a picker with several.
func (v *Viewer) setStudy(st *study.Study) {
	v.stopCine()
	if err := v.ws.SetStudy(st); err != nil {
		v.showError("Opening the study", err)
		return
	}
	v.exportToDir = "" // each study has its own export folder
	v.afterStudyChange()
}

// afterStudyChange asks for a series when needed, then segments.
func (v *Viewer) afterStudyChange() {
	for _, w := range v.ws.TakeWarnings() {
		v.setMessage(w)
	}
	if v.ws.Study != nil && v.ws.SeriesIndex < 0 {
		v.refreshAll()
		v.pickSeries()
		return
	}
	v.refreshAll()
	v.startSegmentation()
}

// pickSeries lets the user choose one of the study's series.
func (v *Viewer) pickSeries() {
	st := v.ws.Study
	var d dialog.Dialog
	list := widget.NewList(func() int { return len(st.Series) },
		func() fyne.CanvasObject { return widget.NewLabel("") },
		func(id widget.ListItemID, o fyne.CanvasObject) {
			o.(*widget.Label).SetText(fmt.Sprintf("%d. %s", id+1, workspace.SeriesLabel(st.Series[id])))
		})
	list.OnSelected = func(id widget.ListItemID) {
		d.Hide()
		v.chooseSeries(id)
	}
	title := fmt.Sprintf("%d series in %s — choose the cine short-axis stack", len(st.Series), filepath.Base(st.Path))
	d = dialog.NewCustom(title, "Cancel", container.NewGridWrap(fyne.NewSize(760, 360), list), v.win)
	d.Show()
}

func (v *Viewer) chooseSeries(n int) {
	if err := v.ws.SelectSeries(n); err != nil {
		v.showError("Choosing a series", err)
		return
	}
	v.refreshAll()
	v.startSegmentation()
}

// startSegmentation runs the ensemble in the background with progress and
// Cancel in the status bar. Partial results are drawn as they arrive; ED
// and ES complete open the review session; the other phases follow.
func (v *Viewer) startSegmentation() *workspace.Job {
	if v.ws.Series() == nil {
		return nil
	}
	// The study has just been drawn (or segmenting again starts now).
	v.shownAt, v.contourShown = time.Now(), false
	j, err := v.ws.StartSegmentation(func(j *workspace.Job) { onUI(func() { v.syncJob(j) }) })
	if err != nil {
		v.showError("Segmentation", err)
		return nil
	}
	v.setMessage("Segmenting on " + v.ws.Device() + ": ED and ES first …")
	v.showSourceWarning()
	v.refreshProgress()
	v.refreshView()
	return j
}

// syncJob shows what job j has produced since the last call.
func (v *Viewer) syncJob(j *workspace.Job) {
	if j == nil {
		return
	}
	st := v.ws.Sync(j)
	if !v.contourShown && v.ws.Frame().Labels != nil {
		v.contourShown = true
		debugf("first contour %.2f s after the study was shown", time.Since(v.shownAt).Seconds())
	}
	if st.Opened {
		debugf("ED and ES final %.2f s after the study was shown", time.Since(v.shownAt).Seconds())
		debugf("segmented ED and ES of %s on %s", v.ws.Series().Meta.SeriesDescription, v.ws.Device())
		n := len(v.ws.QC(false))
		v.setMessage(fmt.Sprintf("ED and ES segmented: %d slice%s flagged for review; the other phases continue in the background. Click inside an uncertain (bright) region to correct it.", n, map[bool]string{true: "", false: "s"}[n == 1]))
		v.refreshAll()
	} else {
		v.refreshView()
	}
	if st.Done {
		v.finishJob(j, st)
	}
	v.refreshProgress()
}

// finishJob reports the end of job j.
func (v *Viewer) finishJob(j *workspace.Job, st workspace.SyncState) {
	defer v.signal()
	err := j.Err()
	switch {
	case err == nil && v.ws.Session != nil:
		msg := "Segmentation done"
		if c := j.Cached(); c > 0 {
			msg += fmt.Sprintf(" (%d phase(s) from the saved result, no recomputation)", c)
		}
		if st.ESRefined {
			msg += fmt.Sprintf("; end-systole set to phase %d, the smallest LV volume (the study did not say; change it in the report)", v.ws.Series().ES+1)
		}
		v.setMessage(msg + ".")
		for _, w := range v.ws.TakeWarnings() {
			v.setMessage(w)
		}
		v.showSourceWarning()
	case errors.Is(err, context.Canceled):
		if v.ws.Session == nil {
			v.setMessage("Segmentation cancelled; the images can be reviewed without labels.")
		} else {
			v.setMessage("Segmentation of the remaining phases cancelled; ED and ES stay reviewable.")
		}
	case err == nil:
		v.showError("Segmentation failed", errors.New("it finished without ED and ES"))
	default:
		debugf("segmentation failed: %v", err)
		v.showError("Segmentation failed", err)
	}
	v.refreshAll()
}

// Exports.

type exportKind int

const (
	exportMask exportKind = iota
	exportMasksEDES
	exportCSV
	exportJSON
	exportPNG
	exportAll
	exportSEGEDES
)

// exportAll (Ctrl+E) writes everything (masks of ED and ES, report as CSV
// and JSON, a snapshot; DICOM SEG for DICOM studies) without asking into
// the folder the reader last exported this study to, or else the study's
// own folder under $CMRSEG_EXPORT_DIR; with neither it opens the save
// dialog.
func (v *Viewer) exportAll() {
	dir := v.exportToDir
	if dir == "" && os.Getenv("CMRSEG_EXPORT_DIR") != "" {
		dir = v.ws.DefaultExportDir(workspace.ExportRoot())
	}
	if dir == "" {
		v.exportDialog(exportAll)
		return
	}
	if _, err := v.saveExport(dir, exportAll); err != nil {
		v.showError("Export failed", err)
	}
}

// exportDialog is the save dialog of every export: it proposes the study's
// own folder under the export folder (or the one last used for this
// study), names every file it will write there, and refuses a folder that
// holds the study's source files.
func (v *Viewer) exportDialog(k exportKind) {
	if v.ws.Series() == nil {
		v.showError("Export", errors.New("no study is open"))
		return
	}
	dir := v.exportToDir
	if dir == "" {
		dir = v.ws.DefaultExportDir(workspace.ExportRoot())
	}
	folder := widget.NewEntry()
	files := widget.NewLabel("")
	files.TextStyle = fyne.TextStyle{Monospace: true}
	files.Wrapping = fyne.TextWrapBreak
	problem := widget.NewLabel("")
	problem.Importance = widget.DangerImportance
	problem.Wrapping = fyne.TextWrapWord
	var d *dialog.CustomDialog
	save := widget.NewButtonWithIcon("Save", theme.DocumentSaveIcon(), func() {
		paths, err := v.saveExport(folder.Text, k)
		if err != nil {
			problem.SetText(err.Error())
			return
		}
		d.Hide()
		dialog.ShowInformation("Exported", "Written:\n"+strings.Join(paths, "\n"), v.win)
	})
	save.Importance = widget.HighImportance
	update := func(string) {
		names := v.exportNames(k)
		lines := make([]string, len(names))
		for n, name := range names {
			lines[n] = filepath.Join(folder.Text, name)
		}
		files.SetText(fmt.Sprintf("Writes %d file(s), replacing files of the same name:\n%s", len(names), strings.Join(lines, "\n")))
		if err := v.ws.CheckExportDir(folder.Text); err != nil {
			problem.SetText(err.Error())
			save.Disable()
			return
		}
		problem.SetText("")
		save.Enable()
	}
	folder.OnChanged = update
	folder.SetText(dir)
	update(dir)
	choose := widget.NewButtonWithIcon("Choose…", theme.FolderOpenIcon(), func() {
		fd := dialog.NewFolderOpen(func(u fyne.ListableURI, err error) {
			if err == nil && u != nil {
				folder.SetText(u.Path())
			}
		}, v.win)
		for p := folder.Text; p != "" && p != filepath.Dir(p); p = filepath.Dir(p) {
			if l, err := storage.ListerForURI(storage.NewFileURI(p)); err == nil {
				fd.SetLocation(l)
				break
			}
		}
		fd.Resize(fyne.NewSize(900, 600))
		fd.Show()
	})
	cancel := widget.NewButton("Cancel", func() { d.Hide() })
	content := container.NewVBox(
		widget.NewLabel("Folder (created if missing)"),
		container.NewBorder(nil, nil, nil, choose, folder),
		v.anonymiseCheck(folder, update),
		files, problem,
		container.NewHBox(layout.NewSpacer(), cancel, save))
	d = dialog.NewCustomWithoutButtons("Export "+exportTitles[k], container.NewGridWrap(fyne.NewSize(720, 320), container.NewVScroll(content)), v.win)
	v.exportShown = d
	v.exportFolder, v.exportSave = folder, save
	d.Show()
}

var exportTitles = map[exportKind]string{
	exportMask: "mask of this phase", exportMasksEDES: "masks of ED and ES", exportSEGEDES: "DICOM SEG of ED and ES",
	exportCSV: "report (CSV)", exportJSON: "report (JSON)", exportPNG: "snapshot", exportAll: "everything",
}

// saveExport checks dir, creates it and writes export k there.
func (v *Viewer) saveExport(dir string, k exportKind) ([]string, error) {
	if err := v.ws.CheckExportDir(dir); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return v.exportTo(dir, k)
}

// exportFile is one file an export writes.
type exportFile struct {
	name  string
	write func(path string) error
}

// exportFiles lists what export k writes, by name.
func (v *Viewer) exportFiles(k exportKind) []exportFile {
	ws := v.ws
	vw := ws.View()
	s := ws.Series()
	if s == nil {
		return nil
	}
	switch k {
	case exportMask:
		return []exportFile{{ws.ExportBaseName(vw.Phase) + "_mask.nii.gz", func(p string) error { return ws.ExportMask(p, vw.Phase) }}}
	case exportMasksEDES:
		var out []exportFile
		for _, t := range []int{s.ED, s.ES} {
			out = append(out, exportFile{ws.ExportBaseName(t) + "_mask.nii.gz", func(p string) error { return ws.ExportMask(p, t) }})
		}
		return out
	case exportSEGEDES:
		var out []exportFile
		for _, t := range []int{s.ED, s.ES} {
			out = append(out, exportFile{ws.ExportBaseName(t) + "_seg.dcm", func(p string) error { return ws.ExportSEG(p, t) }})
		}
		return out
	case exportCSV:
		return []exportFile{{ws.ExportBaseName(-1) + "_report.csv", ws.ExportReport}}
	case exportJSON:
		return []exportFile{{ws.ExportBaseName(-1) + "_report.json", ws.ExportReport}}
	case exportPDF:
		return v.pdfExportFiles()
	case exportPNG:
		name := fmt.Sprintf("%s_slice%02d.png", ws.ExportBaseName(vw.Phase), vw.Slice+1)
		return []exportFile{{name, func(p string) error { return workspace.ExportPNG(p, v.exportSnapshot()) }}}
	case exportAll:
		kinds := []exportKind{exportMasksEDES, exportCSV, exportJSON, exportPNG}
		// DICOM inputs also get DICOM SEG objects that PACS can store
		// beside the source series.
		if _, ok := s.Source.(*study.DICOMSource); ok {
			kinds = append(kinds, exportSEGEDES)
		}
		var out []exportFile
		for _, k := range kinds {
			out = append(out, v.exportFiles(k)...)
		}
		return out
	}
	return nil
}

// exportNames are the names of the files export k writes.
func (v *Viewer) exportNames(k exportKind) []string {
	var out []string
	for _, f := range v.exportFiles(k) {
		out = append(out, f.name)
	}
	return out
}

// exportTo writes export k into dir and returns the paths written.
func (v *Viewer) exportTo(dir string, k exportKind) ([]string, error) {
	if v.ws.Series() == nil {
		return nil, errors.New("no study is open")
	}
	var out []string
	var err error
	for _, f := range v.exportFiles(k) {
		p := filepath.Join(dir, f.name)
		if err = f.write(p); err != nil {
			break
		}
		out = append(out, p)
	}
	if err == nil {
		v.exportToDir = dir
		v.setMessage("Exported " + strings.Join(out, ", "))
		debugf("exported %s", strings.Join(out, "\t"))
	} else {
		debugf("export failed: %v", err)
	}
	return out, err
}

func (v *Viewer) showHelp() {
	txt := `Mouse
  Left click          one-click correction of the uncertain region (click again: next hypothesis)
  Left drag           brush / eraser stroke (with those tools); pan (Correct or Pan tool)
  Right drag          window (left/right) and level (up/down)
  Middle drag         pan
  Wheel               slice;  Ctrl+wheel: zoom at the cursor

Keyboard
  ↑ ↓  PgUp PgDn      slice            ← →   phase
  Space               play / pause cine
  1 2 3               RV / myocardium / LV cavity on/off
  L  C  U  M          labels, contour/fill, uncertainty, entropy/mutual information
  Q  B  E  P          tools: correct, brush, eraser, pan      [ ]  brush size
  A                   accept slice      F / Home  fit      + -  zoom
  Ctrl+Z              undo              Ctrl+Shift+Z / Ctrl+Y  redo
  Ctrl+O              open file      Ctrl+R  segment again      Ctrl+Q  quit
  Ctrl+E              export everything (ED/ES masks, report CSV/JSON, snapshot) to the
                      study's last export folder, or its own folder under
                      $CMRSEG_EXPORT_DIR; asks when neither is set

Report panel
  ED, ES              the phases the volumes come from (default: the study's)
  Height, weight      body size for BSA-indexed values (empty: unknown); saved with the session
  Study values        back to the study's own phases and body size

Scripting
  CMRSEG_DEBUG=1      prints the view geometry, the voxel under the pointer and each
                      segmentation, edit and export on stderr ("cmrseg-debug: …")`
	dialog.ShowCustom("Keyboard and mouse", "Close", helpTable(txt), v.win)
}

func (v *Viewer) showAbout() {
	msg := fmt.Sprintf("cmrseg — cardiac cine MRI segmentation with uncertainty\n\n"+
		"Prediction: mean softmax of a checkpoint ensemble; uncertainty: its entropy\n"+
		"(Zhao et al., MICCAI 2022).\n\nSegmentation engine: %s\n\n%s.\n%s",
		v.ws.Device(), ResearchNotice, "Models trained on research data (ACDC).")
	dialog.ShowInformation("About cmrseg", msg, v.win)
}

// helpTable lays the help text out as headings and a key | action table in
// the regular font: the monospace font lost its underscores on the GL
// canvas ($CMRSEG_EXPORT_DIR showed as "CMRSEG EXPORT DIR"). Lines of txt:
// a heading at column 0, then the key in columns 0–21 and the action from
// column 22 (a line with no key continues the previous action).
func helpTable(txt string) fyne.CanvasObject {
	const col = 22
	box := container.NewVBox()
	var form *fyne.Container
	var last *widget.Label
	for _, line := range strings.Split(txt, "\n") {
		r := []rune(line)
		switch {
		case strings.TrimSpace(line) == "":
			continue
		case r[0] != ' ':
			box.Add(widget.NewLabelWithStyle(line, fyne.TextAlignLeading, fyne.TextStyle{Bold: true}))
			form = container.New(layout.NewFormLayout())
			box.Add(form)
			last = nil
		default:
			key, action := strings.TrimSpace(string(r[:min(col, len(r))])), ""
			if len(r) > col {
				action = strings.TrimSpace(string(r[col:]))
			}
			if key == "" && last != nil {
				last.SetText(last.Text + " " + action)
				continue
			}
			last = widget.NewLabel(action)
			if form == nil {
				form = container.New(layout.NewFormLayout())
				box.Add(form)
			}
			form.Add(widget.NewLabel(key))
			form.Add(last)
		}
	}
	return box
}
