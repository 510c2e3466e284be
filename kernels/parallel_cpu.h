// When the CPU kernels go parallel: one OpenMP thread pool for the whole CPU backend.
#pragma once

#include <omp.h>

namespace relmimic::kernels {

// Below this much work (multiply-adds, or element visits for memory-bound loops) a kernel stays
// on one thread: a fork/join costs a few microseconds, more on a loaded machine.
constexpr double kParallelWork = 1 << 18;

// Threads worth using for `work`: 1 inside an active parallel region (no nesting) or for
// small work, otherwise OpenMP's current team size.
inline int cpu_threads(double work) {
  if (omp_in_parallel() || work < kParallelWork) return 1;
  return omp_get_max_threads();
}

}  // namespace relmimic::kernels
