#include <cmath>

#include "kernels/adam.h"
#include "kernels/cuda_check.h"

namespace relmimic::kernels {

namespace {
constexpr int kThreads = 256;  // memory-bound: any multiple of a warp saturates bandwidth

template <class T>
__global__ void adam_kernel(long n, T* __restrict__ param, const T* __restrict__ grad,
                            T* __restrict__ m, T* __restrict__ v, T lr, T b1, T b2, T eps, T wd,
                            T bc1, T bc2) {
  for (long i = blockIdx.x * long(blockDim.x) + threadIdx.x; i < n;
       i += long(gridDim.x) * blockDim.x) {
    const T g = grad[i];
    const T mi = b1 * m[i] + (T(1) - b1) * g;
    const T vi = b2 * v[i] + (T(1) - b2) * g * g;
    m[i] = mi;
    v[i] = vi;
    const T mhat = mi / bc1, vhat = vi / bc2;
    param[i] -= lr * (mhat / (sqrt(vhat) + eps) + wd * param[i]);
  }
}
}  // namespace

template <class T>
void adam_step_cuda(long n, T* param, const T* grad, T* m, T* v, const AdamParams& p) {
  if (n <= 0) return;
  const T bc1 = T(1 - std::pow(p.beta1, double(p.step)));
  const T bc2 = T(1 - std::pow(p.beta2, double(p.step)));
  const long blocks = std::min<long>((n + kThreads - 1) / kThreads, 65535L * 16);
  adam_kernel<T><<<unsigned(blocks), kThreads>>>(n, param, grad, m, v, T(p.lr), T(p.beta1),
                                                 T(p.beta2), T(p.eps), T(p.weight_decay), bc1, bc2);
  CUDA_CHECK_LAUNCH();
}

template void adam_step_cuda<float>(long, float*, const float*, float*, float*, const AdamParams&);
template void adam_step_cuda<double>(long, double*, const double*, double*, double*,
                                     const AdamParams&);

}  // namespace relmimic::kernels
