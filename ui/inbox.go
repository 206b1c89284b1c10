package ui

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/widget"

	"cmrseg/app/dicomnode"
)

// The DICOM inbox: studies the receiving DICOM node (storescp, run by
// systemd when a site enables it) has completed. The window only polls the
// inbox folder; it opens no socket.

// inboxPoll is how often the inbox folder is read.
var inboxPoll = 2 * time.Second

type inboxState struct {
	mu      sync.Mutex
	cfg     *dicomnode.Config
	cfgErr  error
	list    []dicomnode.Arrival
	listErr error
	known   map[string]bool
	refresh func()        // the open inbox dialog's, if any
	changed chan struct{} // tests: a list was taken in
}

// startInbox starts watching the inbox named by the node's configuration,
// if the node is set up on this machine (the file exists); new complete
// studies are announced on the status line.
func (v *Viewer) startInbox() {
	if v.inbox != nil {
		return
	}
	st := &inboxState{known: map[string]bool{}}
	v.inbox = st
	path := dicomnode.ConfigPath()
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		st.cfgErr = fmt.Errorf("the receiving DICOM node is not set up on this machine (%s does not exist); see README, \"Receiving DICOM node\"", path)
		return
	}
	st.cfg, st.cfgErr = dicomnode.LoadConfig(path)
	if st.cfgErr != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	v.OnClosed(func(error) { cancel() })
	first := true
	go dicomnode.Watch(ctx, st.cfg.Inbox, inboxPoll, func(l []dicomnode.Arrival, err error) {
		onUI(func() {
			st.mu.Lock()
			st.list, st.listErr = l, err
			var fresh []dicomnode.Arrival
			for _, a := range l {
				if !st.known[a.Dir] && !first {
					fresh = append(fresh, a)
				}
				st.known[a.Dir] = true
			}
			first = false
			refresh := st.refresh
			st.mu.Unlock()
			for _, a := range fresh {
				v.setMessage("DICOM inbox: new study " + a.Title() + " (File ▸ DICOM inbox…)")
			}
			debugf("inbox %d complete studies, %d new (err %v)", len(l), len(fresh), err)
			if refresh != nil {
				refresh()
			}
			if st.changed != nil {
				select {
				case st.changed <- struct{}{}:
				default:
				}
			}
		})
	})
}

// showInbox lists the complete studies; choosing one opens it.
func (v *Viewer) showInbox() {
	v.startInbox()
	st := v.inbox
	if st.cfgErr != nil {
		dialog.ShowInformation("DICOM inbox", st.cfgErr.Error(), v.win)
		return
	}
	var d dialog.Dialog
	status := widget.NewLabel("")
	status.Wrapping = fyne.TextWrapWord
	var rows []dicomnode.Arrival
	list := widget.NewList(func() int { return len(rows) },
		func() fyne.CanvasObject { return widget.NewLabel("") },
		func(id widget.ListItemID, o fyne.CanvasObject) {
			if id < len(rows) {
				o.(*widget.Label).SetText(rows[id].Title())
			}
		})
	list.OnSelected = func(id widget.ListItemID) {
		if id >= len(rows) {
			return
		}
		dir := rows[id].Dir
		d.Hide()
		v.openPath(dir)
	}
	update := func() {
		st.mu.Lock()
		// Newest first: the study that just arrived is at the top.
		rows = rows[:0]
		for i := len(st.list) - 1; i >= 0; i-- {
			rows = append(rows, st.list[i])
		}
		err := st.listErr
		st.mu.Unlock()
		switch {
		case err != nil:
			status.SetText(err.Error())
		case len(rows) == 0:
			status.SetText(fmt.Sprintf("No complete study yet in %s. Studies sent to %s on port %d appear here when they complete.", st.cfg.Inbox, st.cfg.AETitle, st.cfg.Port))
		default:
			status.SetText(fmt.Sprintf("%d complete stud%s in %s (AE title %s, port %d), newest first; choose one to open it.",
				len(rows), map[bool]string{true: "y", false: "ies"}[len(rows) == 1], st.cfg.Inbox, st.cfg.AETitle, st.cfg.Port))
		}
		list.Refresh()
	}
	st.mu.Lock()
	st.refresh = update
	st.mu.Unlock()
	update()
	d = dialog.NewCustom("DICOM inbox", "Close", container.NewBorder(status, nil, nil, nil,
		container.NewGridWrap(fyne.NewSize(900, 360), list)), v.win)
	d.SetOnClosed(func() {
		st.mu.Lock()
		st.refresh = nil
		st.mu.Unlock()
	})
	v.inboxList = list
	d.Show()
}
