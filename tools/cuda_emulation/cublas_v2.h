// Host emulation of the cuBLAS calls the kernels use: a plain column-major reference GEMM in
// double accumulation (see run.sh).
#pragma once
#include "cuda_runtime.h"
typedef struct cublasContext* cublasHandle_t;
typedef int cublasStatus_t;
enum { CUBLAS_STATUS_SUCCESS = 0 };
enum cublasOperation_t { CUBLAS_OP_N, CUBLAS_OP_T };
enum cublasMath_t { CUBLAS_DEFAULT_MATH };
enum cudaDataType_t { CUDA_R_32F, CUDA_R_64F };
enum cublasComputeType_t { CUBLAS_COMPUTE_32F, CUBLAS_COMPUTE_64F, CUBLAS_COMPUTE_32F_FAST_TF32 };
enum cublasGemmAlgo_t { CUBLAS_GEMM_DEFAULT };
inline const char* cublasGetStatusString(cublasStatus_t) {
  return "emulated cublas error";
}
inline cublasStatus_t cublasCreate(cublasHandle_t* h) {
  *h = reinterpret_cast<cublasHandle_t>(1);
  return 0;
}
inline cublasStatus_t cublasSetMathMode(cublasHandle_t, cublasMath_t) {
  return 0;
}
inline cublasStatus_t cublasSetStream(cublasHandle_t, cudaStream_t) {
  return 0;
}
inline cublasStatus_t cublasDestroy(cublasHandle_t) {
  return 0;
}
template <class T>
cublasStatus_t emu_gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                        const T* alpha, const T* A, int lda, long long sa, const T* B, int ldb,
                        long long sb, const T* beta, T* C, int ldc, long long sc, int batch) {
  for (int p = 0; p < batch; ++p) {
    const T* a = A + p * sa;
    const T* b = B + p * sb;
    T* c = C + p * sc;
    for (int j = 0; j < n; ++j)
      for (int i = 0; i < m; ++i) {
        double acc = 0;
        for (int l = 0; l < k; ++l)
          acc += double(ta == CUBLAS_OP_N ? a[i + long(l) * lda] : a[l + long(i) * lda]) *
                 double(tb == CUBLAS_OP_N ? b[l + long(j) * ldb] : b[j + long(l) * ldb]);
        T& out = c[i + long(j) * ldc];
        out = T(*alpha * acc + (*beta == T(0) ? T(0) : *beta * out));
      }
  }
  return 0;
}
inline cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t, cublasOperation_t ta,
                                                cublasOperation_t tb, int m, int n, int k,
                                                const float* al, const float* A, int lda,
                                                long long sa, const float* B, int ldb, long long sb,
                                                const float* be, float* C, int ldc, long long sc,
                                                int batch) {
  return emu_gemm(ta, tb, m, n, k, al, A, lda, sa, B, ldb, sb, be, C, ldc, sc, batch);
}
inline cublasStatus_t cublasDgemmStridedBatched(cublasHandle_t, cublasOperation_t ta,
                                                cublasOperation_t tb, int m, int n, int k,
                                                const double* al, const double* A, int lda,
                                                long long sa, const double* B, int ldb,
                                                long long sb, const double* be, double* C, int ldc,
                                                long long sc, int batch) {
  return emu_gemm(ta, tb, m, n, k, al, A, lda, sa, B, ldb, sb, be, C, ldc, sc, batch);
}
inline cublasStatus_t cublasGemmStridedBatchedEx(
    cublasHandle_t, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, const void* al,
    const void* A, cudaDataType_t at, int lda, long long sa, const void* B, cudaDataType_t, int ldb,
    long long sb, const void* be, void* C, cudaDataType_t, int ldc, long long sc, int batch,
    cublasComputeType_t, cublasGemmAlgo_t) {
  if (at == CUDA_R_32F)
    return emu_gemm(ta, tb, m, n, k, static_cast<const float*>(al), static_cast<const float*>(A),
                    lda, sa, static_cast<const float*>(B), ldb, sb, static_cast<const float*>(be),
                    static_cast<float*>(C), ldc, sc, batch);
  return emu_gemm(ta, tb, m, n, k, static_cast<const double*>(al), static_cast<const double*>(A),
                  lda, sa, static_cast<const double*>(B), ldb, sb, static_cast<const double*>(be),
                  static_cast<double*>(C), ldc, sc, batch);
}
