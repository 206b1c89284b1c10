package torch

// #include "cmrtorch.h"
import "C"

import (
	"os"
	"strings"
)

// Info describes the loaded libtorch, for `cmrseg doctor` and the GUI.
type Info struct {
	Version     string // libtorch version the shim was built against
	CUDA        bool
	CUDADevices int
	Threads     int    // intra-op threads on the calling thread's pool
	Parallel    string // at::get_parallel_info()
	Config      string // at::show_config(): BLAS, LAPACK, CPU capability
}

// BLAS reports how libtorch was built to find BLAS (BLAS_INFO) and, for
// Debian's "generic" build, which implementation the system's libblas.so.3
// alternative points at (OpenBLAS is several times faster than the
// reference BLAS).
func (i Info) BLAS() string {
	info := "unknown"
	if k := strings.Index(i.Config, "BLAS_INFO="); k >= 0 {
		info = i.Config[k+len("BLAS_INFO="):]
		if e := strings.IndexAny(info, ", \n"); e >= 0 {
			info = info[:e]
		}
	}
	for _, link := range []string{"/etc/alternatives/libblas.so.3-x86_64-linux-gnu", "/etc/alternatives/libblas.so.3-aarch64-linux-gnu"} {
		if target, err := os.Readlink(link); err == nil {
			return info + " (system libblas.so.3 -> " + target + ")"
		}
	}
	return info
}

// CPUCapability extracts the vector instruction set ATen dispatches to.
func (i Info) CPUCapability() string {
	for _, l := range strings.Split(i.Config, "\n") {
		l = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(l), "-"))
		if strings.HasPrefix(l, "CPU capability usage:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "CPU capability usage:"))
		}
	}
	return "unknown"
}

// Describe queries libtorch. Call it on the worker (through Do) so the
// thread count is the worker's.
func (s *Scope) Describe() Info {
	return Info{
		Version:     takeString(C.cmr_version()),
		CUDA:        bool(C.cmr_cuda_available()),
		CUDADevices: int(C.cmr_cuda_device_count()),
		Threads:     int(C.cmr_get_num_threads()),
		Parallel:    takeString(C.cmr_parallel_info()),
		Config:      takeString(C.cmr_config()),
	}
}

// CUDAAvailable reports whether the loaded libtorch can use a GPU.
func (s *Scope) CUDAAvailable() bool { return bool(C.cmr_cuda_available()) }

// Synchronize waits for queued CUDA work (for timing); a no-op on CPU.
func (s *Scope) Synchronize() {
	if s.ready("cuda_synchronize") {
		s.check("cuda_synchronize", C.cmr_cuda_synchronize())
	}
}
