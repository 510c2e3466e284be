// Element-wise activations on the CPU. With s = LeakyReLU's slope:
//   f:   x | max(x,0) | x>0 ? x : s x | tanh x        | 1/(1+e^-x)
//   f':  1 | [x>0]    | x>0 ? 1 : s   | 1 - y^2       | y (1 - y)
//   f'': 0 | 0        | 0             | -2 y (1 - y^2) | y (1 - y)(1 - 2y)
#include <omp.h>

#include <cmath>

#include "kernels/activation.h"
#include "kernels/common.h"
#include "kernels/parallel_cpu.h"

namespace relmimic::kernels {

const char* act_name(Act a) {
  switch (a) {
    case Act::Identity:
      return "identity";
    case Act::ReLU:
      return "relu";
    case Act::LeakyReLU:
      return "leaky_relu";
    case Act::Tanh:
      return "tanh";
    case Act::Sigmoid:
      return "sigmoid";
  }
  RM_FAIL("act_name: unknown activation ", int(a));
}

namespace {

// Selects are written as sums and products of selects between constants and values, e.g.
// (x > 0 ? x : 0) + s (x > 0 ? 0 : x): exact, and the form the compiler vectorises without
// blend instructions. (A masked dy that is inf or NaN stays NaN rather than becoming 0.)

// Runs op(lo, hi) over [0, n) split into one contiguous range per thread, on all threads when
// there is enough work (cost per element in units of a multiply-add). The loop stays inside
// op, where the compiler vectorises it.
template <class Op>
void elementwise(long n, double cost, Op op) {
  const int threads = cpu_threads(cost * double(n));
  if (threads == 1) {
    op(0L, n);
    return;
  }
#pragma omp parallel num_threads(threads)
  {
    const long t = omp_get_thread_num(), nt = omp_get_num_threads();
    op(n * t / nt, n * (t + 1) / nt);
  }
}

// Sigmoid without overflow for large |x|: exp of a non-positive argument only.
template <class T>
inline T sigmoid(T x) {
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}

}  // namespace

template <class T>
void activation_forward_cpu(Act a, long n, const T* x, T* y, T slope) {
  RM_CHECK(n >= 0, "activation_forward_cpu: negative size ", n);
  RM_CHECK(x && y, "activation_forward_cpu(", act_name(a), "): null x or y");
  switch (a) {
    case Act::Identity:
      if (x != y)
        elementwise(n, 1, [=](long lo, long hi) {
          for (long i = lo; i < hi; ++i) y[i] = x[i];
        });
      return;
    case Act::ReLU:
      elementwise(n, 1, [=](long lo, long hi) {
        for (long i = lo; i < hi; ++i) y[i] = x[i] > T(0) ? x[i] : T(0);
      });
      return;
    case Act::LeakyReLU:
      elementwise(n, 1, [=](long lo, long hi) {
        for (long i = lo; i < hi; ++i) {
          const T v = x[i];
          y[i] = (v > T(0) ? v : T(0)) + slope * (v > T(0) ? T(0) : v);
        }
      });
      return;
    case Act::Tanh:
      elementwise(n, 20, [=](long lo, long hi) {
        for (long i = lo; i < hi; ++i) y[i] = std::tanh(x[i]);
      });
      return;
    case Act::Sigmoid:
      elementwise(n, 20, [=](long lo, long hi) {
        for (long i = lo; i < hi; ++i) y[i] = sigmoid(x[i]);
      });
      return;
  }
  RM_FAIL("activation_forward_cpu: unknown activation ", int(a));
}

template <class T>
void activation_backward_cpu(Act a, long n, const T* x, const T* y, const T* dy, T* dx, T slope) {
  RM_CHECK(n >= 0, "activation_backward_cpu: negative size ", n);
  RM_CHECK(dy && dx, "activation_backward_cpu(", act_name(a), "): null dy or dx");
  switch (a) {
    case Act::Identity:
      if (dx != dy)
        elementwise(n, 1, [=](long lo, long hi) {
          for (long i = lo; i < hi; ++i) dx[i] = dy[i];
        });
      return;
    case Act::ReLU:
      RM_CHECK(x, "activation_backward_cpu(relu): needs x");
      elementwise(n, 1, [=](long lo, long hi) {
        for (long i = lo; i < hi; ++i) dx[i] = (x[i] > T(0) ? T(1) : T(0)) * dy[i];
      });
      return;
    case Act::LeakyReLU:
      RM_CHECK(x, "activation_backward_cpu(leaky_relu): needs x");
      elementwise(n, 1, [=](long lo, long hi) {
        for (long i = lo; i < hi; ++i)
          dx[i] = ((x[i] > T(0) ? T(1) : T(0)) + slope * (x[i] > T(0) ? T(0) : T(1))) * dy[i];
      });
      return;
    case Act::Tanh:
      RM_CHECK(y, "activation_backward_cpu(tanh): needs y");
      elementwise(n, 1, [=](long lo, long hi) {
        for (long i = lo; i < hi; ++i) dx[i] = (T(1) - y[i] * y[i]) * dy[i];
      });
      return;
    case Act::Sigmoid:
      RM_CHECK(y, "activation_backward_cpu(sigmoid): needs y");
      elementwise(n, 1, [=](long lo, long hi) {
        for (long i = lo; i < hi; ++i) dx[i] = y[i] * (T(1) - y[i]) * dy[i];
      });
      return;
  }
  RM_FAIL("activation_backward_cpu: unknown activation ", int(a));
}

template <class T>
void activation_second_order_cpu(Act a, long n, const T* x, const T* y, const T* t_x, const T* dt_y,
                                 T* dx, T slope) {
  RM_CHECK(n >= 0, "activation_second_order_cpu: negative size ", n);
  switch (a) {
    case Act::Identity:
    case Act::ReLU:
    case Act::LeakyReLU:
      return;  // f'' = 0 almost everywhere
    case Act::Tanh:
      RM_CHECK(y && t_x && dt_y && dx,
               "activation_second_order_cpu(tanh): null y, t_x, dt_y or dx");
      elementwise(n, 1, [=](long lo, long hi) {
        for (long i = lo; i < hi; ++i)
          dx[i] += T(-2) * y[i] * (T(1) - y[i] * y[i]) * t_x[i] * dt_y[i];
      });
      return;
    case Act::Sigmoid:
      RM_CHECK(y && t_x && dt_y && dx,
               "activation_second_order_cpu(sigmoid): null y, t_x, dt_y or dx");
      elementwise(n, 1, [=](long lo, long hi) {
        for (long i = lo; i < hi; ++i)
          dx[i] += y[i] * (T(1) - y[i]) * (T(1) - T(2) * y[i]) * t_x[i] * dt_y[i];
      });
      return;
  }
  RM_FAIL("activation_second_order_cpu: unknown activation ", int(a));
}

#define RM_INSTANTIATE(T)                                                                         \
  template void activation_forward_cpu<T>(Act, long, const T*, T*, T);                            \
  template void activation_backward_cpu<T>(Act, long, const T*, const T*, const T*, T*, T);       \
  template void activation_second_order_cpu<T>(Act, long, const T*, const T*, const T*, const T*, \
                                               T*, T);
RM_INSTANTIATE(float)
RM_INSTANTIATE(double)
#undef RM_INSTANTIATE

}  // namespace relmimic::kernels
