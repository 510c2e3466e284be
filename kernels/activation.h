// Element-wise activations. backward uses x (ReLU, LeakyReLU) or y (Tanh, Sigmoid).
#pragma once

#include "kernels/cuda_types.h"

namespace relmimic::kernels {

enum class Act { Identity, ReLU, LeakyReLU, Tanh, Sigmoid };

const char* act_name(Act a);

// y = f(x); slope is LeakyReLU's negative slope. In-place (x == y) is allowed.
template <class T>
void activation_forward_cpu(Act a, long n, const T* x, T* y, T slope);

// dx = f'(x) * dy (overwrites dx; dx == dy allowed). Also the JVP: t_y = f'(x) * t_x.
template <class T>
void activation_backward_cpu(Act a, long n, const T* x, const T* y, const T* dy, T* dx, T slope);

// Second-order term of the backward-of-JVP: dx += f''(x) * t_x * dt_y (zero for piecewise
// linear activations; needed for Tanh and Sigmoid).
template <class T>
void activation_second_order_cpu(Act a, long n, const T* x, const T* y, const T* t_x, const T* dt_y,
                                 T* dx, T slope);

}  // namespace relmimic::kernels

namespace relmimic::kernels {
// Device versions of activation_forward_cpu / activation_backward_cpu (same contracts), queued on
// `stream` like every other kernel.
template <class T>
void activation_forward_cuda(Act a, long n, const T* x, T* y, T slope, Stream stream = nullptr);
template <class T>
void activation_backward_cuda(Act a, long n, const T* x, const T* y, const T* dy, T* dx, T slope,
                              Stream stream = nullptr);
// activation_second_order_cpu on the device (a no-op for the piecewise-linear activations).
template <class T>
void activation_second_order_cuda(Act a, long n, const T* x, const T* y, const T* t_x,
                                  const T* dt_y, T* dx, T slope, Stream stream = nullptr);
}  // namespace relmimic::kernels
