// Host emulation of the CUDA runtime subset that kernels/*_cuda.cu use (see run.sh), strict
// enough to catch what a GPU would punish:
// - Device memory is its own arena (a reserved address range). Each allocation ends at a page
//   boundary with an inaccessible guard page behind it, is filled with 0xFF bytes (NaN floats)
//   instead of zeros, and is made inaccessible when freed: an overrun, a read of freed memory
//   or a use of memory nobody initialised shows. A kernel pointer argument or a copy whose
//   device side is not a live allocation (a host pointer, a freed one), or whose host side is
//   device memory, stops the program with the kernel's name.
// - A launch runs its blocks one after another (z, y, x); each CUDA thread of a block is a fiber
//   (ucontext) on the calling thread; blockIdx/blockDim/gridDim/threadIdx have x, y and z.
//   __shared__ becomes static, which is block-shared because one block runs at a time.
//   __syncthreads and __shfl_xor_sync park a fiber until every live fiber of the block (or
//   warp) waits. After every barrier the fibers resume in a new shuffled order (seeded by
//   RELMIMIC_EMU_SEED, default 1, so a run is reproducible): a missing barrier reads shared
//   memory another thread has not written yet, or has already overwritten.
// - Streams are ordered queues. The legacy default stream (nullptr) runs its work at once,
//   after the work queued on blocking streams; work on a created stream waits in its queue
//   until something orders it (a stream or event synchronisation, cudaStreamWaitEvent, a device
//   synchronisation, cudaFree, a copy to or from host memory on that stream). Work issued while
//   another stream still holds unordered work on the same allocation, one of them writing (a
//   non-const pointer argument, a copy's or memset's destination, a GEMM's C), stops the program
//   naming both: a missing event or synchronisation between streams.
#pragma once
#include <math.h>
#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <type_traits>
#include <vector>
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __shared__ static
#define __grid_constant__
#define __restrict__ __restrict
using std::isfinite;
using std::max;
using std::min;
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};
struct uint3 {
  unsigned x = 0, y = 0, z = 0;
};
inline uint3 threadIdx, blockIdx;
inline dim3 blockDim, gridDim;
struct uchar4 {
  unsigned char x, y, z, w;
};
struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(16) uint4 {
  unsigned x, y, z, w;
};
inline float4 make_float4(float a, float b, float c, float d) {
  return {a, b, c, d};
}
inline unsigned __umulhi(unsigned a, unsigned b) {
  return unsigned((uint64_t(a) * b) >> 32);
}

typedef int cudaError_t;
struct CUstream_st;
struct CUevent_st;
typedef CUstream_st* cudaStream_t;
typedef CUevent_st* cudaEvent_t;
enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount };
enum { cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorMemoryAllocation = 2 };
enum { cudaStreamDefault = 0, cudaStreamNonBlocking = 1 };
enum { cudaEventDefault = 0, cudaEventDisableTiming = 2 };
enum cudaMemcpyKind {
  cudaMemcpyHostToHost,
  cudaMemcpyHostToDevice,
  cudaMemcpyDeviceToHost,
  cudaMemcpyDeviceToDevice,
  cudaMemcpyDefault
};
struct cudaDeviceProp {
  char name[256];
  int major, minor;
  size_t totalGlobalMem;
};

