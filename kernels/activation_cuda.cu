#include <algorithm>

#include "kernels/activation.h"
#include "kernels/cuda_check.h"

namespace relmimic::kernels {

namespace {
constexpr int kThreads = 256;  // element-wise and memory-bound

template <class T>
__device__ T act_f(Act a, T x, T slope) {
  switch (a) {
    case Act::ReLU:
      return x > T(0) ? x : T(0);
    case Act::LeakyReLU:
      return x > T(0) ? x : slope * x;
    case Act::Tanh:
      return tanh(x);
    case Act::Sigmoid:
      return T(1) / (T(1) + exp(-x));
    default:
      return x;
  }
}

// f'(x) from x (ReLU, LeakyReLU) or from y = f(x) (Tanh, Sigmoid), as the CPU reference does.
template <class T>
__device__ T act_df(Act a, T x, T y, T slope) {
  switch (a) {
    case Act::ReLU:
      return x > T(0) ? T(1) : T(0);
    case Act::LeakyReLU:
      return x > T(0) ? T(1) : slope;
    case Act::Tanh:
      return T(1) - y * y;
    case Act::Sigmoid:
      return y * (T(1) - y);
    default:
      return T(1);
  }
}

template <class T>
__global__ void forward_kernel(Act a, long n, const T* x, T* y, T slope) {
  for (long i = blockIdx.x * long(blockDim.x) + threadIdx.x; i < n;
       i += long(gridDim.x) * blockDim.x)
    y[i] = act_f(a, x[i], slope);
}

template <class T>
__global__ void backward_kernel(Act a, long n, const T* x, const T* y, const T* dy, T* dx,
                                T slope) {
  for (long i = blockIdx.x * long(blockDim.x) + threadIdx.x; i < n;
       i += long(gridDim.x) * blockDim.x)
    dx[i] = act_df(a, x ? x[i] : T(0), y ? y[i] : T(0), slope) * dy[i];
}

// dx += f''(x) t_x dt_y for Tanh (f'' = -2 y (1 - y^2)) and Sigmoid (f'' = y (1 - y) (1 - 2 y)).
template <class T>
__global__ void second_order_kernel(Act a, long n, const T* y, const T* t_x, const T* dt_y, T* dx) {
  for (long i = blockIdx.x * long(blockDim.x) + threadIdx.x; i < n;
       i += long(gridDim.x) * blockDim.x) {
    const T yi = y[i];
    const T d2 =
        a == Act::Tanh ? T(-2) * yi * (T(1) - yi * yi) : yi * (T(1) - yi) * (T(1) - T(2) * yi);
    dx[i] += d2 * t_x[i] * dt_y[i];
  }
}

unsigned blocks_for(long n) {
  return unsigned(std::min<long>((n + kThreads - 1) / kThreads, 65535L * 16));
}
}  // namespace

template <class T>
void activation_forward_cuda(Act a, long n, const T* x, T* y, T slope, Stream stream) {
  if (n <= 0) return;
  forward_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(a, n, x, y, slope);
  CUDA_CHECK_LAUNCH();
}

template <class T>
void activation_backward_cuda(Act a, long n, const T* x, const T* y, const T* dy, T* dx, T slope,
                              Stream stream) {
  if (n <= 0) return;
  backward_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(a, n, x, y, dy, dx, slope);
  CUDA_CHECK_LAUNCH();
}

template <class T>
void activation_second_order_cuda(Act a, long n, const T* x, const T* y, const T* t_x,
                                  const T* dt_y, T* dx, T slope, Stream stream) {
  RM_CHECK(n >= 0, "activation_second_order_cuda: negative size ", n);
  if (n == 0 || a == Act::Identity || a == Act::ReLU || a == Act::LeakyReLU)
    return;  // f'' = 0 almost everywhere
  RM_CHECK(a == Act::Tanh || a == Act::Sigmoid, "activation_second_order_cuda: unknown activation ",
           int(a));
  RM_CHECK(y && t_x && dt_y && dx, "activation_second_order_cuda(", act_name(a),
           "): null y, t_x, dt_y or dx");
  second_order_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(a, n, y, t_x, dt_y, dx);
  CUDA_CHECK_LAUNCH();
}

#define RELMIMIC_ACT_CUDA(T)                                                                       \
  template void activation_forward_cuda<T>(Act, long, const T*, T*, T, Stream);                    \
  template void activation_backward_cuda<T>(Act, long, const T*, const T*, const T*, T*, T,        \
                                            Stream);                                               \
  template void activation_second_order_cuda<T>(Act, long, const T*, const T*, const T*, const T*, \
                                                T*, T, Stream);
RELMIMIC_ACT_CUDA(float)
RELMIMIC_ACT_CUDA(double)

}  // namespace relmimic::kernels
