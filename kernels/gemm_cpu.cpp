#include <cblas.h>

#include <algorithm>

#include "kernels/common.h"
#include "kernels/gemm.h"
#include "kernels/parallel_cpu.h"

namespace relmimic::kernels {

namespace {

// Blocks are multiples of this many rows/columns so every thread keeps full SIMD panels.
constexpr int kBlockAlign = 16;

void blas(bool ta, bool tb, int M, int N, int K, float alpha, const float* A, int lda,
          const float* B, int ldb, float beta, float* C, int ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
              K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void blas(bool ta, bool tb, int M, int N, int K, double alpha, const double* A, int lda,
          const double* B, int ldb, double beta, double* C, int ldc) {
  cblas_dgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
              K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace

// OpenBLAS's own pthread pool would fight OpenMP for the cores (and it serialises concurrent
// multi-threaded calls), so it stays on one thread; re-checked before every parallel region in
// case other code changed it.
void pin_blas_to_one_thread() {
  if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
}

template <class T>
void gemm_cpu(bool trans_a, bool trans_b, int M, int N, int K, T alpha, const T* A, int lda,
              const T* B, int ldb, T beta, T* C, int ldc) {
  RM_CHECK(M >= 0 && N >= 0 && K >= 0, "gemm_cpu: negative size M=", M, " N=", N, " K=", K);
  if (M == 0 || N == 0) return;
  const int threads = cpu_threads(double(M) * N * std::max(K, 1));
  if (threads == 1) {
    blas(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  // Split the longer side of C into one block per thread; blocks are independent.
  const bool split_rows = M >= N;
  const int len = split_rows ? M : N;
  int block = (len + threads - 1) / threads;
  block = (block + kBlockAlign - 1) / kBlockAlign * kBlockAlign;
  const int nblocks = (len + block - 1) / block;
#pragma omp parallel for num_threads(threads) schedule(static, 1)
  for (int i = 0; i < nblocks; ++i) {
    const int lo = i * block, n = std::min(block, len - lo);
    if (split_rows) {
      // Rows lo.. of op(A): A rows when not transposed, A columns when transposed.
      const T* a = trans_a ? A + lo : A + long(lo) * lda;
      blas(trans_a, trans_b, n, N, K, alpha, a, lda, B, ldb, beta, C + long(lo) * ldc, ldc);
    } else {
      // Columns lo.. of op(B): B columns when not transposed, B rows when transposed.
      const T* b = trans_b ? B + long(lo) * ldb : B + lo;
      blas(trans_a, trans_b, M, n, K, alpha, A, lda, b, ldb, beta, C + lo, ldc);
    }
  }
}

template void gemm_cpu<float>(bool, bool, int, int, int, float, const float*, int, const float*,
                              int, float, float*, int);
template void gemm_cpu<double>(bool, bool, int, int, int, double, const double*, int, const double*,
                               int, double, double*, int);

}  // namespace relmimic::kernels