namespace emu {

[[noreturn]] inline void fail(const char* fmt, ...) {
  std::va_list ap;
  va_start(ap, fmt);
  std::fputs("emulation: ", stderr);
  std::vfprintf(stderr, fmt, ap);
  std::fputc('\n', stderr);
  va_end(ap);
  std::abort();
}

// What runs now, for messages: a kernel's or copy's name, else host code.
inline const char* current = "host code";

// ---- Device memory ----------------------------------------------------------------------------

struct Allocation {
  uintptr_t start = 0;
  size_t bytes = 0;  // as asked
};
class Arena {
 public:
  static constexpr size_t kReserve = size_t(1) << 40, kPage = 4096;
  Arena() {
    void* p =
        mmap(nullptr, kReserve, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) fail("cannot reserve the device arena (%zu bytes)", kReserve);
    base_ = static_cast<char*>(p);
    install_fault_handler();
  }
  bool contains(const void* p) const { return p >= base_ && p < base_ + kReserve; }
  // Pages are never reused: a freed or overrun address stays inaccessible.
  void* allocate(size_t n) {
    const size_t bytes = (std::max<size_t>(n, 1) + 255) / 256 * 256;
    const size_t pages = (bytes + kPage - 1) / kPage * kPage;
    if (top_ + pages + kPage > kReserve) return nullptr;
    char* first = base_ + top_;
    top_ += pages + kPage;  // one guard page behind
    if (mprotect(first, pages, PROT_READ | PROT_WRITE) != 0) return nullptr;
    char* p = first + pages - bytes;  // ends at the guard page
    std::memset(p, 0xFF, bytes);
    live_[uintptr_t(p)] = {uintptr_t(p), n};
    return p;
  }
  bool release(void* p) {
    auto it = live_.find(uintptr_t(p));
    if (it == live_.end()) return false;
    const uintptr_t first = uintptr_t(p) / kPage * kPage;
    const size_t len =
        (uintptr_t(p) + std::max<size_t>(it->second.bytes, 1) - first + kPage - 1) / kPage * kPage;
    madvise(reinterpret_cast<void*>(first), len, MADV_DONTNEED);
    mprotect(reinterpret_cast<void*>(first), len, PROT_NONE);
    freed_[uintptr_t(p)] = it->second.bytes;
    live_.erase(it);
    return true;
  }
  // The live allocation holding p, or nullptr.
  const Allocation* find(const void* p) const {
    auto it = live_.upper_bound(uintptr_t(p));
    if (it == live_.begin()) return nullptr;
    --it;
    const uintptr_t a = uintptr_t(p);
    return a < it->second.start + std::max<size_t>(it->second.bytes, 1) ? &it->second : nullptr;
  }
  bool was_freed(const void* p) const {
    auto it = freed_.upper_bound(uintptr_t(p));
    if (it == freed_.begin()) return false;
    --it;
    return uintptr_t(p) < it->first + std::max<size_t>(it->second, 1);
  }
  std::string describe(const void* p) const {
    char s[160];
    if (!contains(p))
      std::snprintf(s, sizeof s, "%p is host memory", p);
    else if (const Allocation* a = find(p))
      std::snprintf(s, sizeof s, "%p is byte %zu of a %zu-byte device allocation", p,
                    size_t(uintptr_t(p) - a->start), a->bytes);
    else if (was_freed(p))
      std::snprintf(s, sizeof s, "%p is in freed device memory", p);
    else
      std::snprintf(s, sizeof s, "%p is device memory outside every allocation (an overrun)", p);
    return s;
  }

 private:
  static void on_fault(int sig, siginfo_t* info, void*);
  void install_fault_handler() {
    struct sigaction sa = {};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigaction(SIGSEGV, &sa, nullptr);
  }
  char* base_ = nullptr;
  size_t top_ = 0;
  std::map<uintptr_t, Allocation> live_;
  std::map<uintptr_t, size_t> freed_;
};
inline Arena& arena() {
  static Arena a;
  return a;
}
inline void Arena::on_fault(int sig, siginfo_t* info, void*) {
  Arena& a = arena();
  if (a.contains(info->si_addr)) {
    const std::string what = a.describe(info->si_addr);
    std::fprintf(stderr, "emulation: %s touched device memory it may not: %s\n", current,
                 what.c_str());
    std::abort();
  }
  signal(sig, SIG_DFL);  // not ours: fault again with the default action
}

// A pointer that must be a live device allocation (or null, when allowed), else the program
// stops naming who passed it.
inline const Allocation* require_device(const void* p, const char* who, const char* what,
                                        bool null_ok) {
  if (p == nullptr) {
    if (null_ok) return nullptr;
    fail("%s: %s is a null pointer", who, what);
  }
  const Allocation* a = arena().find(p);
  if (!a) fail("%s: %s must be device memory, but %s", who, what, arena().describe(p).c_str());
  return a;
}
inline void require_device_range(const void* p, size_t n, const char* who, const char* what) {
  const Allocation* a = require_device(p, who, what, false);
  if (uintptr_t(p) + n > a->start + a->bytes)
    fail("%s: %s [%p, +%zu bytes) runs past the end of its %zu-byte allocation", who, what, p, n,
         a->bytes);
}
inline void require_host(const void* p, const char* who, const char* what) {
  if (arena().contains(p))
    fail("%s: %s must be host memory, but %s", who, what, arena().describe(p).c_str());
}

// ---- Streams ----------------------------------------------------------------------------------

struct Access {
  uintptr_t allocation;
  bool write;
};
struct Op {
  std::string name;
  std::vector<Access> access;
  std::function<void()> run;
};
}  // namespace emu

