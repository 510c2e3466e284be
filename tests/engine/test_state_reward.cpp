// The MLP discriminator of imitation from states (StateRewardNet), in double:
//   - the gradient penalty's parameter gradient (jvp + backward_jvp through Linear, LeakyReLU and
//     spectral norm) vs central finite differences, on the logit and on a penalised output with a
//     non-zero second derivative (the sigmoid), which takes the f'' path,
//   - the penalty's value vs the input gradient by finite differences,
//   - the logit's backward vs finite differences,
//   - forward(raw windows) is forward_float of the windows standardized by the stored moments,
//   - bad inputs and configs are refused by name.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "engine/networks.h"
#include "tests/engine/layer_check.h"
#include "tests/test_util.h"

namespace relmimic {
namespace {

using testing::rel_error;

StateRewardConfig small_cfg() {
  StateRewardConfig c;
  c.frames = 2;
  c.obs_dim = 5;
  c.hidden = {7, 6};
  c.slope = 0.1;
  c.max_batch = 4;
  c.seed = 5;
  c.obs_mean = {0.5, -1.0, 0.0, 2.0, 0.25};
  c.obs_std = {1.5, 0.5, 1.0, 3.0, 0.2};
  return c;
}

// Random biases put the net at a generic point (LeakyReLU kinks away from the inputs).
void spread(StateRewardNet<double>& net, Rng& rng) {
  ParamSet<double>& ps = net.parameters();
  for (const auto& e : ps.entries())
    if (e.name.find(".bias") != std::string::npos)
      testing::fill_uniform(ps.values() + e.offset, e.size, rng, -0.5, 0.5);
}

class StatePenaltyTest : public ::testing::TestWithParam<bool> {};

TEST_P(StatePenaltyTest, ParameterGradientMatchesFiniteDifferences) {
  testing::SerialScope serial;
  StateRewardConfig c = small_cfg();
  if (GetParam()) c.penalty_on = PenaltyOn::prob;
  StateRewardNet<double> net(c);
  Rng rng(61);
  spread(net, rng);
  Tensor x = testing::random_tensor({4, 2, 5}, rng, -2.0, 2.0);
  // A few training forwards move u, then u is frozen so P is a function of theta alone.
  net.set_training(true);
  for (int i = 0; i < 3; ++i) net.forward_float(x);
  net.set_training(false);
  const double lambda = 10.0;
  ParamSet<double>& ps = net.parameters();
  ps.zero_grad();
  const double p = net.gradient_penalty(x, lambda, true);
  EXPECT_GT(p, 0.0);
  const std::vector<double> analytic(ps.grads(), ps.grads() + ps.size());
  double scale = 0;
  for (double g : analytic) scale = std::max(scale, std::abs(g));
  EXPECT_GT(scale, 0.0);
  auto penalty = [&] { return net.gradient_penalty(x, lambda, false); };
  const std::vector<double> numeric = testing::numeric_grad(penalty, ps.values(), ps.size());
  EXPECT_LE(rel_error(analytic, numeric), testing::kFdTol);
}

// P = lambda mean_b (||grad_x f(logit(x_b))|| - 1)^2 with grad_x by central differences.
TEST_P(StatePenaltyTest, ValueMatchesFiniteDifferenceInputGradient) {
  testing::SerialScope serial;
  StateRewardConfig c = small_cfg();
  if (GetParam()) c.penalty_on = PenaltyOn::prob;
  StateRewardNet<double> net(c);
  Rng rng(62);
  spread(net, rng);
  net.set_training(false);
  Tensor x = testing::random_tensor({3, 2, 5}, rng, -2.0, 2.0);
  const double lambda = 10.0;
  const double p = net.gradient_penalty(x, lambda, false);
  const long per = 10;
  double ref = 0;
  for (int b = 0; b < 3; ++b) {
    Tensor xb = testing::random_tensor({1, 2, 5}, rng);
    std::copy(x.data<double>() + b * per, x.data<double>() + (b + 1) * per, xb.data<double>());
    auto f = [&] {
      const double l = net.forward_float(xb).data<double>()[0];
      return GetParam() ? 1.0 / (1.0 + std::exp(-l)) : l;
    };
    const std::vector<double> g = testing::numeric_grad(f, xb.data<double>(), per);
    double n2 = 0;
    for (double v : g) n2 += v * v;
    ref += (std::sqrt(n2) - 1) * (std::sqrt(n2) - 1);
  }
  ref *= lambda / 3;
  EXPECT_NEAR(p, ref, 1e-8 * ref);
}

INSTANTIATE_TEST_SUITE_P(LogitOrSigmoid, StatePenaltyTest, ::testing::Bool());

TEST(StateRewardNet, LogitBackwardMatchesFiniteDifferences) {
  StateRewardNet<double> net(small_cfg());
  Rng rng(63);
  spread(net, rng);
  net.set_training(false);
  Tensor x = testing::random_tensor({3, 2, 5}, rng, -2.0, 2.0);
  testing::Fns f;
  f.forward = [&](const Tensor& in) { return net.forward_float(in); };
  f.backward = [&](const Tensor& dy) { return net.backward(dy); };
  testing::check_backward(f, net.parameters(), x, rng);
}

TEST(StateRewardNet, ForwardStandardizesWithTheStoredMoments) {
  const StateRewardConfig c = small_cfg();
  StateRewardNet<double> net(c);
  net.set_training(false);
  Rng rng(64);
  Tensor raw = Tensor::zeros({3, 2, 5}, DType::f32);
  for (long i = 0; i < raw.numel(); ++i) raw.data<float>()[i] = float(rng.normal() * 2);
  Tensor x = Tensor::zeros({3, 2, 5}, DType::f64);
  for (long i = 0; i < raw.numel(); ++i) {
    const size_t j = size_t(i % 5);
    x.data<double>()[i] = (double(raw.data<float>()[i]) - c.obs_mean[j]) / c.obs_std[j];
  }
  std::vector<double> got(3);
  const Tensor l = net.forward(raw);
  std::copy(l.data<double>(), l.data<double>() + 3, got.begin());
  const Tensor want = net.forward_float(x);
  for (int b = 0; b < 3; ++b) EXPECT_NEAR(got[size_t(b)], want.data<double>()[b], 1e-12);
  // The moments are buffers (checkpointed with the spectral-norm vectors).
  bool found = false;
  for (const auto& e : net.buffers().entries())
    if (e.name == "reward.input_std") {
      found = true;
      EXPECT_EQ(net.buffers().values()[e.offset + 1], 0.5);
    }
  EXPECT_TRUE(found);
  EXPECT_EQ(net.params(), (10 * 7 + 7) + (7 * 6 + 6) + (6 + 1));
}

TEST(StateRewardNet, RefusesBadInputsAndConfigs) {
  StateRewardNet<double> net(small_cfg());
  EXPECT_NE(testing::error_of([&] {
              net.forward(Tensor::zeros({2, 2, 4}, DType::f32));
            }).find("observation windows"),
            std::string::npos);
  EXPECT_THROW(net.forward(Tensor::zeros({2, 2, 5}, DType::u8)), Error);
  EXPECT_THROW(net.gradient_penalty(Tensor::zeros({2, 3, 5}, DType::f64), 10.0, true), Error);
  StateRewardConfig c = small_cfg();
  c.obs_std[2] = 0;
  EXPECT_NE(testing::error_of([&] { StateRewardNet<double> n(c); }).find("obs_std"),
            std::string::npos);
  c = small_cfg();
  c.obs_mean.pop_back();
  EXPECT_NE(testing::error_of([&] { StateRewardNet<double> n(c); }).find("obs_mean"),
            std::string::npos);
  c = small_cfg();
  c.hidden = {};
  EXPECT_THROW(StateRewardNet<double> n(c), Error);
}

}  // namespace
}  // namespace relmimic
