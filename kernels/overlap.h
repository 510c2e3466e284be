// Two independent pieces of CPU work at the same time, one per core of a 2-thread OpenMP team:
//
//   kernels::cpu_overlap([&] { policy_gradient(); }, [&] { value_gradient(); });
//
// The CPU kernels split small work poorly over the cores (the PPO update of the quick settings
// runs 1.6x as fast on 2 threads as on 1); two independent networks on one thread each keep both
// cores busy. Each side runs on one thread (the kernels see a 1-thread team inside), so its
// results depend only on the inputs and a run stays bit-reproducible for a fixed seed and thread
// count. The two sides must not write the same memory.
//
// It overlaps only when OpenMP has exactly 2 threads and the caller is not inside a parallel
// region; otherwise a() and then b() run on the calling thread with its threads. (With more
// threads, splitting them between the two sides would need nested teams, which oneDNN does not
// use.)
#pragma once

namespace relmimic::kernels {

// Whether cpu_overlap() would run its two sides at the same time here and now.
bool cpu_overlap_possible();

namespace detail {
struct OverlapJob {
  void* obj;
  void (*call)(void*);
};
void cpu_overlap(OverlapJob a, OverlapJob b);
void cpu_alone(OverlapJob f);
template <class F>
OverlapJob overlap_job(F& f) {
  return {const_cast<void*>(static_cast<const void*>(&f)),
          [](void* p) { (*static_cast<F*>(p))(); }};
}
}  // namespace detail

// Runs a() and b(), at the same time where cpu_overlap_possible(), and returns when both are
// done. Both always run; an exception of either is rethrown after both finished (a's first).
template <class A, class B>
void cpu_overlap(A&& a, B&& b) {
  detail::cpu_overlap(detail::overlap_job(a), detail::overlap_job(b));
}

// Runs f() with the CPU kernels on the calling thread alone (an OpenMP team of one), for work
// done while another thread of the process has the other core (an env worker stepping). Outside
// any parallel region; the thread count is restored afterwards, also when f() throws.
template <class F>
void cpu_alone(F&& f) {
  detail::cpu_alone(detail::overlap_job(f));
}

}  // namespace relmimic::kernels
