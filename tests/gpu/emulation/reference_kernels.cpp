// Host emulation only (run_networks.sh): the CUDA entry points that the emulation cannot compile
// (the wmma conv, the header-launched column sums of linear and LayerNorm, the pool's
// __grid_constant__ kernels), served by the CPU references on emulated device memory, which is
// host memory. Their own parity is checked elsewhere (CudaConvIndex.*, CudaPoolIndex.*, and on a
// GPU); here they let whole networks run through the engine's device paths.
#include "kernels/conv2d.h"
#include "kernels/linear.h"
#include "kernels/norm.h"
#include "kernels/pool3d.h"

namespace relmimic::kernels {

void conv2d_forward_cuda(const Conv2dDims& d, const float* x, const float* w, const float* b,
                         float* y, CudaMath, Stream) {
  conv2d_forward_cpu(d, x, w, b, y);
}
void conv2d_backward_input_cuda(const Conv2dDims& d, const float* dy, const float* w, float* dx,
                                CudaMath, Stream) {
  conv2d_backward_input_cpu(d, dy, w, dx);
}
void conv2d_backward_weight_cuda(const Conv2dDims& d, const float* x, const float* dy, float* dw,
                                 float* db, CudaMath, Stream) {
  conv2d_backward_weight_cpu(d, x, dy, dw, db);
}

template <class T>
void linear_forward_cuda(int M, int N, int K, const T* x, const T* w, const T* b, T* y, CudaMath,
                         Stream) {
  linear_forward_cpu(M, N, K, x, w, b, y);
}
template <class T>
void linear_backward_input_cuda(int M, int N, int K, const T* dy, const T* w, T* dx, CudaMath,
                                Stream) {
  linear_backward_input_cpu(M, N, K, dy, w, dx);
}
template <class T>
void linear_backward_weight_cuda(int M, int N, int K, const T* x, const T* dy, T* dw, T* db,
                                 CudaMath, Stream) {
  linear_backward_weight_cpu(M, N, K, x, dy, dw, db);
}
template <class T>
void layernorm_forward_cuda(int M, int D, const T* x, const T* g, const T* b, T eps, T* y, T* mean,
                            T* rstd, Stream) {
  layernorm_forward_cpu(M, D, x, g, b, eps, y, mean, rstd);
}
template <class T>
void layernorm_backward_cuda(int M, int D, const T* x, const T* g, const T* mean, const T* rstd,
                             const T* dy, T* dx, T* dg, T* db, Stream) {
  layernorm_backward_cpu(M, D, x, g, mean, rstd, dy, dx, dg, db);
}
template <class T>
void pool3d_forward_cuda(const Pool3dDims& d, const T* x, T* y, int32_t* argmax, Stream) {
  pool3d_forward_cpu(d, x, y, argmax);
}
template <class T>
void pool3d_backward_cuda(const Pool3dDims& d, const T* dy, const int32_t* argmax, T* dx, Stream) {
  pool3d_backward_cpu(d, dy, argmax, dx);
}

#define RM_INSTANTIATE(T)                                                                         \
  template void linear_forward_cuda<T>(int, int, int, const T*, const T*, const T*, T*, CudaMath, \
                                       Stream);                                                   \
  template void linear_backward_input_cuda<T>(int, int, int, const T*, const T*, T*, CudaMath,    \
                                              Stream);                                            \
  template void linear_backward_weight_cuda<T>(int, int, int, const T*, const T*, T*, T*,         \
                                               CudaMath, Stream);                                 \
  template void layernorm_forward_cuda<T>(int, int, const T*, const T*, const T*, T, T*, T*, T*,  \
                                          Stream);                                                \
  template void layernorm_backward_cuda<T>(int, int, const T*, const T*, const T*, const T*,      \
                                           const T*, T*, T*, T*, Stream);                         \
  template void pool3d_forward_cuda<T>(const Pool3dDims&, const T*, T*, int32_t*, Stream);        \
  template void pool3d_backward_cuda<T>(const Pool3dDims&, const T*, const int32_t*, T*, Stream);
RM_INSTANTIATE(float)
RM_INSTANTIATE(double)
#undef RM_INSTANTIATE

}  // namespace relmimic::kernels
