// Shared by the attention CUDA sources: argument checks and warp-level helpers.
#pragma once

#include <initializer_list>

#include "kernels/attention.h"
#include "kernels/cuda_check.h"
#include "kernels/cuda_types.h"

namespace relmimic::kernels::attention_cuda {

// Largest N for which the [N, N] products still index an int-sized cuBLAS operand.
constexpr int kMaxPositions = 46340;
constexpr int kWarp = 32;

inline void check_dims(const AttentionDims& d, const char* who) {
  RM_CHECK(d.batch > 0 && d.channels > 0 && d.positions > 0, who,
           ": dimensions must be positive, got batch=", d.batch, " channels=", d.channels,
           " positions=", d.positions);
  RM_CHECK(d.positions <= kMaxPositions, who, ": positions=", d.positions, " exceeds ",
           kMaxPositions, " (N*N must fit an int)");
}

inline void check_ptrs(const char* who, std::initializer_list<const void*> ptrs) {
  int k = 0;
  for (const void* p : ptrs) {
    RM_CHECK(p != nullptr, who, ": pointer argument ", k, " is null");
    ++k;
  }
}

// The cuBLAS baseline (attention_unfused_cuda.cu); same contracts as the public calls.
template <class T>
void forward_unfused(const AttentionDims& d, const T* theta, const T* phi, const T* g, T* y, T* lse,
                     T* attn, Stream stream);
template <class T>
void backward_unfused(const AttentionDims& d, const T* theta, const T* phi, const T* g,
                      const T* attn, const T* dy, T* dtheta, T* dphi, T* dg, T* work,
                      Stream stream);

template <class T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int o = kWarp / 2; o > 0; o /= 2) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

template <class T>
__device__ __forceinline__ T warp_max(T v) {
#pragma unroll
  for (int o = kWarp / 2; o > 0; o /= 2) v = fmax(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

}  // namespace relmimic::kernels::attention_cuda
