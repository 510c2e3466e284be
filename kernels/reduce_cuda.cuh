// Block reductions and a small per-device result buffer, shared by the CUDA sources that return
// sums to the host (reduce, ppo_loss, spectral_norm). Every reduction here has a fixed shape for
// a given size: the same input gives the same bits on every run.
#pragma once

#include <cmath>

#include "kernels/cuda_check.h"
#include "kernels/cuda_types.h"

namespace relmimic::kernels::cuda_reduce {

constexpr int kThreads = 256;  // threads of every reducing block
constexpr int kWarps = kThreads / 32;
constexpr int kMaxPartials = 1024;     // stage-1 blocks of a two-stage reduction at most
constexpr int kScratchDoubles = 4096;  // per-device result buffer (partials + results)

// Combiners; each is associative and commutative so the tree below is valid.
struct Add {
  static constexpr double identity = 0.0;
  __device__ double operator()(double a, double b) const { return a + b; }
};
// max that keeps NaN: a NaN anywhere makes the result NaN.
struct MaxNan {
  static constexpr double identity = -__builtin_huge_val();
  __device__ double operator()(double a, double b) const {
    return (a != a || b != b) ? (a != a ? a : b) : (a > b ? a : b);
  }
};

template <class Op>
__device__ __forceinline__ double warp_reduce(double v, Op op) {
#pragma unroll
  for (int o = 16; o > 0; o /= 2) v = op(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Reduces v over the block (blockDim.x == kThreads); every thread gets the result. All threads
// of the block must call it (it has barriers).
template <class Op>
__device__ double block_reduce(double v, Op op) {
  __shared__ double part[kWarps];
  __shared__ double total;
  v = warp_reduce(v, op);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) part[warp] = v;
  __syncthreads();
  if (warp == 0) {
    double w = lane < kWarps ? part[lane] : Op::identity;
    w = warp_reduce(w, op);
    if (lane == 0) total = w;
  }
  __syncthreads();
  return total;
}

// Slots of scratch(stream): [0, kMaxPartials) stage-1 partials, then one result per user.
constexpr int kResultSlot = kMaxPartials;         // reduce results returned to the host
constexpr int kStatsSlot = kMaxPartials + 16;     // loss statistics (ppo_loss_cuda.cu)
constexpr int kSpectralSlot = kMaxPartials + 32;  // <dW_sn, W_sn> (spectral_norm_cuda.cu)

// sum_i x_i y_i in double into *out (device memory), without waiting for the host; uses the
// stage-1 partials of scratch(stream).
template <class T>
void dot_to_device(long n, const T* x, const T* y, double* out, Stream stream);

// kScratchDoubles doubles of the per-(device, stream) workspace (kernels/cuda_context.h): no
// allocation after the first call. Valid until the next workspace request on the stream.
double* scratch(Stream stream);

// Copies n doubles from scratch(stream) + offset to the host and waits for the stream.
void fetch(double* host, int n, int offset, Stream stream);

}  // namespace relmimic::kernels::cuda_reduce
