// Dense matrix multiply on the CPU through OpenBLAS (row-major).
//
// Threading: OpenBLAS itself runs single-threaded (re-pinned to one thread by every CPU kernel
// call made outside a parallel region); gemm_cpu splits a large product into row or column
// blocks over the OpenMP threads instead. Called from inside an
// OpenMP parallel region it runs on the calling thread only. One thread pool for the whole CPU
// backend, so per-sample GEMMs under `omp parallel for` never oversubscribe the cores.
#pragma once

#include "kernels/cuda_types.h"

namespace relmimic::kernels {

// C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, all row-major.
// op(A) = A^T when trans_a (then A is stored [K,M] with leading dimension lda).
template <class T>
void gemm_cpu(bool trans_a, bool trans_b, int M, int N, int K, T alpha, const T* A, int lda,
              const T* B, int ldb, T beta, T* C, int ldc);

// The same product on device memory through cuBLAS, queued on `stream`. TF32 math is for float
// only (double with TF32 is an error).
template <class T>
void gemm_cuda(bool trans_a, bool trans_b, int M, int N, int K, T alpha, const T* A, int lda,
               const T* B, int ldb, T beta, T* C, int ldc, CudaMath math = CudaMath::FP32,
               Stream stream = nullptr);

}  // namespace relmimic::kernels
