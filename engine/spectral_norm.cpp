// Spectral normalisation (Miyato et al. 2018) and orthogonal initialisation (Saxe et al. 2014).
#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/layers.h"
#include "kernels/gemm.h"

namespace relmimic {

namespace {
// PyTorch's F.normalize floor: a zero vector stays zero instead of producing NaN.
constexpr double kNormEps = 1e-12;

// y[r] = sum_c W[r, c] x[c]; W [rows, cols] row-major. Returns ||y||.
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

// y[c] = sum_r W[r, c] x[r] (W^T x). Returns ||y||.
// acc [cols] is scratch.
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
SpectralNorm<T>::SpectralNorm(Build<T>& b, const std::string& name, int rows, int cols, Rng& rng)
    : buffers_(b.buffers), rows_(rows), cols_(cols) {
  RM_CHECK(rows > 0 && cols > 0, "spectral norm '", name, "': bad matrix shape [", rows, ", ", cols,
           "]");
  u_slot_ = buffers_.add(name + ".sn_u", {rows});
  T* u = buffers_.value(u_slot_);
  double n2 = 0;
  for (int i = 0; i < rows; ++i) {
    u[i] = T(rng.normal());
    n2 += double(u[i]) * double(u[i]);
  }
  scale(u, rows, 1.0 / std::max(std::sqrt(n2), kNormEps));
  v_ = b.arena.template tensor<T>({cols});
  w_sn_ = b.arena.template tensor<T>({rows, cols});
  acc_ = b.arena.template tensor<double>({cols});
}

template <class T>
const T* SpectralNorm<T>::u() const {
  return buffers_.value(u_slot_);
}

// Training: one power iteration  v = W^T u / ||W^T u||,  u = W v / ||W v||,  sigma = u^T W v.
// Evaluation: u stays, v = W^T u / ||W^T u||,  sigma = u^T W v = ||W^T u||.
template <class T>
void SpectralNorm<T>::normalize(const T* w, T* w_sn, bool training) {
  T* u = buffers_.value(u_slot_);
  T* v = v_.template data<T>();
  const double nv = matvec_t(w, rows_, cols_, u, v, acc_.template data<double>());
  scale(v, cols_, 1.0 / std::max(nv, kNormEps));
  double sigma = nv;
  if (training) {
    const double nu = matvec(w, rows_, cols_, v, u);
    scale(u, rows_, 1.0 / std::max(nu, kNormEps));
    sigma = nu;
  }
  RM_CHECK(sigma > 0 && std::isfinite(sigma), "spectral norm: sigma = ", sigma,
           " (weight is zero or not finite)");
  sigma_ = T(sigma);
  const long n = long(rows_) * cols_;
  const double inv = 1.0 / sigma;
  T* copy = w_sn_.template data<T>();
  for (long i = 0; i < n; ++i) {
    w_sn[i] = T(double(w[i]) * inv);
    copy[i] = w_sn[i];
  }
}

// With u, v constant: d(W / sigma) = dW / sigma - W (u^T dW v) / sigma^2, hence
// dL/dW = (G - <G, W_sn> u v^T) / sigma for G = dL/dW_sn.
template <class T>
void SpectralNorm<T>::backward(const T* dw_sn, T* dw) const {
  const T* u = buffers_.value(u_slot_);
  const T* v = v_.template data<T>();
  const T* wsn = w_sn_.template data<T>();
  const long n = long(rows_) * cols_;
  double dot = 0;
  for (long i = 0; i < n; ++i) dot += double(dw_sn[i]) * double(wsn[i]);
  const double inv = 1.0 / double(sigma_);
  for (int r = 0; r < rows_; ++r) {
    const double ur = dot * double(u[r]);
    const long o = long(r) * cols_;
    for (int c = 0; c < cols_; ++c)
      dw[o + c] += T((double(dw_sn[o + c]) - ur * double(v[c])) * inv);
  }
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
