package schedule

import (
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func near(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > 1e-15*math.Max(1, math.Abs(want)) {
		t.Errorf("%s = %.17g, want %.17g", what, got, want)
	}
}

// Paper values: Tc = 400, β·Tc = 320. Expected numbers were computed
// outside Go (python: 0.01*(1-min(t,320)/400)**0.9).
func TestPaperValues(t *testing.T) {
	c := Paper()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		epoch int
		want  float64
	}{
		{0, 0.1}, // restart at t = 0 of cycle 0 too
		{1, 0.009977497184918487},
		{100, 0.007718895067235705},
		{200, 0.005358867312681466}, // 0.01·0.5^0.9
		{319, 0.002375650369531478}, // just before β·Tc
		{320, 0.0023492378861760376},
		{321, 0.0023492378861760376}, // held at the floor 0.01·0.2^0.9
		{399, 0.0023492378861760376}, // last epoch of cycle 0
		{400, 0.1},                   // restart of cycle 1
		{401, 0.009977497184918487},
		{720, 0.0023492378861760376},
		{800, 0.1},
		{1199, 0.0023492378861760376},
	}
	for _, k := range cases {
		near(t, "LR("+itoa(k.epoch)+")", c.LR(k.epoch), k.want)
	}
	for _, k := range []struct{ epoch, cycle, t int }{{0, 0, 0}, {399, 0, 399}, {400, 1, 0}, {1199, 2, 399}, {5000, 2, 399}, {-3, 0, 0}} {
		cy, tt := c.Cycle(k.epoch)
		if cy != k.cycle || tt != k.t {
			t.Errorf("Cycle(%d) = %d,%d want %d,%d", k.epoch, cy, tt, k.cycle, k.t)
		}
	}
}

// Exact small cases: γ = 1 makes the decay linear, so values are fractions.
func TestSmallLinear(t *testing.T) {
	c := Cyclical{Epochs: 10, Cycles: 2, LR0: 1, LRRestart: 5, Gamma: 1, Beta: 0.6}
	// Tc = 5, β·Tc = 3: t=0 restart, t=1 4/5, t=2 3/5, t=3 2/5, t=4 2/5.
	want := []float64{5, 0.8, 0.6, 0.4, 0.4, 5, 0.8, 0.6, 0.4, 0.4}
	for e, w := range want {
		near(t, "LR("+itoa(e)+")", c.LR(e), w)
	}
	c.Gamma = 2 // squares: 0.64, 0.36, 0.16
	near(t, "γ=2 LR(1)", c.LR(1), 0.64)
	near(t, "γ=2 LR(2)", c.LR(2), 0.36)
	near(t, "γ=2 LR(4)", c.LR(4), 0.16)
	c.Beta = 1 // no floor: t=4 gives 1/5 squared
	near(t, "β=1 LR(4)", c.LR(4), 0.04)
}

func TestPoly(t *testing.T) {
	p := NNUNetPoly(1000)
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	near(t, "poly(0)", p.LR(0), 0.01)
	near(t, "poly(1)", p.LR(1), 0.009990999549834914)
	near(t, "poly(500)", p.LR(500), 0.005358867312681466)
	near(t, "poly(999)", p.LR(999), 1.995262314968881e-05)
	lin := Poly{Epochs: 4, LR0: 2, Exponent: 1}
	for e, w := range []float64{2, 1.5, 1, 0.5} {
		near(t, "linear poly", lin.LR(e), w)
	}
	for e := 1; e < 1000; e++ { // monotone, never restarts
		if p.LR(e) >= p.LR(e-1) {
			t.Fatalf("poly not decreasing at %d", e)
		}
	}
}

func TestCheckpointEpochs(t *testing.T) {
	got, err := CheckpointEpochs(1200, 3, 5, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []int{395, 396, 397, 398, 399, 795, 796, 797, 798, 799, 1195, 1196, 1197, 1198, 1199}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("keep 5: %v", got)
	}
	got, _ = CheckpointEpochs(1200, 3, 3, 10)
	want = []int{379, 389, 399, 779, 789, 799, 1179, 1189, 1199}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("spacing 10: %v", got)
	}
	got, _ = CheckpointEpochs(10, 1, 1, 1)
	if !reflect.DeepEqual(got, []int{9}) {
		t.Errorf("single: %v", got)
	}
	// Every kept epoch of the paper's 3×5 lies on the constant floor.
	p := Paper()
	for _, e := range []int{395, 799, 1195} {
		near(t, "floor", p.LR(e), 0.0023492378861760376)
	}
}

func TestErrors(t *testing.T) {
	for _, k := range []struct {
		c    Cyclical
		want string
	}{
		{Cyclical{Epochs: 1200, Cycles: 7, LR0: 1, LRRestart: 1, Gamma: 1, Beta: 1}, "1200 epochs are not divisible by 7 cycles"},
		{Cyclical{Epochs: 0, Cycles: 1, LR0: 1, LRRestart: 1, Gamma: 1, Beta: 1}, "epochs must be positive"},
		{Cyclical{Epochs: 3, Cycles: 0, LR0: 1, LRRestart: 1, Gamma: 1, Beta: 1}, "cycles must be positive"},
		{Cyclical{Epochs: 3, Cycles: 1, LR0: math.NaN(), LRRestart: 1, Gamma: 1, Beta: 1}, "lr0"},
		{Cyclical{Epochs: 3, Cycles: 1, LR0: 1, LRRestart: -1, Gamma: 1, Beta: 1}, "lr_restart"},
		{Cyclical{Epochs: 3, Cycles: 1, LR0: 1, LRRestart: 1, Gamma: 0, Beta: 1}, "gamma"},
		{Cyclical{Epochs: 3, Cycles: 1, LR0: 1, LRRestart: 1, Gamma: 1, Beta: 1.2}, "beta"},
	} {
		err := k.c.Validate()
		if err == nil || !strings.Contains(err.Error(), k.want) {
			t.Errorf("%+v: error %v, want %q", k.c, err, k.want)
		}
	}
	for _, k := range []struct {
		e, m, n, s int
		want       string
	}{
		{1200, 7, 1, 1, "not divisible"},
		{1200, 3, 0, 1, "keep per cycle"},
		{1200, 3, 1, 0, "spacing"},
		{30, 3, 4, 4, "do not fit in a 10-epoch cycle"},
		{0, 1, 1, 1, "epochs must be positive"},
	} {
		_, err := CheckpointEpochs(k.e, k.m, k.n, k.s)
		if err == nil || !strings.Contains(err.Error(), k.want) {
			t.Errorf("CheckpointEpochs(%d,%d,%d,%d): %v, want %q", k.e, k.m, k.n, k.s, err, k.want)
		}
	}
	// A zero value must not panic.
	_ = Cyclical{}.LR(3)
	_, _ = Cyclical{}.Cycle(3)
	_ = Poly{}.LR(3)
}

func itoa(i int) string { return strconv.Itoa(i) }
