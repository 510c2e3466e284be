// Device PPO and discriminator math (kernels/ppo_loss.h) against the CPU reference. Both sides
// compute in double; the statistics differ only in summation order.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "kernels/common.h"
#include "kernels/ppo_loss.h"
#include "tests/gpu/close_check.h"
#include "tests/gpu/cuda_test_util.h"

namespace relmimic {
namespace {

using testing::cast;
using testing::close;
using testing::DeviceBuffer;

#ifdef RELMIMIC_WITH_CUDA

template <class T>
struct Tol;
template <>
struct Tol<float> {
  static constexpr double value = 1e-6;  // the final rounding to float may differ by one ulp
};
template <>
struct Tol<double> {
  static constexpr double value = 1e-12;
};

void expect_stat(double got, double want, const char* what) {
  EXPECT_NEAR(got, want, 1e-12 * std::max(1.0, std::abs(want))) << what;
}

std::vector<uint8_t> random_mask(long n, double p, Rng& rng) {
  std::vector<uint8_t> m(static_cast<size_t>(n));
  for (auto& b : m) b = rng.uniform() < p;
  return m;
}

template <class T>
void check_gae(int steps, int envs, uint64_t seed) {
  SCOPED_TRACE(std::to_string(steps) + "x" + std::to_string(envs));
  Rng rng(seed);
  const long n = long(steps) * envs;
  const auto r = testing::random_vector<T>(n, rng), v = testing::random_vector<T>(n, rng, -5, 5),
             nv = testing::random_vector<T>(n, rng, -5, 5);
  const auto term = random_mask(n, 0.03, rng), trunc = random_mask(n, 0.02, rng);
  std::vector<T> adv(static_cast<size_t>(n)), ret(static_cast<size_t>(n));
  kernels::gae_cpu(steps, envs, r.data(), v.data(), nv.data(), term.data(), trunc.data(), 0.99,
                   0.95, adv.data(), ret.data());
  DeviceBuffer<T> dr(r), dv(v), dnv(nv), dadv(n), dret(n);
  DeviceBuffer<uint8_t> dterm(term), dtrunc(trunc);
  dadv.poison();
  dret.poison();
  kernels::gae_cuda(steps, envs, dr.get(), dv.get(), dnv.get(), dterm.get(), dtrunc.get(), 0.99,
                    0.95, dadv.get(), dret.get());
  EXPECT_TRUE(close(dadv.download(), adv, Tol<T>::value)) << "advantages";
  EXPECT_TRUE(close(dret.download(), ret, Tol<T>::value)) << "returns";
}

TEST(CudaPpoLoss, GaeMatchesCpu) {
  RM_REQUIRE_GPU();
  check_gae<float>(1024, 8, 1);  // one learner's rollout
  check_gae<double>(200, 37, 2);
  check_gae<float>(1, 300, 3);
}

template <class T>
void check_gaussian(int batch, int dim, uint64_t seed) {
  SCOPED_TRACE(std::to_string(batch) + "x" + std::to_string(dim));
  Rng rng(seed);
  const long n = long(batch) * dim;
  const auto mean = testing::random_vector<T>(n, rng),
             log_std = testing::random_vector<T>(dim, rng, -1.5, 0.5),
             noise = testing::random_vector<T>(n, rng, -3, 3),
             w = testing::random_vector<T>(batch, rng);
  std::vector<T> act(static_cast<size_t>(n)), logp(static_cast<size_t>(batch)),
      dmean(static_cast<size_t>(n)), dls(static_cast<size_t>(dim));
  kernels::gaussian_sample_cpu(batch, dim, mean.data(), log_std.data(), noise.data(), act.data());
  kernels::gaussian_log_prob_cpu(batch, dim, mean.data(), log_std.data(), act.data(), logp.data());
  kernels::gaussian_log_prob_backward_cpu(batch, dim, mean.data(), log_std.data(), act.data(),
                                          w.data(), dmean.data(), dls.data());
  DeviceBuffer<T> dm(mean), dl(log_std), dn(noise), dw(w), da(n), dlp(batch), ddm(n), ddl(dim);
  for (DeviceBuffer<T>* out : {&da, &dlp, &ddm, &ddl}) out->poison();
  kernels::gaussian_sample_cuda(batch, dim, dm.get(), dl.get(), dn.get(), da.get());
  EXPECT_TRUE(close(da.download(), act, Tol<T>::value)) << "actions";
  da.upload(act);  // the rest starts from identical actions
  kernels::gaussian_log_prob_cuda(batch, dim, dm.get(), dl.get(), da.get(), dlp.get());
  kernels::gaussian_log_prob_backward_cuda(batch, dim, dm.get(), dl.get(), da.get(), dw.get(),
                                           ddm.get(), ddl.get());
  EXPECT_TRUE(close(dlp.download(), logp, Tol<T>::value)) << "logp";
  EXPECT_TRUE(close(ddm.download(), dmean, Tol<T>::value)) << "dmean";
  EXPECT_TRUE(close(ddl.download(), dls, Tol<T>::value)) << "dlog_std";
}

TEST(CudaPpoLoss, GaussianMatchesCpu) {
  RM_REQUIRE_GPU();
  check_gaussian<float>(128, 3, 10);   // Hopper minibatch
  check_gaussian<float>(1000, 6, 11);  // Walker2d, more than one block of samples
  check_gaussian<double>(257, 6, 12);
}

template <class T>
void check_losses(int batch, uint64_t seed) {
  SCOPED_TRACE("batch=" + std::to_string(batch));
  Rng rng(seed);
  // Ratios e^(logp - logp_old) in about [0.6, 1.6]: many samples outside the 0.2 clip range.
  const auto logp = testing::random_vector<T>(batch, rng, -2, 0),
             adv = testing::random_vector<T>(batch, rng, -2, 2),
             v = testing::random_vector<T>(batch, rng, -3, 3),
             v_old = testing::random_vector<T>(batch, rng, -3, 3),
             ret = testing::random_vector<T>(batch, rng, -3, 3),
             logits = testing::random_vector<T>(batch, rng, -30, 30);
  std::vector<T> logp_old = logp;
  for (auto& x : logp_old) x += T(rng.uniform(-0.5, 0.5));
  DeviceBuffer<T> dlogp(logp), dold(logp_old), dadv(adv), dv(v), dvold(v_old), dret(ret),
      dlogits(logits), grad(batch);

  std::vector<T> g(static_cast<size_t>(batch));
  const auto pl =
      kernels::ppo_policy_loss_cpu(batch, logp.data(), logp_old.data(), adv.data(), 0.2, g.data());
  grad.poison();
  const auto pl_d =
      kernels::ppo_policy_loss_cuda(batch, dlogp.get(), dold.get(), dadv.get(), 0.2, grad.get());
  expect_stat(pl_d.loss, pl.loss, "policy loss");
  expect_stat(pl_d.approx_kl, pl.approx_kl, "approx_kl");
  expect_stat(pl_d.clip_fraction, pl.clip_fraction, "clip_fraction");
  EXPECT_GT(pl.clip_fraction, 0.05) << "test inputs should exercise the clip";
  EXPECT_TRUE(close(grad.download(), g, Tol<T>::value)) << "dlogp";
  const auto pl_null =
      kernels::ppo_policy_loss_cuda<T>(batch, dlogp.get(), dold.get(), dadv.get(), 0.2, nullptr);
  expect_stat(pl_null.loss, pl.loss, "policy loss without gradient");

  for (bool clipped : {true, false}) {
    const auto vl =
        kernels::value_loss_cpu(batch, v.data(), v_old.data(), ret.data(), clipped, 0.2, g.data());
    grad.poison();
    const auto vl_d = kernels::value_loss_cuda(batch, dv.get(), dvold.get(), dret.get(), clipped,
                                               0.2, grad.get());
    expect_stat(vl_d.loss, vl.loss, clipped ? "clipped value loss" : "value loss");
    expect_stat(vl_d.clip_fraction, vl.clip_fraction, "value clip_fraction");
    EXPECT_TRUE(close(grad.download(), g, Tol<T>::value)) << "dv";
  }

  for (double label : {1.0, 0.0}) {
    const auto bce = kernels::sigmoid_bce_cpu(batch, logits.data(), label, g.data());
    grad.poison();
    const auto bce_d = kernels::sigmoid_bce_cuda(batch, dlogits.get(), label, grad.get());
    expect_stat(bce_d.loss, bce.loss, "bce loss");
    expect_stat(bce_d.accuracy, bce.accuracy, "bce accuracy");
    EXPECT_TRUE(close(grad.download(), g, Tol<T>::value)) << "dlogits";
  }

  kernels::discriminator_reward_cpu(batch, logits.data(), g.data());
  grad.poison();
  kernels::discriminator_reward_cuda(batch, dlogits.get(), grad.get());
  EXPECT_TRUE(close(grad.download(), g, Tol<T>::value)) << "reward";

  std::vector<T> x = ret;
  const auto ms = kernels::standardize_cpu(batch, x.data());
  const auto ms_d = kernels::standardize_cuda(batch, dret.get());
  expect_stat(ms_d.mean, ms.mean, "mean");
  expect_stat(ms_d.std, ms.std, "std");
  EXPECT_TRUE(close(dret.download(), x, Tol<T>::value)) << "standardized";
}

TEST(CudaPpoLoss, LossesMatchCpu) {
  RM_REQUIRE_GPU();
  check_losses<float>(128, 20);  // the minibatch of SPEC.md
  check_losses<double>(128, 21);
  check_losses<float>(8192, 22);  // a whole rollout: many elements per thread
  check_losses<double>(1, 23);
}

TEST(CudaPpoLoss, StandardizeOfConstantInputThrowsWithZeroEps) {
  RM_REQUIRE_GPU();
  const std::vector<float> x(100, 2.f);
  DeviceBuffer<float> dx(x);
  EXPECT_THROW(kernels::standardize_cuda(100, dx.get(), 0.0), Error);
  EXPECT_EQ(dx.download(), x) << "the input must stay untouched";
}

#endif  // RELMIMIC_WITH_CUDA

#ifdef RELMIMIC_WITH_CUDA
TEST(CudaPpoLoss, RejectsBadArguments) {
  float f = 0;
  uint8_t b = 0;
  EXPECT_THROW(kernels::gae_cuda<float>(4, 2, &f, &f, &f, &b, &b, 1.5, 0.95, &f, &f), Error);
  EXPECT_THROW(kernels::gaussian_log_prob_cuda<float>(0, 3, &f, &f, &f, &f), Error);
  EXPECT_THROW(kernels::ppo_policy_loss_cuda<float>(8, &f, &f, &f, -0.1, nullptr), Error);
  EXPECT_THROW(kernels::sigmoid_bce_cuda<float>(8, &f, 2.0, nullptr), Error);
  EXPECT_THROW(kernels::value_loss_cuda<float>(8, &f, nullptr, &f, true, 0.2, nullptr), Error);
}
#else
TEST(CudaPpoLoss, BuiltWithoutCuda) {
  GTEST_SKIP() << "relmimic was built without the CUDA backend (RELMIMIC_CUDA=OFF or no nvcc)";
}
#endif

}  // namespace
}  // namespace relmimic
