// The reward net's gradient penalty on a small configuration (16x16 input, few channels, the
// same layer types: spectral norm everywhere, LeakyReLU, relational blocks), on the logit and on
// D = sigmoid(logit):
//   - P itself vs P built from grad_x logit / grad_x D by finite differences,
//   - dP/dtheta (jvp + backward_jvp) vs finite differences of P in every parameter,
//   - the per-sample factors (engine/penalty.h) vs finite differences of sigmoid,
//   - the grad_x pass leaves no parameter gradients,
//   - the ordinary backward of the logit vs finite differences.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <tuple>
#include <vector>

#include "engine/networks.h"
#include "tests/engine/layer_check.h"

namespace relmimic {
namespace {

using testing::rel_error;

RewardConfig small_cfg(bool relational, PenaltyOn on = PenaltyOn::logit) {
  RewardConfig c;
  c.penalty_on = on;
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

// (relational, penalty_on)
class PenaltyTest : public ::testing::TestWithParam<std::tuple<bool, PenaltyOn>> {
 protected:
  RewardConfig cfg() const { return small_cfg(std::get<0>(GetParam()), std::get<1>(GetParam())); }
};

TEST_P(PenaltyTest, ParameterGradientMatchesFiniteDifferences) {
  testing::SerialScope serial;
  RewardNet<double> net(cfg());
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
  RewardNet<double> net(cfg());
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

// backward_params (the BCE step) and the penalty's backward_jvp skip the first layer's input
// gradient; the parameter gradients are backward()'s, and backward() still returns d/dx after.
TEST_P(PenaltyTest, ParameterOnlyPassesMatchAndRestoreTheInputGradient) {
  RewardNet<double> net(cfg());
  Rng rng(54);
  spread(net, rng);
  net.set_training(false);
  Tensor x = testing::random_tensor({3, 2, 16, 16}, rng, 0.0, 1.0);
  Tensor dlogit = testing::random_tensor({3, 1}, rng);
  ParamSet<double>& ps = net.parameters();
  ps.zero_grad();
  net.forward_float(x);
  const Tensor dx = net.backward(dlogit);
  const std::vector<double> dx_full(dx.data<double>(), dx.data<double>() + dx.numel());
  const std::vector<double> full(ps.grads(), ps.grads() + ps.size());
  ps.zero_grad();
  net.forward_float(x);
  net.backward_params(dlogit);
  EXPECT_EQ(std::vector<double>(ps.grads(), ps.grads() + ps.size()), full);
  net.gradient_penalty(x, 10.0, true);
  net.forward_float(x);
  const Tensor again = net.backward(dlogit);
  ASSERT_TRUE(again.defined());
  EXPECT_EQ(std::vector<double>(again.data<double>(), again.data<double>() + again.numel()),
            dx_full);
}

INSTANTIATE_TEST_SUITE_P(RelationalAndTarget, PenaltyTest,
                         ::testing::Combine(::testing::Bool(),
                                            ::testing::Values(PenaltyOn::logit, PenaltyOn::prob)),
                         [](const ::testing::TestParamInfo<PenaltyTest::ParamType>& i) {
                           return std::string(std::get<0>(i.param) ? "relational_" : "baseline_") +
                                  penalty_on_name(std::get<1>(i.param));
                         });

class PenaltyValueTest : public ::testing::TestWithParam<PenaltyOn> {};

// P = lambda mean_b (||grad_x f(logit(x_b))|| - 1)^2, f = identity (logit) or sigmoid (prob), with
// the input gradient taken by central differences of the forward pass alone: checks the value
// (and the backward that produced grad_x).
TEST_P(PenaltyValueTest, ValueMatchesFiniteDifferenceInputGradient) {
  testing::SerialScope serial;
  const bool on_logit = GetParam() == PenaltyOn::logit;
  RewardNet<double> net(small_cfg(true, GetParam()));
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
    auto d = [&] {
      const double l = net.forward_float(xb).data<double>()[0];
      return on_logit ? l : 1.0 / (1.0 + std::exp(-l));
    };
    const std::vector<double> g = testing::numeric_grad(d, xb.data<double>(), per);
    double n2 = 0;
    for (double v : g) n2 += v * v;
    ref += (std::sqrt(n2) - 1) * (std::sqrt(n2) - 1);
  }
  ref *= lambda / 2;
  EXPECT_GT(ref, 0.0);
  EXPECT_NEAR(p, ref, 1e-8 * ref);
}

INSTANTIATE_TEST_SUITE_P(Target, PenaltyValueTest,
                         ::testing::Values(PenaltyOn::logit, PenaltyOn::prob),
                         [](const ::testing::TestParamInfo<PenaltyOn>& i) {
                           return std::string(penalty_on_name(i.param));
                         });

// The same interpolates give different penalties on the logit and on D: the choice reaches the
// network, and the default is the logit.
TEST(Penalty, DefaultIsTheLogitAndTheTargetsDiffer) {
  EXPECT_EQ(RewardConfig{}.penalty_on, PenaltyOn::logit);
  RewardNet<double> on_logit(small_cfg(false, PenaltyOn::logit));
  RewardNet<double> on_prob(small_cfg(false, PenaltyOn::prob));
  Rng rng(55);
  Tensor x = testing::random_tensor({2, 2, 16, 16}, rng, 0.0, 1.0);
  const double pl = on_logit.gradient_penalty(x, 10.0, false);
  const double pp = on_prob.gradient_penalty(x, 10.0, false);
  // Same seed, same weights; sigmoid' <= 1/4 shrinks the gradient, so P moves towards lambda.
  EXPECT_LT(pl, pp);
}

// f'(l), f''(l): 1, 0 on the logit; sigmoid's by central differences on D, also far out where
// s (1 - s) would cancel.
TEST(Penalty, FactorsMatchFiniteDifferencesOfTheScore) {
  for (double l : {-30.0, -3.0, -0.4, 0.0, 0.7, 5.0, 40.0}) {
    const PenaltyFactors f = penalty_factors(PenaltyOn::logit, l);
    EXPECT_EQ(f.d1, 1.0);
    EXPECT_EQ(f.d2, 0.0);
  }
  auto sig = [](double x) { return 1.0 / (1.0 + std::exp(-x)); };
  for (double l : {-3.0, -0.4, 0.0, 0.7, 5.0}) {
    const PenaltyFactors f = penalty_factors(PenaltyOn::prob, l);
    const double h = 1e-4;
    const double d1 = (sig(l + h) - sig(l - h)) / (2 * h);
    const double d2 = (sig(l + h) - 2 * sig(l) + sig(l - h)) / (h * h);
    EXPECT_NEAR(f.d1, d1, 1e-8) << l;
    EXPECT_NEAR(f.d2, d2, 1e-6) << l;
  }
  // Far out: d1 ~ exp(-|l|), d2 ~ -sign(l) exp(-|l|), with full relative precision.
  const PenaltyFactors far = penalty_factors(PenaltyOn::prob, 40.0);
  EXPECT_NEAR(far.d1, std::exp(-40.0), 1e-12 * std::exp(-40.0));
  EXPECT_NEAR(far.d2, -std::exp(-40.0), 1e-12 * std::exp(-40.0));
  EXPECT_NEAR(penalty_factors(PenaltyOn::prob, -40.0).d2, std::exp(-40.0), 1e-12 * std::exp(-40.0));
}

TEST(Penalty, ParsesTheTargetAndRefusesOthers) {
  EXPECT_EQ(parse_penalty_on("logit"), PenaltyOn::logit);
  EXPECT_EQ(parse_penalty_on("prob"), PenaltyOn::prob);
  EXPECT_STREQ(penalty_on_name(PenaltyOn::prob), "prob");
  try {
    parse_penalty_on("sigmoid");
    FAIL() << "accepted 'sigmoid'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected logit or prob"), std::string::npos) << e.what();
  }
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
// On either target the reported norm is that of the logit's input gradient.
TEST(Penalty, ReportsTheMeanLogitInputGradientNorm) {
  for (PenaltyOn on : {PenaltyOn::logit, PenaltyOn::prob}) {
    SCOPED_TRACE(penalty_on_name(on));
    RewardNet<double> net(small_cfg(true, on));
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
