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

// Threads worth using for `work`: 1 inside any parallel region (no nesting) or for small work,
// otherwise OpenMP's current team size. Called by every kernel before it opens a parallel
// region, so it also pins OpenBLAS to one thread there. "Any" includes inactive regions (an
// `if (false)` clause, a 1-thread team): a region opened inside one is nested, and libgomp runs
// it on a team of its own, whose threads then spin beside the top-level pool's (7x slower for a
// batch-1 Non-local forward + backward on 2 cores).
inline int cpu_threads(double work) {
  if (omp_get_level() > 0) return 1;
  pin_blas_to_one_thread();
  if (work < kParallelWork) return 1;
  return omp_get_max_threads();
}

// body(i) for i in [0, n): split over OpenMP's threads when `parallel`, else a plain loop on this
// thread, outside any region, so that kernels called by body may still use every thread.
template <class F>
void for_each_index(bool parallel, int n, F&& body) {
  if (parallel) {
#pragma omp parallel for schedule(static)
    for (int i = 0; i < n; ++i) body(i);
  } else {
    for (int i = 0; i < n; ++i) body(i);
  }
}

}  // namespace relmimic::kernels
