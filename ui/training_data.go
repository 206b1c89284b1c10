package ui

import (
	"context"
	"fmt"
	"image"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"cmrseg/app/trainingjob"
)

func (t *trainingTab) scan() {
	dir := strings.TrimSpace(t.folder.Text)
	if dir == "" || t.scanning {
		return
	}
	t.scanning = true
	t.scanBtn.Disable()
	t.dataText.SetText("Scanning " + dir + " …")
	go func() {
		sum, err := trainingjob.Scan(context.Background(), dir, trainingjob.ScanOptions{})
		t.do(func() {
			t.scanning = false
			t.scanBtn.Enable()
			t.showSummary(dir, sum, err)
			t.notify("scan")
		})
	}()
}

func (t *trainingTab) showSummary(dir string, s *trainingjob.Summary, err error) {
	t.previewGrid.RemoveAll()
	t.summary, t.dataDir = s, ""
	if err != nil {
		t.dataText.SetText("")
		t.problems.SetText(err.Error())
		t.refreshButtons()
		return
	}
	t.dataText.SetText(fmt.Sprintf("%s (%s): %d cases, %d labelled; %d labelled frames, %d slices.",
		s.Name, s.Layout, s.Cases, s.Labelled, s.Frames, s.Slices))
	for _, p := range s.Previews {
		img := canvas.NewImageFromImage(p.Image)
		img.FillMode = canvas.ImageFillContain
		img.SetMinSize(fyne.NewSize(96, 96))
		cap := widget.NewLabel(p.Case)
		cap.Truncation = fyne.TextTruncateEllipsis
		t.previewGrid.Add(container.NewBorder(nil, cap, nil, nil, img))
	}
	if len(s.Problems) > 0 {
		lines := make([]string, 0, len(s.Problems))
		for i, p := range s.Problems {
			if i == 30 {
				lines = append(lines, fmt.Sprintf("… and %d more", len(s.Problems)-30))
				break
			}
			lines = append(lines, "• "+p.String())
		}
		t.problems.SetText(fmt.Sprintf("%d problem(s); fix them before training:\n%s", len(s.Problems), strings.Join(lines, "\n")))
	} else {
		t.problems.SetText("")
	}
	if s.Usable() {
		t.dataDir = dir
	}
	t.refreshButtons()
}

// buildCaseBox holds the open study's place in the corrected-cases set:
// it joins only when the reader says so (and only once marked final), and
// can be taken out again.
func (t *trainingTab) buildCaseBox() fyne.CanvasObject {
	t.caseText = widget.NewLabel("")
	t.caseText.Wrapping = fyne.TextWrapWord
	t.addCaseBtn = widget.NewButtonWithIcon("Add open study to training set", theme.ContentAddIcon(), t.addOpenStudy)
	t.removeCaseBtn = widget.NewButtonWithIcon("Remove it", theme.ContentRemoveIcon(), t.removeOpenStudy)
	t.refreshCase()
	return container.NewVBox(heading("Your corrected studies"), t.caseText, container.NewHBox(t.addCaseBtn, t.removeCaseBtn))
}

// refreshCase says whether the open study is in the training set and
// enables the buttons that apply.
func (t *trainingTab) refreshCase() {
	if t.caseText == nil {
		return
	}
	sess := t.v.ws.Session
	t.addCaseBtn.Disable()
	t.removeCaseBtn.Disable()
	if sess == nil {
		t.caseText.SetText("No segmented study is open.")
		return
	}
	cs, err := trainingjob.StudyCases(t.env.Dirs.Corrected(), trainingjob.StudyKey(sess))
	switch {
	case err != nil:
		t.caseText.SetText(err.Error())
	case len(cs) > 0:
		t.caseText.SetText(fmt.Sprintf("The open study is in the training set: %d frame(s), added %s.", len(cs), cs[0].Created.Local().Format("2 Jan 15:04")))
		t.removeCaseBtn.Enable()
		if sess.Final() {
			t.addCaseBtn.SetText("Update it in the training set")
			t.addCaseBtn.Enable()
		}
		return
	case !sess.Final():
		t.caseText.SetText("The open study is not in the training set. Mark it final in the review tab to add it.")
	default:
		t.caseText.SetText("The open study is final and not in the training set.")
		t.addCaseBtn.Enable()
	}
	t.addCaseBtn.SetText("Add open study to training set")
}

// addOpenStudy writes the open final study's corrected frames into the
// corrected-cases set (in the background), then rescans when that set is
// the one shown.
func (t *trainingTab) addOpenStudy() {
	snap, err := trainingjob.Snapshot(t.v.ws.Session)
	if err != nil {
		t.caseText.SetText(capitalise(err.Error()))
		return
	}
	t.addCaseBtn.Disable()
	root := t.env.Dirs.Corrected()
	go func() {
		cs, err := snap.Export(root)
		t.do(func() {
			if err != nil {
				t.message.SetText("Adding the study to the training set: " + err.Error())
			} else {
				t.exports++
				t.message.SetText(fmt.Sprintf("The study is now a training case (%d frame(s) in %s).", len(cs), root))
			}
			t.refreshCase()
			if t.source.Selected == sourceCorrected {
				t.scan()
			}
			t.notify("export")
		})
	}()
}

// removeOpenStudy takes the open study's frames out of the set.
func (t *trainingTab) removeOpenStudy() {
	sess := t.v.ws.Session
	if sess == nil {
		return
	}
	n, err := trainingjob.RemoveStudy(t.env.Dirs.Corrected(), trainingjob.StudyKey(sess))
	if err != nil {
		t.message.SetText(err.Error())
	} else {
		t.message.SetText(fmt.Sprintf("The study left the training set (%d frame(s) removed).", n))
	}
	t.refreshCase()
	if t.source.Selected == sourceCorrected {
		t.scan()
	}
}

// previewImages are the preview thumbnails shown (tests).
func (t *trainingTab) previewImages() []image.Image {
	var out []image.Image
	for _, o := range t.previewGrid.Objects {
		if b, ok := o.(*fyne.Container); ok {
			for _, c := range b.Objects {
				if im, ok := c.(*canvas.Image); ok {
					out = append(out, im.Image)
				}
			}
		}
	}
	return out
}