struct CUstream_st {
  bool nonblocking = false;
  std::deque<emu::Op> queue;
  uint64_t issued = 0, done = 0;
};
struct CUevent_st {
  CUstream_st* stream = nullptr;
  uint64_t position = 0;
};

namespace emu {
inline std::set<CUstream_st*>& streams() {
  static std::set<CUstream_st*> s;
  return s;
}
inline std::string stream_name(CUstream_st* s) {
  if (!s) return "the legacy default stream";
  char b[64];
  std::snprintf(b, sizeof b, "stream %p (%s)", static_cast<void*>(s),
                s->nonblocking ? "non-blocking" : "blocking");
  return b;
}
inline void run_op(Op& op) {
  const char* saved = current;
  current = op.name.c_str();
  op.run();
  current = saved;
}
// Runs s's queued work up to position `until` (everything by default).
inline void drain(CUstream_st* s, uint64_t until = UINT64_MAX) {
  if (!s) return;
  while (s->done < until && !s->queue.empty()) {
    Op op = std::move(s->queue.front());
    s->queue.pop_front();
    ++s->done;
    run_op(op);
  }
}
inline void drain_all() {
  for (CUstream_st* s : streams()) drain(s);
}
// Work on s conflicts with unordered work still queued on another stream.
inline void check_unordered(CUstream_st* s, const Op& op) {
  for (CUstream_st* other : streams()) {
    if (other == s) continue;
    for (const Op& q : other->queue)
      for (const Access& a : op.access)
        for (const Access& b : q.access)
          if (a.allocation == b.allocation && (a.write || b.write))
            fail(
                "stream hazard: %s on %s and %s on %s both use the device allocation at %p, %s "
                "writing, and no event or synchronisation orders them",
                op.name.c_str(), stream_name(s).c_str(), q.name.c_str(), stream_name(other).c_str(),
                reinterpret_cast<void*>(a.allocation), a.write && b.write ? "both" : "one of them");
  }
}
// Issues op on s: at once on the legacy default stream (after the blocking streams' queued
// work), else into s's queue.
inline void submit(CUstream_st* s, Op op) {
  if (s && !streams().count(s))
    fail("%s: stream %p was never created or is destroyed", op.name.c_str(), static_cast<void*>(s));
  if (!s)
    for (CUstream_st* b : streams())
      if (!b->nonblocking) drain(b);
  check_unordered(s, op);
  if (!s) {
    run_op(op);
    return;
  }
  s->queue.push_back(std::move(op));
  ++s->issued;
}
inline Access access_of(const void* p, const char* who, const char* what, bool write) {
  return {require_device(p, who, what, false)->start, write};
}
}  // namespace emu

