// MaxPool3D CPU reference: a window-by-window reference with explicit -inf padding, tie-breaking,
// padding that never wins, the network shapes, finite differences and float vs double.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/common.h"
#include "kernels/pool3d.h"
#include "tests/grad_check.h"

namespace relmimic {
namespace {

using kernels::Pool3dDims;
using testing::numeric_grad;
using testing::random_vector;
using testing::rel_error;

Pool3dDims dims(int b, int c, int h, int w, int kc, int kh, int kw, int sc, int sh, int sw, int pc,
                int ph, int pw) {
  Pool3dDims d;
  d.batch = b, d.c = c, d.h = h, d.w = w;
  d.kc = kc, d.kh = kh, d.kw = kw, d.sc = sc, d.sh = sh, d.sw = sw, d.pc = pc, d.ph = ph, d.pw = pw;
  return d;
}

// Visits every window cell, padding included (as -inf), in (c, h, w) order.
template <class T>
void reference(const Pool3dDims& d, const T* x, std::vector<T>& y, std::vector<int32_t>& arg) {
  y.assign(size_t(d.batch * d.out_size()), T(0));
  arg.assign(y.size(), -1);
  long o = 0;
  for (int b = 0; b < d.batch; ++b)
    for (int oc = 0; oc < d.out_c(); ++oc)
      for (int oh = 0; oh < d.out_h(); ++oh)
        for (int ow = 0; ow < d.out_w(); ++ow, ++o) {
          double best = -std::numeric_limits<double>::infinity();
          int32_t best_i = -1;
          for (int i = 0; i < d.kc; ++i)
            for (int j = 0; j < d.kh; ++j)
              for (int k = 0; k < d.kw; ++k) {
                const int c = oc * d.sc - d.pc + i, h = oh * d.sh - d.ph + j,
                          w = ow * d.sw - d.pw + k;
                const bool pad = c < 0 || c >= d.c || h < 0 || h >= d.h || w < 0 || w >= d.w;
                const int32_t idx = (c * d.h + h) * d.w + w;
                const double v = pad ? -std::numeric_limits<double>::infinity()
                                     : double(x[b * d.in_size() + idx]);
                if (v > best) best = v, best_i = idx;
              }
          y[size_t(o)] = T(best);
          arg[size_t(o)] = best_i;
        }
}

std::vector<Pool3dDims> cases() {
  return {
      dims(2, 6, 7, 7, 2, 3, 3, 2, 2, 2, 0, 1, 1),    // the stem pool's window on a small map
      dims(2, 6, 5, 5, 2, 1, 1, 2, 1, 1, 0, 0, 0),    // feature-only pool
      dims(2, 5, 6, 7, 3, 2, 3, 1, 2, 1, 1, 1, 2),    // overlapping on every axis, padded channels
      dims(1, 4, 5, 5, 3, 3, 3, 3, 3, 3, 0, 0, 0),    // IMPALA-like 3x3, strided beyond the edge
      dims(3, 3, 4, 4, 1, 3, 3, 1, 2, 2, 0, 1, 1),    // 2-D pool (window 1 on channels)
      dims(1, 2, 2, 21, 1, 1, 18, 1, 1, 2, 0, 0, 1),  // a window wider than the span cache
  };
}

class Pool3dCases : public ::testing::TestWithParam<int> {};

TEST_P(Pool3dCases, ForwardMatchesReference) {
  const Pool3dDims d = cases()[GetParam()];
  Rng rng(3 + GetParam());
  auto x = random_vector<double>(d.batch * d.in_size(), rng);
  std::vector<double> y(size_t(d.batch * d.out_size())), ry;
  std::vector<int32_t> arg(y.size()), rarg;
  kernels::pool3d_forward_cpu(d, x.data(), y.data(), arg.data());
  reference(d, x.data(), ry, rarg);
  EXPECT_EQ(y, ry);
  EXPECT_EQ(arg, rarg);
}

TEST_P(Pool3dCases, BackwardMatchesFiniteDifferences) {
  const Pool3dDims d = cases()[GetParam()];
  Rng rng(30 + GetParam());
  auto x = random_vector<double>(d.batch * d.in_size(), rng);
  auto r = random_vector<double>(d.batch * d.out_size(), rng);
  std::vector<double> y(r.size());
  std::vector<int32_t> arg(r.size());
  auto loss = [&] {
    kernels::pool3d_forward_cpu(d, x.data(), y.data(), arg.data());
    double l = 0;
    for (size_t i = 0; i < y.size(); ++i) l += y[i] * r[i];
    return l;
  };
  loss();
  std::vector<double> dx(x.size(), 7.0);  // overwritten, not accumulated
  kernels::pool3d_backward_cpu(d, r.data(), arg.data(), dx.data());
  EXPECT_LT(rel_error(dx, numeric_grad(loss, x.data(), long(x.size()))), 1e-6);
}

TEST_P(Pool3dCases, FloatAgreesWithDouble) {
  const Pool3dDims d = cases()[GetParam()];
  Rng rng(60 + GetParam());
  auto xf = random_vector<float>(d.batch * d.in_size(), rng);
  std::vector<double> xd(xf.begin(), xf.end());
  std::vector<float> yf(size_t(d.batch * d.out_size()));
  std::vector<double> yd(yf.size());
  std::vector<int32_t> af(yf.size()), ad(yf.size());
  kernels::pool3d_forward_cpu(d, xf.data(), yf.data(), af.data());
  kernels::pool3d_forward_cpu(d, xd.data(), yd.data(), ad.data());
  EXPECT_EQ(af, ad);
  EXPECT_EQ(rel_error(yf, yd), 0.0);
}

INSTANTIATE_TEST_SUITE_P(Shapes, Pool3dCases, ::testing::Range(0, int(cases().size())));

// The CPU versions (row passes; the table over the output plane that the rule picks for narrow
// rows; the stem version's separable passes where the build has AVX-512) give the same bits on
// inputs full of ties, with NaNs as first cells and elsewhere (nan_rate 0: none at all, so that
// the stem version keeps its own passes on every plane). Returns false where `version` declined.
template <class T>
bool expect_versions_agree(const Pool3dDims& d, uint64_t seed, bool stem = false,
                           double nan_rate = 0.08) {
  Rng rng(seed);
  std::vector<T> x(size_t(d.batch * d.in_size()));
  for (T& e : x) {
    const double u = rng.uniform();
    e = u < nan_rate ? std::numeric_limits<T>::quiet_NaN() : T(std::floor(rng.uniform(-2.0, 2.0)));
  }
  std::vector<T> yr(size_t(d.batch * d.out_size())), yt(yr.size(), T(7));
  std::vector<int32_t> ar(yr.size()), at(yr.size(), -5);
  kernels::detail::pool3d_forward_rows_cpu(d, x.data(), yr.data(), ar.data());
  if (stem) {
    if (!kernels::detail::pool3d_forward_stem_cpu(d, x.data(), yt.data(), at.data())) return false;
  } else {
    kernels::detail::pool3d_forward_table_cpu(d, x.data(), yt.data(), at.data());
  }
  EXPECT_EQ(ar, at);
  for (size_t o = 0; o < yr.size(); ++o) {
    EXPECT_EQ(std::isnan(yr[o]), std::isnan(yt[o])) << o;
    if (!std::isnan(yr[o])) EXPECT_EQ(yr[o], yt[o]) << o;
  }
  return true;
}

TEST_P(Pool3dCases, TableVersionGivesTheRowVersionsBits) {
  expect_versions_agree<float>(cases()[GetParam()], 90 + GetParam());
  expect_versions_agree<double>(cases()[GetParam()], 120 + GetParam());
}

TEST(Pool3d, TableVersionOnTheAgentsStemPools) {
  for (int hw : {23, 41}) {  // 48x48 and 84x84 frames
    const Pool3dDims d = dims(3, 32, hw, hw, 2, 3, 3, 2, 2, 2, 0, 1, 1);
    EXPECT_TRUE(kernels::pool3d_cpu_uses_table(d));
    expect_versions_agree<float>(d, 150 + hw);
  }
  // Feature-only pools and wide rows keep the row passes.
  EXPECT_FALSE(kernels::pool3d_cpu_uses_table(dims(2, 16, 21, 21, 2, 1, 1, 2, 1, 1, 0, 0, 0)));
  EXPECT_FALSE(kernels::pool3d_cpu_uses_table(dims(1, 2, 3, 80, 1, 3, 3, 1, 1, 1, 0, 1, 1)));
}

// The stem version on the agent's stem pools (23 and 41 wide: 48x48 and 84x84 frames), on every
// row width its vectors split differently (2-48 cells, odd and even), with overlapping and padded
// channel windows, with and without NaNs; it declines other windows, wider planes and double.
TEST(Pool3d, StemVersionGivesTheRowVersionsBits) {
  std::vector<Pool3dDims> shapes;
  for (int hw : {23, 41}) shapes.push_back(dims(3, 32, hw, hw, 2, 3, 3, 2, 2, 2, 0, 1, 1));
  for (int w : {2, 3, 4, 15, 16, 17, 31, 32, 33, 34, 47, 48})
    shapes.push_back(dims(2, 4, (w % 7) + 2, w, 2, 3, 3, 2, 2, 2, 0, 1, 1));
  shapes.push_back(dims(2, 5, 9, 11, 3, 3, 3, 1, 2, 2, 1, 1, 1));   // overlapping, padded channels
  shapes.push_back(dims(1, 3, 48, 48, 1, 3, 3, 1, 2, 2, 0, 1, 1));  // 2-D pool, the largest plane
  for (size_t i = 0; i < shapes.size(); ++i)
    for (double nan_rate : {0.0, 0.002, 0.08})
      if (!expect_versions_agree<float>(shapes[i], 300 + i, true, nan_rate))
        GTEST_SKIP() << "this build has no AVX-512 stem version (float, x86 AVX-512 builds only)";
  std::vector<float> x(4 * 49 * 49), y(4 * 49 * 49);
  std::vector<int32_t> a(y.size());
  auto declines = [&](const Pool3dDims& d) {
    return !kernels::detail::pool3d_forward_stem_cpu(d, x.data(), y.data(), a.data());
  };
  EXPECT_TRUE(declines(dims(1, 2, 49, 49, 2, 3, 3, 2, 2, 2, 0, 1, 1)));  // wider than 48
  EXPECT_TRUE(declines(dims(1, 2, 21, 21, 2, 1, 1, 2, 1, 1, 0, 0, 0)));  // feature-only
  EXPECT_TRUE(declines(dims(1, 2, 21, 21, 2, 3, 3, 2, 1, 1, 0, 1, 1)));  // stride 1
  std::vector<double> xd(8 * 8), yd(16);
  EXPECT_FALSE(kernels::detail::pool3d_forward_stem_cpu(dims(1, 1, 8, 8, 1, 3, 3, 1, 2, 2, 0, 1, 1),
                                                        xd.data(), yd.data(), a.data()));
}

// Equal values: the first cell in (c, h, w) order wins, so a tie across channels goes to the
// lower channel even when the other cell comes first in (h, w).
TEST(Pool3d, TiesGoToTheFirstMaximumInScanOrder) {
  const Pool3dDims d = dims(1, 2, 2, 2, 2, 2, 2, 1, 1, 1, 0, 0, 0);  // one window, 8 cells
  std::vector<float> x = {0, 0, 0, 5, 5, 0, 0, 5};  // c0:(1,1)=5, c1:(0,0)=5, c1:(1,1)=5
  std::vector<float> y(1);
  std::vector<int32_t> arg(1);
  kernels::pool3d_forward_cpu(d, x.data(), y.data(), arg.data());
  EXPECT_EQ(y[0], 5.f);
  EXPECT_EQ(arg[0], 3);  // (c=0, h=1, w=1), not (c=1, h=0, w=0) = 4
  std::vector<float> dx(8, -1.f), dy = {2.f};
  kernels::pool3d_backward_cpu(d, dy.data(), arg.data(), dx.data());
  EXPECT_EQ(dx, (std::vector<float>{0, 0, 0, 2, 0, 0, 0, 0}));

  // A constant map with padding: every window's winner is its first real cell.
  const Pool3dDims p = dims(1, 3, 3, 3, 2, 3, 3, 2, 2, 2, 1, 1, 1);  // out 2x2x2
  std::vector<double> c(27, 1.0), yc(8);
  std::vector<int32_t> ac(8);
  kernels::pool3d_forward_cpu(p, c.data(), yc.data(), ac.data());
  // Output (oc, oh, ow) starts at channel 2*oc-1, row 2*oh-1, col 2*ow-1, clipped at 0.
  EXPECT_EQ(ac, (std::vector<int32_t>{0, 1, 3, 4, 9, 10, 12, 13}));
}

// Padding acts as -inf: with all-negative inputs no output may become 0.
TEST(Pool3d, PaddingNeverWins) {
  const Pool3dDims d = dims(2, 4, 5, 5, 3, 3, 3, 2, 2, 2, 1, 1, 1);
  Rng rng(17);
  auto x = random_vector<double>(d.batch * d.in_size(), rng, -2.0, -1.0);
  std::vector<double> y(size_t(d.batch * d.out_size()));
  std::vector<int32_t> arg(y.size());
  kernels::pool3d_forward_cpu(d, x.data(), y.data(), arg.data());
  for (size_t o = 0; o < y.size(); ++o) {
    const long b = long(o) / d.out_size();
    ASSERT_GE(arg[o], 0);
    ASSERT_LT(arg[o], d.in_size());
    EXPECT_LT(y[o], -1.0 + 1e-12);
    EXPECT_EQ(y[o], x[size_t(b * d.in_size() + arg[o])]);
  }
  // The corner window (0,0,0) covers only channels 0..1, rows 0..1, cols 0..1.
  double m = -INFINITY;
  for (int c = 0; c < 2; ++c)
    for (int h = 0; h < 2; ++h)
      for (int w = 0; w < 2; ++w) m = std::max(m, x[size_t((c * 5 + h) * 5 + w)]);
  EXPECT_EQ(y[0], m);
}

// The agent network's two pools at their real sizes.
TEST(Pool3d, NetworkShapes) {
  {
    const Pool3dDims d = dims(2, 32, 41, 41, 2, 3, 3, 2, 2, 2, 0, 1, 1);
    EXPECT_EQ(d.out_c(), 16);
    EXPECT_EQ(d.out_h(), 21);
    EXPECT_EQ(d.out_w(), 21);
    Rng rng(23);
    auto x = random_vector<float>(d.batch * d.in_size(), rng, -1.0, 0.0);
    std::vector<float> y(size_t(d.batch * d.out_size())), ry;
    std::vector<int32_t> arg(y.size()), rarg;
    kernels::pool3d_forward_cpu(d, x.data(), y.data(), arg.data());
    reference(d, x.data(), ry, rarg);
    EXPECT_EQ(y, ry);
    EXPECT_EQ(arg, rarg);
  }
  {
    const Pool3dDims d = dims(2, 16, 21, 21, 2, 1, 1, 2, 1, 1, 0, 0, 0);
    EXPECT_EQ(d.out_c(), 8);
    EXPECT_EQ(d.out_h(), 21);
    EXPECT_EQ(d.out_w(), 21);
    Rng rng(29);
    auto x = random_vector<float>(d.batch * d.in_size(), rng);
    std::vector<float> y(size_t(d.batch * d.out_size()));
    std::vector<int32_t> arg(y.size());
    kernels::pool3d_forward_cpu(d, x.data(), y.data(), arg.data());
    // y[b, c, h, w] = max(x[b, 2c, h, w], x[b, 2c+1, h, w]).
    const int hw = 21 * 21;
    for (int b = 0; b < 2; ++b)
      for (int c = 0; c < 8; ++c)
        for (int i = 0; i < hw; ++i) {
          const long o = (long(b) * 8 + c) * hw + i;
          const float a = x[size_t((b * 16 + 2 * c) * hw + i)];
          const float e = x[size_t((b * 16 + 2 * c + 1) * hw + i)];
          ASSERT_EQ(y[size_t(o)], std::max(a, e));
          ASSERT_EQ(arg[size_t(o)], (e > a ? 2 * c + 1 : 2 * c) * hw + i);
        }
  }
}

TEST(Pool3d, RejectsBadShapes) {
  std::vector<float> buf(100);
  std::vector<int32_t> arg(100);
  Pool3dDims d = dims(1, 2, 4, 4, 2, 2, 2, 1, 1, 1, 0, 2, 0);  // pad == window
  EXPECT_THROW(kernels::pool3d_forward_cpu(d, buf.data(), buf.data(), arg.data()), Error);
  d = dims(1, 2, 4, 4, 3, 2, 2, 1, 1, 1, 0, 0, 0);  // window larger than the channels
  EXPECT_THROW(kernels::pool3d_forward_cpu(d, buf.data(), buf.data(), arg.data()), Error);
  d = dims(1, 2, 4, 4, 2, 2, 2, 0, 1, 1, 0, 0, 0);  // zero stride
  EXPECT_THROW(kernels::pool3d_backward_cpu(d, buf.data(), arg.data(), buf.data()), Error);
}

}  // namespace
}  // namespace relmimic
