// Device dispatch of the layer math: one function per operation that runs the CPU kernel on the
// cpu and the CUDA entry point on a CUDA device (legacy default stream, FP32 matrix products,
// so results stay within float rounding of the CPU). Every pointer must live on `dev`; the
// layers check their inputs' device before calling. On the cpu each function is exactly the
// call the layers made before, so CPU results do not change.
#pragma once

#include <cstdint>
#include <string_view>

#include "engine/tensor.h"
#include "kernels/activation.h"
#include "kernels/adam.h"
#include "kernels/attention.h"
#include "kernels/conv2d.h"
#include "kernels/pool3d.h"

namespace relmimic::ops {

// Throws "<who>: cannot build on cuda:0: <reason>" unless dev is the cpu or a usable CUDA device
// of a build with the CUDA backend.
void check_device(Device dev, std::string_view who);
// Throws "<who>: <what> is on <t's device> but this layer runs on <dev>".
void check_on(const Tensor& t, Device dev, std::string_view who, const char* what);

template <class T>
void activation_forward(Device dev, kernels::Act a, long n, const T* x, T* y, T slope);
template <class T>
void activation_backward(Device dev, kernels::Act a, long n, const T* x, const T* y, const T* dy,
                         T* dx, T slope);
template <class T>
void activation_second_order(Device dev, kernels::Act a, long n, const T* x, const T* y,
                             const T* t_x, const T* dt_y, T* dx, T slope);

// Conv on CUDA takes float only (the implicit-GEMM kernels); double fails naming the call.
template <class T>
void conv2d_forward(Device dev, const kernels::Conv2dDims& d, const T* x, const T* w, const T* b,
                    T* y);
template <class T>
void conv2d_backward_input(Device dev, const kernels::Conv2dDims& d, const T* dy, const T* w,
                           T* dx);
template <class T>
void conv2d_backward_weight(Device dev, const kernels::Conv2dDims& d, const T* x, const T* dy,
                            T* dw, T* db);
// True when conv layers of element type T can run on dev.
template <class T>
bool conv2d_supported(Device dev);

template <class T>
void linear_forward(Device dev, int M, int N, int K, const T* x, const T* w, const T* b, T* y);
template <class T>
void linear_backward_input(Device dev, int M, int N, int K, const T* dy, const T* w, T* dx);
template <class T>
void linear_backward_weight(Device dev, int M, int N, int K, const T* x, const T* dy, T* dw, T* db);

template <class T>
void layernorm_forward(Device dev, int M, int D, const T* x, const T* gamma, const T* beta, T eps,
                       T* y, T* mean, T* rstd);
template <class T>
void layernorm_backward(Device dev, int M, int D, const T* x, const T* gamma, const T* mean,
                        const T* rstd, const T* dy, T* dx, T* dgamma, T* dbeta);

template <class T>
void pool3d_forward(Device dev, const kernels::Pool3dDims& d, const T* x, T* y, int32_t* argmax);
template <class T>
void pool3d_backward(Device dev, const kernels::Pool3dDims& d, const T* dy, const int32_t* argmax,
                     T* dx);

// y = x * scale.
template <class T>
void standardize(Device dev, long n, const uint8_t* x, T* y, T scale);

// The attention core. The CUDA path is `path` (Fused: lse [B, N] saved, attn untouched;
// Unfused: attn written); `work` is the CUDA scratch ([B, N, N] for the unfused backward and
// jvp, [3, B, N, N] for backward_jvp). The CPU ignores path, lse and work.
template <class T>
void attention_forward(Device dev, kernels::AttentionPath path, const kernels::AttentionDims& d,
                       const T* theta, const T* phi, const T* g, T* y, T* lse, T* attn);
template <class T>
void attention_backward(Device dev, kernels::AttentionPath path, const kernels::AttentionDims& d,
                        const T* theta, const T* phi, const T* g, const T* y, const T* lse,
                        const T* attn, const T* dy, T* dtheta, T* dphi, T* dg, T* work);
// attn = exp(theta^T phi - lse) on CUDA (A after a fused forward); nothing on the cpu, where the
// forward always writes attn.
template <class T>
void attention_probs(Device dev, kernels::AttentionPath path, const kernels::AttentionDims& d,
                     const T* theta, const T* phi, const T* lse, T* attn);
template <class T>
void attention_jvp(Device dev, const kernels::AttentionDims& d, const T* theta, const T* phi,
                   const T* g, const T* attn, const T* t_theta, const T* t_phi, const T* t_g,
                   T* t_y, T* s_dot, T* work);
template <class T>
void attention_backward_jvp(Device dev, const kernels::AttentionDims& d, const T* theta,
                            const T* phi, const T* g, const T* attn, const T* t_theta,
                            const T* t_phi, const T* t_g, const T* s_dot, const T* dy,
                            const T* dt_y, T* dtheta, T* dphi, T* dg, T* dt_theta, T* dt_phi,
                            T* dt_g, T* work);

// Spectral norm on CUDA: sigma stays in device memory (one double).
template <class T>
void spectral_norm_normalize_cuda(int rows, int cols, const T* w, T* u, T* v, bool training,
                                  double* sigma, T* w_sn);
template <class T>
void spectral_norm_backward_cuda(int rows, int cols, const T* dw_sn, const T* w_sn, const T* u,
                                 const T* v, const double* sigma, T* dw);

// Element-wise helpers. add: y = a + b (y may alias a or b); add4: y = a + b + c + d (y must not
// alias b, c or d); copy: dst = src (same device).
template <class T>
void add(Device dev, long n, const T* a, const T* b, T* y);
template <class T>
void add4(Device dev, long n, const T* a, const T* b, const T* c, const T* d, T* y);
template <class T>
void copy(Device dev, long n, const T* src, T* dst);
template <class T>
void axpy(Device dev, long n, T a, const T* x, T* y);
template <class T>
void scale(Device dev, long n, T a, T* x);
template <class T>
double sum_squares(Device dev, long n, const T* x);
template <class T>
void adam_step(Device dev, long n, T* param, const T* grad, T* m, T* v,
               const kernels::AdamParams& p);

// Bytes between host and dev (a plain memcpy on the cpu).
void copy_to_host(Device dev, void* host, const void* src, size_t bytes);
void copy_from_host(Device dev, void* dst, const void* host, size_t bytes);

}  // namespace relmimic::ops
