// Counts heap allocations for "no allocation in the hot loop" tests. It replaces the global
// operator new of the test program that includes it: include it from exactly one source file
// per test program.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "tests/cpu_conv_backends.h"

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

// The largest allocation oneDNN's primitive execution makes per call: its own argument
// bookkeeping, inside the library (every buffer is held between calls).
constexpr long kMaxOneDnnBookkeeping = 1024;

// Runs f on each CPU conv backend: nothing allocated on the reference; on oneDNN nothing larger
// than its per-call bookkeeping.
template <class F>
void expect_no_buffers_allocated(F f, const std::string& what) {
  CpuConvScope scope;
  for (const kernels::CpuConv backend : cpu_conv_backends()) {
    kernels::set_cpu_conv(backend);
    const long n = allocations_of(f);
    if (backend == kernels::CpuConv::Reference)
      EXPECT_EQ(n, 0) << what;
    else
      EXPECT_LE(largest_allocation(), kMaxOneDnnBookkeeping) << what << ": " << n << " allocations";
  }
}

}  // namespace relmimic::testing
