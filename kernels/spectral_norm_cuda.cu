// Spectral normalisation on the device (kernels/spectral_norm.h). The power iteration is one
// block: W^T u with one thread per column (rows summed in order, as the CPU version does), then
// W v with one warp per row; the norms are block reductions in double. sigma stays on the device.
#include <algorithm>
#include <cmath>

#include "kernels/reduce_cuda.cuh"
#include "kernels/spectral_norm.h"

namespace relmimic::kernels {

namespace {
using namespace cuda_reduce;

void check_shape(int rows, int cols, const char* who) {
  RM_CHECK(rows > 0 && cols > 0, who, ": bad matrix shape [", rows, ", ", cols, "]");
}

unsigned blocks_for(long n) {
  return unsigned(std::clamp((n + kThreads - 1) / kThreads, 1L, 65535L * 16));
}

template <class T>
__global__ void __launch_bounds__(kThreads)
    power_iteration_kernel(int rows, int cols, const T* __restrict__ w, T* u, T* v, bool training,
                           double* __restrict__ sigma) {
  // v = W^T u / max(|W^T u|, eps)
  double n2 = 0;
  for (int c = threadIdx.x; c < cols; c += kThreads) {
    double acc = 0;
    for (int r = 0; r < rows; ++r) acc += double(w[long(r) * cols + c]) * double(u[r]);
    v[c] = T(acc);
    n2 += acc * acc;
  }
  const double nv = sqrt(block_reduce(n2, Add{}));
  const double sv = 1.0 / fmax(nv, kSpectralNormEps);
  for (int c = threadIdx.x; c < cols; c += kThreads) v[c] = T(double(v[c]) * sv);
  if (!training) {
    if (threadIdx.x == 0) *sigma = nv;
    return;
  }
  __syncthreads();  // every v[c] written (block-wide visibility of global stores)

  // u = W v / max(|W v|, eps), sigma = |W v|
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  double nu2 = 0;
  for (int r = warp; r < rows; r += kWarps) {
    const T* wr = w + long(r) * cols;
    double s = 0;
    for (int c = lane; c < cols; c += 32) s += double(wr[c]) * double(v[c]);
    s = warp_reduce(s, Add{});
    if (lane == 0) {
      u[r] = T(s);
      nu2 += s * s;
    }
  }
  const double nu = sqrt(block_reduce(nu2, Add{}));  // its barriers also publish u
  const double su = 1.0 / fmax(nu, kSpectralNormEps);
  for (int r = threadIdx.x; r < rows; r += kThreads) u[r] = T(double(u[r]) * su);
  if (threadIdx.x == 0) *sigma = nu;
}

template <class T>
__global__ void apply_kernel(long n, const T* __restrict__ w, const double* __restrict__ sigma,
                             T* __restrict__ w_sn) {
  const double inv = 1.0 / *sigma;
  for (long i = blockIdx.x * long(blockDim.x) + threadIdx.x; i < n;
       i += long(gridDim.x) * blockDim.x)
    w_sn[i] = T(double(w[i]) * inv);
}

// dw += (dw_sn - dot u v^T) / sigma, dot = <dw_sn, w_sn> from dot_to_device.
template <class T>
__global__ void backward_kernel(int rows, int cols, const T* __restrict__ dw_sn,
                                const T* __restrict__ u, const T* __restrict__ v,
                                const double* __restrict__ sigma, const double* __restrict__ dot,
                                T* __restrict__ dw) {
  const double inv = 1.0 / *sigma, d = *dot;
  const long n = long(rows) * cols;
  for (long i = blockIdx.x * long(blockDim.x) + threadIdx.x; i < n;
       i += long(gridDim.x) * blockDim.x) {
    const double ur = d * double(u[i / cols]);
    dw[i] += T((double(dw_sn[i]) - ur * double(v[i % cols])) * inv);
  }
}
}  // namespace

template <class T>
void spectral_norm_power_iteration_cuda(int rows, int cols, const T* w, T* u, T* v, bool training,
                                        double* sigma, Stream stream) {
  check_shape(rows, cols, "spectral_norm_power_iteration_cuda");
  RM_CHECK(w && u && v && sigma, "spectral_norm_power_iteration_cuda: null argument");
  power_iteration_kernel<T><<<1, kThreads, 0, stream>>>(rows, cols, w, u, v, training, sigma);
  CUDA_CHECK_LAUNCH();
}

template <class T>
void spectral_norm_apply_cuda(long n, const T* w, const double* sigma, T* w_sn, Stream stream) {
  RM_CHECK(n >= 0 && (n == 0 || (w && sigma && w_sn)), "spectral_norm_apply_cuda: bad arguments");
  if (n == 0) return;
  apply_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(n, w, sigma, w_sn);
  CUDA_CHECK_LAUNCH();
}

template <class T>
void spectral_norm_backward_cuda(int rows, int cols, const T* dw_sn, const T* w_sn, const T* u,
                                 const T* v, const double* sigma, T* dw, Stream stream) {
  check_shape(rows, cols, "spectral_norm_backward_cuda");
  RM_CHECK(dw_sn && w_sn && u && v && sigma && dw, "spectral_norm_backward_cuda: null argument");
  const long n = long(rows) * cols;
  double* dot = scratch(stream) + kSpectralSlot;
  dot_to_device(n, dw_sn, w_sn, dot, stream);
  backward_kernel<T>
      <<<blocks_for(n), kThreads, 0, stream>>>(rows, cols, dw_sn, u, v, sigma, dot, dw);
  CUDA_CHECK_LAUNCH();
}

#define RELMIMIC_SPECTRAL_NORM_CUDA(T)                                                           \
  template void spectral_norm_power_iteration_cuda<T>(int, int, const T*, T*, T*, bool, double*, \
                                                      Stream);                                   \
  template void spectral_norm_apply_cuda<T>(long, const T*, const double*, T*, Stream);          \
  template void spectral_norm_backward_cuda<T>(int, int, const T*, const T*, const T*, const T*, \
                                               const double*, T*, Stream);
RELMIMIC_SPECTRAL_NORM_CUDA(float)
RELMIMIC_SPECTRAL_NORM_CUDA(double)
#undef RELMIMIC_SPECTRAL_NORM_CUDA

}  // namespace relmimic::kernels
