// Fully connected layer on the GPU: the three products through cuBLAS (gemm_cuda), the bias
// and its gradient by small kernels.
//   y[M,N] = x[M,K] w[N,K]^T + b,  dx[M,K] = dy[M,N] w[N,K],  dw[N,K] += dy^T x,  db += 1^T dy
#include <algorithm>

#include "kernels/column_sums.cuh"
#include "kernels/cuda_check.h"
#include "kernels/gemm.h"
#include "kernels/linear.h"

namespace relmimic::kernels {

namespace {

void check(int M, int N, int K, const char* who) {
  RM_CHECK(M >= 1 && N >= 1 && K >= 1, who, ": sizes must be positive (M=", M, " N=", N, " K=", K,
           ")");
}

// y[m, n] = b[n]: the GEMM then adds x w^T (beta = 1), as the CPU reference does.
template <class T>
__global__ void broadcast_rows_kernel(long total, int N, const T* __restrict__ b,
                                      T* __restrict__ y) {
  for (long i = blockIdx.x * long(blockDim.x) + threadIdx.x; i < total;
       i += long(gridDim.x) * blockDim.x)
    y[i] = b[i % N];
}

template <class T>
struct DyColumn {
  const T* dy;
  int N;
  __device__ colsum::Pair operator()(int m, int n) const {
    return {double(dy[long(m) * N + n]), 0.0};
  }
};

}  // namespace

template <class T>
void linear_forward_cuda(int M, int N, int K, const T* x, const T* w, const T* b, T* y,
                         CudaMath math, Stream stream) {
  check(M, N, K, "linear_forward_cuda");
  RM_CHECK(x && w && y, "linear_forward_cuda: null x, w or y");
  if (b) {
    const long total = long(M) * N;
    const unsigned blocks = unsigned(std::min<long>((total + 255) / 256, 65535L * 16));
    broadcast_rows_kernel<T><<<blocks, 256, 0, stream>>>(total, N, b, y);
    CUDA_CHECK_LAUNCH();
  }
  gemm_cuda<T>(false, true, M, N, K, T(1), x, K, w, K, b ? T(1) : T(0), y, N, math, stream);
}

template <class T>
void linear_backward_input_cuda(int M, int N, int K, const T* dy, const T* w, T* dx, CudaMath math,
                                Stream stream) {
  check(M, N, K, "linear_backward_input_cuda");
  RM_CHECK(dy && w && dx, "linear_backward_input_cuda: null dy, w or dx");
  gemm_cuda<T>(false, false, M, K, N, T(1), dy, N, w, K, T(0), dx, K, math, stream);
}

template <class T>
void linear_backward_weight_cuda(int M, int N, int K, const T* x, const T* dy, T* dw, T* db,
                                 CudaMath math, Stream stream) {
  check(M, N, K, "linear_backward_weight_cuda");
  RM_CHECK(x && dy && dw, "linear_backward_weight_cuda: null x, dy or dw");
  gemm_cuda<T>(true, false, N, K, M, T(1), dy, N, x, K, T(1), dw, K, math, stream);
  if (db) colsum::column_sums<T>(M, N, DyColumn<T>{dy, N}, db, nullptr, stream);
}

#define RELMIMIC_LINEAR_CUDA(T)                                                                   \
  template void linear_forward_cuda<T>(int, int, int, const T*, const T*, const T*, T*, CudaMath, \
                                       Stream);                                                   \
  template void linear_backward_input_cuda<T>(int, int, int, const T*, const T*, T*, CudaMath,    \
                                              Stream);                                            \
  template void linear_backward_weight_cuda<T>(int, int, int, const T*, const T*, T*, T*,         \
                                               CudaMath, Stream);
RELMIMIC_LINEAR_CUDA(float)
RELMIMIC_LINEAR_CUDA(double)

}  // namespace relmimic::kernels
