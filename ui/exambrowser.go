package ui

import (
	"errors"
	"fmt"
	"image"
	"path/filepath"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"cmrseg/app/exam"
	"cmrseg/app/studyio"
	"cmrseg/app/workspace"
)

const examThumbSize = 72

// examThumbs caches the thumbnails of the last exam browsed (only touched
// on the UI goroutine), so reopening the browser does not decode again.
var examThumbs struct {
	ex   *exam.Exam
	imgs []image.Image
}

// examOf is the open study's exam, nil when the study is not a DICOM exam.
func (v *Viewer) examOf() *exam.Exam {
	if v.ws.Study == nil {
		return nil
	}
	ex, _ := v.ws.Study.Exam.(*exam.Exam)
	return ex
}

// offerExam shows the exam browser after an exam of several series has
// been opened: the short-axis cine is already being segmented, and the
// reader sees what else the exam holds.
func (v *Viewer) offerExam() {
	if ex := v.examOf(); ex != nil && len(ex.Entries) > 1 {
		v.showExamBrowser()
	}
}

// showExamBrowser lists the open exam's series with a thumbnail, class,
// slices × phases and description; choosing a loadable one decodes it and
// segments it in place of the current series.
func (v *Viewer) showExamBrowser() {
	ex := v.examOf()
	if ex == nil {
		v.showError("Exam series", errors.New("the open study is not a DICOM exam (open a DICOM folder or DICOMDIR)"))
		return
	}
	if examThumbs.ex != ex {
		examThumbs.ex, examThumbs.imgs = ex, make([]image.Image, len(ex.Entries))
	}
	current := ""
	if s := v.ws.Series(); s != nil {
		current = s.Meta.SeriesInstanceUID
	}
	var d dialog.Dialog
	list := widget.NewList(func() int { return len(ex.Entries) },
		func() fyne.CanvasObject {
			img := canvas.NewImageFromImage(nil)
			img.FillMode = canvas.ImageFillContain
			img.SetMinSize(fyne.NewSize(examThumbSize, examThumbSize))
			title := widget.NewLabel("")
			title.TextStyle.Bold = true
			title.Truncation = fyne.TextTruncateEllipsis
			detail := widget.NewLabel("")
			detail.Truncation = fyne.TextTruncateEllipsis
			return container.NewBorder(nil, nil, img, nil, container.NewVBox(title, detail))
		},
		func(id widget.ListItemID, o fyne.CanvasObject) {
			c := o.(*fyne.Container)
			var img *canvas.Image
			var labels *fyne.Container
			for _, obj := range c.Objects {
				switch x := obj.(type) {
				case *canvas.Image:
					img = x
				case *fyne.Container:
					labels = x
				}
			}
			title, detail := examRow(ex, id, current)
			labels.Objects[0].(*widget.Label).SetText(title)
			labels.Objects[1].(*widget.Label).SetText(detail)
			img.Image = examThumbs.imgs[id]
			img.Refresh()
		})
	list.OnSelected = func(id widget.ListItemID) {
		e := ex.Entries[id]
		if !e.Loadable() {
			list.UnselectAll()
			v.setMessage(fmt.Sprintf("Series %d (%s) cannot be shown: %s.", id+1, orNoDesc(e.Description), e.Why))
			return
		}
		d.Hide()
		if e.UID == current {
			return
		}
		v.openExamSeries(ex, id)
	}
	title := fmt.Sprintf("%s: %d series — ▶ shown, * the short-axis cine chosen for segmentation", filepath.Base(ex.Path), len(ex.Entries))
	d = dialog.NewCustom(title, "Close", container.NewGridWrap(fyne.NewSize(820, 440), list), v.win)
	d.Show()
	// Thumbnails decode one frame per series, in the background.
	go func() {
		for i := range ex.Entries {
			img, err := ex.Thumbnail(i, examThumbSize)
			if err != nil {
				continue // the row still says what the series is
			}
			onUI(func() {
				if examThumbs.ex == ex && examThumbs.imgs[i] == nil {
					examThumbs.imgs[i] = img
					list.RefreshItem(i)
				}
			})
		}
	}()
}

// examRow is the text of one series in the browser.
func examRow(ex *exam.Exam, i int, current string) (title, detail string) {
	e := ex.Entries[i]
	mark := "  "
	switch {
	case e.UID == current && e.UID != "":
		mark = "▶ "
	case i == ex.Chosen:
		mark = "* "
	}
	title = fmt.Sprintf("%s%d. %s — %s", mark, i+1, orNoDesc(e.Description), e.Class)
	size := fmt.Sprintf("%d files", e.Files)
	if e.Loadable() {
		size = fmt.Sprintf("%d slice%s × %d phase%s", e.Slices, pl(e.Slices), e.Phases, pl(e.Phases))
	}
	detail = fmt.Sprintf("#%d · %s · %s", e.SeriesNumber, size, e.Why)
	if e.Lossy {
		detail += " · lossy JPEG"
	}
	return title, detail
}

// openExamSeries decodes series i of the exam in the background and makes
// it the study shown and segmented.
func (v *Viewer) openExamSeries(ex *exam.Exam, i int) {
	v.stopCine()
	e := ex.Entries[i]
	v.setMessage(fmt.Sprintf("Reading series %d (%s) …", i+1, orNoDesc(e.Description)))
	prog := showBusy("Reading series", orNoDesc(e.Description), v.win)
	go func() {
		st, err := studyio.OpenExamSeries(ex, i)
		onUI(func() {
			defer v.signal()
			prog.Close()
			if err != nil {
				v.showError(fmt.Sprintf("Could not read series %d", i+1), err)
				return
			}
			v.setStudy(st)
		})
	}()
}

// showSourceWarning puts the lossy-source warning of the shown series in
// the status bar (and so in its history).
func (v *Viewer) showSourceWarning() {
	if w := workspace.SourceWarning(v.ws.Series()); w != "" {
		v.setMessage(w)
	}
}

func orNoDesc(s string) string {
	if s == "" {
		return "(no description)"
	}
	return s
}

func pl(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
