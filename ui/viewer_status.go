package ui

import (
	"fmt"
	"math"
	"strings"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"
)

func (v *Viewer) setMessage(s string) {
	v.messageText.SetText(s)
	if s == "" {
		return
	}
	v.messages = append(v.messages, time.Now().Format("15:04:05")+"  "+s)
	if n := len(v.messages); n > maxMessages {
		v.messages = v.messages[n-maxMessages:]
	}
}

// maxMessages is how many status messages the history keeps.
const maxMessages = 50

// showMessages lists the status messages of this session, newest first,
// unabridged: the status bar cuts long ones with "…".
func (v *Viewer) showMessages() {
	var b strings.Builder
	for i := len(v.messages) - 1; i >= 0; i-- {
		b.WriteString(v.messages[i] + "\n")
	}
	if b.Len() == 0 {
		b.WriteString("No messages yet.")
	}
	l := widget.NewLabel(strings.TrimRight(b.String(), "\n"))
	l.Wrapping = fyne.TextWrapWord
	sc := container.NewVScroll(l)
	sc.SetMinSize(fyne.NewSize(720, 360))
	dialog.ShowCustom("Messages", "Close", sc, v.win)
}

// signal tells a waiting test that a background operation has finished.
func (v *Viewer) signal() {
	if v.asyncDone != nil {
		v.asyncDone <- struct{}{}
	}
}

// showProbe writes the pixel under the cursor into the status bar.
func (v *Viewer) showProbe(i, j int, ok bool) {
	if !ok {
		v.probeText.SetText("")
		return
	}
	p, ok := v.ws.ProbeAt(i, j)
	if !ok {
		v.probeText.SetText("")
		return
	}
	s := fmt.Sprintf("(%d,%d,%d) %s · LPS %.1f %.1f %.1f mm", p.I, p.J, p.K, num(float64(p.Value)), p.World[0], p.World[1], p.World[2])
	if p.Label >= 0 {
		s += " · " + shortClass(p.Label)
	}
	if !math.IsNaN(p.Entropy) {
		s += fmt.Sprintf("  H %.2f  MI %.2f", p.Entropy, p.MutualInfo)
	}
	v.probeText.SetText(s)
}

// showError reports a failure in a dialog; the message names the file
// when the error does.
func (v *Viewer) showError(what string, err error) {
	v.errorShown = what + ": " + err.Error()
	v.setMessage(v.errorShown)
	d := dialog.NewError(fmt.Errorf("%s\n\n%s", what, wrap(err.Error(), 80)), v.win)
	d.Show()
}

// wrap breaks long messages (paths) for the dialog.
func wrap(s string, n int) string {
	var b strings.Builder
	col := 0
	for _, w := range strings.Fields(s) {
		if col > 0 && col+len(w) > n {
			b.WriteString("\n")
			col = 0
		} else if col > 0 {
			b.WriteString(" ")
			col++
		}
		b.WriteString(w)
		col += len(w)
	}
	return b.String()
}
