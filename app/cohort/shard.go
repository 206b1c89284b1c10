package cohort

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
)

// Shard is one of N shares of a cohort; I counts from 1, as on the
// command line (--shard 2/4) and in Slurm job arrays started at 1.
type Shard struct{ I, N int }

// ParseShard reads "I/N" with 1 ≤ I ≤ N; "" is the whole cohort (1/1).
func ParseShard(s string) (Shard, error) {
	if s == "" {
		return Shard{1, 1}, nil
	}
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(strings.TrimSpace(a))
	n, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 1 || i > n {
		return Shard{}, fmt.Errorf("--shard %q: want I/N with 1 ≤ I ≤ N, e.g. 2/4", s)
	}
	return Shard{i, n}, nil
}

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.I, s.N) }

// Owns reports whether the study with this id belongs to the shard. The
// share is decided by a hash of the id alone (FNV-1a 64), not by the
// study's place in a sorted list: adding or removing studies never moves
// another study to a different shard, so finished shards stay finished.
func (s Shard) Owns(id string) bool {
	if s.N <= 1 {
		return true
	}
	h := fnv.New64a()
	h.Write([]byte(id))
	return int(h.Sum64()%uint64(s.N)) == s.I-1
}

// Select returns the studies of the shard, in their order.
func (s Shard) Select(studies []Study) []Study {
	var out []Study
	for _, st := range studies {
		if s.Owns(st.ID) {
			out = append(out, st)
		}
	}
	return out
}
