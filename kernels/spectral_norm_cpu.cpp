// CPU reference of the spectral-norm power iteration and its gradient (kernels/spectral_norm.h).
#include <algorithm>
#include <cmath>

#include "kernels/common.h"
#include "kernels/spectral_norm.h"

namespace relmimic::kernels {

namespace {
void check_shape(int rows, int cols, const char* who) {
  RM_CHECK(rows > 0 && cols > 0, who, ": bad matrix shape [", rows, ", ", cols, "]");
}

// y[r] = sum_c W[r, c] x[c]. Returns ||y||.
template <class T>
double matvec(const T* w, int rows, int cols, const T* x, T* y) {
  double n2 = 0;
  for (int r = 0; r < rows; ++r) {
    const T* wr = w + long(r) * cols;
    double s = 0;
    for (int c = 0; c < cols; ++c) s += double(wr[c]) * double(x[c]);
    y[r] = T(s);
    n2 += s * s;
  }
  return std::sqrt(n2);
}

// y[c] = sum_r W[r, c] x[r] (W^T x), accumulated row by row in acc [cols]. Returns ||y||.
template <class T>
double matvec_t(const T* w, int rows, int cols, const T* x, T* y, double* acc) {
  std::fill(acc, acc + cols, 0.0);
  for (int r = 0; r < rows; ++r) {
    const T* wr = w + long(r) * cols;
    const double xr = double(x[r]);
    for (int c = 0; c < cols; ++c) acc[c] += double(wr[c]) * xr;
  }
  double n2 = 0;
  for (int c = 0; c < cols; ++c) {
    y[c] = T(acc[c]);
    n2 += acc[c] * acc[c];
  }
  return std::sqrt(n2);
}

template <class T>
void scale(T* x, long n, double s) {
  for (long i = 0; i < n; ++i) x[i] = T(double(x[i]) * s);
}
}  // namespace

template <class T>
double spectral_norm_power_iteration_cpu(int rows, int cols, const T* w, T* u, T* v, bool training,
                                         double* acc) {
  check_shape(rows, cols, "spectral_norm_power_iteration_cpu");
  RM_CHECK(w && u && v && acc, "spectral_norm_power_iteration_cpu: null argument");
  const double nv = matvec_t(w, rows, cols, u, v, acc);
  scale(v, cols, 1.0 / std::max(nv, kSpectralNormEps));
  if (!training) return nv;
  const double nu = matvec(w, rows, cols, v, u);
  scale(u, rows, 1.0 / std::max(nu, kSpectralNormEps));
  return nu;
}

template <class T>
void spectral_norm_apply_cpu(long n, const T* w, double sigma, T* w_sn) {
  RM_CHECK(n >= 0 && (n == 0 || (w && w_sn)), "spectral_norm_apply_cpu: bad arguments");
  const double inv = 1.0 / sigma;
  for (long i = 0; i < n; ++i) w_sn[i] = T(double(w[i]) * inv);
}

template <class T>
void spectral_norm_backward_cpu(int rows, int cols, const T* dw_sn, const T* w_sn, const T* u,
                                const T* v, double sigma, T* dw) {
  check_shape(rows, cols, "spectral_norm_backward_cpu");
  RM_CHECK(dw_sn && w_sn && u && v && dw, "spectral_norm_backward_cpu: null argument");
  const long n = long(rows) * cols;
  double dot = 0;
  for (long i = 0; i < n; ++i) dot += double(dw_sn[i]) * double(w_sn[i]);
  const double inv = 1.0 / sigma;
  for (int r = 0; r < rows; ++r) {
    const double ur = dot * double(u[r]);
    const long o = long(r) * cols;
    for (int c = 0; c < cols; ++c) dw[o + c] += T((double(dw_sn[o + c]) - ur * double(v[c])) * inv);
  }
}

#define RELMIMIC_SPECTRAL_NORM(T)                                                                  \
  template double spectral_norm_power_iteration_cpu<T>(int, int, const T*, T*, T*, bool, double*); \
  template void spectral_norm_apply_cpu<T>(long, const T*, double, T*);                            \
  template void spectral_norm_backward_cpu<T>(int, int, const T*, const T*, const T*, const T*,    \
                                              double, T*);
RELMIMIC_SPECTRAL_NORM(float)
RELMIMIC_SPECTRAL_NORM(double)
#undef RELMIMIC_SPECTRAL_NORM

}  // namespace relmimic::kernels
