// LayerNorm over the last dimension: x [M, D] -> y = (x - mean) * rstd * gamma + beta.
#pragma once

#include "kernels/cuda_types.h"

namespace relmimic::kernels {

// mean, rstd [M] are saved for backward. eps inside the sqrt.
template <class T>
void layernorm_forward_cpu(int M, int D, const T* x, const T* gamma, const T* beta, T eps, T* y,
                           T* mean, T* rstd);

// dx overwritten; dgamma, dbeta accumulated.
template <class T>
void layernorm_backward_cpu(int M, int D, const T* x, const T* gamma, const T* mean, const T* rstd,
                            const T* dy, T* dx, T* dgamma, T* dbeta);

// CUDA versions (device pointers, same contracts; dx may alias dy), queued on `stream`.
template <class T>
void layernorm_forward_cuda(int M, int D, const T* x, const T* gamma, const T* beta, T eps, T* y,
                            T* mean, T* rstd, Stream stream = nullptr);
template <class T>
void layernorm_backward_cuda(int M, int D, const T* x, const T* gamma, const T* mean, const T* rstd,
                             const T* dy, T* dx, T* dgamma, T* dbeta, Stream stream = nullptr);

}  // namespace relmimic::kernels
