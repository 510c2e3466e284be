// Spectral norm: sigma vs the largest singular value from an independent method (Jacobi
// eigenvalues of W^T W), the weight gradient vs finite differences with u fixed, and the
// persistence of u in the buffers.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "tests/engine/layer_check.h"

namespace relmimic {
namespace {

using testing::random_tensor;
using testing::World;

// Eigenvalues of the symmetric n x n matrix a (row-major) by cyclic Jacobi rotations.
std::vector<double> jacobi_eigenvalues(std::vector<double> a, int n) {
  auto at = [&](int i, int j) -> double& { return a[size_t(i) * n + j]; };
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0;
    for (int i = 0; i < n; ++i)
      for (int j = i + 1; j < n; ++j) off += at(i, j) * at(i, j);
    if (off < 1e-30) break;
    for (int p = 0; p < n; ++p)
      for (int q = p + 1; q < n; ++q) {
        if (std::abs(at(p, q)) < 1e-300) continue;
        const double theta = (at(q, q) - at(p, p)) / (2 * at(p, q));
        const double t =
            (theta >= 0 ? 1.0 : -1.0) / (std::abs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (int k = 0; k < n; ++k) {  // A <- A J (columns p, q)
          const double akp = at(k, p), akq = at(k, q);
          at(k, p) = c * akp - s * akq;
          at(k, q) = s * akp + c * akq;
        }
        for (int k = 0; k < n; ++k) {  // A <- J^T A (rows p, q)
          const double apk = at(p, k), aqk = at(q, k);
          at(p, k) = c * apk - s * aqk;
          at(q, k) = s * apk + c * aqk;
        }
      }
  }
  std::vector<double> ev(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) ev[size_t(i)] = at(i, i);
  return ev;
}

double largest_singular_value(const double* w, int rows, int cols) {
  std::vector<double> g(static_cast<size_t>(cols) * cols, 0.0);  // W^T W
  for (int i = 0; i < cols; ++i)
    for (int j = 0; j < cols; ++j)
      for (int r = 0; r < rows; ++r) g[size_t(i) * cols + j] += w[r * cols + i] * w[r * cols + j];
  const std::vector<double> ev = jacobi_eigenvalues(g, cols);
  return std::sqrt(*std::max_element(ev.begin(), ev.end()));
}

TEST(SpectralNorm, JacobiReferenceFindsKnownSingularValues) {
  // W = diag(3, 1) rotated: singular values 3 and 1.
  const double c = std::cos(0.3), s = std::sin(0.3);
  const double w[] = {3 * c, -3 * s, 1 * s, 1 * c};
  EXPECT_NEAR(largest_singular_value(w, 2, 2), 3.0, 1e-12);
}

TEST(SpectralNorm, SigmaConvergesToTheLargestSingularValue) {
  World w(1);
  Rng rng(21);
  Linear<double> fc(w.build, "fc", {.in = 7, .out = 5, .spectral_norm = true}, rng);
  testing::fill_uniform(w.params.value(fc.weight_slot()), 35, rng);
  const double ref = largest_singular_value(w.params.value(fc.weight_slot()), 5, 7);
  Tensor x = random_tensor({1, 7}, rng);
  fc.forward(x);
  const double first = fc.spectral_norm()->sigma();
  for (int i = 0; i < 300; ++i) fc.forward(x);
  EXPECT_NEAR(fc.spectral_norm()->sigma(), ref, 1e-10 * ref);
  EXPECT_LE(first, ref * (1 + 1e-12));  // power iteration approaches from below
  // The normalised weight has spectral norm 1: y = W_sn x with x = v gives ||y|| = 1.
  const double* v = fc.spectral_norm()->v();
  Tensor xv = Tensor::zeros({1, 7}, DType::f64);
  std::copy(v, v + 7, xv.data<double>());
  double* b = w.params.value(fc.bias_slot());
  std::fill(b, b + 5, 0.0);
  Tensor y = fc.forward(xv);
  double n2 = 0;
  for (int i = 0; i < 5; ++i) n2 += y.data<double>()[i] * y.data<double>()[i];
  EXPECT_NEAR(std::sqrt(n2), 1.0, 1e-9);
}

TEST(SpectralNorm, ConvSigmaMatchesTheReshapedWeight) {
  World w(1);
  Rng rng(22);
  Conv2d<double> conv(w.build, "c",
                      {.in_c = 2,
                       .in_h = 4,
                       .in_w = 4,
                       .out_c = 3,
                       .kernel = 2,
                       .stride = 1,
                       .pad = 0,
                       .bias = true,
                       .spectral_norm = true},
                      rng);
  testing::fill_uniform(w.params.value(conv.weight_slot()), 24, rng);
  Tensor x = random_tensor({1, 2, 4, 4}, rng);
  for (int i = 0; i < 300; ++i) conv.forward(x);
  const double ref = largest_singular_value(w.params.value(conv.weight_slot()), 3, 8);
  EXPECT_NEAR(conv.spectral_norm()->sigma(), ref, 1e-10 * ref);
}

TEST(SpectralNorm, UIsAPersistentBufferUpdatedOnlyWhenTraining) {
  World w(1);
  Rng rng(23);
  Linear<double> fc(w.build, "fc", {.in = 4, .out = 3, .spectral_norm = true}, rng);
  ASSERT_EQ(w.buffers.count(), 1);
  EXPECT_EQ(w.buffers.entry(0).name, "fc.sn_u");
  EXPECT_EQ(w.buffers.size(), 3);
  Tensor x = random_tensor({1, 4}, rng);
  const std::vector<double> u0(w.buffers.values(), w.buffers.values() + 3);
  fc.forward(x);
  const std::vector<double> u1(w.buffers.values(), w.buffers.values() + 3);
  EXPECT_NE(u0, u1);
  double n2 = 0;
  for (double v : u1) n2 += v * v;
  EXPECT_NEAR(n2, 1.0, 1e-12);
  fc.set_training(false);
  fc.forward(x);
  const std::vector<double> u2(w.buffers.values(), w.buffers.values() + 3);
  EXPECT_EQ(u1, u2);
}

// f(W) = <R, W / sigma(W)> with u fixed (evaluation mode) vs SpectralNorm::backward.
TEST(SpectralNorm, WeightGradientMatchesFiniteDifferencesWithUFixed) {
  World w(1);
  Rng rng(24);
  const int rows = 4, cols = 6;
  SpectralNorm<double> sn(w.build, "m", rows, cols, rng);
  std::vector<double> W = testing::random_vector<double>(rows * cols, rng);
  const std::vector<double> R = testing::random_vector<double>(rows * cols, rng);
  std::vector<double> wsn(static_cast<size_t>(rows * cols)),
      dw(static_cast<size_t>(rows * cols), 0.0);
  // A few training steps so u is a generic unit vector, then freeze it.
  for (int i = 0; i < 3; ++i) sn.normalize(W.data(), wsn.data(), true);
  auto loss = [&] {
    sn.normalize(W.data(), wsn.data(), false);
    double s = 0;
    for (size_t i = 0; i < wsn.size(); ++i) s += R[i] * wsn[i];
    return s;
  };
  loss();
  sn.backward(R.data(), dw.data());
  const std::vector<double> num = testing::numeric_grad(loss, W.data(), rows * cols);
  EXPECT_LE(testing::rel_error(dw, num), testing::kFdTol);
  // Without the rank-one correction the gradient would be R / sigma: make sure it matters.
  std::vector<double> naive(R.size());
  for (size_t i = 0; i < R.size(); ++i) naive[i] = R[i] / sn.sigma();
  EXPECT_GT(testing::rel_error(naive, num), 1e-3);
}

}  // namespace
}  // namespace relmimic