inline const char* cudaGetErrorString(cudaError_t) {
  return "emulated error";
}
inline cudaError_t cudaGetDeviceCount(int* n) {
  *n = 1;
  return 0;
}
inline cudaError_t cudaGetDevice(int* d) {
  *d = 0;
  return 0;
}
inline cudaError_t cudaSetDevice(int d) {
  return d == 0 ? 0 : 1;
}
inline cudaError_t cudaGetLastError() {
  return 0;
}
inline cudaError_t cudaDeviceSynchronize() {
  emu::drain_all();
  return 0;
}
inline cudaError_t cudaDriverGetVersion(int* v) {
  *v = 13000;
  return 0;
}
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int d) {
  if (d != 0) return 1;
  std::strcpy(p->name, "host emulation");
  p->major = 9;
  p->minor = 0;
  p->totalGlobalMem = 1ull << 34;
  return 0;
}
inline cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr, int) {
  *v = 132;
  return 0;
}
inline cudaError_t cudaMalloc(void** p, size_t n) {
  *p = emu::arena().allocate(n);
  return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
template <class T>
cudaError_t cudaMalloc(T** p, size_t n) {
  return cudaMalloc(reinterpret_cast<void**>(p), n);
}
// cudaFree synchronises the device.
inline cudaError_t cudaFree(void* p) {
  if (!p) return 0;
  emu::drain_all();
  if (!emu::arena().release(p))
    emu::fail("cudaFree: %s, not the start of a live allocation", emu::arena().describe(p).c_str());
  return 0;
}

namespace emu {
// A copy's checks (its device sides live allocations holding the whole range, its host sides
// outside the arena) and its accesses.
inline std::vector<Access> copy_access(void* d, const void* s, size_t n, cudaMemcpyKind k,
                                       const char* who) {
  if (k == cudaMemcpyDefault)
    k = arena().contains(d)
            ? (arena().contains(s) ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
            : (arena().contains(s) ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
  const bool dd = k == cudaMemcpyHostToDevice || k == cudaMemcpyDeviceToDevice;
  const bool sd = k == cudaMemcpyDeviceToHost || k == cudaMemcpyDeviceToDevice;
  std::vector<Access> acc;
  if (n == 0) return acc;
  if (dd) {
    require_device_range(d, n, who, "the destination");
    acc.push_back(access_of(d, who, "the destination", true));
  } else {
    require_host(d, who, "the destination");
  }
  if (sd) {
    require_device_range(s, n, who, "the source");
    acc.push_back(access_of(s, who, "the source", false));
  } else {
    require_host(s, who, "the source");
  }
  return acc;
}
inline bool touches_host(cudaMemcpyKind k, const void* d, const void* s) {
  if (k == cudaMemcpyDefault) return !arena().contains(d) || !arena().contains(s);
  return k != cudaMemcpyDeviceToDevice;
}
}  // namespace emu

inline cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind k,
                                   cudaStream_t stream) {
  emu::Op op{"cudaMemcpyAsync", emu::copy_access(d, s, n, k, "cudaMemcpyAsync"),
             [=] { std::memmove(d, s, n); }};
  // Pageable host memory: the copy happens before the call returns, in the stream's order.
  const bool host = emu::touches_host(k, d, s);
  emu::submit(stream, std::move(op));
  if (host) emu::drain(stream);
  return 0;
}
inline cudaError_t cudaMemcpy(void* d, const void* s, size_t n, cudaMemcpyKind k) {
  emu::submit(nullptr, {"cudaMemcpy", emu::copy_access(d, s, n, k, "cudaMemcpy"),
                        [=] { std::memmove(d, s, n); }});
  return 0;
}
inline cudaError_t cudaMemsetAsync(void* d, int v, size_t n, cudaStream_t stream) {
  std::vector<emu::Access> acc;
  if (n) {
    emu::require_device_range(d, n, "cudaMemset", "the destination");
    acc.push_back(emu::access_of(d, "cudaMemset", "the destination", true));
  }
  emu::submit(stream, {"cudaMemset", acc, [=] { std::memset(d, v, n); }});
  return 0;
}
inline cudaError_t cudaMemset(void* d, int v, size_t n) {
  return cudaMemsetAsync(d, v, n, nullptr);
}
inline cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned flags) {
  *s = new CUstream_st;
  (*s)->nonblocking = (flags & cudaStreamNonBlocking) != 0;
  emu::streams().insert(*s);
  return 0;
}
inline cudaError_t cudaStreamCreate(cudaStream_t* s) {
  return cudaStreamCreateWithFlags(s, cudaStreamDefault);
}
inline cudaError_t cudaStreamDestroy(cudaStream_t s) {
  if (!s || !emu::streams().count(s)) return cudaErrorInvalidValue;
  emu::drain(s);  // its queued work still completes
  emu::streams().erase(s);
  delete s;
  return 0;
}
inline cudaError_t cudaStreamSynchronize(cudaStream_t s) {
  // The legacy default stream's work has run already.
  if (s && !emu::streams().count(s)) return cudaErrorInvalidValue;
  emu::drain(s);
  return 0;
}
inline cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned) {
  *e = new CUevent_st;
  return 0;
}
inline cudaError_t cudaEventCreate(cudaEvent_t* e) {
  return cudaEventCreateWithFlags(e, cudaEventDefault);
}
inline cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return 0;
}
inline cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s = nullptr) {
  if (s && !emu::streams().count(s)) return cudaErrorInvalidValue;
  e->stream = s;
  e->position = s ? s->issued : 0;
  return 0;
}
inline cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  if (e->stream && emu::streams().count(e->stream)) emu::drain(e->stream, e->position);
  return 0;
}
// Running the awaited work now is one order the device could choose, and it keeps the rule that
// every queued op is unordered with every other stream's.
inline cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned = 0) {
  if (s && !emu::streams().count(s)) return cudaErrorInvalidValue;
  return cudaEventSynchronize(e);
}

