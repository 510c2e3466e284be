// LayerNorm over the last dimension on the CPU, one row per iteration. dx may alias dy.
//   xhat = (x - mean) * rstd, rstd = 1 / sqrt(var + eps) (biased variance), y = xhat gamma + beta
//   dx = rstd (g - mean(g) - xhat mean(g xhat)) with g = dy gamma
#include <algorithm>
#include <cmath>

#include "kernels/common.h"
#include "kernels/norm.h"
#include "kernels/parallel_cpu.h"

namespace relmimic::kernels {

namespace {
void check(int M, int D, const char* who) {
  RM_CHECK(M >= 1 && D >= 1, who, ": sizes must be positive (M=", M, " D=", D, ")");
}
// Columns per task when the parameter gradients are split over threads.
constexpr int kColumnBlock = 64;
}  // namespace

template <class T>
void layernorm_forward_cpu(int M, int D, const T* x, const T* gamma, const T* beta, T eps, T* y,
                           T* mean, T* rstd) {
  check(M, D, "layernorm_forward_cpu");
  RM_CHECK(x && gamma && beta && y && mean && rstd,
           "layernorm_forward_cpu: null x, gamma, beta, y, mean or rstd");
  RM_CHECK(eps >= T(0), "layernorm_forward_cpu: negative eps ", eps);
#pragma omp parallel for schedule(static) if (cpu_threads(4.0 * M * D) > 1)
  for (int m = 0; m < M; ++m) {
    const T* xr = x + long(m) * D;
    T* yr = y + long(m) * D;
    // Two passes in double: the variance of nearly constant rows stays accurate.
    double s = 0;
    for (int i = 0; i < D; ++i) s += double(xr[i]);
    const double mu = s / D;
    double v = 0;
    for (int i = 0; i < D; ++i) v += (double(xr[i]) - mu) * (double(xr[i]) - mu);
    const double r = 1.0 / std::sqrt(v / D + double(eps));
    const T mu_t = T(mu), r_t = T(r);
#pragma omp simd
    for (int i = 0; i < D; ++i) yr[i] = (xr[i] - mu_t) * r_t * gamma[i] + beta[i];
    mean[m] = mu_t;
    rstd[m] = r_t;
  }
}

template <class T>
void layernorm_backward_cpu(int M, int D, const T* x, const T* gamma, const T* mean, const T* rstd,
                            const T* dy, T* dx, T* dgamma, T* dbeta) {
  check(M, D, "layernorm_backward_cpu");
  RM_CHECK(x && gamma && mean && rstd && dy && dx && dgamma && dbeta,
           "layernorm_backward_cpu: null pointer argument");
  const bool par = cpu_threads(6.0 * M * D) > 1;
#pragma omp parallel if (par)
  {
    // dgamma += sum_m dy xhat, dbeta += sum_m dy: threads own column blocks, rows in order.
    // Parameter gradients come first (the loop ends in a barrier) so dx may alias dy.
#pragma omp for schedule(static)
    for (int c0 = 0; c0 < D; c0 += kColumnBlock) {
      const int c1 = std::min(D, c0 + kColumnBlock);
      for (int m = 0; m < M; ++m) {
        const T* xr = x + long(m) * D;
        const T* dyr = dy + long(m) * D;
        const T mu = mean[m], r = rstd[m];
#pragma omp simd
        for (int i = c0; i < c1; ++i) {
          dgamma[i] += dyr[i] * (xr[i] - mu) * r;
          dbeta[i] += dyr[i];
        }
      }
    }
    // dx row by row; each row's sums are taken before any of its dx is written.
#pragma omp for schedule(static)
    for (int m = 0; m < M; ++m) {
      const T* xr = x + long(m) * D;
      const T* dyr = dy + long(m) * D;
      T* dxr = dx + long(m) * D;
      const T mu = mean[m], r = rstd[m];
      double sg = 0, sgx = 0;  // sum g, sum g xhat
      for (int i = 0; i < D; ++i) {
        const double g = double(dyr[i]) * double(gamma[i]);
        sg += g;
        sgx += g * (double(xr[i]) - double(mu)) * double(r);
      }
      const T mg = T(sg / D), mgx = T(sgx / D);
#pragma omp simd
      for (int i = 0; i < D; ++i) {
        const T xhat = (xr[i] - mu) * r;
        dxr[i] = r * (dyr[i] * gamma[i] - mg - xhat * mgx);
      }
    }
  }
}

template void layernorm_forward_cpu<float>(int, int, const float*, const float*, const float*,
                                           float, float*, float*, float*);
template void layernorm_forward_cpu<double>(int, int, const double*, const double*, const double*,
                                            double, double*, double*, double*);
template void layernorm_backward_cpu<float>(int, int, const float*, const float*, const float*,
                                            const float*, const float*, float*, float*, float*);
template void layernorm_backward_cpu<double>(int, int, const double*, const double*, const double*,
                                             const double*, const double*, double*, double*,
                                             double*);

}  // namespace relmimic::kernels
