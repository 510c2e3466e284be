// Adam: a two-step example worked by hand, decoupled weight decay, float vs double, bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/adam.h"
#include "kernels/common.h"
#include "tests/grad_check.h"

namespace relmimic {
namespace {

using kernels::AdamParams;

// lr 0.1, betas (0.9, 0.999), eps 1e-8, p0 = 1, gradients 0.5 then -0.25.
// Step 1: m = 0.05, v = 0.00025; mhat = 0.05/0.1 = 0.5, vhat = 0.00025/0.001 = 0.25;
//         p = 1 - 0.1 * 0.5 / (0.5 + 1e-8) = 0.900000002 (to 1e-16).
// Step 2: m = 0.045 - 0.025 = 0.02, v = 0.00024975 + 0.0000625 = 0.00031225;
//         mhat = 0.02/0.19 = 0.10526315789473684, vhat = 0.00031225/0.001999 = 0.15620310155077539,
//         sqrt(vhat) = 0.39522538070166..., p = 0.900000002 - 0.02663370129215... =
//         0.87336629870785.
TEST(Adam, TwoStepsByHand) {
  AdamParams p;
  p.lr = 0.1, p.beta1 = 0.9, p.beta2 = 0.999, p.eps = 1e-8;
  std::vector<double> param = {1.0}, m = {0.0}, v = {0.0};
  std::vector<double> g = {0.5};
  p.step = 1;
  kernels::adam_step_cpu(1, param.data(), g.data(), m.data(), v.data(), p);
  EXPECT_NEAR(m[0], 0.05, 1e-16);
  EXPECT_NEAR(v[0], 0.00025, 1e-18);
  EXPECT_NEAR(param[0], 0.900000002, 1e-15);
  g[0] = -0.25;
  p.step = 2;
  kernels::adam_step_cpu(1, param.data(), g.data(), m.data(), v.data(), p);
  EXPECT_NEAR(m[0], 0.02, 1e-16);
  EXPECT_NEAR(v[0], 0.00031225, 1e-18);
  EXPECT_NEAR(param[0], 0.87336629870785, 1e-13);
}

// With a zero gradient only the decay acts: p = p (1 - lr wd).
TEST(Adam, DecoupledWeightDecay) {
  AdamParams p;
  p.lr = 0.1, p.weight_decay = 0.01, p.step = 3;
  std::vector<double> param = {2.0, -4.0}, g = {0.0, 0.0}, m = {0.0, 0.0}, v = {0.0, 0.0};
  kernels::adam_step_cpu(2, param.data(), g.data(), m.data(), v.data(), p);
  EXPECT_DOUBLE_EQ(param[0], 2.0 * 0.999);
  EXPECT_DOUBLE_EQ(param[1], -4.0 * 0.999);
}

// Many parameters over several steps (the threaded path), float against double.
TEST(Adam, FloatAgreesWithDouble) {
  const long n = 1 << 17;
  Rng rng(31);
  auto pd = testing::random_vector<double>(n, rng);
  std::vector<float> pf(pd.begin(), pd.end());
  std::vector<double> md(size_t(n), 0.0), vd(size_t(n), 0.0);
  std::vector<float> mf(size_t(n), 0.f), vf(size_t(n), 0.f);
  AdamParams p;
  p.lr = 1e-2, p.weight_decay = 1e-3;
  for (long step = 1; step <= 5; ++step) {
    auto gd = testing::random_vector<double>(n, rng);
    std::vector<float> gf(gd.begin(), gd.end());
    p.step = step;
    kernels::adam_step_cpu(n, pd.data(), gd.data(), md.data(), vd.data(), p);
    kernels::adam_step_cpu(n, pf.data(), gf.data(), mf.data(), vf.data(), p);
  }
  EXPECT_LT(testing::rel_error(pf, pd), 1e-6);
  EXPECT_LT(testing::rel_error(mf, md), 1e-6);
  EXPECT_LT(testing::rel_error(vf, vd), 1e-6);
}

TEST(Adam, RejectsBadParameters) {
  std::vector<float> b(2);
  AdamParams p;
  p.step = 0;
  EXPECT_THROW(kernels::adam_step_cpu(2, b.data(), b.data(), b.data(), b.data(), p), Error);
  p.step = 1, p.beta2 = 1.0;
  EXPECT_THROW(kernels::adam_step_cpu(2, b.data(), b.data(), b.data(), b.data(), p), Error);
}

}  // namespace
}  // namespace relmimic
