// MaxPool3D on the GPU: one thread per output (forward) and one per input element (backward, a
// gather over the outputs that can have chosen it), kernels/pool3d_elem.h. Memory-bound: each
// output reads its kc*kh*kw window (neighbouring threads share most of it through L1), writes
// a value and an index; backward reads the few candidate argmax/dy entries per input element.
// Deterministic and bit-identical to the CPU reference.
#include <algorithm>

#include "kernels/cuda_check.h"
#include "kernels/pool3d.h"
#include "kernels/pool3d_elem.h"

namespace relmimic::kernels {

namespace {

constexpr int kThreads = 256;

template <class T>
__global__ void forward_kernel(const __grid_constant__ pool::Geom g, int total,
                               const T* __restrict__ x, T* __restrict__ y,
                               int32_t* __restrict__ argmax) {
  for (long o = blockIdx.x * long(blockDim.x) + threadIdx.x; o < total;
       o += long(gridDim.x) * blockDim.x)
    pool::forward_at(g, int(o), x, y, argmax);
}

template <class T>
__global__ void backward_kernel(const __grid_constant__ pool::Geom g, int total,
                                const T* __restrict__ dy, const int32_t* __restrict__ argmax,
                                T* __restrict__ dx) {
  for (long i = blockIdx.x * long(blockDim.x) + threadIdx.x; i < total;
       i += long(gridDim.x) * blockDim.x)
    pool::backward_at(g, int(i), dy, argmax, dx);
}

unsigned blocks_for(long n) {
  return unsigned(std::min<long>((n + kThreads - 1) / kThreads, 65535L * 16));
}

// The CPU reference's checks, plus the 32-bit flat indices the kernels use.
void check_dims(const Pool3dDims& d, const char* who) {
  check_pool3d_dims(d, who);
  RM_CHECK(d.batch * d.in_size() <= INT32_MAX && d.batch * d.out_size() <= INT32_MAX, who,
           ": more than 2^31 elements (batch ", d.batch, " x ", d.in_size(), ")");
}

}  // namespace

template <class T>
void pool3d_forward_cuda(const Pool3dDims& d, const T* x, T* y, int32_t* argmax, Stream stream) {
  check_dims(d, "pool3d_forward_cuda");
  RM_CHECK(x && y && argmax, "pool3d_forward_cuda: null x, y or argmax");
  const int total = int(d.batch * d.out_size());
  forward_kernel<T><<<blocks_for(total), kThreads, 0, stream>>>(pool::Geom(d), total, x, y, argmax);
  CUDA_CHECK_LAUNCH();
}

template <class T>
void pool3d_backward_cuda(const Pool3dDims& d, const T* dy, const int32_t* argmax, T* dx,
                          Stream stream) {
  check_dims(d, "pool3d_backward_cuda");
  RM_CHECK(dy && argmax && dx, "pool3d_backward_cuda: null dy, argmax or dx");
  const int total = int(d.batch * d.in_size());
  backward_kernel<T>
      <<<blocks_for(total), kThreads, 0, stream>>>(pool::Geom(d), total, dy, argmax, dx);
  CUDA_CHECK_LAUNCH();
}

#define RELMIMIC_POOL3D_CUDA(T)                                                            \
  template void pool3d_forward_cuda<T>(const Pool3dDims&, const T*, T*, int32_t*, Stream); \
  template void pool3d_backward_cuda<T>(const Pool3dDims&, const T*, const int32_t*, T*, Stream);
RELMIMIC_POOL3D_CUDA(float)
RELMIMIC_POOL3D_CUDA(double)

}  // namespace relmimic::kernels
