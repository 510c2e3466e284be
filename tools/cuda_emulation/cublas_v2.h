// Host emulation of the cuBLAS calls the kernels use: a plain column-major reference GEMM in
// double accumulation (inputs rounded to TF32 first under CUBLAS_COMPUTE_32F_FAST_TF32), issued
// on the handle's stream with the emulation's checks (see cuda_runtime.h): A and B must be
// device memory and are read, C must be device memory and is written.
#pragma once
#include "cuda_runtime.h"
struct cublasContext {
  cudaStream_t stream = nullptr;
};
typedef cublasContext* cublasHandle_t;
typedef int cublasStatus_t;
enum { CUBLAS_STATUS_SUCCESS = 0, CUBLAS_STATUS_NOT_INITIALIZED = 1 };
enum cublasOperation_t { CUBLAS_OP_N, CUBLAS_OP_T };
enum cublasMath_t { CUBLAS_DEFAULT_MATH };
enum cudaDataType_t { CUDA_R_32F, CUDA_R_64F };
enum cublasComputeType_t { CUBLAS_COMPUTE_32F, CUBLAS_COMPUTE_64F, CUBLAS_COMPUTE_32F_FAST_TF32 };
enum cublasGemmAlgo_t { CUBLAS_GEMM_DEFAULT };
inline const char* cublasGetStatusString(cublasStatus_t) {
  return "emulated cublas error";
}
inline cublasStatus_t cublasCreate(cublasHandle_t* h) {
  *h = new cublasContext;
  return 0;
}
inline cublasStatus_t cublasSetMathMode(cublasHandle_t, cublasMath_t) {
  return 0;
}
inline cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  h->stream = s;
  return 0;
}
inline cublasStatus_t cublasDestroy(cublasHandle_t h) {
  delete h;
  return 0;
}

namespace emu {
// Round to nearest TF32 (10 mantissa bits), ties away from zero, as the tensor cores' inputs.
inline float round_tf32(float x) {
  if (!std::isfinite(x)) return x;
  uint32_t u;
  std::memcpy(&u, &x, 4);
  u = (u + 0x1000u) & ~0x1FFFu;
  std::memcpy(&x, &u, 4);
  return x;
}
template <class T>
void gemm_reference(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, T alpha,
                    const T* A, int lda, long long sa, const T* B, int ldb, long long sb, T beta,
                    T* C, int ldc, long long sc, int batch, bool tf32) {
  auto in = [tf32](T v) {
    if constexpr (std::is_same_v<T, float>) return double(tf32 ? round_tf32(v) : v);
    return double(v);
  };
  for (int p = 0; p < batch; ++p) {
    const T* a = A + p * sa;
    const T* b = B + p * sb;
    T* c = C + p * sc;
    for (int j = 0; j < n; ++j)
      for (int i = 0; i < m; ++i) {
        double acc = 0;
        for (int l = 0; l < k; ++l)
          acc += in(ta == CUBLAS_OP_N ? a[i + long(l) * lda] : a[l + long(i) * lda]) *
                 in(tb == CUBLAS_OP_N ? b[l + long(j) * ldb] : b[j + long(l) * ldb]);
        T& out = c[i + long(j) * ldc];
        out = T(alpha * acc + (beta == T(0) ? T(0) : beta * out));
      }
  }
}
// Issues the GEMM on h's stream; alpha and beta are host values, read now.
template <class T>
cublasStatus_t gemm(const char* name, cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb,
                    int m, int n, int k, const T* al, const T* A, int lda, long long sa, const T* B,
                    int ldb, long long sb, const T* be, T* C, int ldc, long long sc, int batch,
                    bool tf32) {
  if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
  const T alpha = *al, beta = *be;
  std::vector<Access> acc;
  if (m > 0 && n > 0 && batch > 0) {
    if (k > 0) {
      acc.push_back(access_of(A, name, "A", false));
      acc.push_back(access_of(B, name, "B", false));
    }
    acc.push_back(access_of(C, name, "C", true));
  }
  submit(h->stream, {name, std::move(acc), [=] {
                       gemm_reference(ta, tb, m, n, k, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc,
                                      sc, batch, tf32);
                     }});
  return 0;
}
}  // namespace emu

inline cublasStatus_t cublasSgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta,
                                                cublasOperation_t tb, int m, int n, int k,
                                                const float* al, const float* A, int lda,
                                                long long sa, const float* B, int ldb, long long sb,
                                                const float* be, float* C, int ldc, long long sc,
                                                int batch) {
  return emu::gemm("cublasSgemmStridedBatched", h, ta, tb, m, n, k, al, A, lda, sa, B, ldb, sb, be,
                   C, ldc, sc, batch, false);
}
inline cublasStatus_t cublasDgemmStridedBatched(cublasHandle_t h, cublasOperation_t ta,
                                                cublasOperation_t tb, int m, int n, int k,
                                                const double* al, const double* A, int lda,
                                                long long sa, const double* B, int ldb,
                                                long long sb, const double* be, double* C, int ldc,
                                                long long sc, int batch) {
  return emu::gemm("cublasDgemmStridedBatched", h, ta, tb, m, n, k, al, A, lda, sa, B, ldb, sb, be,
                   C, ldc, sc, batch, false);
}
inline cublasStatus_t cublasGemmStridedBatchedEx(
    cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
    const void* al, const void* A, cudaDataType_t at, int lda, long long sa, const void* B,
    cudaDataType_t, int ldb, long long sb, const void* be, void* C, cudaDataType_t, int ldc,
    long long sc, int batch, cublasComputeType_t compute, cublasGemmAlgo_t) {
  const char* name = "cublasGemmStridedBatchedEx";
  if (at == CUDA_R_32F)
    return emu::gemm(name, h, ta, tb, m, n, k, static_cast<const float*>(al),
                     static_cast<const float*>(A), lda, sa, static_cast<const float*>(B), ldb, sb,
                     static_cast<const float*>(be), static_cast<float*>(C), ldc, sc, batch,
                     compute == CUBLAS_COMPUTE_32F_FAST_TF32);
  return emu::gemm(name, h, ta, tb, m, n, k, static_cast<const double*>(al),
                   static_cast<const double*>(A), lda, sa, static_cast<const double*>(B), ldb, sb,
                   static_cast<const double*>(be), static_cast<double*>(C), ldc, sc, batch, false);
}
inline cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb,
                                   int m, int n, int k, const void* al, const void* A,
                                   cudaDataType_t at, int lda, const void* B, cudaDataType_t bt,
                                   int ldb, const void* be, void* C, cudaDataType_t ct, int ldc,
                                   cublasComputeType_t compute, cublasGemmAlgo_t algo) {
  return cublasGemmStridedBatchedEx(h, ta, tb, m, n, k, al, A, at, lda, 0, B, bt, ldb, 0, be, C, ct,
                                    ldc, 0, 1, compute, algo);
}
