package ui

import (
	"testing"
	"time"

	"fyne.io/fyne/v2/test"
)

// pump runs the GUI hand-offs queued so far (see onUI); tests call it
// where the app's main loop would be idle.
func pump() { uiQueue.run() }

// onTestUI runs f as the GUI goroutine would, after the hand-offs queued
// before it.
func onTestUI(f func()) {
	pump()
	f()
}

// awaitUI runs hand-offs until ch yields a value or d passes; ok says
// whether it yielded.
func awaitUI[T any](ch <-chan T, d time.Duration) (v T, ok bool) {
	deadline := time.After(d)
	for {
		pump()
		select {
		case v = <-ch:
			return v, true
		case <-uiQueue.posted:
		case <-deadline:
			return v, false
		}
	}
}

func TestHandOffsRunInOrderOnTheWaitingGoroutine(t *testing.T) {
	test.NewTempApp(t)
	var got []int
	done := make(chan struct{})
	go func() {
		for i := range 5 {
			onUI(func() { got = append(got, i) })
		}
		onUI(func() { onUI(func() { got = append(got, 99); close(done) }) })
	}()
	if _, ok := awaitUI(done, 10*time.Second); !ok {
		t.Fatal("the hand-offs never ran")
	}
	if want := []int{0, 1, 2, 3, 4, 99}; len(got) != len(want) {
		t.Fatalf("ran %v, want %v", got, want)
	} else {
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("ran %v, want %v", got, want)
			}
		}
	}
}
