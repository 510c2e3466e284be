// LayerNorm CPU reference: statistics on known rows, finite differences for dx, dgamma, dbeta,
// dx aliasing dy, and float vs double.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/common.h"
#include "kernels/norm.h"
#include "tests/grad_check.h"

namespace relmimic {
namespace {

using testing::numeric_grad;
using testing::random_vector;
using testing::rel_error;

TEST(LayerNorm, ForwardOnKnownRows) {
  // Row 0: mean 2.5, biased var 1.25. Row 1: constant, var 0 -> rstd = 1/sqrt(eps).
  const int M = 2, D = 4;
  std::vector<double> x = {1, 2, 3, 4, 7, 7, 7, 7}, g = {1, 2, 1, 1}, b = {0, 0, 1, -1};
  std::vector<double> y(8), mean(2), rstd(2);
  const double eps = 1e-5;
  kernels::layernorm_forward_cpu(M, D, x.data(), g.data(), b.data(), eps, y.data(), mean.data(),
                                 rstd.data());
  EXPECT_DOUBLE_EQ(mean[0], 2.5);
  EXPECT_DOUBLE_EQ(mean[1], 7.0);
  EXPECT_DOUBLE_EQ(rstd[0], 1 / std::sqrt(1.25 + eps));
  EXPECT_DOUBLE_EQ(rstd[1], 1 / std::sqrt(eps));
  const double r = rstd[0];
  const std::vector<double> want = {-1.5 * r, -0.5 * r * 2, 0.5 * r + 1, 1.5 * r - 1, 0, 0, 1, -1};
  EXPECT_LT(rel_error(y, want), 1e-15);
}

TEST(LayerNorm, BackwardMatchesFiniteDifferences) {
  const int M = 3, D = 7;
  Rng rng(8);
  auto x = random_vector<double>(M * D, rng, -2, 2), g = random_vector<double>(D, rng),
       b = random_vector<double>(D, rng), r = random_vector<double>(M * D, rng);
  std::vector<double> y(r.size()), mean(M), rstd(M);
  const double eps = 1e-5;
  auto loss = [&] {
    kernels::layernorm_forward_cpu(M, D, x.data(), g.data(), b.data(), eps, y.data(), mean.data(),
                                   rstd.data());
    double l = 0;
    for (size_t i = 0; i < y.size(); ++i) l += y[i] * r[i];
    return l;
  };
  loss();
  std::vector<double> dx(x.size(), 3.0), dg(size_t(D), 0.5), db(size_t(D), -0.5);
  kernels::layernorm_backward_cpu(M, D, x.data(), g.data(), mean.data(), rstd.data(), r.data(),
                                  dx.data(), dg.data(), db.data());
  for (int i = 0; i < D; ++i) dg[size_t(i)] -= 0.5, db[size_t(i)] += 0.5;  // accumulated
  EXPECT_LT(rel_error(dx, numeric_grad(loss, x.data(), long(x.size()))), 1e-6);
  EXPECT_LT(rel_error(dg, numeric_grad(loss, g.data(), D)), 1e-6);
  EXPECT_LT(rel_error(db, numeric_grad(loss, b.data(), D)), 1e-6);

  // dx may overwrite dy.
  loss();
  std::vector<double> inplace(r), dg2(size_t(D), 0.0), db2(size_t(D), 0.0);
  kernels::layernorm_backward_cpu(M, D, x.data(), g.data(), mean.data(), rstd.data(),
                                  inplace.data(), inplace.data(), dg2.data(), db2.data());
  EXPECT_EQ(inplace, dx);
  EXPECT_LT(rel_error(dg2, dg), 1e-14);  // dg went through +0.5 -0.5 above
}

// The agent's LN(128) at batch 128 (split over threads), float vs double.
TEST(LayerNorm, FloatAgreesWithDouble) {
  const int M = 128, D = 128;
  Rng rng(12);
  auto xd = random_vector<double>(M * D, rng, -3, 3), gd = random_vector<double>(D, rng),
       bd = random_vector<double>(D, rng), dyd = random_vector<double>(M * D, rng);
  std::vector<float> xf(xd.begin(), xd.end()), gf(gd.begin(), gd.end()), bf(bd.begin(), bd.end()),
      dyf(dyd.begin(), dyd.end());
  std::vector<double> yd(xd.size()), md(M), rd(M), dxd(xd.size()), dgd(D, 0.0), dbd(D, 0.0);
  std::vector<float> yf(xd.size()), mf(M), rf(M), dxf(xd.size()), dgf(D, 0.f), dbf(D, 0.f);
  kernels::layernorm_forward_cpu(M, D, xd.data(), gd.data(), bd.data(), 1e-5, yd.data(), md.data(),
                                 rd.data());
  kernels::layernorm_forward_cpu(M, D, xf.data(), gf.data(), bf.data(), 1e-5f, yf.data(), mf.data(),
                                 rf.data());
  kernels::layernorm_backward_cpu(M, D, xd.data(), gd.data(), md.data(), rd.data(), dyd.data(),
                                  dxd.data(), dgd.data(), dbd.data());
  kernels::layernorm_backward_cpu(M, D, xf.data(), gf.data(), mf.data(), rf.data(), dyf.data(),
                                  dxf.data(), dgf.data(), dbf.data());
  EXPECT_LT(rel_error(yf, yd), 1e-5);
  EXPECT_LT(rel_error(dxf, dxd), 1e-5);
  EXPECT_LT(rel_error(dgf, dgd), 1e-5);
  EXPECT_LT(rel_error(dbf, dbd), 1e-5);
}

TEST(LayerNorm, RejectsBadArguments) {
  std::vector<float> buf(8);
  EXPECT_THROW(kernels::layernorm_forward_cpu<float>(1, 0, buf.data(), buf.data(), buf.data(),
                                                     1e-5f, buf.data(), buf.data(), buf.data()),
               Error);
  EXPECT_THROW(kernels::layernorm_forward_cpu<float>(1, 2, buf.data(), nullptr, buf.data(), 1e-5f,
                                                     buf.data(), buf.data(), buf.data()),
               Error);
}

}  // namespace
}  // namespace relmimic
