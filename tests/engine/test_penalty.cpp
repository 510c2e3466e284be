// The reward net's gradient penalty on a small configuration (16x16 input, few channels, the
// same layer types: spectral norm everywhere, LeakyReLU, relational blocks):
//   - P itself vs P built from grad_x D by finite differences,
//   - dP/dtheta (jvp + backward_jvp) vs finite differences of P in every parameter,
//   - the grad_x pass leaves no parameter gradients,
//   - the ordinary backward of the logit vs finite differences.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "engine/networks.h"
#include "tests/engine/layer_check.h"

namespace relmimic {
namespace {

using testing::rel_error;

RewardConfig small_cfg(bool relational) {
  RewardConfig c;
  c.frames = 2;
  c.height = c.width = 16;  // 8 -> 4 -> 4 -> 2 -> 1 after the five convs
  c.channels = {2, 3, 3, 4, 4};
  c.embed = {2, 2};
  c.relational = relational;
  c.max_batch = 3;
  c.seed = 3;
  return c;
}

// Random biases put the net at a generic point (with zero biases and spectrally normalised
// weights D sits close to 1/2 and the penalty close to lambda for every sample).
void spread(RewardNet<double>& net, Rng& rng) {
  ParamSet<double>& ps = net.parameters();
  for (const auto& e : ps.entries())
    if (e.name.find(".bias") != std::string::npos)
      testing::fill_uniform(ps.values() + e.offset, e.size, rng, -0.3, 0.3);
}

class PenaltyTest : public ::testing::TestWithParam<bool> {};

TEST_P(PenaltyTest, ParameterGradientMatchesFiniteDifferences) {
  testing::SerialScope serial;
  RewardNet<double> net(small_cfg(GetParam()));
  Rng rng(51);
  spread(net, rng);
  Tensor x = testing::random_tensor({3, 2, 16, 16}, rng, 0.0, 1.0);
  // A few training forwards move u, then u is frozen so P is a function of theta alone.
  for (int i = 0; i < 3; ++i) net.forward_float(x);
  net.set_training(false);
  const double lambda = 10.0;
  ParamSet<double>& ps = net.parameters();
  ps.zero_grad();
  const double p = net.gradient_penalty(x, lambda, true);
  EXPECT_GT(p, 0.0);
  const std::vector<double> analytic(ps.grads(), ps.grads() + ps.size());
  auto penalty = [&] { return net.gradient_penalty(x, lambda, false); };
  const std::vector<double> numeric = testing::numeric_grad(penalty, ps.values(), ps.size());
  EXPECT_LE(rel_error(analytic, numeric), testing::kFdTol);
}

TEST_P(PenaltyTest, InputGradientPassLeavesNoParameterGradients) {
  RewardNet<double> net(small_cfg(GetParam()));
  Rng rng(52);
  Tensor x = testing::random_tensor({2, 2, 16, 16}, rng, 0.0, 1.0);
  ParamSet<double>& ps = net.parameters();
  ps.zero_grad();
  net.gradient_penalty(x, 10.0, false);
  for (long i = 0; i < ps.size(); ++i) ASSERT_EQ(ps.grads()[i], 0.0) << i;
  // With accumulate_grad the gradients appear, and they are those of P alone: running it
  // twice doubles them.
  net.set_training(false);
  net.gradient_penalty(x, 10.0, true);
  const std::vector<double> once(ps.grads(), ps.grads() + ps.size());
  net.gradient_penalty(x, 10.0, true);
  double worst = 0, scale = 0;
  for (long i = 0; i < ps.size(); ++i) {
    worst = std::max(worst, std::abs(ps.grads()[i] - 2 * once[size_t(i)]));
    scale = std::max(scale, std::abs(once[size_t(i)]));
  }
  EXPECT_GT(scale, 0.0);
  EXPECT_LE(worst, 1e-12 * scale);
}

INSTANTIATE_TEST_SUITE_P(Relational, PenaltyTest, ::testing::Bool());

// P = lambda mean_b (||grad_x sigmoid(logit(x_b))|| - 1)^2 with the input gradient taken by
// central differences: checks the value (and the backward that produced grad_x).
TEST(Penalty, ValueMatchesFiniteDifferenceInputGradient) {
  testing::SerialScope serial;
  RewardNet<double> net(small_cfg(true));
  Rng rng(53);
  spread(net, rng);
  net.set_training(false);
  Tensor x = testing::random_tensor({2, 2, 16, 16}, rng, 0.0, 1.0);
  const double lambda = 10.0;
  const double p = net.gradient_penalty(x, lambda, false);
  const long per = 2 * 16 * 16;
  double ref = 0;
  for (int b = 0; b < 2; ++b) {
    Tensor xb = testing::random_tensor({1, 2, 16, 16}, rng);
    std::copy(x.data<double>() + b * per, x.data<double>() + (b + 1) * per, xb.data<double>());
    auto d = [&] { return 1.0 / (1.0 + std::exp(-net.forward_float(xb).data<double>()[0])); };
    const std::vector<double> g = testing::numeric_grad(d, xb.data<double>(), per);
    double n2 = 0;
    for (double v : g) n2 += v * v;
    ref += (std::sqrt(n2) - 1) * (std::sqrt(n2) - 1);
  }
  ref *= lambda / 2;
  EXPECT_NEAR(p, ref, 1e-8 * ref);
}

TEST(Penalty, LogitBackwardMatchesFiniteDifferences) {
  RewardNet<double> net(small_cfg(true));
  Rng rng(54);
  spread(net, rng);
  net.set_training(false);
  Tensor x = testing::random_tensor({3, 2, 16, 16}, rng, 0.0, 1.0);
  testing::Fns f;
  f.forward = [&](const Tensor& in) { return net.forward_float(in); };
  f.backward = [&](const Tensor& dy) { return net.backward(dy); };
  testing::check_backward(f, net.parameters(), x, rng);
}

// The norm the penalty pass reports is mean_b ||grad_x logit(x_b)||, here from the logit's own
// backward with dlogit = 1 per sample; asking for it changes neither P nor its gradient.
TEST(Penalty, ReportsTheMeanLogitInputGradientNorm) {
  RewardNet<double> net(small_cfg(true));
  Rng rng(55);
  spread(net, rng);
  net.set_training(false);
  const int B = 3;
  const long per = 2 * 16 * 16;
  Tensor x = testing::random_tensor({B, 2, 16, 16}, rng, 0.0, 1.0);
  ParamSet<double>& ps = net.parameters();
  ps.zero_grad();
  const double plain = net.gradient_penalty(x, 10.0, true);
  const std::vector<double> grads(ps.grads(), ps.grads() + ps.size());
  ps.zero_grad();
  double norm = -1;
  EXPECT_EQ(net.gradient_penalty(x, 10.0, true, &norm), plain);
  EXPECT_EQ(std::vector<double>(ps.grads(), ps.grads() + ps.size()), grads);

  net.forward_float(x);
  Tensor ones = Tensor::zeros({B, 1}, DType::f64);
  for (int b = 0; b < B; ++b) ones.data<double>()[b] = 1.0;
  const Tensor g = net.backward(ones);
  double want = 0;
  for (int b = 0; b < B; ++b) {
    double n2 = 0;
    for (long i = 0; i < per; ++i)
      n2 += g.data<double>()[b * per + i] * g.data<double>()[b * per + i];
    want += std::sqrt(n2) / B;
  }
  EXPECT_GT(want, 0.0);
  EXPECT_NEAR(norm, want, 1e-9 * want);
}

TEST(Penalty, RejectsBadInterpolates) {
  RewardNet<double> net(small_cfg(false));
  Tensor wrong = Tensor::zeros({2, 3, 16, 16}, DType::f64);
  EXPECT_THROW(net.gradient_penalty(wrong, 10.0, true), Error);
  Tensor u8 = Tensor::zeros({2, 2, 16, 16}, DType::u8);
  EXPECT_THROW(net.gradient_penalty(u8, 10.0, true), Error);
}

}  // namespace
}  // namespace relmimic
