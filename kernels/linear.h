// Fully connected layer: x [M, K], w [N, K] (PyTorch layout), b [N], y [M, N] = x w^T + b.
#pragma once

#include "kernels/cuda_types.h"

namespace relmimic::kernels {

// b may be nullptr.
template <class T>
void linear_forward_cpu(int M, int N, int K, const T* x, const T* w, const T* b, T* y);

// dx = dy w (overwrites).
template <class T>
void linear_backward_input_cpu(int M, int N, int K, const T* dy, const T* w, T* dx);

// dw += dy^T x, db += column sums of dy (db may be nullptr). Accumulates.
template <class T>
void linear_backward_weight_cpu(int M, int N, int K, const T* x, const T* dy, T* dw, T* db);

// CUDA versions (device pointers, same contracts), queued on `stream`: the products through
// cuBLAS (gemm_cuda), the bias and its deterministic column sum by small kernels.
template <class T>
void linear_forward_cuda(int M, int N, int K, const T* x, const T* w, const T* b, T* y,
                         CudaMath math = CudaMath::FP32, Stream stream = nullptr);
template <class T>
void linear_backward_input_cuda(int M, int N, int K, const T* dy, const T* w, T* dx,
                                CudaMath math = CudaMath::FP32, Stream stream = nullptr);
template <class T>
void linear_backward_weight_cuda(int M, int N, int K, const T* x, const T* dy, T* dw, T* db,
                                 CudaMath math = CudaMath::FP32, Stream stream = nullptr);

}  // namespace relmimic::kernels
