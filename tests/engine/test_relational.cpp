// Relational block: every pass vs finite differences (with and without spectral norm), the
// attention map, and the forward against a direct evaluation of the defining equations.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "tests/engine/layer_check.h"

namespace relmimic {
namespace {

using testing::check_backward;
using testing::check_backward_jvp;
using testing::check_jvp;
using testing::fns;
using testing::random_tensor;
using testing::World;

RelationalBlock<double>::Options opts(bool sn) {
  return {.channels = 3, .height = 2, .width = 3, .embed = 2, .spectral_norm = sn};
}

class RelationalTest : public ::testing::TestWithParam<bool> {};

TEST_P(RelationalTest, BackwardMatchesFiniteDifferences) {
  World w(2);
  Rng rng(31);
  RelationalBlock<double> rb(w.build, "rel", opts(GetParam()), rng);
  rb.set_training(false);
  testing::fill_uniform(w.params.values(), w.params.size(), rng);
  Tensor x = random_tensor({2, 3, 2, 3}, rng);
  check_backward(fns(rb), w.params, x, rng);
}

TEST_P(RelationalTest, JvpAndBackwardJvpMatchFiniteDifferences) {
  World w(2);
  Rng rng(32);
  RelationalBlock<double> rb(w.build, "rel", opts(GetParam()), rng);
  rb.set_training(false);
  testing::fill_uniform(w.params.values(), w.params.size(), rng);
  Tensor x = random_tensor({2, 3, 2, 3}, rng);
  Tensor t = random_tensor({2, 3, 2, 3}, rng);
  check_jvp(fns(rb), x, t);
  check_backward_jvp(fns(rb), w.params, x, t, rng);
  testing::check_backward_jvp_shortcuts(fns(rb), w.params, x, t, rng);
}

INSTANTIATE_TEST_SUITE_P(SpectralNorm, RelationalTest, ::testing::Bool());

// z_i = W_z sum_j softmax_j(theta_i . phi_j) g_j + b_z + u_i, evaluated directly.
TEST(Relational, ForwardMatchesTheDefinition) {
  World w(1, false);
  Rng rng(33);
  const int C = 3, E = 2, N = 6;
  RelationalBlock<double> rb(w.build, "rel", opts(false), rng);
  testing::fill_uniform(w.params.values(), w.params.size(), rng);
  Tensor x = random_tensor({1, C, 2, 3}, rng);
  Tensor z = rb.forward(x);
  auto p = [&](const char* name) { return w.params.value(w.params.find(name)); };
  const double* u = x.data<double>();
  std::vector<double> th(E * N), ph(E * N), g(E * N);
  for (int e = 0; e < E; ++e)
    for (int n = 0; n < N; ++n) {
      th[e * N + n] = p("rel.theta.bias")[e];
      ph[e * N + n] = p("rel.phi.bias")[e];
      g[e * N + n] = p("rel.g.bias")[e];
      for (int c = 0; c < C; ++c) {
        th[e * N + n] += p("rel.theta.weight")[e * C + c] * u[c * N + n];
        ph[e * N + n] += p("rel.phi.weight")[e * C + c] * u[c * N + n];
        g[e * N + n] += p("rel.g.weight")[e * C + c] * u[c * N + n];
      }
    }
  double worst = 0;
  for (int i = 0; i < N; ++i) {
    std::vector<double> s(N);
    double mx = -1e300, sum = 0;
    for (int j = 0; j < N; ++j) {
      s[j] = 0;
      for (int e = 0; e < E; ++e) s[j] += th[e * N + i] * ph[e * N + j];
      mx = std::max(mx, s[j]);
    }
    for (int j = 0; j < N; ++j) sum += (s[j] = std::exp(s[j] - mx));
    for (int j = 0; j < N; ++j) {
      EXPECT_NEAR(rb.attention().data<double>()[i * N + j], s[j] / sum, 1e-14);
    }
    for (int c = 0; c < C; ++c) {
      double zc = p("rel.out.bias")[c] + u[c * N + i];
      for (int e = 0; e < E; ++e) {
        double y = 0;
        for (int j = 0; j < N; ++j) y += s[j] / sum * g[e * N + j];
        zc += p("rel.out.weight")[c * E + e] * y;
      }
      worst = std::max(worst, std::abs(zc - z.data<double>()[c * N + i]));
    }
  }
  EXPECT_LT(worst, 1e-13);
  EXPECT_EQ(rb.attention().shape(), Shape({1, N, N}));
}

TEST(Relational, CountsFlopsAndAttentionApart) {
  World w(1, false);
  Rng rng(34);
  RelationalBlock<double> rb(w.build, "rel",
                             {.channels = 16, .height = 21, .width = 21, .embed = 2}, rng);
  const long n = 441;
  // Four 1x1 convs (2 MAC + bias) + residual add.
  EXPECT_EQ(rb.flops(), 3 * (2 * 2 * 16 * n + 2 * n) + (2 * 16 * 2 * n + 16 * n) + 16 * n);
  EXPECT_EQ(rb.attention_flops(), 4 * n * n * 2 + 3 * n * n);
  EXPECT_EQ(rb.conv_layers(), 4);
}

}  // namespace
}  // namespace relmimic
