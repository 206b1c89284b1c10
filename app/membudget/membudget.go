// Package membudget is the one memory budget every large allocation is
// checked against before it is made: the size is computed from a header or
// manifest with overflow-safe arithmetic, and anything beyond the limit is
// refused with an error that names what it was for, what it would need and
// the limit. It is torch-free so app/ and inference/ can both import it.
//
// The limit is CMRSEG_MEMORY_LIMIT (bytes, or with a K/M/G/T suffix, powers
// of 1024) when set, else Fraction of the machine's physical memory.
package membudget

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
	"strconv"
	"strings"
	"sync"
)

// Fraction of physical memory one input may take when no limit is set.
const Fraction = 0.5

// EnvLimit overrides the limit.
const EnvLimit = "CMRSEG_MEMORY_LIMIT"

// fallback is used where physical memory cannot be read.
const fallback = 4 << 30

// ErrOverBudget is matched by every *Error (errors.Is).
var ErrOverBudget = errors.New("over the memory budget")

// ErrOverflow is a size computation that overflowed int64: the input is
// hostile or broken, never real.
var ErrOverflow = errors.New("size overflows 64 bits")

// Error is one refused allocation.
type Error struct {
	What  string // e.g. "img.nii.gz: voxels as float32"
	Need  int64  // bytes; -1 when the computation overflowed
	Limit int64
}

func (e *Error) Error() string {
	if e.Need < 0 {
		return fmt.Sprintf("%s: size overflows 64 bits (memory limit %s; set %s to change it)", e.What, Human(e.Limit), EnvLimit)
	}
	return fmt.Sprintf("%s would need %s, more than the memory limit of %s (set %s to change it)", e.What, Human(e.Need), Human(e.Limit), EnvLimit)
}

// Is makes errors.Is(err, ErrOverBudget) true, and ErrOverflow for overflows.
func (e *Error) Is(target error) bool {
	return target == ErrOverBudget || target == ErrOverflow && e.Need < 0
}

var (
	mu       sync.Mutex
	override int64 // set by SetLimit; 0: none
)

// SetLimit replaces the limit (tests, and a --memory-limit flag); 0
// restores the default. It returns the previous override.
func SetLimit(bytes int64) int64 {
	mu.Lock()
	defer mu.Unlock()
	old := override
	override = bytes
	return old
}

// Limit is the budget in bytes.
func Limit() int64 {
	mu.Lock()
	o := override
	mu.Unlock()
	if o > 0 {
		return o
	}
	if v := os.Getenv(EnvLimit); v != "" {
		if n, err := ParseSize(v); err == nil && n > 0 {
			return n
		}
	}
	if total := physical(); total > 0 {
		return int64(float64(total) * Fraction)
	}
	return fallback
}

// Check refuses bytes beyond the limit; a negative size (an overflowed
// product from Mul) is refused as an overflow.
func Check(what string, bytes int64) error {
	lim := Limit()
	if bytes < 0 {
		return &Error{What: what, Need: -1, Limit: lim}
	}
	if bytes > lim {
		return &Error{What: what, Need: bytes, Limit: lim}
	}
	return nil
}

// Mul is the product of non-negative factors, or -1 when any factor is
// negative or the product overflows int64. Pass its result to Check.
func Mul(factors ...int64) int64 {
	p := uint64(1)
	for _, f := range factors {
		if f < 0 {
			return -1
		}
		hi, lo := bits.Mul64(p, uint64(f))
		if hi != 0 || lo > math.MaxInt64 {
			return -1
		}
		p = lo
	}
	return int64(p)
}

// Add is a+b for non-negative sizes, -1 on overflow or a negative input.
func Add(a, b int64) int64 {
	if a < 0 || b < 0 || a > math.MaxInt64-b {
		return -1
	}
	return a + b
}

// CheckElems checks n elements of elemSize bytes each, computed without
// overflow (ints as they come from dims).
func CheckElems(what string, elemSize int64, dims ...int) error {
	f := []int64{elemSize}
	for _, d := range dims {
		f = append(f, int64(d))
	}
	return Check(what, Mul(f...))
}

// Human writes a byte count for people (binary units).
func Human(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n), 0
	for v >= unit && i < 5 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTPE"[i-1])
}

// ParseSize reads "123", "512M", "4G", "1.5T" (powers of 1024).
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(strings.ToUpper(s))
	s = strings.TrimSuffix(strings.TrimSuffix(s, "B"), "I")
	mult := 1.0
	if s != "" {
		if i := strings.IndexByte("KMGT", s[len(s)-1]); i >= 0 {
			mult = math.Pow(1024, float64(i+1))
			s = s[:len(s)-1]
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || !(v >= 0) || v*mult >= math.MaxInt64 {
		return 0, fmt.Errorf("invalid size %q (bytes, or a number with K, M, G or T)", s)
	}
	return int64(v * mult), nil
}

// physical is the machine's memory in bytes (0 when unknown), the smaller
// of /proc/meminfo's MemTotal and a cgroup v2 limit.
func physical() int64 {
	var total int64
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
					total = kb * 1024
				}
			}
		}
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 && (total == 0 || n < total) {
			total = n
		}
	}
	return total
}
