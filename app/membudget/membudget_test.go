package membudget

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func TestMulOverflow(t *testing.T) {
	if got := Mul(2048, 2048, 1024, 4); got != 16<<30 {
		t.Errorf("Mul = %d, want 16 GiB", got)
	}
	if got := Mul(math.MaxInt32, math.MaxInt32, math.MaxInt32); got != -1 {
		t.Errorf("overflowing Mul = %d, want -1", got)
	}
	if got := Mul(5, -1); got != -1 {
		t.Errorf("negative factor: %d, want -1", got)
	}
	if Add(math.MaxInt64, 1) != -1 || Add(2, 3) != 5 {
		t.Error("Add")
	}
}

func TestCheck(t *testing.T) {
	defer SetLimit(SetLimit(1 << 20))
	if err := Check("small", 1<<20); err != nil {
		t.Errorf("at the limit: %v", err)
	}
	err := Check("x.nii: voxels", 3<<20)
	var be *Error
	if !errors.Is(err, ErrOverBudget) || !errors.As(err, &be) || be.Need != 3<<20 {
		t.Fatalf("over the limit: %v", err)
	}
	if !strings.Contains(err.Error(), "x.nii: voxels would need 3.0 MiB, more than the memory limit of 1.0 MiB") {
		t.Errorf("message %q", err)
	}
	err = CheckElems("huge", 4, math.MaxInt32, math.MaxInt32, math.MaxInt32)
	if !errors.Is(err, ErrOverflow) || !errors.Is(err, ErrOverBudget) {
		t.Errorf("overflow: %v", err)
	}
}

func TestLimitFromEnv(t *testing.T) {
	t.Setenv(EnvLimit, "2G")
	if got := Limit(); got != 2<<30 {
		t.Errorf("Limit with %s=2G: %d", EnvLimit, got)
	}
	t.Setenv(EnvLimit, "")
	if got := Limit(); got <= 0 {
		t.Errorf("default limit %d", got)
	}
	for in, want := range map[string]int64{"123": 123, "512M": 512 << 20, "1.5k": 1536, "4GiB": 4 << 30} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := ParseSize("lots"); err == nil {
		t.Error("ParseSize accepted junk")
	}
}
