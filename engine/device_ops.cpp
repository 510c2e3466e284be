#include "engine/device_ops.h"

#include <cstring>
#include <type_traits>

#include "engine/cuda_branch.h"
#include "kernels/device.h"
#include "kernels/image.h"
#include "kernels/linear.h"
#include "kernels/norm.h"
#include "kernels/reduce.h"
#include "kernels/spectral_norm.h"

namespace relmimic::ops {

void check_device(Device dev, std::string_view who) {
  if (dev.is_cpu()) return;
#ifndef RELMIMIC_WITH_CUDA
  RM_FAIL(who, ": cannot build on ", dev.str(),
          ": relmimic was built without the CUDA backend (configure with RELMIMIC_CUDA=ON)");
#else
  const int n = kernels::cuda_device_count();
  RM_CHECK(dev.index >= 0 && dev.index < n, who, ": cannot build on ", dev.str(), ": ",
           n == 0 ? "this machine has no usable CUDA device"
                  : "no such CUDA device (this machine has " + std::to_string(n) + ")",
           " (", kernels::cuda_device_description(dev.index), ")");
#endif
}

void check_on(const Tensor& t, Device dev, std::string_view who, const char* what) {
  RM_CHECK(t.device() == dev, who, ": ", what, " is on ", t.device().str(),
           " but this layer runs on ", dev.str(), " (copy it there first)");
}

template <class T>
void activation_forward(Device dev, kernels::Act a, long n, const T* x, T* y, T slope) {
  if (dev.is_cpu()) return kernels::activation_forward_cpu(a, n, x, y, slope);
  RM_CUDA("activation_forward", kernels::activation_forward_cuda(a, n, x, y, slope));
}

template <class T>
void activation_backward(Device dev, kernels::Act a, long n, const T* x, const T* y, const T* dy,
                         T* dx, T slope) {
  if (dev.is_cpu()) return kernels::activation_backward_cpu(a, n, x, y, dy, dx, slope);
  RM_CUDA("activation_backward", kernels::activation_backward_cuda(a, n, x, y, dy, dx, slope));
}

template <class T>
void activation_second_order(Device dev, kernels::Act a, long n, const T* x, const T* y,
                             const T* t_x, const T* dt_y, T* dx, T slope) {
  if (dev.is_cpu()) return kernels::activation_second_order_cpu(a, n, x, y, t_x, dt_y, dx, slope);
  RM_CUDA("activation_second_order",
          kernels::activation_second_order_cuda(a, n, x, y, t_x, dt_y, dx, slope));
}

template <class T>
bool conv2d_supported(Device dev) {
  return dev.is_cpu() || std::is_same_v<T, float>;
}

namespace {
template <class T>
void require_float_conv(const char* what) {
  if constexpr (!std::is_same_v<T, float>)
    RM_FAIL(what, ": the CUDA conv kernels take float only, got ", dtype_name(dtype_of<T>()));
}
}  // namespace

template <class T>
void conv2d_forward(Device dev, const kernels::Conv2dDims& d, const T* x, const T* w, const T* b,
                    T* y) {
  if (dev.is_cpu()) return kernels::conv2d_forward_cpu(d, x, w, b, y);
  if constexpr (std::is_same_v<T, float>)
    RM_CUDA("conv2d_forward", kernels::conv2d_forward_cuda(d, x, w, b, y));
  else
    require_float_conv<T>("conv2d_forward");
}

template <class T>
void conv2d_backward_input(Device dev, const kernels::Conv2dDims& d, const T* dy, const T* w,
                           T* dx) {
  if (dev.is_cpu()) return kernels::conv2d_backward_input_cpu(d, dy, w, dx);
  if constexpr (std::is_same_v<T, float>)
    RM_CUDA("conv2d_backward_input", kernels::conv2d_backward_input_cuda(d, dy, w, dx));
  else
    require_float_conv<T>("conv2d_backward_input");
}

template <class T>
void conv2d_backward_weight(Device dev, const kernels::Conv2dDims& d, const T* x, const T* dy,
                            T* dw, T* db) {
  if (dev.is_cpu()) return kernels::conv2d_backward_weight_cpu(d, x, dy, dw, db);
  if constexpr (std::is_same_v<T, float>)
    RM_CUDA("conv2d_backward_weight", kernels::conv2d_backward_weight_cuda(d, x, dy, dw, db));
  else
    require_float_conv<T>("conv2d_backward_weight");
}

template <class T>
void linear_forward(Device dev, int M, int N, int K, const T* x, const T* w, const T* b, T* y) {
  if (dev.is_cpu()) return kernels::linear_forward_cpu(M, N, K, x, w, b, y);
  RM_CUDA("linear_forward", kernels::linear_forward_cuda(M, N, K, x, w, b, y));
}

template <class T>
void linear_backward_input(Device dev, int M, int N, int K, const T* dy, const T* w, T* dx) {
  if (dev.is_cpu()) return kernels::linear_backward_input_cpu(M, N, K, dy, w, dx);
  RM_CUDA("linear_backward_input", kernels::linear_backward_input_cuda(M, N, K, dy, w, dx));
}

template <class T>
void linear_backward_weight(Device dev, int M, int N, int K, const T* x, const T* dy, T* dw,
                            T* db) {
  if (dev.is_cpu()) return kernels::linear_backward_weight_cpu(M, N, K, x, dy, dw, db);
  RM_CUDA("linear_backward_weight", kernels::linear_backward_weight_cuda(M, N, K, x, dy, dw, db));
}

template <class T>
void layernorm_forward(Device dev, int M, int D, const T* x, const T* gamma, const T* beta, T eps,
                       T* y, T* mean, T* rstd) {
  if (dev.is_cpu()) return kernels::layernorm_forward_cpu(M, D, x, gamma, beta, eps, y, mean, rstd);
  RM_CUDA("layernorm_forward",
          kernels::layernorm_forward_cuda(M, D, x, gamma, beta, eps, y, mean, rstd));
}

template <class T>
void layernorm_backward(Device dev, int M, int D, const T* x, const T* gamma, const T* mean,
                        const T* rstd, const T* dy, T* dx, T* dgamma, T* dbeta) {
  if (dev.is_cpu())
    return kernels::layernorm_backward_cpu(M, D, x, gamma, mean, rstd, dy, dx, dgamma, dbeta);
  RM_CUDA("layernorm_backward",
          kernels::layernorm_backward_cuda(M, D, x, gamma, mean, rstd, dy, dx, dgamma, dbeta));
}

template <class T>
void pool3d_forward(Device dev, const kernels::Pool3dDims& d, const T* x, T* y, int32_t* argmax) {
  if (dev.is_cpu()) return kernels::pool3d_forward_cpu(d, x, y, argmax);
  RM_CUDA("pool3d_forward", kernels::pool3d_forward_cuda(d, x, y, argmax));
}

template <class T>
void pool3d_backward(Device dev, const kernels::Pool3dDims& d, const T* dy, const int32_t* argmax,
                     T* dx) {
  if (dev.is_cpu()) return kernels::pool3d_backward_cpu(d, dy, argmax, dx);
  RM_CUDA("pool3d_backward", kernels::pool3d_backward_cuda(d, dy, argmax, dx));
}

template <class T>
void standardize(Device dev, long n, const uint8_t* x, T* y, T scale) {
  if (dev.is_cuda()) {
    RM_CUDA("standardize", kernels::standardize_cuda(n, x, y, scale));
    return;
  }
#pragma omp parallel for simd if (n > 65536)
  for (long i = 0; i < n; ++i) y[i] = T(x[i]) * scale;
}

template <class T>
void attention_forward(Device dev, kernels::AttentionPath path, const kernels::AttentionDims& d,
                       const T* theta, const T* phi, const T* g, T* y, T* lse, T* attn) {
  if (dev.is_cpu()) return kernels::attention_forward_cpu(d, theta, phi, g, y, attn);
  RM_CUDA("attention_forward",
          kernels::attention_forward_cuda(path, d, theta, phi, g, y, lse, attn));
}

template <class T>
void attention_backward(Device dev, kernels::AttentionPath path, const kernels::AttentionDims& d,
                        const T* theta, const T* phi, const T* g, const T* y, const T* lse,
                        const T* attn, const T* dy, T* dtheta, T* dphi, T* dg, T* work) {
  if (dev.is_cpu())
    return kernels::attention_backward_cpu(d, theta, phi, g, attn, dy, dtheta, dphi, dg);
  RM_CUDA("attention_backward", kernels::attention_backward_cuda(path, d, theta, phi, g, y, lse,
                                                                 attn, dy, dtheta, dphi, dg, work));
}

template <class T>
void attention_probs(Device dev, kernels::AttentionPath path, const kernels::AttentionDims& d,
                     const T* theta, const T* phi, const T* lse, T* attn) {
  if (dev.is_cpu() || path == kernels::AttentionPath::Unfused) return;
  RM_CUDA("attention_probs", kernels::attention_probs_cuda(d, theta, phi, lse, attn));
}

template <class T>
void attention_jvp(Device dev, const kernels::AttentionDims& d, const T* theta, const T* phi,
                   const T* g, const T* attn, const T* t_theta, const T* t_phi, const T* t_g,
                   T* t_y, T* s_dot, T* work) {
  if (dev.is_cpu())
    return kernels::attention_jvp_cpu(d, theta, phi, g, attn, t_theta, t_phi, t_g, t_y, s_dot);
  RM_CUDA("attention_jvp", kernels::attention_jvp_cuda(d, theta, phi, g, attn, t_theta, t_phi, t_g,
                                                       t_y, s_dot, work));
}

template <class T>
void attention_backward_jvp(Device dev, const kernels::AttentionDims& d, const T* theta,
                            const T* phi, const T* g, const T* attn, const T* t_theta,
                            const T* t_phi, const T* t_g, const T* s_dot, const T* dy,
                            const T* dt_y, T* dtheta, T* dphi, T* dg, T* dt_theta, T* dt_phi,
                            T* dt_g, T* work) {
  if (dev.is_cpu())
    return kernels::attention_backward_jvp_cpu(d, theta, phi, g, attn, t_theta, t_phi, t_g, s_dot,
                                               dy, dt_y, dtheta, dphi, dg, dt_theta, dt_phi, dt_g);
  RM_CUDA("attention_backward_jvp", kernels::attention_backward_jvp_cuda(
                                        d, theta, phi, g, attn, t_theta, t_phi, t_g, s_dot, dy,
                                        dt_y, dtheta, dphi, dg, dt_theta, dt_phi, dt_g, work));
}

template <class T>
void spectral_norm_normalize_cuda(int rows, int cols, const T* w, T* u, T* v, bool training,
                                  double* sigma, T* w_sn) {
  RM_CUDA("spectral_norm_power_iteration",
          kernels::spectral_norm_power_iteration_cuda(rows, cols, w, u, v, training, sigma));
  RM_CUDA("spectral_norm_apply",
          kernels::spectral_norm_apply_cuda(long(rows) * cols, w, sigma, w_sn));
}

template <class T>
void spectral_norm_backward_cuda(int rows, int cols, const T* dw_sn, const T* w_sn, const T* u,
                                 const T* v, const double* sigma, T* dw) {
  RM_CUDA("spectral_norm_backward",
          kernels::spectral_norm_backward_cuda(rows, cols, dw_sn, w_sn, u, v, sigma, dw));
}

template <class T>
void copy(Device dev, long n, const T* src, T* dst) {
  if (n <= 0 || src == dst) return;
  if (dev.is_cpu()) {
    std::memcpy(dst, src, size_t(n) * sizeof(T));
    return;
  }
  kernels::cuda_memcpy(dst, src, size_t(n) * sizeof(T), kernels::CopyKind::DeviceToDevice);
}

template <class T>
void axpy(Device dev, long n, T a, const T* x, T* y) {
  if (dev.is_cpu()) return kernels::axpy_cpu(n, a, x, y);
  RM_CUDA("axpy", kernels::axpy_cuda(n, a, x, y));
}

template <class T>
void add(Device dev, long n, const T* a, const T* b, T* y) {
  if (dev.is_cpu()) {
    for (long i = 0; i < n; ++i) y[i] = a[i] + b[i];
    return;
  }
  // y = a, then y += b (addition commutes, so y aliasing b only swaps the roles).
  if (y == b) std::swap(a, b);
  copy(dev, n, a, y);
  axpy(dev, n, T(1), b, y);
}

template <class T>
void add4(Device dev, long n, const T* a, const T* b, const T* c, const T* d, T* y) {
  if (dev.is_cpu()) {
    for (long i = 0; i < n; ++i) y[i] = a[i] + b[i] + c[i] + d[i];
    return;
  }
  RM_CHECK(y != b && y != c && y != d, "add4: the output aliases an addend other than the first");
  copy(dev, n, a, y);
  axpy(dev, n, T(1), b, y);
  axpy(dev, n, T(1), c, y);
  axpy(dev, n, T(1), d, y);
}

template <class T>
void scale(Device dev, long n, T a, T* x) {
  if (dev.is_cpu()) return kernels::scale_cpu(n, a, x);
  RM_CUDA("scale", kernels::scale_cuda(n, a, x));
}

template <class T>
double sum_squares(Device dev, long n, const T* x) {
  if (dev.is_cpu()) return kernels::sum_squares_cpu(n, x);
  RM_CUDA("sum_squares", return kernels::sum_squares_cuda(n, x));
}

template <class T>
void adam_step(Device dev, long n, T* param, const T* grad, T* m, T* v,
               const kernels::AdamParams& p) {
  if (dev.is_cpu()) return kernels::adam_step_cpu(n, param, grad, m, v, p);
  RM_CUDA("adam_step", kernels::adam_step_cuda(n, param, grad, m, v, p));
}

void copy_to_host(Device dev, void* host, const void* src, size_t bytes) {
  if (bytes == 0) return;
  if (dev.is_cpu())
    std::memcpy(host, src, bytes);
  else
    kernels::cuda_memcpy(host, src, bytes, kernels::CopyKind::DeviceToHost);
}

void copy_from_host(Device dev, void* dst, const void* host, size_t bytes) {
  if (bytes == 0) return;
  if (dev.is_cpu())
    std::memcpy(dst, host, bytes);
  else
    kernels::cuda_memcpy(dst, host, bytes, kernels::CopyKind::HostToDevice);
}

#define RM_INSTANTIATE(T)                                                                          \
  template void activation_forward<T>(Device, kernels::Act, long, const T*, T*, T);                \
  template void activation_backward<T>(Device, kernels::Act, long, const T*, const T*, const T*,   \
                                       T*, T);                                                     \
  template void activation_second_order<T>(Device, kernels::Act, long, const T*, const T*,         \
                                           const T*, const T*, T*, T);                             \
  template bool conv2d_supported<T>(Device);                                                       \
  template void conv2d_forward<T>(Device, const kernels::Conv2dDims&, const T*, const T*,          \
                                  const T*, T*);                                                   \
  template void conv2d_backward_input<T>(Device, const kernels::Conv2dDims&, const T*, const T*,   \
                                         T*);                                                      \
  template void conv2d_backward_weight<T>(Device, const kernels::Conv2dDims&, const T*, const T*,  \
                                          T*, T*);                                                 \
  template void linear_forward<T>(Device, int, int, int, const T*, const T*, const T*, T*);        \
  template void linear_backward_input<T>(Device, int, int, int, const T*, const T*, T*);           \
  template void linear_backward_weight<T>(Device, int, int, int, const T*, const T*, T*, T*);      \
  template void layernorm_forward<T>(Device, int, int, const T*, const T*, const T*, T, T*, T*,    \
                                     T*);                                                          \
  template void layernorm_backward<T>(Device, int, int, const T*, const T*, const T*, const T*,    \
                                      const T*, T*, T*, T*);                                       \
  template void pool3d_forward<T>(Device, const kernels::Pool3dDims&, const T*, T*, int32_t*);     \
  template void pool3d_backward<T>(Device, const kernels::Pool3dDims&, const T*, const int32_t*,   \
                                   T*);                                                            \
  template void standardize<T>(Device, long, const uint8_t*, T*, T);                               \
  template void attention_forward<T>(Device, kernels::AttentionPath,                               \
                                     const kernels::AttentionDims&, const T*, const T*, const T*,  \
                                     T*, T*, T*);                                                  \
  template void attention_backward<T>(Device, kernels::AttentionPath,                              \
                                      const kernels::AttentionDims&, const T*, const T*, const T*, \
                                      const T*, const T*, const T*, const T*, T*, T*, T*, T*);     \
  template void attention_probs<T>(Device, kernels::AttentionPath, const kernels::AttentionDims&,  \
                                   const T*, const T*, const T*, T*);                              \
  template void attention_jvp<T>(Device, const kernels::AttentionDims&, const T*, const T*,        \
                                 const T*, const T*, const T*, const T*, const T*, T*, T*, T*);    \
  template void attention_backward_jvp<T>(                                                         \
      Device, const kernels::AttentionDims&, const T*, const T*, const T*, const T*, const T*,     \
      const T*, const T*, const T*, const T*, const T*, T*, T*, T*, T*, T*, T*, T*);               \
  template void spectral_norm_normalize_cuda<T>(int, int, const T*, T*, T*, bool, double*, T*);    \
  template void spectral_norm_backward_cuda<T>(int, int, const T*, const T*, const T*, const T*,   \
                                               const double*, T*);                                 \
  template void add<T>(Device, long, const T*, const T*, T*);                                      \
  template void add4<T>(Device, long, const T*, const T*, const T*, const T*, T*);                 \
  template void copy<T>(Device, long, const T*, T*);                                               \
  template void axpy<T>(Device, long, T, const T*, T*);                                            \
  template void scale<T>(Device, long, T, T*);                                                     \
  template double sum_squares<T>(Device, long, const T*);                                          \
  template void adam_step<T>(Device, long, T*, const T*, T*, T*, const kernels::AdamParams&);
RM_INSTANTIATE(float)
RM_INSTANTIATE(double)
#undef RM_INSTANTIATE

}  // namespace relmimic::ops
