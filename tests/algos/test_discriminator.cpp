// The discriminator's loss: its parameter gradient against finite differences (u and eps
// fixed), the terms on hand values, chunking, the frozen reward, settings and bad inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "engine/config.h"
#include "kernels/ppo_loss.h"
#include "tests/algos/disc_test_util.h"
#include "tests/engine/layer_check.h"
#include "tests/test_util.h"

namespace relmimic {
namespace {

using relmimic::testing::error_of;

using algos::Discriminator;
using algos::DiscriminatorConfig;
using algos::UpdateStats;
using testing::rel_error;
using testing::sigmoid;

// Moves the spectral norms' u off their random start the way updates do, then keeps them
// (evaluation mode), so finite differences see a fixed function.
void settle_power_iteration(Discriminator<double>& d, const Tensor& window) {
  d.net().set_training(true);
  for (int i = 0; i < 3; ++i) d.net().forward(window.slice(0, 1));
  d.net().set_training(false);
}

class DiscGradTest : public ::testing::TestWithParam<bool> {};

// L(theta) with u frozen and eps fixed is a deterministic function: compute_loss's gradient
// must match its central differences in every parameter. B = 4 over max_batch 3 runs every
// term in two chunks.
TEST_P(DiscGradTest, LossGradientMatchesFiniteDifferences) {
  testing::SerialScope serial;
  const DiscriminatorConfig c = testing::tiny_disc(GetParam(), /*max_batch=*/3);
  Discriminator<double> d(c);
  Rng rng(11);
  testing::spread_biases(d, rng);
  Tensor expert = testing::random_windows(4, c, rng);
  Tensor agent = testing::random_windows(4, c, rng);
  settle_power_iteration(d, expert);
  const std::vector<double> eps = {0.15, 0.8, 0.5, 0.35};

  const UpdateStats st = d.compute_loss(expert, agent, eps.data(), true);
  EXPECT_GT(st.expert_loss, 0.0);
  EXPECT_GT(st.agent_loss, 0.0);
  EXPECT_GT(st.penalty, 0.0);
  EXPECT_DOUBLE_EQ(st.loss, st.expert_loss + st.agent_loss + st.penalty);
  const std::vector<double> analytic = testing::grads_of(d);
  ParamSet<double>& ps = d.parameters();
  auto loss = [&] { return d.compute_loss(expert, agent, eps.data(), false).loss; };
  const std::vector<double> numeric = testing::numeric_grad(loss, ps.values(), ps.size());
  EXPECT_LE(rel_error(analytic, numeric), testing::kFdTol);
  // Gradients were overwritten, not accumulated: a second call gives the same vector.
  d.compute_loss(expert, agent, eps.data(), true);
  EXPECT_EQ(testing::grads_of(d), analytic);
}

// Chunking is invisible: max_batch 3 (chunks 3 + 2) and max_batch 5 (one pass) give the same
// terms and gradient from the same initial network.
TEST_P(DiscGradTest, ChunkedBatchesMatchOnePass) {
  testing::SerialScope serial;
  Rng rng(12);
  Discriminator<double> chunked(testing::tiny_disc(GetParam(), 3));
  Discriminator<double> whole(testing::tiny_disc(GetParam(), 5));
  const DiscriminatorConfig& c = chunked.config();
  Tensor expert = testing::random_windows(5, c, rng);
  Tensor agent = testing::random_windows(5, c, rng);
  const std::vector<double> eps = {0.1, 0.9, 0.4, 0.6, 0.25};
  const UpdateStats a = chunked.compute_loss(expert, agent, eps.data(), true);
  const UpdateStats b = whole.compute_loss(expert, agent, eps.data(), true);
  EXPECT_NEAR(a.expert_loss, b.expert_loss, 1e-13);
  EXPECT_NEAR(a.agent_loss, b.agent_loss, 1e-13);
  EXPECT_NEAR(a.penalty, b.penalty, 1e-12);
  EXPECT_NEAR(a.expert_accuracy, b.expert_accuracy, 1e-15);
  EXPECT_NEAR(a.agent_d, b.agent_d, 1e-15);
  EXPECT_LE(rel_error(testing::grads_of(chunked), testing::grads_of(whole)), 1e-12);
}

INSTANTIATE_TEST_SUITE_P(Relational, DiscGradTest, ::testing::Bool());

// Imitation from states: windows of k = 2 observations of 5 values, an MLP of 6 and 4 units,
// inputs standardized by fixed moments.
DiscriminatorConfig tiny_state_disc(int max_batch) {
  DiscriminatorConfig c;
  c.states = true;
  c.frames = 2;
  c.obs_dim = 5;
  c.hidden = {6, 4};
  c.obs_mean = {0.5, -1.0, 0.0, 2.0, 0.25};
  c.obs_std = {1.5, 0.5, 1.0, 3.0, 0.2};
  c.max_batch = max_batch;
  c.seed = 4;
  return c;
}

Tensor random_obs_windows(int batch, Rng& rng) {
  Tensor t = Tensor::zeros({batch, 2, 5}, DType::f32);
  for (long i = 0; i < t.numel(); ++i) t.data<float>()[i] = float(rng.normal() * 2);
  return t;
}

// The same loss on observation windows: BCE on both batches and the penalty on interpolates of
// the standardized windows, its gradient against central differences; chunks (3 + 1) included.
TEST(Discriminator, StateLossGradientMatchesFiniteDifferencesAndChunking) {
  testing::SerialScope serial;
  Discriminator<double> d(tiny_state_disc(3));
  Rng rng(13);
  testing::spread_biases(d, rng, 0.5);
  Tensor expert = random_obs_windows(4, rng);
  Tensor agent = random_obs_windows(4, rng);
  settle_power_iteration(d, expert);
  const std::vector<double> eps = {0.15, 0.8, 0.5, 0.35};
  const UpdateStats st = d.compute_loss(expert, agent, eps.data(), true);
  EXPECT_GT(st.expert_loss, 0.0);
  EXPECT_GT(st.penalty, 0.0);
  const std::vector<double> analytic = testing::grads_of(d);
  ParamSet<double>& ps = d.parameters();
  auto loss = [&] { return d.compute_loss(expert, agent, eps.data(), false).loss; };
  EXPECT_LE(rel_error(analytic, testing::numeric_grad(loss, ps.values(), ps.size())),
            testing::kFdTol);
  // The penalty is that of the interpolates of the standardized windows.
  const DiscriminatorConfig& c = d.config();
  Tensor x_hat = Tensor::zeros({4, 2, 5}, DType::f64);
  for (int b = 0; b < 4; ++b)
    for (int i = 0; i < 10; ++i) {
      const double m = c.obs_mean[size_t(i % 5)], s = c.obs_std[size_t(i % 5)];
      const double xe = (expert.data<float>()[b * 10 + i] - m) / s;
      const double xa = (agent.data<float>()[b * 10 + i] - m) / s;
      x_hat.data<double>()[b * 10 + i] = eps[size_t(b)] * xa + (1 - eps[size_t(b)]) * xe;
    }
  double p = d.net().gradient_penalty(x_hat.slice(0, 3), c.lambda * 3 / 4, false);
  p += d.net().gradient_penalty(x_hat.slice(3, 4), c.lambda / 4, false);
  EXPECT_NEAR(st.penalty, p, 1e-12 * p);
  // One pass over all four windows gives the same terms and gradient.
  Discriminator<double> whole(tiny_state_disc(4));
  std::memcpy(whole.parameters().values(), ps.values(), sizeof(double) * size_t(ps.size()));
  std::memcpy(whole.net().buffers().values(), d.net().buffers().values(),
              sizeof(double) * size_t(d.net().buffers().size()));
  const UpdateStats w = whole.compute_loss(expert, agent, eps.data(), true);
  EXPECT_NEAR(w.loss, st.loss, 1e-12);
  EXPECT_LE(rel_error(testing::grads_of(whole), analytic), 1e-12);
  // Frames are not observation windows.
  EXPECT_NE(error_of([&] {
              d.compute_loss(Tensor::zeros({4, 2, 16, 16}, DType::u8), agent, eps.data(), false);
            }).find("expected shape [B, 2, 5]"),
            std::string::npos);
  std::vector<float> r(4);
  d.reward(agent, r.data());
  for (float v : r) EXPECT_TRUE(std::isfinite(v) && v >= 0);
}

// All-zero windows reach the logit only through the FC bias (every other bias starts at 0,
// zero input stays zero through convs, LeakyReLU and the relational blocks), so the logit is
// the bias and the terms are known in closed form.
TEST(Discriminator, TermsAndRewardOnHandValues) {
  testing::SerialScope serial;
  DiscriminatorConfig c = testing::tiny_disc(true, 4);
  c.lambda = 0;  // the penalty at x = 0 has no closed form; it is checked separately below
  Discriminator<double> d(c);
  ParamSet<double>& ps = d.parameters();
  const int fc_bias = ps.find("reward.fc.bias");
  ASSERT_GE(fc_bias, 0);
  Tensor zeros = Tensor::zeros({4, 2, 16, 16}, DType::u8);
  const std::vector<double> eps(4, 0.5);
  std::vector<float> r(4);

  ps.value(fc_bias)[0] = std::log(3.0);  // D = 3/4
  UpdateStats st = d.compute_loss(zeros, zeros, eps.data(), false);
  EXPECT_NEAR(st.expert_d, 0.75, 1e-15);
  EXPECT_NEAR(st.agent_d, 0.75, 1e-15);
  EXPECT_NEAR(st.expert_loss, 0.28768207245178090, 1e-14);  // -log 0.75
  EXPECT_NEAR(st.agent_loss, 1.3862943611198906, 1e-14);    // -log 0.25
  EXPECT_EQ(st.expert_accuracy, 1.0);
  EXPECT_EQ(st.agent_accuracy, 0.0);
  EXPECT_EQ(st.penalty, 0.0);
  d.reward(zeros, r.data());
  for (float v : r) EXPECT_NEAR(v, 1.3862943211198915, 1e-6);  // -log(0.25 + 1e-8)

  ps.value(fc_bias)[0] = -std::log(3.0);  // D = 1/4
  st = d.compute_loss(zeros, zeros, eps.data(), false);
  EXPECT_NEAR(st.expert_loss, 1.3862943611198906, 1e-14);
  EXPECT_NEAR(st.agent_loss, 0.28768207245178090, 1e-14);
  EXPECT_EQ(st.expert_accuracy, 0.0);
  EXPECT_EQ(st.agent_accuracy, 1.0);
  d.reward(zeros, r.data());
  for (float v : r) EXPECT_NEAR(v, 0.28768205911844763, 1e-6);  // -log(0.75 + 1e-8)

  // Saturated D: the reward is capped at -log(1e-8) and vanishes (to -1e-8) at the other end.
  ps.value(fc_bias)[0] = 60.0;
  d.reward(zeros, r.data());
  for (float v : r) EXPECT_NEAR(v, 18.420680743952367, 1e-5);
  ps.value(fc_bias)[0] = -60.0;
  d.reward(zeros, r.data());
  for (float v : r) EXPECT_NEAR(v, 0.0, 1e-7);
  // Logit exactly 0 (D = 1/2) counts as "agent": expert accuracy 0, agent accuracy 1.
  ps.value(fc_bias)[0] = 0.0;
  st = d.compute_loss(zeros, zeros, eps.data(), false);
  EXPECT_NEAR(st.expert_loss, std::log(2.0), 1e-15);
  EXPECT_EQ(st.expert_accuracy, 0.0);
  EXPECT_EQ(st.agent_accuracy, 1.0);
}

// On generic windows each term equals its definition from the net's own logits, and the
// penalty equals RewardNet::gradient_penalty on the interpolates built by hand.
TEST(Discriminator, TermsMatchTheirDefinitions) {
  testing::SerialScope serial;
  DiscriminatorConfig c = testing::tiny_disc(true, 8);
  Discriminator<double> d(c);
  Rng rng(13);
  testing::spread_biases(d, rng, 1.5);
  const int B = 6;
  Tensor expert = testing::random_windows(B, c, rng);
  Tensor agent = testing::random_windows(B, c, rng);
  std::vector<double> eps(B);
  for (double& e : eps) e = rng.uniform();
  const UpdateStats st = d.compute_loss(expert, agent, eps.data(), false);

  std::vector<double> le(B), la(B);
  d.logits(expert, le.data());
  d.logits(agent, la.data());
  double el = 0, al = 0, ea = 0, aa = 0, ed = 0, ad = 0;
  for (int b = 0; b < B; ++b) {
    el -= std::log(sigmoid(le[b])) / B;
    al -= std::log(1 - sigmoid(la[b])) / B;
    ea += (le[b] > 0) / double(B);
    aa += (la[b] <= 0) / double(B);
    ed += sigmoid(le[b]) / B;
    ad += sigmoid(la[b]) / B;
  }
  EXPECT_NEAR(st.expert_loss, el, 1e-12);
  EXPECT_NEAR(st.agent_loss, al, 1e-12);
  EXPECT_NEAR(st.expert_accuracy, ea, 1e-15);
  EXPECT_NEAR(st.agent_accuracy, aa, 1e-15);
  EXPECT_NEAR(st.expert_d, ed, 1e-14);
  EXPECT_NEAR(st.agent_d, ad, 1e-14);

  const long per = 2 * 16 * 16;
  Tensor x_hat = Tensor::zeros({B, 2, 16, 16}, DType::f64);
  for (int b = 0; b < B; ++b)
    for (long i = 0; i < per; ++i)
      x_hat.data<double>()[b * per + i] = (eps[b] * agent.data<uint8_t>()[b * per + i] +
                                           (1 - eps[b]) * expert.data<uint8_t>()[b * per + i]) /
                                          255.0;
  double norm = 0;
  EXPECT_NEAR(st.penalty, d.net().gradient_penalty(x_hat, c.lambda, false, &norm),
              1e-12 * st.penalty);
  EXPECT_GT(st.penalty, 0.0);
  // The logit gradient norm at the interpolates, also when the batch is chunked (6 = 4 + 2).
  EXPECT_GT(norm, 0.0);
  EXPECT_NEAR(st.logit_grad_norm, norm, 1e-12 * norm);
  DiscriminatorConfig chunked = c;
  chunked.max_batch = 4;
  Discriminator<double> d4(chunked);
  d4.parameters().copy_values_from(d.parameters());
  d4.net().buffers().copy_values_from(d.net().buffers());
  EXPECT_NEAR(d4.compute_loss(expert, agent, eps.data(), false).logit_grad_norm, norm,
              1e-12 * norm);
  // Without a penalty there is no such norm.
  DiscriminatorConfig no_penalty = c;
  no_penalty.lambda = 0;
  Discriminator<double> d0(no_penalty);
  EXPECT_TRUE(std::isnan(d0.compute_loss(expert, agent, eps.data(), false).logit_grad_norm));

  // reward() = -log(1 - D + 1e-8) of the same logits.
  std::vector<float> r(B);
  d.reward(expert, r.data());
  for (int b = 0; b < B; ++b) EXPECT_NEAR(r[b], -std::log(1 - sigmoid(le[b]) + 1e-8), 1e-5);
}

// reward() leaves u, the parameters and the gradients alone, and gives each window the same
// value (up to rounding) alone or in a batch larger than max_batch.
TEST(Discriminator, RewardIsFrozenAndBatchIndependent) {
  testing::SerialScope serial;
  const DiscriminatorConfig c = testing::tiny_disc(true, 3);
  Discriminator<float> d(c);
  Rng rng(14);
  Tensor s = testing::random_windows(7, c, rng);
  d.parameters().zero_grad();
  const auto u0 = testing::buffers_of(d);
  const auto p0 = testing::values_of(d);
  std::vector<float> r(7), one(1);
  d.reward(s, r.data());
  EXPECT_EQ(testing::buffers_of(d), u0);
  EXPECT_EQ(testing::values_of(d), p0);
  for (float g : testing::grads_of(d)) ASSERT_EQ(g, 0.0f);
  // Alone or in a chunk of 3, a sample gets the same reward up to rounding: the CPU convs put
  // the samples of a chunk side by side in one GEMM, and OpenBLAS's kernels for a wider matrix
  // may round a column differently.
  for (int b = 0; b < 7; ++b) {
    d.reward(s.slice(b, b + 1), one.data());
    EXPECT_NEAR(one[0], r[b], 1e-6f * std::max(1.0f, std::abs(r[b]))) << b;
  }
}

// One update moves u by exactly one power iteration, whatever the batch (B = 5 runs in chunks).
TEST(Discriminator, UpdateTakesOnePowerIteration) {
  testing::SerialScope serial;
  const DiscriminatorConfig c = testing::tiny_disc(true, 2);
  Discriminator<float> d(c), twin(c);
  Rng rng(15);
  Tensor expert = testing::random_windows(5, c, rng);
  Tensor agent = testing::random_windows(5, c, rng);
  d.update(expert, agent);
  twin.net().set_training(true);
  twin.net().forward(expert.slice(0, 1));
  EXPECT_EQ(testing::buffers_of(d), testing::buffers_of(twin));
  twin.net().forward(expert.slice(0, 1));
  EXPECT_NE(testing::buffers_of(d), testing::buffers_of(twin));
}

// After the update the gradient left in the set is the clipped one; the reported norm is the
// norm before clipping.
TEST(Discriminator, ClipsTheGradientNorm) {
  testing::SerialScope serial;
  DiscriminatorConfig c = testing::tiny_disc(false, 4);
  c.max_grad_norm = 1e-3;
  Discriminator<float> d(c);
  Rng rng(16);
  const UpdateStats st =
      d.update(testing::random_windows(4, c, rng), testing::random_windows(4, c, rng));
  double n2 = 0;
  for (float g : testing::grads_of(d)) n2 += double(g) * g;
  EXPECT_GT(st.grad_norm, 1e-2);
  EXPECT_NEAR(std::sqrt(n2), 1e-3, 1e-6);
  EXPECT_EQ(d.updates(), 1);

  c.max_grad_norm = 0;  // off: the gradient stays as computed
  Discriminator<float> off(c);
  const UpdateStats st2 =
      off.update(testing::random_windows(4, c, rng), testing::random_windows(4, c, rng));
  n2 = 0;
  for (float g : testing::grads_of(off)) n2 += double(g) * g;
  EXPECT_NEAR(std::sqrt(n2), st2.grad_norm, 1e-6 * st2.grad_norm);
}

TEST(Discriminator, RejectsBadWindows) {
  testing::SerialScope serial;
  const DiscriminatorConfig c = testing::tiny_disc(true, 4);
  Discriminator<float> d(c);
  const auto u0 = testing::buffers_of(d);
  Rng rng(17);
  Tensor good = testing::random_windows(4, c, rng);
  const Tensor frames3 = Tensor::zeros({4, 3, 16, 16}, DType::u8);
  const Tensor size12 = Tensor::zeros({4, 2, 12, 12}, DType::u8);
  const Tensor floats = Tensor::zeros({4, 2, 16, 16}, DType::f32);
  const Tensor flat = Tensor::zeros({4, 512}, DType::u8);
  const Tensor fewer = Tensor::zeros({3, 2, 16, 16}, DType::u8);
  std::vector<float> r(4);

  std::string e = error_of([&] { d.update(frames3, good); });
  EXPECT_NE(e.find("expert windows expected shape [B, 2, 16, 16]"), std::string::npos) << e;
  EXPECT_NE(e.find("[4, 3, 16, 16]"), std::string::npos) << e;
  e = error_of([&] { d.update(good, size12); });
  EXPECT_NE(e.find("agent windows expected shape"), std::string::npos) << e;
  e = error_of([&] { d.update(good, floats); });
  EXPECT_NE(e.find("agent windows have dtype float32, expected u8"), std::string::npos) << e;
  e = error_of([&] { d.update(flat, good); });
  EXPECT_NE(e.find("expert windows expected shape"), std::string::npos) << e;
  e = error_of([&] { d.update(good, fewer); });
  EXPECT_NE(e.find("expert and agent batches differ (4 vs 3"), std::string::npos) << e;
  e = error_of([&] { d.update(Tensor(), good); });
  EXPECT_NE(e.find("expert windows are undefined"), std::string::npos) << e;
  e = error_of([&] { d.reward(size12, r.data()); });
  EXPECT_NE(e.find("reward windows expected shape"), std::string::npos) << e;
  e = error_of([&] { d.reward(good, nullptr); });
  EXPECT_NE(e.find("reward output is null"), std::string::npos) << e;
  const std::vector<float> bad_eps = {0.5f, 1.5f, 0.5f, 0.5f};
  e = error_of([&] { d.compute_loss(good, good, bad_eps.data(), false); });
  EXPECT_NE(e.find("interpolation weight 1 is 1.5"), std::string::npos) << e;
  // The refused calls changed nothing (not even u).
  EXPECT_EQ(d.updates(), 0);
  EXPECT_EQ(testing::buffers_of(d), u0);
}

// A non-finite loss or gradient stops the update before the Adam step, naming the term.
TEST(Discriminator, NonFiniteValuesThrowNamingTheTerm) {
  testing::SerialScope serial;
  const DiscriminatorConfig c = testing::tiny_disc(true, 4);
  Rng rng(18);
  Tensor expert = testing::random_windows(4, c, rng);
  Tensor agent = testing::random_windows(4, c, rng);
  {
    Discriminator<float> d(c);
    d.parameters().value(d.parameters().find("reward.fc.bias"))[0] = NAN;
    const auto before = testing::values_of(d);
    const std::string e = error_of([&] { d.update(expert, agent); });
    EXPECT_NE(e.find("expert cross-entropy is not finite"), std::string::npos) << e;
    const auto after = testing::values_of(d);
    EXPECT_EQ(std::memcmp(before.data(), after.data(), before.size() * sizeof(float)), 0);
    EXPECT_EQ(d.updates(), 0);
  }
  {
    DiscriminatorConfig huge = c;
    huge.lambda = 1e308;  // finite, but the penalty overflows
    Discriminator<float> d(huge);
    const std::string e = error_of([&] { d.update(expert, agent); });
    EXPECT_NE(e.find("gradient penalty is not finite"), std::string::npos) << e;
    EXPECT_EQ(d.updates(), 0);
  }
  {
    Discriminator<float> d(c);
    const auto before = testing::values_of(d);
    auto poison = [](float* g, long n) { g[n / 2] = NAN; };
    const std::string e = error_of([&] { d.update(expert, agent, poison); });
    EXPECT_NE(e.find("gradient of the loss after the gradient hook (all-reduce) is not finite"),
              std::string::npos)
        << e;
    EXPECT_NE(e.find("'reward."), std::string::npos) << e;  // names the parameter
    EXPECT_EQ(testing::values_of(d), before);
  }
}

TEST(DiscriminatorConfig, DeclaredSettingsRoundTrip) {
  testing::SerialScope serial;
  Config cfg;
  algos::declare_discriminator(cfg);
  DiscriminatorConfig d = algos::discriminator_config(cfg, 7);
  const DiscriminatorConfig def;
  EXPECT_TRUE(d.relational);
  EXPECT_EQ(d.frames, def.frames);
  EXPECT_EQ(d.height, 84);
  EXPECT_EQ(d.width, 84);
  EXPECT_EQ(d.channels, def.channels);
  EXPECT_EQ(d.embed, def.embed);
  EXPECT_EQ(d.lr, 3e-4);
  EXPECT_EQ(d.lambda, 10.0);
  EXPECT_EQ(d.max_grad_norm, 0.5);
  EXPECT_EQ(d.penalty_on, PenaltyOn::logit);
  EXPECT_EQ(d.net().penalty_on, PenaltyOn::logit);
  EXPECT_EQ(d.seed, 7u);

  cfg.apply_overrides({"disc.variant=baseline", "disc.frames=8", "disc.frame_size=16",
                       "disc.channels=2,3,3,4,4", "disc.embed=2,2", "disc.max_grad_norm=0",
                       "disc.beta1=0.5", "disc.penalty_on=prob"});
  d = algos::discriminator_config(cfg, 7);
  EXPECT_FALSE(d.relational);
  EXPECT_EQ(d.frames, 8);
  EXPECT_EQ(d.width, 16);
  EXPECT_EQ(d.channels, (std::array<int, 5>{2, 3, 3, 4, 4}));
  EXPECT_EQ(d.max_grad_norm, 0.0);
  EXPECT_EQ(d.beta1, 0.5);
  EXPECT_EQ(d.penalty_on, PenaltyOn::prob);
  Discriminator<float> built(d);  // the settings make a working network
  auto& net = dynamic_cast<RewardNet<float>&>(built.net());
  EXPECT_EQ(net.config().frames, 8);
  EXPECT_FALSE(net.config().relational);
  EXPECT_EQ(net.config().penalty_on, PenaltyOn::prob);

  auto refused = [&](const std::string& assignment) {
    Config bad;
    algos::declare_discriminator(bad);
    bad.apply_override(assignment);
    return error_of([&] { algos::discriminator_config(bad, 0); });
  };
  EXPECT_NE(refused("disc.variant=local").find("disc.variant"), std::string::npos);
  EXPECT_NE(refused("disc.channels=32,64").find("disc.channels must list 5"), std::string::npos);
  EXPECT_NE(refused("disc.embed=8,x").find("'x' is not an integer"), std::string::npos);
  EXPECT_NE(refused("disc.max_grad_norm=-1").find("disc.max_grad_norm"), std::string::npos);
  EXPECT_NE(refused("disc.beta2=1").find("disc.beta2"), std::string::npos);
  EXPECT_NE(refused("disc.penalty_on=sigmoid").find("disc.penalty_on must be logit or prob"),
            std::string::npos);
}

}  // namespace
}  // namespace relmimic
