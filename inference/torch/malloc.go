package torch

// #include <malloc.h>
// #include <string.h>
// #include <unistd.h>
//
// extern char **environ;
//
// // Runs when the program is loaded, before the Go runtime starts any
// // thread: a thread takes its malloc arena at its first allocation, so
// // the arena limit must be set before then.
// __attribute__((constructor)) static void cmr_tune_malloc(void) {
// 	for (char **e = environ; e && *e; e++) {
// 		if (strncmp(*e, "MALLOC_", 7) == 0 || strncmp(*e, "GLIBC_TUNABLES=", 15) == 0) return;
// 	}
// 	mallopt(M_ARENA_MAX, 1);
// 	mallopt(M_MMAP_THRESHOLD, 1 << 30);
// 	mallopt(M_TRIM_THRESHOLD, 1 << 30);
// }
import "C"

// The C constructor cmr_tune_malloc above sets glibc's allocator for
// libtorch's pattern: tensors of tens of megabytes, freed and allocated
// again by every op of a forward pass.
//
// With the defaults, glibc serves each such block from a fresh mmap (or
// from the thread's own arena, which it shrinks on free) and hands it back
// on free, so every op faults its output's pages in again and the kernel
// zeroes them. The torch worker is not the main thread, so it also gets an
// arena of its own, which glibc trims eagerly. Measured on the bundled
// network (5 stages, base 16, a batch of 8 × 224², 4 forwards, 2 threads):
// 521 000 minor faults and 12.8 CPU-s by default, 94 000 and 7.0 CPU-s
// with one arena and 1 GiB mmap and trim thresholds. The worker gives the
// memory back when it goes idle (releaseMemory). A user who sets glibc's
// own MALLOC_* variables or GLIBC_TUNABLES keeps them.

// releaseMemory returns the allocator's free memory to the kernel.
func releaseMemory() { C.malloc_trim(0) }
