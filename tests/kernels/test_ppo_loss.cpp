// PPO and discriminator math (CPU): GAE against a rollout worked out by hand, the Gaussian policy
// against its closed form, every gradient against central finite differences in double, and the
// imitation reward at saturated logits.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "engine/rng.h"
#include "kernels/common.h"
#include "kernels/ppo_loss.h"
#include "tests/grad_check.h"

namespace relmimic {
namespace {

using namespace kernels;
using testing::numeric_grad;
using testing::random_vector;
using testing::rel_error;

// ---- GAE -------------------------------------------------------------------------------------

// T = 5 steps, N = 2 envs, gamma = 0.5, lambda = 0.5 (gamma * lambda = 0.25). Time-major: element
// (t, n) sits at t * 2 + n.
// Env 0 terminates at t = 1 and is truncated at t = 3:
//   t  r  V    V'   term trunc
//   0  1  0.5  1    0    0      V' = V[1]
//   1  2  1    9    1    0      V' ignored (terminal state)
//   2  1  1    2    0    0      V' = V[3]
//   3  1  2    6    0    1      V' = value of the final observation, not V[4] (reset obs)
//   4  3  3    2    0    0      V' = value of the observation after the rollout
// Env 1 never ends: r = (0, 0, 0, 0, 1), V = 1 everywhere, V' = (1, 1, 1, 1, 4).
struct GaeCase {
  std::vector<double> r, v, nv, adv, ret;
  std::vector<uint8_t> term, trunc;
};

GaeCase hand_case() {
  GaeCase c;
  // Interleaved env 0, env 1 per step.
  c.r = {1, 0, 2, 0, 1, 0, 1, 0, 3, 1};
  c.v = {0.5, 1, 1, 1, 1, 1, 2, 1, 3, 1};
  c.nv = {1, 1, 9, 1, 2, 1, 6, 1, 2, 4};
  c.term = {0, 0, 1, 0, 0, 0, 0, 0, 0, 0};
  c.trunc = {0, 0, 0, 0, 0, 0, 1, 0, 0, 0};
  // Env 0, backwards:
  //   t=4: delta = 3 + 0.5*2 - 3 = 1;                A = 1;                 R = 1 + 3 = 4
  //   t=3: delta = 1 + 0.5*6 - 2 = 2 (truncation bootstraps); A = 2 (done cuts); R = 2 + 2 = 4
  //   t=2: delta = 1 + 0.5*2 - 1 = 1;                A = 1 + 0.25*2 = 1.5;  R = 1.5 + 1 = 2.5
  //   t=1: delta = 2 + 0 - 1 = 1 (terminal: no bootstrap); A = 1 (done cuts); R = 1 + 1 = 2
  //   t=0: delta = 1 + 0.5*1 - 0.5 = 1;              A = 1 + 0.25*1 = 1.25; R = 1.25 + 0.5 = 1.75
  // Env 1, backwards:
  //   t=4: delta = 1 + 0.5*4 - 1 = 2;    A = 2;                          R = 3
  //   t=3: delta = 0 + 0.5*1 - 1 = -0.5; A = -0.5 + 0.25*2 = 0;          R = 1
  //   t=2: delta = -0.5;                 A = -0.5 + 0.25*0 = -0.5;       R = 0.5
  //   t=1: delta = -0.5;                 A = -0.5 + 0.25*(-0.5) = -0.625; R = 0.375
  //   t=0: delta = -0.5;                 A = -0.5 + 0.25*(-0.625) = -0.65625; R = 0.34375
  c.adv = {1.25, -0.65625, 1, -0.625, 1.5, -0.5, 2, 0, 1, 2};
  c.ret = {1.75, 0.34375, 2, 0.375, 2.5, 0.5, 4, 1, 4, 3};
  return c;
}

TEST(Gae, HandComputedRolloutWithTerminationAndTruncation) {
  GaeCase c = hand_case();
  std::vector<double> adv(10), ret(10);
  gae_cpu(5, 2, c.r.data(), c.v.data(), c.nv.data(), c.term.data(), c.trunc.data(), 0.5, 0.5,
          adv.data(), ret.data());
  for (int i = 0; i < 10; ++i) {
    EXPECT_DOUBLE_EQ(adv[i], c.adv[i]) << "advantage at t=" << i / 2 << " env=" << i % 2;
    EXPECT_DOUBLE_EQ(ret[i], c.ret[i]) << "return at t=" << i / 2 << " env=" << i % 2;
  }
}

TEST(Gae, FloatMatchesDouble) {
  GaeCase c = hand_case();
  std::vector<float> r(c.r.begin(), c.r.end()), v(c.v.begin(), c.v.end()),
      nv(c.nv.begin(), c.nv.end()), adv(10), ret(10);
  gae_cpu(5, 2, r.data(), v.data(), nv.data(), c.term.data(), c.trunc.data(), 0.5, 0.5, adv.data(),
          ret.data());
  EXPECT_LT(rel_error(adv, c.adv), 1e-6);
  EXPECT_LT(rel_error(ret, c.ret), 1e-6);
}

// lambda = 1 without episode ends: the return is the discounted reward sum bootstrapped from the
// last next-value (Monte Carlo); lambda = 0: the advantage is the one-step TD error.
TEST(Gae, LambdaLimits) {
  const int T = 7, N = 3;
  const double gamma = 0.9;
  Rng rng(11);
  auto r = random_vector<double>(T * N, rng), v = random_vector<double>(T * N, rng),
       nv = random_vector<double>(T * N, rng);
  for (int t = 0; t + 1 < T; ++t)
    for (int n = 0; n < N; ++n) nv[t * N + n] = v[(t + 1) * N + n];
  std::vector<uint8_t> none(T * N, 0);
  std::vector<double> adv(T * N), ret(T * N);

  gae_cpu(T, N, r.data(), v.data(), nv.data(), none.data(), none.data(), gamma, 1.0, adv.data(),
          ret.data());
  for (int n = 0; n < N; ++n)
    for (int t = 0; t < T; ++t) {
      double g = 0, disc = 1;
      for (int k = t; k < T; ++k, disc *= gamma) g += disc * r[k * N + n];
      g += disc * nv[(T - 1) * N + n];
      EXPECT_NEAR(ret[t * N + n], g, 1e-12) << "t=" << t << " n=" << n;
    }

  gae_cpu(T, N, r.data(), v.data(), nv.data(), none.data(), none.data(), gamma, 0.0, adv.data(),
          ret.data());
  for (int i = 0; i < T * N; ++i) EXPECT_NEAR(adv[i], r[i] + gamma * nv[i] - v[i], 1e-12);
}

TEST(Gae, RejectsBadArguments) {
  GaeCase c = hand_case();
  std::vector<double> adv(10), ret(10);
  EXPECT_THROW(gae_cpu(5, 2, c.r.data(), c.v.data(), c.nv.data(), c.term.data(), c.trunc.data(),
                       1.5, 0.5, adv.data(), ret.data()),
               Error);
  EXPECT_THROW(gae_cpu(0, 2, c.r.data(), c.v.data(), c.nv.data(), c.term.data(), c.trunc.data(),
                       0.9, 0.5, adv.data(), ret.data()),
               Error);
  EXPECT_THROW(gae_cpu<double>(5, 2, c.r.data(), c.v.data(), nullptr, c.term.data(), c.trunc.data(),
                               0.9, 0.5, adv.data(), ret.data()),
               Error);
}

// ---- Gaussian policy -------------------------------------------------------------------------

TEST(Gaussian, LogProbMatchesProductOfDensities) {
  const int B = 4, A = 3;
  Rng rng(3);
  auto mean = random_vector<double>(B * A, rng), act = random_vector<double>(B * A, rng, -2, 2);
  std::vector<double> log_std = {-0.5, 0.0, 0.6};
  std::vector<double> logp(B);
  gaussian_log_prob_cpu(B, A, mean.data(), log_std.data(), act.data(), logp.data());
  for (int b = 0; b < B; ++b) {
    double density = 1;  // prod_j N(a_j; mean_j, sigma_j^2)
    for (int j = 0; j < A; ++j) {
      const double s = std::exp(log_std[j]), d = act[b * A + j] - mean[b * A + j];
      density *= std::exp(-d * d / (2 * s * s)) / (s * std::sqrt(2 * M_PI));
    }
    EXPECT_NEAR(logp[b], std::log(density), 1e-12) << "sample " << b;
  }
  // Entropy: sum_j 0.5 log(2 pi e sigma_j^2).
  double h = 0;
  for (double ls : log_std) h += 0.5 * std::log(2 * M_PI * M_E * std::exp(2 * ls));
  EXPECT_NEAR(gaussian_entropy_cpu(A, log_std.data()), h, 1e-12);
}

// Samples drawn through gaussian_sample_cpu have mean log-prob -H (Monte Carlo, 4 sigma bound).
TEST(Gaussian, SamplesAgreeWithEntropy) {
  const int B = 20000, A = 2;
  Rng rng(5);
  std::vector<double> mean(B * A, 0.3), log_std = {-1.0, 0.4}, noise(B * A), act(B * A), logp(B);
  for (double& z : noise) z = rng.normal();
  for (int b = 0; b < B; ++b) mean[b * A + 1] = -0.7;
  gaussian_sample_cpu(B, A, mean.data(), log_std.data(), noise.data(), act.data());
  gaussian_log_prob_cpu(B, A, mean.data(), log_std.data(), act.data(), logp.data());
  double m = 0, m2 = 0;
  for (double lp : logp) m += lp, m2 += lp * lp;
  m /= B;
  const double sd = std::sqrt(m2 / B - m * m);
  EXPECT_NEAR(-m, gaussian_entropy_cpu(A, log_std.data()), 4 * sd / std::sqrt(double(B)));
}

TEST(Gaussian, BackwardMatchesFiniteDifferences) {
  const int B = 5, A = 3;
  Rng rng(7);
  auto mean = random_vector<double>(B * A, rng), act = random_vector<double>(B * A, rng, -2, 2),
       log_std = random_vector<double>(A, rng, -1, 0.5), w = random_vector<double>(B, rng);
  std::vector<double> logp(B), dmean(B * A), dls(A);
  auto loss = [&] {
    gaussian_log_prob_cpu(B, A, mean.data(), log_std.data(), act.data(), logp.data());
    double s = 0;
    for (int b = 0; b < B; ++b) s += w[b] * logp[b];
    return s;
  };
  gaussian_log_prob_backward_cpu(B, A, mean.data(), log_std.data(), act.data(), w.data(),
                                 dmean.data(), dls.data());
  EXPECT_LT(rel_error(dmean, numeric_grad(loss, mean.data(), B * A)), 1e-8);
  EXPECT_LT(rel_error(dls, numeric_grad(loss, log_std.data(), A)), 1e-8);
}

// ---- PPO losses ------------------------------------------------------------------------------

// Ratios on both sides of the clip range (eps = 0.2) with advantages of both signs.
struct PolicyCase {
  std::vector<double> logp, logp_old, adv;
};

PolicyCase policy_case() {
  PolicyCase c;
  const double ratios[] = {0.5, 0.9, 1.1, 1.5};
  const double advs[] = {1.0, -2.0};
  Rng rng(13);
  for (double a : advs)
    for (double r : ratios) {
      const double old = rng.uniform(-3, -1);
      c.logp_old.push_back(old);
      c.logp.push_back(old + std::log(r));
      c.adv.push_back(a);
    }
  return c;
}

TEST(PpoPolicyLoss, ValueAndDiagnosticsByHand) {
  PolicyCase c = policy_case();
  std::vector<double> g(8);
  PolicyLossStats s =
      ppo_policy_loss_cpu(8, c.logp.data(), c.logp_old.data(), c.adv.data(), 0.2, g.data());
  // min(r A, clip(r) A) per sample:
  //   A = 1:  r = 0.5 -> min(0.5, 0.8) = 0.5;  0.9 -> 0.9;  1.1 -> 1.1;  1.5 -> min(1.5, 1.2) = 1.2
  //   A = -2: r = 0.5 -> min(-1, -1.6) = -1.6; 0.9 -> -1.8; 1.1 -> -2.2; 1.5 -> min(-3, -2.4) = -3
  // sum = 3.7 - 8.6 = -4.9, L = 4.9 / 8 = 0.6125.
  EXPECT_NEAR(s.loss, 0.6125, 1e-12);
  EXPECT_DOUBLE_EQ(s.clip_fraction, 0.5);  // r = 0.5 and 1.5, for both advantages
  // approx KL = mean((r - 1) - log r) = 2 * sum over the four ratios / 8.
  double kl = 0;
  for (double r : {0.5, 0.9, 1.1, 1.5}) kl += (r - 1) - std::log(r);
  EXPECT_NEAR(s.approx_kl, kl / 4, 1e-12);
  // Zero gradient exactly where the clipped term is the minimum: (A > 0, r = 1.5), (A < 0, r =
  // 0.5).
  for (int i = 0; i < 8; ++i) {
    const bool flat = i == 3 || i == 4;
    if (flat) {
      EXPECT_EQ(g[i], 0.0) << "sample " << i;
    } else {
      EXPECT_NE(g[i], 0.0) << "sample " << i;
    }
  }
}

TEST(PpoPolicyLoss, GradientMatchesFiniteDifferences) {
  PolicyCase c = policy_case();
  std::vector<double> g(8);
  auto loss = [&] {
    return ppo_policy_loss_cpu<double>(8, c.logp.data(), c.logp_old.data(), c.adv.data(), 0.2,
                                       nullptr)
        .loss;
  };
  ppo_policy_loss_cpu(8, c.logp.data(), c.logp_old.data(), c.adv.data(), 0.2, g.data());
  EXPECT_LT(rel_error(g, numeric_grad(loss, c.logp.data(), 8)), 1e-8);
}

// Chained: d/dmean and d/dlog_std of the PPO loss through the Gaussian log-prob.
TEST(PpoPolicyLoss, ChainsThroughGaussian) {
  const int B = 6, A = 2;
  Rng rng(17);
  auto mean = random_vector<double>(B * A, rng), act = random_vector<double>(B * A, rng),
       log_std = random_vector<double>(A, rng, -0.5, 0.5), adv = random_vector<double>(B, rng);
  std::vector<double> logp_old(B), logp(B), dlogp(B), dmean(B * A), dls(A);
  gaussian_log_prob_cpu(B, A, mean.data(), log_std.data(), act.data(), logp_old.data());
  for (double& m : mean) m += rng.uniform(-0.3, 0.3);  // move away from r = 1
  auto loss = [&] {
    gaussian_log_prob_cpu(B, A, mean.data(), log_std.data(), act.data(), logp.data());
    return ppo_policy_loss_cpu<double>(B, logp.data(), logp_old.data(), adv.data(), 0.2, nullptr)
        .loss;
  };
  loss();
  ppo_policy_loss_cpu(B, logp.data(), logp_old.data(), adv.data(), 0.2, dlogp.data());
  gaussian_log_prob_backward_cpu(B, A, mean.data(), log_std.data(), act.data(), dlogp.data(),
                                 dmean.data(), dls.data());
  EXPECT_LT(rel_error(dmean, numeric_grad(loss, mean.data(), B * A)), 1e-7);
  EXPECT_LT(rel_error(dls, numeric_grad(loss, log_std.data(), A)), 1e-7);
}

TEST(ValueLoss, ClippedByHandAndFiniteDifferences) {
  // eps = 0.2, v_old = 0 everywhere.
  std::vector<double> v = {0.1, 0.5, 0.5, -0.5, -0.1}, v_old(5, 0.0), R = {1.0, 1.0, 0.0, 0.3, 0.0};
  std::vector<double> g(5);
  ValueLossStats s = value_loss_cpu(5, v.data(), v_old.data(), R.data(), true, 0.2, g.data());
  // max((v - R)^2, (v_clipped - R)^2):
  //   0.1 vs R 1:   inside, (-0.9)^2 = 0.81                       grad (v - R) = -0.9
  //   0.5 vs R 1:   clipped 0.2: max(0.25, 0.64) = 0.64            grad 0
  //   0.5 vs R 0:   clipped 0.2: max(0.25, 0.04) = 0.25            grad 0.5
  //   -0.5 vs R 0.3: clipped -0.2: max(0.64, 0.25) = 0.64          grad -0.8
  //   -0.1 vs R 0:  inside, 0.01                                  grad -0.1
  // L = 0.5 * (0.81 + 0.64 + 0.25 + 0.64 + 0.01) / 5 = 0.5 * 2.35 / 5 = 0.235.
  EXPECT_NEAR(s.loss, 0.235, 1e-12);
  EXPECT_DOUBLE_EQ(s.clip_fraction, 0.6);
  const double expect[] = {-0.9 / 5, 0, 0.5 / 5, -0.8 / 5, -0.1 / 5};
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(g[i], expect[i], 1e-15) << "sample " << i;
  auto loss = [&] {
    return value_loss_cpu<double>(5, v.data(), v_old.data(), R.data(), true, 0.2, nullptr).loss;
  };
  EXPECT_LT(rel_error(g, numeric_grad(loss, v.data(), 5)), 1e-8);
}

TEST(ValueLoss, UnclippedIsHalfMeanSquaredError) {
  Rng rng(19);
  auto v = random_vector<double>(7, rng), R = random_vector<double>(7, rng);
  std::vector<double> g(7);
  ValueLossStats s = value_loss_cpu<double>(7, v.data(), nullptr, R.data(), false, 0.2, g.data());
  double l = 0;
  for (int i = 0; i < 7; ++i) l += 0.5 * (v[i] - R[i]) * (v[i] - R[i]) / 7;
  EXPECT_NEAR(s.loss, l, 1e-14);
  EXPECT_EQ(s.clip_fraction, 0.0);
  auto loss = [&] {
    return value_loss_cpu<double>(7, v.data(), nullptr, R.data(), false, 0.2, nullptr).loss;
  };
  EXPECT_LT(rel_error(g, numeric_grad(loss, v.data(), 7)), 1e-8);
  EXPECT_THROW(value_loss_cpu<double>(7, v.data(), nullptr, R.data(), true, 0.2, g.data()), Error);
}

TEST(Standardize, ZeroMeanUnitStd) {
  Rng rng(23);
  auto x = random_vector<float>(1000, rng, 2, 9);
  MeanStd before = standardize_cpu(1000, x.data());
  EXPECT_NEAR(before.mean, 5.5, 0.2);
  double m = 0, m2 = 0;
  for (float v : x) m += v, m2 += double(v) * v;
  EXPECT_NEAR(m / 1000, 0.0, 1e-6);
  EXPECT_NEAR(std::sqrt(m2 / 1000), 1.0, 1e-5);
  std::vector<double> same(4, 3.0);
  standardize_cpu(4, same.data());
  for (double v : same) EXPECT_EQ(v, 0.0);
}

// ---- Discriminator ---------------------------------------------------------------------------

TEST(SigmoidBce, MatchesDefinitionAndFiniteDifferences) {
  std::vector<double> x = {-2.0, -0.3, 0.4, 1.5, 3.0};
  for (double y : {0.0, 1.0}) {
    std::vector<double> g(5);
    BceStats s = sigmoid_bce_cpu(5, x.data(), y, g.data());
    double l = 0;
    for (double xi : x) {
      const double d = 1 / (1 + std::exp(-xi));
      l -= (y * std::log(d) + (1 - y) * std::log(1 - d)) / 5;
    }
    EXPECT_NEAR(s.loss, l, 1e-14) << "label " << y;
    EXPECT_DOUBLE_EQ(s.accuracy, y == 1.0 ? 0.6 : 0.4);  // three logits > 0, two < 0
    auto loss = [&] { return sigmoid_bce_cpu<double>(5, x.data(), y, nullptr).loss; };
    EXPECT_LT(rel_error(g, numeric_grad(loss, x.data(), 5)), 1e-8) << "label " << y;
  }
}

TEST(SigmoidBce, SaturatedLogitsStayFinite) {
  std::vector<float> x = {-50.f, 50.f};
  std::vector<float> g(2);
  BceStats s = sigmoid_bce_cpu(2, x.data(), 1.0, g.data());
  // softplus(x) - x: x = -50 (wrong side) -> ~50, x = 50 -> ~2e-22; mean ~ 25.
  EXPECT_NEAR(s.loss, 25.0, 1e-6);
  EXPECT_NEAR(g[0], -0.5f, 1e-7);  // (sigmoid(-50) - 1) / 2
  EXPECT_NEAR(g[1], 0.0f, 1e-7);
  EXPECT_DOUBLE_EQ(s.accuracy, 0.5);
}

TEST(DiscriminatorReward, StableAtSaturatedLogits) {
  std::vector<double> x = {-50, -2, 0, 2, 50}, r(5);
  discriminator_reward_cpu(5, x.data(), r.data());
  // Moderate logits: the formula as written is accurate.
  for (int i = 1; i < 4; ++i) {
    const double d = 1 / (1 + std::exp(-x[i]));
    EXPECT_NEAR(r[i], -std::log(1 - d + 1e-8), 1e-12) << "logit " << x[i];
  }
  // x = 50: 1 - D = sigmoid(-50) ~ 1.9e-22 << 1e-8, so r = -log(1e-8 + 1.9e-22) = 8 ln 10.
  EXPECT_NEAR(r[4], 8 * std::log(10.0), 1e-12);
  // x = -50: D ~ 1.9e-22, r = -log(1 + 1e-8 - D) = -(1e-8 - 5e-17 - ...) ~ -1e-8.
  EXPECT_NEAR(r[0], -1e-8, 1e-15);
  std::vector<float> xf = {-50.f, 50.f}, rf(2);
  discriminator_reward_cpu(2, xf.data(), rf.data());
  EXPECT_TRUE(std::isfinite(rf[0]) && std::isfinite(rf[1]));
  EXPECT_NEAR(rf[1], 18.420681f, 1e-5);
  // Monotone in the logit across the whole range.
  double prev = -1;
  for (double v = -60; v <= 60; v += 0.5) {
    double rv;
    discriminator_reward_cpu(1, &v, &rv);
    EXPECT_GE(rv, prev) << "logit " << v;
    prev = rv;
  }
}

}  // namespace
}  // namespace relmimic
