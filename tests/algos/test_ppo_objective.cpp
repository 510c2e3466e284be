// PPO minibatch objectives on a real network: the policy objective (clipped surrogate minus the
// entropy bonus) and the clipped value loss, their gradients w.r.t. every network parameter
// against central finite differences in double, with samples on both sides of each clip.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "algos/ppo.h"
#include "engine/rng.h"
#include "kernels/ppo_loss.h"
#include "tests/grad_check.h"

namespace relmimic {
namespace {

using algos::LossScratch;
using testing::numeric_grad;
using testing::rel_error;

constexpr int kObs = 5, kAct = 2, kBatch = 8;

AgentConfig mlp(int actions) {
  AgentConfig c;
  c.arch = Arch::mlp;
  c.obs_dim = kObs;
  c.actions = actions;
  c.max_batch = kBatch;
  c.mlp_hidden = 7;
  c.mlp_layer_norm = false;
  c.seed = 3;
  return c;
}

std::vector<double> analytic(ParamSet<double>& ps) {
  return std::vector<double>(ps.grads(), ps.grads() + ps.size());
}

TEST(PpoObjective, PolicyGradientMatchesFiniteDifferences) {
  AgentNet<double> pi(mlp(kAct));
  Rng rng(7);
  std::vector<double> obs = testing::random_vector<double>(kBatch * kObs, rng, -2, 2);
  std::vector<double> act = testing::random_vector<double>(kBatch * kAct, rng, -1, 1);
  std::vector<double> adv = testing::random_vector<double>(kBatch, rng, -2, 2);
  const Tensor ob = Tensor::view(obs.data(), {kBatch, kObs}, DType::f64);

  // logp_old = logp - offset: ratios exp(offset) of 1.05 / 0.95 (inside the clip range 0.2)
  // and 1.65 / 0.61 (outside), far from the kinks so finite differences stay smooth.
  LossScratch<double> s;
  algos::policy_objective(pi, ob, act.data(), adv.data(), adv.data(), 0.2, 0.0, false, s);
  const double offsets[4] = {0.05, -0.05, 0.5, -0.5};
  std::vector<double> logp_old(kBatch);
  for (int i = 0; i < kBatch; ++i) logp_old[size_t(i)] = s.logp.data<double>()[i] - offsets[i % 4];

  const double ent = 0.3;
  pi.parameters().zero_grad();
  const algos::PolicyObjective o =
      algos::policy_objective(pi, ob, act.data(), logp_old.data(), adv.data(), 0.2, ent, true, s);
  EXPECT_NEAR(o.stats.clip_fraction, 0.5, 1e-12);  // the +-0.5 offsets are outside
  EXPECT_NEAR(o.loss, o.stats.loss - ent * o.entropy, 1e-12);
  const std::vector<double> got = analytic(pi.parameters());
  const std::vector<double> want = numeric_grad(
      [&] {
        return algos::policy_objective(pi, ob, act.data(), logp_old.data(), adv.data(), 0.2, ent,
                                       false, s)
            .loss;
      },
      pi.parameters().values(), pi.parameters().size());
  EXPECT_LT(rel_error(got, want), 1e-6);
  double norm = 0;
  for (double g : got) norm += g * g;
  EXPECT_GT(norm, 1e-8);
}

TEST(PpoObjective, ClippedSamplesGiveNoPolicyGradient) {
  AgentNet<double> pi(mlp(kAct));
  Rng rng(9);
  std::vector<double> obs = testing::random_vector<double>(kBatch * kObs, rng, -2, 2);
  std::vector<double> act = testing::random_vector<double>(kBatch * kAct, rng, -1, 1);
  std::vector<double> adv(kBatch, 1.0);  // positive advantages, ratios above 1 + eps: clipped
  const Tensor ob = Tensor::view(obs.data(), {kBatch, kObs}, DType::f64);
  LossScratch<double> s;
  algos::policy_objective(pi, ob, act.data(), adv.data(), adv.data(), 0.2, 0.0, false, s);
  std::vector<double> logp_old(kBatch);
  for (int i = 0; i < kBatch; ++i) logp_old[size_t(i)] = s.logp.data<double>()[i] - 0.5;
  pi.parameters().zero_grad();
  algos::policy_objective(pi, ob, act.data(), logp_old.data(), adv.data(), 0.2, 0.0, true, s);
  const auto& ps = pi.parameters();
  for (long i = 0; i < ps.size(); ++i) EXPECT_EQ(ps.grads()[i], 0.0) << "parameter " << i;
}

TEST(PpoObjective, ValueGradientMatchesFiniteDifferences) {
  AgentNet<double> vf(mlp(0));
  Rng rng(11);
  std::vector<double> obs = testing::random_vector<double>(kBatch * kObs, rng, -2, 2);
  const Tensor ob = Tensor::view(obs.data(), {kBatch, kObs}, DType::f64);
  const double* vp = vf.forward(ob).data<double>();
  const std::vector<double> v(vp, vp + kBatch);
  // v_old = v - offset: 0.05 inside the clip range 0.2, 0.6 outside; returns on either side so
  // that both the clipped and the unclipped term win somewhere.
  std::vector<double> v_old(kBatch), ret(kBatch);
  const double offsets[4] = {0.05, -0.05, 0.6, -0.6};
  const double targets[4] = {1.0, -1.0, 2.0, 1.5};
  for (int i = 0; i < kBatch; ++i) {
    v_old[size_t(i)] = v[size_t(i)] - offsets[i % 4];
    ret[size_t(i)] = v[size_t(i)] + targets[(i / 4 + i) % 4];
  }
  LossScratch<double> s;
  vf.parameters().zero_grad();
  const kernels::ValueLossStats st =
      algos::value_objective(vf, ob, ret.data(), v_old.data(), 0.2, 0.5, true, s);
  EXPECT_GT(st.clip_fraction, 0.0);
  const std::vector<double> got = analytic(vf.parameters());
  const std::vector<double> want = numeric_grad(
      [&] {
        return algos::value_objective(vf, ob, ret.data(), v_old.data(), 0.2, 0.5, false, s).loss;
      },
      vf.parameters().values(), vf.parameters().size());
  EXPECT_LT(rel_error(got, want), 1e-6);

  // Unclipped: L = 0.5 c mean (v - R)^2 exactly.
  const double l = algos::value_objective(vf, ob, ret.data(), static_cast<const double*>(nullptr),
                                          0.0, 0.5, false, s)
                       .loss;
  double want_l = 0;
  for (int i = 0; i < kBatch; ++i)
    want_l += 0.25 * (v[size_t(i)] - ret[size_t(i)]) * (v[size_t(i)] - ret[size_t(i)]);
  EXPECT_NEAR(l, want_l / kBatch, 1e-12);
}

TEST(PpoObjective, RefusesTheWrongHead) {
  AgentNet<double> pi(mlp(kAct)), vf(mlp(0));
  std::vector<double> obs(kObs, 0.0), x(kAct, 0.0);
  const Tensor ob = Tensor::view(obs.data(), {1, kObs}, DType::f64);
  LossScratch<double> s;
  EXPECT_THROW(algos::value_objective(pi, ob, x.data(), x.data(), 0.2, 1.0, false, s), Error);
  EXPECT_THROW(algos::policy_objective(vf, ob, x.data(), x.data(), x.data(), 0.2, 0.0, false, s),
               Error);
}

}  // namespace
}  // namespace relmimic
