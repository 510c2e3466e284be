// LayerNorm on the GPU: one warp per row (the nets' rows are 128-512 wide), sums in double as
// the CPU reference takes them; dgamma/dbeta by deterministic column sums (column_sums.cuh).
//   xhat = (x - mean) * rstd, rstd = 1 / sqrt(var + eps) (biased variance), y = xhat gamma + beta
//   dx = rstd (g - mean(g) - xhat mean(g xhat)) with g = dy gamma
#include "kernels/column_sums.cuh"
#include "kernels/cuda_check.h"
#include "kernels/norm.h"

namespace relmimic::kernels {

namespace {

constexpr int kThreads = 256;  // 8 rows per block
constexpr int kRowsPerBlock = kThreads / 32;

__device__ double warp_sum(double v) {
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

template <class T>
__global__ void __launch_bounds__(kThreads)
    forward_kernel(int M, int D, const T* __restrict__ x, const T* __restrict__ gamma,
                   const T* __restrict__ beta, T eps, T* __restrict__ y, T* __restrict__ mean,
                   T* __restrict__ rstd) {
  const int row = blockIdx.x * kRowsPerBlock + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= M) return;  // whole warps leave together
  const T* xr = x + long(row) * D;
  T* yr = y + long(row) * D;
  // Two passes: the variance of nearly constant rows stays accurate.
  double s = 0;
  for (int i = lane; i < D; i += 32) s += double(xr[i]);
  const double mu = warp_sum(s) / D;
  double v = 0;
  for (int i = lane; i < D; i += 32) v += (double(xr[i]) - mu) * (double(xr[i]) - mu);
  const double r = 1.0 / sqrt(warp_sum(v) / D + double(eps));
  const T mu_t = T(mu), r_t = T(r);
  for (int i = lane; i < D; i += 32) yr[i] = (xr[i] - mu_t) * r_t * gamma[i] + beta[i];
  if (lane == 0) {
    mean[row] = mu_t;
    rstd[row] = r_t;
  }
}

// dx of one row per warp; each lane reads its dy elements before writing the same dx
// elements, so dx may alias dy.
template <class T>
__global__ void __launch_bounds__(kThreads)
    backward_dx_kernel(int M, int D, const T* __restrict__ x, const T* __restrict__ gamma,
                       const T* __restrict__ mean, const T* __restrict__ rstd, const T* dy, T* dx) {
  const int row = blockIdx.x * kRowsPerBlock + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= M) return;
  const T* xr = x + long(row) * D;
  const T* dyr = dy + long(row) * D;
  T* dxr = dx + long(row) * D;
  const T mu = mean[row], r = rstd[row];
  double sg = 0, sgx = 0;  // sum g, sum g xhat
  for (int i = lane; i < D; i += 32) {
    const double g = double(dyr[i]) * double(gamma[i]);
    sg += g;
    sgx += g * (double(xr[i]) - double(mu)) * double(r);
  }
  const T mg = T(warp_sum(sg) / D), mgx = T(warp_sum(sgx) / D);
  for (int i = lane; i < D; i += 32) {
    const T xhat = (xr[i] - mu) * r;
    dxr[i] = r * (dyr[i] * gamma[i] - mg - xhat * mgx);
  }
}

// (dy xhat, dy) at (m, i): summed over rows into dgamma, dbeta.
template <class T>
struct ParamGrads {
  const T *x, *mean, *rstd, *dy;
  int D;
  __device__ colsum::Pair operator()(int m, int i) const {
    const long k = long(m) * D + i;
    const T g = dy[k];
    return {double(g * (x[k] - mean[m]) * rstd[m]), double(g)};
  }
};

void check(int M, int D, const char* who) {
  RM_CHECK(M >= 1 && D >= 1, who, ": sizes must be positive (M=", M, " D=", D, ")");
}

unsigned blocks_for(int M) {
  return unsigned((M + kRowsPerBlock - 1) / kRowsPerBlock);
}

}  // namespace

template <class T>
void layernorm_forward_cuda(int M, int D, const T* x, const T* gamma, const T* beta, T eps, T* y,
                            T* mean, T* rstd, Stream stream) {
  check(M, D, "layernorm_forward_cuda");
  RM_CHECK(x && gamma && beta && y && mean && rstd,
           "layernorm_forward_cuda: null x, gamma, beta, y, mean or rstd");
  RM_CHECK(eps >= T(0), "layernorm_forward_cuda: negative eps ", eps);
  forward_kernel<T>
      <<<blocks_for(M), kThreads, 0, stream>>>(M, D, x, gamma, beta, eps, y, mean, rstd);
  CUDA_CHECK_LAUNCH();
}

template <class T>
void layernorm_backward_cuda(int M, int D, const T* x, const T* gamma, const T* mean, const T* rstd,
                             const T* dy, T* dx, T* dgamma, T* dbeta, Stream stream) {
  check(M, D, "layernorm_backward_cuda");
  RM_CHECK(x && gamma && mean && rstd && dy && dx && dgamma && dbeta,
           "layernorm_backward_cuda: null pointer argument");
  // Parameter gradients first: they read dy, which dx may overwrite (same stream, in order).
  colsum::column_sums<T>(M, D, ParamGrads<T>{x, mean, rstd, dy, D}, dgamma, dbeta, stream);
  backward_dx_kernel<T><<<blocks_for(M), kThreads, 0, stream>>>(M, D, x, gamma, mean, rstd, dy, dx);
  CUDA_CHECK_LAUNCH();
}

#define RELMIMIC_LAYERNORM_CUDA(T)                                                               \
  template void layernorm_forward_cuda<T>(int, int, const T*, const T*, const T*, T, T*, T*, T*, \
                                          Stream);                                               \
  template void layernorm_backward_cuda<T>(int, int, const T*, const T*, const T*, const T*,     \
                                           const T*, T*, T*, T*, Stream);
RELMIMIC_LAYERNORM_CUDA(float)
RELMIMIC_LAYERNORM_CUDA(double)

}  // namespace relmimic::kernels