namespace emu {
// One OS thread; each CUDA thread of a block is a fiber. Barriers park fibers until every live
// fiber of the block (or warp) waits on the same kind of barrier.
enum State { Ready, WaitBlock, WaitWarp, Done };
struct Fiber {
  ucontext_t ctx;
  State state = Ready;
};
struct Block {
  std::vector<Fiber> f;
  ucontext_t sched;
  int cur = 0;
  std::vector<uint64_t> slots;
  std::function<void()> body;
};
inline Block* blk = nullptr;
inline void park(State s) {
  blk->f[size_t(blk->cur)].state = s;
  swapcontext(&blk->f[size_t(blk->cur)].ctx, &blk->sched);
}
inline void syncthreads() {
  park(WaitBlock);
}
template <class T>
T shfl_xor(T v, int o) {
  const int t = blk->cur;
  std::memcpy(&blk->slots[size_t(t)], &v, sizeof(T));
  park(WaitWarp);
  T r;
  std::memcpy(&r, &blk->slots[size_t(t ^ o)], sizeof(T));
  park(WaitWarp);
  return r;
}
inline void fiber_main() {
  blk->body();
  blk->f[size_t(blk->cur)].state = Done;
  swapcontext(&blk->f[size_t(blk->cur)].ctx, &blk->sched);
}
inline std::mt19937& scheduler_rng() {
  static std::mt19937 rng([] {
    const char* s = std::getenv("RELMIMIC_EMU_SEED");
    return s && *s ? unsigned(std::strtoul(s, nullptr, 10)) : 1u;
  }());
  return rng;
}
// Fiber stacks, kept between launches (not zeroed: a launch of 1024 threads would clear 64 MiB).
inline constexpr size_t kFiberStack = 1 << 16;
inline char* fiber_stack(size_t i) {
  static std::vector<std::unique_ptr<char[]>> stacks;
  while (stacks.size() <= i) stacks.emplace_back(new char[kFiberStack]);
  return stacks[i].get();
}

inline void run_grid(const char* name, dim3 grid, dim3 block, const std::function<void()>& body) {
  const long nt = long(block.x) * block.y * block.z;
  if (nt <= 0 || nt > 1024) fail("%s: %ld threads per block (1 to 1024 allowed)", name, nt);
  if (block.z > 64) fail("%s: blockDim.z %u over 64", name, block.z);
  if (grid.y > 65535 || grid.z > 65535) fail("%s: gridDim y/z over 65535", name);
  gridDim = grid;
  blockDim = block;
  Block b;
  b.f.resize(size_t(nt));
  b.slots.resize(size_t(nt));
  b.body = body;
  blk = &b;
  std::vector<int> order;
  auto& rng = scheduler_rng();
  for (unsigned bz = 0; bz < grid.z; ++bz)
    for (unsigned by = 0; by < grid.y; ++by)
      for (unsigned bx = 0; bx < grid.x; ++bx) {
        blockIdx = {bx, by, bz};
        for (long t = 0; t < nt; ++t) {
          Fiber& f = b.f[size_t(t)];
          f.state = Ready;
          getcontext(&f.ctx);
          f.ctx.uc_stack.ss_sp = fiber_stack(size_t(t));
          f.ctx.uc_stack.ss_size = kFiberStack;
          f.ctx.uc_link = nullptr;
          makecontext(&f.ctx, fiber_main, 0);
        }
        for (;;) {
          order.clear();
          for (long t = 0; t < nt; ++t)
            if (b.f[size_t(t)].state == Ready) order.push_back(int(t));
          std::shuffle(order.begin(), order.end(), rng);
          for (int t : order) {
            b.cur = t;
            threadIdx = {unsigned(t % long(block.x)), unsigned(t / long(block.x) % block.y),
                         unsigned(t / (long(block.x) * block.y))};
            swapcontext(&b.sched, &b.f[size_t(t)].ctx);
          }
          const bool ran = !order.empty();
          // Release barriers whose every live participant waits.
          bool all_done = true, all_block = true;
          for (auto& f : b.f) {
            all_done &= f.state == Done;
            all_block &= f.state == Done || f.state == WaitBlock;
          }
          if (all_done) break;
          bool released = false;
          for (long w = 0; w * 32 < nt; ++w) {
            bool any = false, all = true;
            for (long t = w * 32; t < std::min(nt, w * 32 + 32); ++t) {
              const State s = b.f[size_t(t)].state;
              any |= s == WaitWarp;
              all &= s == WaitWarp || s == Done;
            }
            if (any && all) {
              for (long t = w * 32; t < std::min(nt, w * 32 + 32); ++t)
                if (b.f[size_t(t)].state == WaitWarp) b.f[size_t(t)].state = Ready;
              released = true;
            }
          }
          if (!released && all_block) {
            for (auto& f : b.f)
              if (f.state == WaitBlock) f.state = Ready;
            released = true;
          }
          if (!released && !ran) fail("%s: deadlock in block (%u, %u, %u)", name, bx, by, bz);
        }
      }
  blk = nullptr;
}

// A kernel argument: pointers must be live device allocations (or null). What a parameter of
// pointer-to-non-const type points at counts as written: `kinds` holds R (pointer to const), W or
// N per parameter (transform.py reads them from the kernel's definition); where it is empty, the
// argument's own type decides.
template <class A>
void note_argument(const A& a, const char* kernel, const char* kinds, int index,
                   std::vector<Access>& acc) {
  if constexpr (std::is_pointer_v<A>) {
    if (a == nullptr) return;
    char what[32];
    std::snprintf(what, sizeof what, "pointer argument %d", index);
    const bool known = int(std::strlen(kinds)) > index;
    const bool write = known ? kinds[index] != 'R' : !std::is_const_v<std::remove_pointer_t<A>>;
    acc.push_back(access_of(a, kernel, what, write));
  }
}

template <class F, class... Args>
void launch(const char* name, const char* kinds, dim3 grid, dim3 block, cudaStream_t stream, F k,
            Args... args) {
  std::vector<Access> acc;
  int i = 0;
  (note_argument(args, name, kinds, i++, acc), ...);
  if (grid.x == 0 || grid.y == 0 || grid.z == 0) fail("%s: empty grid", name);
  submit(stream, {name, std::move(acc), [=] { run_grid(name, grid, block, [&] { k(args...); }); }});
}
}  // namespace emu
#define __syncthreads() emu::syncthreads()
#define __shfl_xor_sync(mask, v, o) emu::shfl_xor(v, o)
