package torch

import (
	"context"
	"os"
	"testing"
)

// testWorker is shared by the package's tests: one locked thread, as in the app.
var testWorker *Worker

func TestMain(m *testing.M) {
	testWorker = NewWorker(2)
	code := m.Run()
	testWorker.Close()
	os.Exit(code)
}

// do runs fn on the test worker and fails the test on error.
func do(t testing.TB, fn func(s *Scope) error) {
	t.Helper()
	if err := testWorker.Do(context.Background(), fn); err != nil {
		t.Fatal(err)
	}
}
