// Counts heap allocations for "no allocation in the hot loop" tests. It replaces the global
// operator new of the test program that includes it: include it from exactly one source file
// per test program.
#pragma once

#include <atomic>
#include <cstdlib>
#include <new>

namespace relmimic::testing::detail {
inline std::atomic<bool> counting{false};
inline std::atomic<long> allocations{0};
inline std::atomic<long> largest{0};  // bytes of the largest counted allocation
}  // namespace relmimic::testing::detail

void* operator new(std::size_t n) {
  namespace d = relmimic::testing::detail;
  if (d::counting.load(std::memory_order_relaxed)) {
    d::allocations.fetch_add(1);
    long seen = d::largest.load();
    while (long(n) > seen && !d::largest.compare_exchange_weak(seen, long(n))) {
    }
  }
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}

namespace relmimic::testing {

// Runs f once to warm up (per-thread scratch grows once), then counts the heap allocations of
// a second run.
template <class F>
long allocations_of(F f) {
  f();
  detail::allocations = 0;
  detail::largest = 0;
  detail::counting = true;
  f();
  detail::counting = false;
  return detail::allocations.load();
}

// The largest heap allocation (bytes) of the last allocations_of's counted run.
inline long largest_allocation() {
  return detail::largest.load();
}

}  // namespace relmimic::testing
