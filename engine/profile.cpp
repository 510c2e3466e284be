#include "engine/profile.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <utility>

#include "kernels/common.h"
#include "kernels/cuda_event.h"
#include "kernels/device.h"

#ifdef RELMIMIC_WITH_NVTX
#include <nvtx3/nvToolsExt.h>
#endif

namespace relmimic::profile {

namespace detail {
std::atomic<int> g_active{0};
}  // namespace detail

namespace {

constexpr int kTiming = 1, kNvtx = 2;

bool nvtx_wanted() {
  bool want = std::getenv("NVTX_INJECTION64_PATH") != nullptr;  // set by Nsight Systems/Compute
  if (const char* force = std::getenv("RELMIMIC_NVTX")) {
    RM_CHECK(!std::strcmp(force, "0") || !std::strcmp(force, "1"),
             "RELMIMIC_NVTX must be 0 or 1, got '", force, "'");
    want = force[0] == '1';
    RM_CHECK(!want || nvtx_built(),
             "RELMIMIC_NVTX=1, but this relmimic was built without NVTX "
             "(CMake found no nvtx3/nvToolsExt.h)");
  }
  return want && nvtx_built();
}

// The NVTX bit is decided once, before main(), so g_active never changes under a running range.
const bool g_nvtx_init = [] {
  try {
    if (nvtx_wanted()) detail::g_active.fetch_or(kNvtx);
  } catch (const std::exception& e) {
    // Before main() nothing can catch it: say so and leave the ranges off.
    std::fprintf(stderr, "relmimic: %s; NVTX ranges are off\n", e.what());
  }
  return true;
}();

struct Node {
  Node(const char* n, int p, int d) : name(n), parent(p), depth(d) {}
  const char* name;
  int parent;
  int depth;
  long calls = 0;
  double ms = 0;
  std::vector<int> children;
};

struct Pending {
  int node;
  kernels::Event start, stop;
};

// Nodes grow only while timing is on; regions may open on several threads (each with its own
// current node), so the registry is locked.
struct Registry {
  std::mutex mu;
  std::vector<Node> nodes;  // nodes[0]: the root (no name)
  Clock clock = Clock::wall;
  kernels::Stream stream = nullptr;
  std::vector<Pending> pending;
  std::vector<kernels::Event> free_events;
  // Bumped by start(): a range opened before it does not write into the new registry.
  long epoch = 0;

  Registry() { nodes.emplace_back(nullptr, -1, -1); }

  int child(int parent, const char* name) {
    for (int c : nodes[size_t(parent)].children) {
      const char* n = nodes[size_t(c)].name;
      if (n == name || !std::strcmp(n, name)) return c;
    }
    const int id = int(nodes.size());
    nodes.emplace_back(name, parent, nodes[size_t(parent)].depth + 1);
    nodes[size_t(parent)].children.push_back(id);
    return id;
  }
  kernels::Event event() {
    if (free_events.empty()) return kernels::cuda_event_create();
    kernels::Event e = free_events.back();
    free_events.pop_back();
    return e;
  }
  void resolve() {
    for (const Pending& p : pending) {
      nodes[size_t(p.node)].ms += double(kernels::cuda_event_elapsed_ms(p.start, p.stop));
      free_events.push_back(p.start);
      free_events.push_back(p.stop);
    }
    pending.clear();
  }
  ~Registry() {
    for (const Pending& p : pending) {
      kernels::cuda_event_destroy(p.start);
      kernels::cuda_event_destroy(p.stop);
    }
    for (kernels::Event e : free_events) kernels::cuda_event_destroy(e);
  }
};

Registry& registry() {
  static Registry r;
  return r;
}

thread_local int t_current = 0;  // innermost open region of this thread (0: none)
thread_local long t_epoch = -1;  // registry epoch t_current belongs to

}  // namespace

void start(Clock clock, kernels::Stream stream) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  // Fails here, not inside the first range, in a build or on a machine without CUDA.
  if (clock == Clock::cuda_events) {
    RM_CHECK(kernels::cuda_device_count() > 0,
             "the CUDA-event clock needs a CUDA device: ", kernels::cuda_device_description(0));
    r.free_events.push_back(r.event());
  }
  for (const Pending& p : r.pending) {  // a previous run's events: dropped unresolved
    r.free_events.push_back(p.start);
    r.free_events.push_back(p.stop);
  }
  r.pending.clear();
  r.nodes.erase(r.nodes.begin() + 1, r.nodes.end());
  r.nodes[0].children.clear();
  r.clock = clock;
  r.stream = stream;
  ++r.epoch;
  detail::g_active.fetch_or(kTiming);
}

