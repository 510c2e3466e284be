// When the CPU kernels go parallel: one OpenMP thread pool for the whole CPU backend.
#pragma once

#include <omp.h>

namespace relmimic::kernels {

// Below this much work (multiply-adds, or element visits for memory-bound loops) a kernel stays
// on one thread: a fork/join costs a few microseconds, more on a loaded machine.
constexpr double kParallelWork = 1 << 18;

// Puts OpenBLAS back on one thread if anything changed it: OpenMP owns the cores, and OpenBLAS's
// own pool would oversubscribe them from inside our parallel loops. Cheap when already so.
// Defined in gemm_cpu.cpp; never call it from inside a parallel region.
void pin_blas_to_one_thread();

// Threads worth using for `work`: 1 inside an active parallel region (no nesting) or for
// small work, otherwise OpenMP's current team size. Called by every kernel before it opens a
// parallel region, so it also pins OpenBLAS to one thread there.
inline int cpu_threads(double work) {
  if (omp_in_parallel()) return 1;
  pin_blas_to_one_thread();
  if (work < kParallelWork) return 1;
  return omp_get_max_threads();
}

}  // namespace relmimic::kernels
