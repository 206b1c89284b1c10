package ui

import (
	"fmt"
	"math"
	"strings"

	"fyne.io/fyne/v2/widget"

	"cmrseg/app/trainingjob"
	"cmrseg/training/config"
)

func (t *trainingTab) loadForm(c config.Config) {
	t.loading = true
	defer func() { t.loading = false }()
	t.form.Reset(c)
	for _, f := range t.form.Fields {
		switch in := t.inputs[f.Key].(type) {
		case *widget.Entry:
			in.SetText(t.form.Text(f.Key))
		case *safeSelect:
			in.SetSelected(t.form.Text(f.Key))
		}
	}
	t.validate()
}

func (t *trainingTab) fieldChanged(key, text string) {
	if t.loading {
		return
	}
	t.form.Set(key, text)
	t.validate()
}

// validate shows the form's problems beside their fields and redraws the
// schedule plot when the form is valid.
func (t *trainingTab) validate() (config.Config, bool) {
	c, probs := t.form.Config()
	for key, l := range t.errLabels {
		if m, ok := probs[key]; ok {
			l.SetText(m)
			l.Show()
		} else {
			l.Hide()
		}
	}
	if m, ok := probs[""]; ok {
		t.formErr.SetText(m)
	} else {
		t.formErr.SetText("")
	}
	if len(probs) > 0 {
		return c, false
	}
	sp, err := trainingjob.Schedule(c)
	if err != nil {
		t.formErr.SetText(err.Error())
		return c, false
	}
	pts := make([]trainingjob.Point, len(sp.LR))
	for e, lr := range sp.LR {
		pts[e] = trainingjob.Point{X: float64(e), Y: lr}
	}
	marks := make([]float64, len(sp.Checkpoints))
	for i, e := range sp.Checkpoints {
		marks[i] = float64(e)
	}
	t.lrPlot.set(plotData{Series: []plotSeries{{Name: "η", Points: pts, Color: plotOrange}}, Marks: marks,
		XMin: 0, XMax: math.Max(1, float64(len(sp.LR)-1))})
	t.lrPlot.head.SetText(fmt.Sprintf("Learning-rate schedule: %d epochs, %d cycle(s); %d checkpoints at epochs %s",
		len(sp.LR), sp.Cycles, len(sp.Checkpoints), epochList(sp.Checkpoints)))
	return c, true
}

func epochList(es []int) string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = fmt.Sprint(e + 1)
	}
	if len(s) > 12 {
		s = append(s[:12], "…")
	}
	return strings.Join(s, ", ")
}

func (t *trainingTab) loadConfigFile(path string) error {
	c, err := config.Load(path)
	if err != nil {
		return err
	}
	t.loadForm(c)
	if len(c.Data.Paths) == 1 {
		t.source.SetSelected(sourceFolder)
		t.folder.SetText(c.Data.Paths[0])
	}
	return nil
}

func (t *trainingTab) saveConfigFile(path string) error {
	if t.dataDir != "" {
		t.form.Base.Data.Paths = []string{t.dataDir}
	}
	return t.form.Save(path)
}
