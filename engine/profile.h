// Named regions of the code: NVTX ranges for Nsight, and a timer registry for `relmimic profile`.
//
//   void RelationalBlock<T>::forward(...) {
//     profile::ScopedRange r("relational forward");   // name: a string literal (kept, not copied)
//     { profile::ScopedRange a("relational.theta"); ... }
//   }
//
//   profile::start(profile::Clock::wall);   // CPU backend; Clock::cuda_events + stream on CUDA
//   ... run ...
//   for (const profile::Region& r : profile::regions()) ...   // resolves the CUDA events
//   profile::stop();
//
// Regions nest: the registry keys each one by its path (the ranges open on the same thread
// around it), so "D forward > relational forward > relational.theta" and the same block under
// "policy forward" are separate rows. Off by default: a ScopedRange then costs one branch on a
// global. NVTX ranges are emitted when the build has NVTX3 (the CUDA toolkit's header-only
// nvtx3/nvToolsExt.h) and a tool is attached (Nsight sets NVTX_INJECTION64_PATH; RELMIMIC_NVTX=1
// or 0 forces it either way). C++17-clean, so CUDA sources may include it.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <vector>

#include "kernels/cuda_event.h"
#include "kernels/cuda_types.h"

namespace relmimic::profile {

enum class Clock {
  wall,         // std::chrono::steady_clock around the region (CPU backend)
  cuda_events,  // a pair of CUDA events recorded on the stream, resolved in regions()
};

namespace detail {
// Bit 0: timing on; bit 1: NVTX on.
extern std::atomic<int> g_active;
}  // namespace detail

// Clears the registry and switches timing on. Clock::cuda_events records on `stream` (default:
// the legacy default stream) and throws in a build without CUDA.
void start(Clock clock, kernels::Stream stream = nullptr);
// Switches timing off; the registry keeps its contents until the next start().
void stop();
bool timing();
// Whether NVTX ranges are being emitted, and whether this build has NVTX at all.
bool nvtx_active();
bool nvtx_built();

struct Region {
  std::string name;  // the region's own name
  std::string path;  // names from the outermost region, joined by " > "
  int depth = 0;     // 0 for an outermost region
  long calls = 0;
  double ms = 0;  // total over all calls
};
// Every region seen since start(), depth first, children in the order they first opened. Waits
// for the pending CUDA events (the only synchronisation the registry does).
std::vector<Region> regions();

class ScopedRange {
 public:
  // `name` must outlive the registry (a string literal): it is kept as a pointer.
  explicit ScopedRange(const char* name) {
    if (detail::g_active.load(std::memory_order_relaxed)) begin(name);
  }
  ~ScopedRange() {
    if (open_) finish();
  }
  // Closes the range before the end of the scope.
  void end() {
    if (open_) finish();
  }
  ScopedRange(const ScopedRange&) = delete;
  ScopedRange& operator=(const ScopedRange&) = delete;

 private:
  void begin(const char* name);
  void finish();

  bool open_ = false;
  bool nvtx_ = false;
  int node_ = -1;                 // registry node, -1 when not timing
  int parent_ = -1;               // node that was open before this one
  kernels::Event ev0_ = nullptr;  // start event on the CUDA clock
  long epoch_ = -1;               // the registry run (start()) node_ belongs to
  std::chrono::steady_clock::time_point t0_;
};

// f() inside a range named `name`: `y = profile::in_range("relational.theta", [&] { ... });`.
template <class F>
decltype(auto) in_range(const char* name, F&& f) {
  ScopedRange r(name);
  return f();
}

}  // namespace relmimic::profile
