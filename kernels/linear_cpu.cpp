// Fully connected layer on the CPU: three GEMMs (gemm_cpu spreads large ones over threads).
//   y[M,N] = x[M,K] w[N,K]^T + b,  dx[M,K] = dy[M,N] w[N,K],  dw[N,K] += dy^T x,  db += 1^T dy
#include "kernels/common.h"
#include "kernels/gemm.h"
#include "kernels/linear.h"

namespace relmimic::kernels {

namespace {
void check(int M, int N, int K, const char* who) {
  RM_CHECK(M >= 1 && N >= 1 && K >= 1, who, ": sizes must be positive (M=", M, " N=", N, " K=", K,
           ")");
}
}  // namespace

template <class T>
void linear_forward_cpu(int M, int N, int K, const T* x, const T* w, const T* b, T* y) {
  check(M, N, K, "linear_forward_cpu");
  RM_CHECK(x && w && y, "linear_forward_cpu: null x, w or y");
  if (b) {
    // Start from the bias and let the GEMM add x w^T (beta = 1).
    for (int m = 0; m < M; ++m) {
      T* row = y + long(m) * N;
      for (int n = 0; n < N; ++n) row[n] = b[n];
    }
  }
  gemm_cpu<T>(false, true, M, N, K, T(1), x, K, w, K, b ? T(1) : T(0), y, N);
}

template <class T>
void linear_backward_input_cpu(int M, int N, int K, const T* dy, const T* w, T* dx) {
  check(M, N, K, "linear_backward_input_cpu");
  RM_CHECK(dy && w && dx, "linear_backward_input_cpu: null dy, w or dx");
  gemm_cpu<T>(false, false, M, K, N, T(1), dy, N, w, K, T(0), dx, K);
}

template <class T>
void linear_backward_weight_cpu(int M, int N, int K, const T* x, const T* dy, T* dw, T* db) {
  check(M, N, K, "linear_backward_weight_cpu");
  RM_CHECK(x && dy && dw, "linear_backward_weight_cpu: null x, dy or dw");
  gemm_cpu<T>(true, false, N, K, M, T(1), dy, N, x, K, T(1), dw, K);
  if (db) {
    for (int m = 0; m < M; ++m) {
      const T* row = dy + long(m) * N;
#pragma omp simd
      for (int n = 0; n < N; ++n) db[n] += row[n];
    }
  }
}

template void linear_forward_cpu<float>(int, int, int, const float*, const float*, const float*,
                                        float*);
template void linear_forward_cpu<double>(int, int, int, const double*, const double*, const double*,
                                         double*);
template void linear_backward_input_cpu<float>(int, int, int, const float*, const float*, float*);
template void linear_backward_input_cpu<double>(int, int, int, const double*, const double*,
                                                double*);
template void linear_backward_weight_cpu<float>(int, int, int, const float*, const float*, float*,
                                                float*);
template void linear_backward_weight_cpu<double>(int, int, int, const double*, const double*,
                                                 double*, double*);

}  // namespace relmimic::kernels
