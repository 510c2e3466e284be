// Host emulation of the CUDA runtime subset that kernels/*_cuda.cu use (see run.sh). A launch
// runs its blocks one after another; each CUDA thread of a block is a fiber (ucontext) on the
// calling thread; __shared__ becomes static, which is block-shared because one block runs at a
// time; __syncthreads and __shfl_xor_sync park a fiber until every live fiber of the block (or
// warp) waits. Device memory is host memory.
#pragma once
#include <math.h>
#include <ucontext.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __shared__ static
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

typedef int cudaError_t;
typedef struct CUstream_st* cudaStream_t;
enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount };
enum { cudaSuccess = 0 };
enum cudaMemcpyKind { cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
struct cudaDeviceProp {
  char name[256];
  int major, minor;
  size_t totalGlobalMem;
};
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
inline cudaError_t cudaMalloc(void** p, size_t n) {
  *p = std::aligned_alloc(256, (n + 255) / 256 * 256);
  return *p ? 0 : 2;
}
template <class T>
cudaError_t cudaMalloc(T** p, size_t n) {
  return cudaMalloc(reinterpret_cast<void**>(p), n);
}
inline cudaError_t cudaFree(void* p) {
  std::free(p);
  return 0;
}
inline cudaError_t cudaMemcpy(void* d, const void* s, size_t n, cudaMemcpyKind) {
  std::memmove(d, s, n);
  return 0;
}
inline cudaError_t cudaMemset(void* d, int v, size_t n) {
  std::memset(d, v, n);
  return 0;
}
inline cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind, cudaStream_t) {
  std::memmove(d, s, n);
  return 0;
}
inline cudaError_t cudaStreamSynchronize(cudaStream_t) {
  return 0;
}
inline cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr, int) {
  *v = 132;
  return 0;
}

namespace emu {
// One OS thread; each CUDA thread of a block is a fiber. Barriers park fibers until every live
// fiber of the block (or warp) waits on the same kind of barrier.
enum State { Ready, WaitBlock, WaitWarp, Done };
struct Fiber {
  ucontext_t ctx;
  State state = Ready;
  std::vector<char> stack;
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
template <class F, class... Args>
void launch(dim3 grid, dim3 block, F k, Args... args) {
  const int nt = int(block.x);
  gridDim = grid;
  blockDim = block;
  Block b;
  b.f.resize(size_t(nt));
  b.slots.resize(size_t(nt));
  for (auto& f : b.f) f.stack.resize(1 << 16);
  b.body = [&] { k(args...); };
  blk = &b;
  for (unsigned bi = 0; bi < grid.x; ++bi) {
    blockIdx = {bi, 0, 0};
    for (int t = 0; t < nt; ++t) {
      Fiber& f = b.f[size_t(t)];
      f.state = Ready;
      getcontext(&f.ctx);
      f.ctx.uc_stack.ss_sp = f.stack.data();
      f.ctx.uc_stack.ss_size = f.stack.size();
      f.ctx.uc_link = nullptr;
      makecontext(&f.ctx, fiber_main, 0);
    }
    for (;;) {
      bool ran = false;
      for (int t = 0; t < nt; ++t) {
        if (b.f[size_t(t)].state != Ready) continue;
        b.cur = t;
        threadIdx = {unsigned(t), 0, 0};
        swapcontext(&b.sched, &b.f[size_t(t)].ctx);
        ran = true;
      }
      // Release barriers whose every live participant waits.
      bool all_done = true, all_block = true;
      for (auto& f : b.f) {
        all_done &= f.state == Done;
        all_block &= f.state == Done || f.state == WaitBlock;
      }
      if (all_done) break;
      bool released = false;
      for (int w = 0; w * 32 < nt; ++w) {
        bool any = false, all = true;
        for (int t = w * 32; t < std::min(nt, w * 32 + 32); ++t) {
          const State s = b.f[size_t(t)].state;
          any |= s == WaitWarp;
          all &= s == WaitWarp || s == Done;
        }
        if (any && all) {
          for (int t = w * 32; t < std::min(nt, w * 32 + 32); ++t)
            if (b.f[size_t(t)].state == WaitWarp) b.f[size_t(t)].state = Ready;
          released = true;
        }
      }
      if (!released && all_block) {
        for (auto& f : b.f)
          if (f.state == WaitBlock) f.state = Ready;
        released = true;
      }
      if (!released && !ran) {
        std::fprintf(stderr, "emulation: deadlock in block %u\n", bi);
        std::abort();
      }
    }
  }
  blk = nullptr;
}
}  // namespace emu
#define __syncthreads() emu::syncthreads()
#define __shfl_xor_sync(mask, v, o) emu::shfl_xor(v, o)