void stop() {
  detail::g_active.fetch_and(~kTiming);
}

bool timing() {
  return (detail::g_active.load() & kTiming) != 0;
}

bool nvtx_active() {
  return (detail::g_active.load() & kNvtx) != 0;
}

bool nvtx_built() {
#ifdef RELMIMIC_WITH_NVTX
  return true;
#else
  return false;
#endif
}

std::vector<Region> regions() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.resolve();
  std::vector<Region> out;
  // Depth first from the root's children, keeping their first-opened order.
  std::vector<std::pair<int, std::string>> stack;
  const std::vector<int>& top = r.nodes[0].children;
  for (auto it = top.rbegin(); it != top.rend(); ++it) stack.push_back({*it, ""});
  while (!stack.empty()) {
    auto [id, prefix] = std::move(stack.back());
    stack.pop_back();
    const Node& n = r.nodes[size_t(id)];
    Region reg;
    reg.name = n.name;
    reg.path = prefix.empty() ? reg.name : prefix + " > " + reg.name;
    reg.depth = n.depth;
    reg.calls = n.calls;
    reg.ms = n.ms;
    for (auto it = n.children.rbegin(); it != n.children.rend(); ++it)
      stack.push_back({*it, reg.path});
    out.push_back(std::move(reg));
  }
  return out;
}

void ScopedRange::begin(const char* name) {
  open_ = true;
#ifdef RELMIMIC_WITH_NVTX
  if (detail::g_active.load(std::memory_order_relaxed) & kNvtx) {
    nvtxRangePushA(name);
    nvtx_ = true;
  }
#endif
  if (!(detail::g_active.load(std::memory_order_relaxed) & kTiming)) return;
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  if (r.clock == Clock::cuda_events) {
    // First, so that a failing CUDA call leaves no half-open range behind (the destructor of a
    // range whose constructor throws does not run).
    kernels::Event e = nullptr;
    try {
      e = r.event();
      kernels::cuda_event_record(e, r.stream);
    } catch (...) {
      if (e) r.free_events.push_back(e);
#ifdef RELMIMIC_WITH_NVTX
      if (nvtx_) nvtxRangePop();
#endif
      open_ = nvtx_ = false;
      throw;
    }
    ev0_ = e;
  }
  if (t_epoch != r.epoch) t_current = 0, t_epoch = r.epoch;
  epoch_ = r.epoch;
  parent_ = t_current;
  node_ = r.child(parent_, name);
  t_current = node_;
  if (!ev0_) t0_ = std::chrono::steady_clock::now();
}

void ScopedRange::finish() {
  open_ = false;
  if (node_ >= 0) {
    const auto t1 = std::chrono::steady_clock::now();
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mu);
    // A start() in between began a new registry: this range's node is not in it.
    if (epoch_ == r.epoch) {
      Node& n = r.nodes[size_t(node_)];
      ++n.calls;
      if (ev0_) {
        // Queued now, resolved in regions(): nothing waits for the device here. Runs from a
        // destructor, so a failing CUDA call loses this sample instead of throwing (the next
        // checked CUDA call reports the error).
        kernels::Event ev1 = nullptr;
        try {
          ev1 = r.event();
          kernels::cuda_event_record(ev1, r.stream);
          r.pending.push_back({node_, ev0_, ev1});
        } catch (...) {
          if (ev1) r.free_events.push_back(ev1);
          r.free_events.push_back(ev0_);
        }
        ev0_ = nullptr;
      } else {
        n.ms += std::chrono::duration<double, std::milli>(t1 - t0_).count();
      }
      t_current = parent_;
    } else if (ev0_) {
      r.free_events.push_back(ev0_);
      ev0_ = nullptr;
    }
  }
#ifdef RELMIMIC_WITH_NVTX
  if (nvtx_) nvtxRangePop();
#endif
}

}  // namespace relmimic::profile
