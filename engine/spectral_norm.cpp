// Spectral normalisation (Miyato et al. 2018) and orthogonal initialisation (Saxe et al. 2014).
#include "kernels/spectral_norm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/device_ops.h"
#include "engine/layers.h"
#include "kernels/gemm.h"

namespace relmimic {

namespace {
template <class T>
void scale(T* x, long n, double s) {
  for (long i = 0; i < n; ++i) x[i] = T(double(x[i]) * s);
}
}  // namespace

template <class T>
SpectralNorm<T>::SpectralNorm(Build<T>& b, const std::string& name, int rows, int cols, Rng& rng)
    : buffers_(b.buffers), dev_(b.device()), rows_(rows), cols_(cols) {
  RM_CHECK(rows > 0 && cols > 0, "spectral norm '", name, "': bad matrix shape [", rows, ", ", cols,
           "]");
  u_slot_ = buffers_.add(name + ".sn_u", {rows});
  T* u = buffers_.value(u_slot_);
  double n2 = 0;
  for (int i = 0; i < rows; ++i) {
    u[i] = T(rng.normal());
    n2 += double(u[i]) * double(u[i]);
  }
  scale(u, rows, 1.0 / std::max(std::sqrt(n2), kernels::kSpectralNormEps));
  v_ = b.arena.template tensor<T>({cols});
  w_sn_ = b.arena.template tensor<T>({rows, cols});
  acc_ = b.arena.template tensor<double>({dev_.is_cpu() ? cols : 1});
}

template <class T>
T SpectralNorm<T>::sigma() const {
  if (dev_.is_cpu()) return sigma_;
  double s = 0;
  ops::copy_to_host(dev_, &s, acc_.raw(), sizeof s);
  return T(s);
}

template <class T>
const T* SpectralNorm<T>::u() const {
  return buffers_.value(u_slot_);
}

// One power iteration (kernels/spectral_norm.h): training updates u, evaluation keeps it.
template <class T>
void SpectralNorm<T>::normalize(const T* w, T* w_sn, bool training) {
  const long n = long(rows_) * cols_;
  if (dev_.is_cuda()) {  // sigma stays on the device; sigma() copies it when asked
    ops::spectral_norm_normalize_cuda(rows_, cols_, w, buffers_.value(u_slot_),
                                      v_.template data<T>(), training, acc_.template data<double>(),
                                      w_sn);
    ops::copy(dev_, n, w_sn, w_sn_.template data<T>());
    return;
  }
  const double sigma = kernels::spectral_norm_power_iteration_cpu(
      rows_, cols_, w, buffers_.value(u_slot_), v_.template data<T>(), training,
      acc_.template data<double>());
  RM_CHECK(sigma > 0 && std::isfinite(sigma), "spectral norm: sigma = ", sigma,
           " (weight is zero or not finite)");
  sigma_ = T(sigma);
  kernels::spectral_norm_apply_cpu(n, w, sigma, w_sn);
  std::copy(w_sn, w_sn + n, w_sn_.template data<T>());
}

// With u, v constant: d(W / sigma) = dW / sigma - W (u^T dW v) / sigma^2, hence
// dL/dW = (G - <G, W_sn> u v^T) / sigma for G = dL/dW_sn.
template <class T>
void SpectralNorm<T>::backward(const T* dw_sn, T* dw) const {
  if (dev_.is_cuda())
    return ops::spectral_norm_backward_cuda(rows_, cols_, dw_sn, w_sn_.template data<T>(),
                                            buffers_.value(u_slot_), v_.template data<T>(),
                                            acc_.template data<double>(), dw);
  kernels::spectral_norm_backward_cpu(rows_, cols_, dw_sn, w_sn_.template data<T>(),
                                      buffers_.value(u_slot_), v_.template data<T>(),
                                      double(sigma_), dw);
}

namespace {
// Orthonormalises the rows of a [m, n] (m <= n) in place by one Cholesky-QR step:
// G = A A^T = L L^T, A <- L^{-1} A. Then A A^T = I and the old A = L A_new with diag(L) > 0.
void cholesky_qr(std::vector<double>& a, int m, int n) {
  std::vector<double> g(static_cast<size_t>(m) * m), linv(static_cast<size_t>(m) * m, 0.0);
  std::vector<double> out(a.size());
  kernels::gemm_cpu(false, true, m, m, n, 1.0, a.data(), n, a.data(), n, 0.0, g.data(), m);
  auto G = [&](int i, int j) -> double& { return g[size_t(i) * m + j]; };
  for (int j = 0; j < m; ++j) {  // lower Cholesky factor, in place
    double d = G(j, j);
    for (int k = 0; k < j; ++k) d -= G(j, k) * G(j, k);
    RM_CHECK(d > 0, "orthogonal_init: rank-deficient Gaussian draw");
    G(j, j) = std::sqrt(d);
    for (int i = j + 1; i < m; ++i) {
      double s = G(i, j);
      for (int k = 0; k < j; ++k) s -= G(i, k) * G(j, k);
      G(i, j) = s / G(j, j);
    }
  }
  for (int i = 0; i < m; ++i) {  // row i of L^{-1}: (e_i - sum_{k<i} L_ik row_k) / L_ii
    double* row = linv.data() + size_t(i) * m;
    row[i] = 1.0;
    for (int k = 0; k < i; ++k) {
      const double l = G(i, k);
      const double* rk = linv.data() + size_t(k) * m;
      for (int c = 0; c <= k; ++c) row[c] -= l * rk[c];
    }
    const double inv = 1.0 / G(i, i);
    for (int c = 0; c <= i; ++c) row[c] *= inv;
  }
  kernels::gemm_cpu(false, false, m, n, m, 1.0, linv.data(), m, a.data(), n, 0.0, out.data(), n);
  a.swap(out);
}
}  // namespace

// The orthonormal factor of a Gaussian matrix's QR with diag(R) > 0, i.e. a Haar-random
// orthogonal matrix: min(rows, cols) Gaussian vectors of length max(rows, cols), made
// orthonormal by Cholesky-QR applied twice (the second pass brings orthogonality to rounding).
template <class T>
void orthogonal_init(T* w, int rows, int cols, double gain, Rng& rng) {
  RM_CHECK(rows > 0 && cols > 0, "orthogonal_init: bad shape [", rows, ", ", cols, "]");
  const int n = std::max(rows, cols), m = std::min(rows, cols);
  std::vector<double> q(static_cast<size_t>(n) * m);  // m vectors of length n, row-major
  for (double& x : q) x = rng.normal();
  cholesky_qr(q, m, n);
  cholesky_qr(q, m, n);
  for (int r = 0; r < rows; ++r)
    for (int c = 0; c < cols; ++c) {
      // Tall: the vectors are W's columns; wide: W's rows.
      const double x = rows >= cols ? q[size_t(c) * n + r] : q[size_t(r) * n + c];
      w[long(r) * cols + c] = T(gain * x);
    }
}

template class SpectralNorm<float>;
template class SpectralNorm<double>;
template void orthogonal_init<float>(float*, int, int, double, Rng&);
template void orthogonal_init<double>(double*, int, int, double, Rng&);

}  // namespace relmimic
