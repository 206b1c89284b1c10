package ui

import (
	"reflect"
	"sync"

	"fyne.io/fyne/v2"
)

// onUI hands f to the GUI goroutine, as fyne.Do does: f runs later, after
// every f handed over before it, never alongside another nor alongside
// the handling of a user's event.
//
// Fyne's test driver breaks that promise: its fyne.Do runs f at once on
// the calling goroutine, so a segmentation update could touch the widgets
// while an opened study, or the test's own tap, was touching them (the
// tests crashed in Fyne's RichText that way). Under that driver the
// hand-offs wait in a queue that the test goroutine, which plays the
// GUI goroutine there, runs whenever it waits (uiQueue.run).
func onUI(f func()) {
	if underTestDriver() {
		uiQueue.post(f)
		return
	}
	fyne.Do(f)
}

// onUIAndWait is onUI that returns once f has run. Never call it from a
// function that is itself running on the GUI goroutine.
func onUIAndWait(f func()) {
	if underTestDriver() {
		done := make(chan struct{})
		uiQueue.post(func() {
			defer close(done)
			f()
		})
		<-done
		return
	}
	fyne.DoAndWait(f)
}

func underTestDriver() bool {
	a := fyne.CurrentApp()
	if a == nil {
		return false
	}
	t := reflect.TypeOf(a.Driver())
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t.PkgPath() == "fyne.io/fyne/v2/test"
}

// handOffQueue holds the hand-offs made under the test driver.
type handOffQueue struct {
	mu     sync.Mutex
	queue  []func()
	posted chan struct{} // has a value when something was posted since the last run
}

var uiQueue = handOffQueue{posted: make(chan struct{}, 1)}

func (q *handOffQueue) post(f func()) {
	q.mu.Lock()
	q.queue = append(q.queue, f)
	q.mu.Unlock()
	select {
	case q.posted <- struct{}{}:
	default:
	}
}

// run runs the queued hand-offs, and those they queue, on the calling
// goroutine, in order, until none is left.
func (q *handOffQueue) run() {
	for {
		q.mu.Lock()
		if len(q.queue) == 0 {
			q.mu.Unlock()
			return
		}
		f := q.queue[0]
		q.queue[0] = nil
		q.queue = q.queue[1:]
		q.mu.Unlock()
		f()
	}
}
