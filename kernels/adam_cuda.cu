#include <cmath>

#include "kernels/adam.h"
#include "kernels/cuda_check.h"

namespace relmimic::kernels {

namespace {
constexpr int kThreads = 256;  // memory-bound: any multiple of a warp saturates bandwidth

// The CPU's formulation (adam_cpu.cpp): scalars folded in double, so both backends round alike.
template <class T>
__global__ void adam_kernel(long n, T* __restrict__ param, const T* __restrict__ grad,
                            T* __restrict__ m, T* __restrict__ v, T b1, T a1, T b2, T a2, T step,
                            T inv_sqrt_bc2, T eps, T decay) {
  for (long i = blockIdx.x * long(blockDim.x) + threadIdx.x; i < n;
       i += long(gridDim.x) * blockDim.x) {
    const T g = grad[i];
    const T mi = b1 * m[i] + a1 * g;
    const T vi = b2 * v[i] + a2 * g * g;
    m[i] = mi;
    v[i] = vi;
    param[i] = param[i] * decay - step * mi / (sqrt(vi) * inv_sqrt_bc2 + eps);
  }
}
}  // namespace

template <class T>
void adam_step_cuda(long n, T* param, const T* grad, T* m, T* v, const AdamParams& p,
                    Stream stream) {
  if (n <= 0) return;
  const double bc1 = 1.0 - std::pow(p.beta1, double(p.step));
  const double bc2 = 1.0 - std::pow(p.beta2, double(p.step));
  const long blocks = std::min<long>((n + kThreads - 1) / kThreads, 65535L * 16);
  adam_kernel<T><<<unsigned(blocks), kThreads, 0, stream>>>(
      n, param, grad, m, v, T(p.beta1), T(1.0 - p.beta1), T(p.beta2), T(1.0 - p.beta2),
      T(p.lr / bc1), T(1.0 / std::sqrt(bc2)), T(p.eps), T(1.0 - p.lr * p.weight_decay));
  CUDA_CHECK_LAUNCH();
}

template void adam_step_cuda<float>(long, float*, const float*, float*, float*, const AdamParams&,
                                    Stream);
template void adam_step_cuda<double>(long, double*, const double*, double*, double*,
                                     const AdamParams&, Stream);

}  // namespace relmimic::kernels
