package torch

import "testing"

func TestOpProfile(t *testing.T) {
	run := func(s *Scope) error {
		x := s.Randn(1, 2, 8, 8)
		w := s.Randn(3, 2, 3, 3)
		for i := 0; i < 3; i++ {
			y := s.Conv2d(x, w, Tensor{}, 1, 1)
			s.LeakyReLU(s.Cat(1, y, y), 0.01)
		}
		return s.Err()
	}

	// Off: nothing is recorded, not even into a later profile.
	do(t, run)
	stop := EnableOpProfile()
	if got := stop(); len(got) != 0 {
		t.Fatalf("empty profile has %d rows: %+v", len(got), got)
	}

	stop = EnableOpProfile()
	do(t, run)
	got := stop()
	want := map[string]int64{"randn": 2, "conv2d": 3, "cat": 3, "leaky_relu": 3}
	if len(got) != len(want) {
		t.Fatalf("profile rows %+v, want the ops %v", got, want)
	}
	for i, st := range got {
		if st.Calls != want[st.Name] {
			t.Errorf("%s: %d calls, want %d", st.Name, st.Calls, want[st.Name])
		}
		if st.Time <= 0 {
			t.Errorf("%s: no time recorded", st.Name)
		}
		if i > 0 && st.Time > got[i-1].Time {
			t.Errorf("rows not sorted by time: %+v", got)
		}
	}

	// After stop, ops are not counted any more.
	do(t, run)
	stop = EnableOpProfile()
	if got := stop(); len(got) != 0 {
		t.Fatalf("profile after stop has rows: %+v", got)
	}
}
