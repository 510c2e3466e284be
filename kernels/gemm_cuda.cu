// Row-major GEMM on the GPU through cuBLAS, which is column-major: a row-major C [M, N] is a
// column-major C^T [N, M], and C^T = op(B)^T op(A)^T, so cuBLAS gets (B, A) swapped with the
// same transpose flags and m = N, n = M.
#include <algorithm>

#include "kernels/cuda_check.h"
#include "kernels/cuda_context.h"
#include "kernels/gemm.h"

namespace relmimic::kernels {

namespace {

template <class T>
struct CublasTypes;
template <>
struct CublasTypes<float> {
  static constexpr cudaDataType_t data = CUDA_R_32F;
  static cublasComputeType_t compute(CudaMath m) {
    return m == CudaMath::TF32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  }
};
template <>
struct CublasTypes<double> {
  static constexpr cudaDataType_t data = CUDA_R_64F;
  static cublasComputeType_t compute(CudaMath m) {
    RM_CHECK(m == CudaMath::FP32, "gemm_cuda: TF32 math applies to float only, not double");
    return CUBLAS_COMPUTE_64F;
  }
};

}  // namespace

template <class T>
void gemm_cuda(bool trans_a, bool trans_b, int M, int N, int K, T alpha, const T* A, int lda,
               const T* B, int ldb, T beta, T* C, int ldc, CudaMath math, Stream stream) {
  RM_CHECK(M >= 0 && N >= 0 && K >= 0, "gemm_cuda: negative size M=", M, " N=", N, " K=", K);
  if (M == 0 || N == 0) return;
  // Row-major leading dimensions: the stored rows' lengths.
  RM_CHECK(lda >= std::max(1, trans_a ? M : K) && ldb >= std::max(1, trans_b ? K : N) &&
               ldc >= std::max(1, N),
           "gemm_cuda: leading dimension too small (lda=", lda, " ldb=", ldb, " ldc=", ldc,
           " for M=", M, " N=", N, " K=", K, ")");
  RM_CHECK(A && B && C, "gemm_cuda: null operand");
  using Ty = CublasTypes<T>;
  const cublasComputeType_t compute = Ty::compute(math);
  CUBLAS_CHECK(cublasGemmEx(cublas_handle(stream), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                            trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, N, M, K, &alpha, B, Ty::data, ldb,
                            A, Ty::data, lda, &beta, C, Ty::data, ldc, compute,
                            CUBLAS_GEMM_DEFAULT));
}

template void gemm_cuda<float>(bool, bool, int, int, int, float, const float*, int, const float*,
                               int, float, float*, int, CudaMath, Stream);
template void gemm_cuda<double>(bool, bool, int, int, int, double, const double*, int,
                                const double*, int, double, double*, int, CudaMath, Stream);

}  // namespace relmimic::kernels
