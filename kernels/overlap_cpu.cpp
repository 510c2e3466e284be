#include <omp.h>

#include <exception>

#include "kernels/overlap.h"
#include "kernels/parallel_cpu.h"

namespace relmimic::kernels {

// Not inside any region, active or not: a region opened there would be a nested team (see
// cpu_threads).
bool cpu_overlap_possible() {
  return omp_get_level() == 0 && omp_get_max_threads() == 2;
}

namespace detail {

void cpu_overlap(OverlapJob a, OverlapJob b) {
  std::exception_ptr errors[2];
  auto run = [&](int side) {
    const OverlapJob& job = side == 0 ? a : b;
    try {
      job.call(job.obj);
    } catch (...) {
      errors[side] = std::current_exception();
    }
  };
  if (cpu_overlap_possible()) {
    // Kernels inside the region run on one thread each and do not pin OpenBLAS themselves (not
    // from inside a region): pin it here, or its own pool would split their GEMMs.
    pin_blas_to_one_thread();
#pragma omp parallel num_threads(2)
    {
      // Inside, each side sees one thread: the kernels' own parallel loops stay on it, and
      // oneDNN builds its primitives for one thread (its cache is keyed by omp_get_max_threads()).
      omp_set_num_threads(1);
      if (omp_get_num_threads() == 2) {
        run(omp_get_thread_num());
      } else {  // the runtime gave one thread: both sides here
        run(0);
        run(1);
      }
    }
  } else {
    run(0);
    run(1);
  }
  for (const std::exception_ptr& e : errors)
    if (e) std::rethrow_exception(e);
}

void cpu_alone(OverlapJob f) {
  const int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  try {
    f.call(f.obj);
  } catch (...) {
    omp_set_num_threads(threads);
    throw;
  }
  omp_set_num_threads(threads);
}

}  // namespace detail
}  // namespace relmimic::kernels
