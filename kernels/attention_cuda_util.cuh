// Shared by the attention CUDA sources: argument checks and warp-level helpers.
#pragma once

#include <initializer_list>

#include "kernels/attention.h"
#include "kernels/cuda_check.h"
#include "kernels/cuda_types.h"

namespace relmimic::kernels::attention_cuda {

constexpr int kWarp = 32;

inline void check_dims(const AttentionDims& d, const char* who) {
  check_attention_dims(d, who);
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
