// Conv2d CPU reference: forward against a direct loop, backward against finite differences,
// float against double, the network shapes, accumulation and thread independence.
#include <gtest/gtest.h>
#include <omp.h>

#include <utility>
#include <vector>

#include "kernels/common.h"
#include "kernels/conv2d.h"
#include "tests/cpu_conv_backends.h"
#include "tests/grad_check.h"

namespace relmimic {
namespace {

using kernels::Conv2dDims;
using testing::cpu_conv_backends;
using testing::CpuConvScope;
using testing::numeric_grad;
using testing::random_vector;
using testing::rel_error;

Conv2dDims dims(int b, int cin, int h, int w, int cout, int kh, int kw, int s, int p) {
  Conv2dDims d;
  d.batch = b, d.in_c = cin, d.in_h = h, d.in_w = w;
  d.out_c = cout, d.kh = kh, d.kw = kw, d.stride = s, d.pad = p;
  return d;
}

// y[b,o,i,j] = bias[o] + sum_{c,ki,kj} w[o,c,ki,kj] x[b,c,i*s-p+ki,j*s-p+kj], straight from
// the definition, plus its two adjoints (dx, dw, db) written the same way.
struct Direct {
  const Conv2dDims& d;
  template <class F>
  void each(F f) const {
    for (int b = 0; b < d.batch; ++b)
      for (int o = 0; o < d.out_c; ++o)
        for (int i = 0; i < d.out_h(); ++i)
          for (int j = 0; j < d.out_w(); ++j)
            for (int c = 0; c < d.in_c; ++c)
              for (int ki = 0; ki < d.kh; ++ki)
                for (int kj = 0; kj < d.kw; ++kj) {
                  const int hi = i * d.stride - d.pad + ki, wi = j * d.stride - d.pad + kj;
                  if (hi < 0 || hi >= d.in_h || wi < 0 || wi >= d.in_w) continue;
                  const long yi = ((long(b) * d.out_c + o) * d.out_h() + i) * d.out_w() + j;
                  const long xi = ((long(b) * d.in_c + c) * d.in_h + hi) * d.in_w + wi;
                  const long wi_ = ((long(o) * d.in_c + c) * d.kh + ki) * d.kw + kj;
                  f(yi, xi, wi_);
                }
  }
  template <class T>
  std::vector<double> forward(const T* x, const T* w, const T* bias) const {
    std::vector<double> y(size_t(d.batch * d.out_size()), 0.0);
    each([&](long yi, long xi, long wi) { y[yi] += double(w[wi]) * double(x[xi]); });
    if (bias)
      for (long i = 0; i < long(y.size()); ++i)
        y[i] += double(bias[(i / (d.out_h() * d.out_w())) % d.out_c]);
    return y;
  }
  template <class T>
  void backward(const T* x, const T* w, const T* dy, std::vector<double>& dx,
                std::vector<double>& dw, std::vector<double>& db) const {
    dx.assign(size_t(d.batch * d.in_size()), 0.0);
    dw.assign(size_t(d.weight_size()), 0.0);
    db.assign(size_t(d.out_c), 0.0);
    each([&](long yi, long xi, long wi) {
      dx[xi] += double(w[wi]) * double(dy[yi]);
      dw[wi] += double(x[xi]) * double(dy[yi]);
    });
    for (long i = 0; i < d.batch * d.out_size(); ++i)
      db[(i / (d.out_h() * d.out_w())) % d.out_c] += double(dy[i]);
  }
};

// Small shapes covering stride, padding, 1x1, non-square kernels and odd sizes.
std::vector<Conv2dDims> small_cases() {
  return {
      dims(2, 2, 5, 6, 3, 3, 3, 1, 1),    // 3x3 s1 p1
      dims(2, 3, 7, 7, 2, 3, 3, 2, 1),    // 3x3 s2 p1
      dims(2, 2, 8, 8, 3, 4, 4, 2, 1),    // 4x4 s2 p1
      dims(3, 4, 5, 5, 3, 1, 1, 1, 0),    // 1x1 fast path
      dims(2, 3, 6, 5, 2, 1, 1, 2, 0),    // 1x1 strided
      dims(2, 2, 9, 9, 2, 5, 5, 2, 1),    // 5x5 s2 p1
      dims(2, 2, 9, 8, 2, 4, 4, 4, 0),    // 4x4 s4 (as 8x8 s4)
      dims(2, 2, 6, 7, 2, 2, 3, 1, 2),    // non-square kernel, pad > kernel/2
      dims(1, 1, 3, 3, 1, 3, 3, 3, 1),    // stride larger than the output
      dims(5, 2, 10, 10, 3, 3, 3, 1, 1),  // groups of 3 samples: 3 + 2
      dims(5, 3, 12, 12, 2, 1, 1, 1, 0),  // 1x1 in groups of 2: 2 + 2 + a lone sample
  };
}

class Conv2dSmall : public ::testing::TestWithParam<int> {};

TEST_P(Conv2dSmall, ForwardMatchesDirectLoop) {
  const Conv2dDims d = small_cases()[GetParam()];
  Rng rng(11 + GetParam());
  auto x = random_vector<double>(d.batch * d.in_size(), rng);
  auto w = random_vector<double>(d.weight_size(), rng);
  auto b = random_vector<double>(d.out_c, rng);
  std::vector<double> y(size_t(d.batch * d.out_size()));
  kernels::conv2d_forward_cpu(d, x.data(), w.data(), b.data(), y.data());
  EXPECT_LT(rel_error(y, Direct{d}.forward(x.data(), w.data(), b.data())), 1e-13);
  kernels::conv2d_forward_cpu<double>(d, x.data(), w.data(), nullptr, y.data());
  EXPECT_LT(rel_error(y, Direct{d}.forward<double>(x.data(), w.data(), nullptr)), 1e-13);
}

TEST_P(Conv2dSmall, BackwardMatchesFiniteDifferences) {
  const Conv2dDims d = small_cases()[GetParam()];
  Rng rng(101 + GetParam());
  auto x = random_vector<double>(d.batch * d.in_size(), rng);
  auto w = random_vector<double>(d.weight_size(), rng);
  auto b = random_vector<double>(d.out_c, rng);
  auto r = random_vector<double>(d.batch * d.out_size(), rng);  // L = <y, r>, dL/dy = r
  std::vector<double> y(r.size());
  auto loss = [&] {
    kernels::conv2d_forward_cpu(d, x.data(), w.data(), b.data(), y.data());
    double l = 0;
    for (size_t i = 0; i < y.size(); ++i) l += y[i] * r[i];
    return l;
  };
  std::vector<double> dx(x.size()), dw(w.size(), 0.0), db(b.size(), 0.0);
  kernels::conv2d_backward_input_cpu(d, r.data(), w.data(), dx.data());
  kernels::conv2d_backward_weight_cpu(d, x.data(), r.data(), dw.data(), db.data());
  EXPECT_LT(rel_error(dx, numeric_grad(loss, x.data(), long(x.size()))), 1e-6);
  EXPECT_LT(rel_error(dw, numeric_grad(loss, w.data(), long(w.size()))), 1e-6);
  EXPECT_LT(rel_error(db, numeric_grad(loss, b.data(), long(b.size()))), 1e-6);
}

INSTANTIATE_TEST_SUITE_P(Shapes, Conv2dSmall, ::testing::Range(0, int(small_cases().size())));

// Every conv of the paper's networks (Non-local agent, reward net, Nature CNN, IMPALA), batch 2
// (on oneDNN the 3x3 convs with channels in multiples of 16 take its Winograd kernels, and the
// same-padded ones with fewer than 32 input channels get dx from its forward with the flipped
// kernel),
// in float against the direct loop in double, on each CPU backend; backward_weight accumulates
// (a second call doubles dw and db) and repeats bit for bit.
TEST(Conv2d, NetworkShapesFloatMatchDirectLoop) {
  CpuConvScope scope;
  const int k = 4;
  const std::vector<Conv2dDims> cases = {
      dims(2, k, 84, 84, 32, 5, 5, 2, 1),    // agent stem -> 41x41x32
      dims(2, 16, 21, 21, 8, 1, 1, 1, 0),    // ResBlock(16) 1x1 in
      dims(2, 8, 21, 21, 8, 3, 3, 1, 1),     // ResBlock 3x3 p1
      dims(2, 8, 21, 21, 16, 1, 1, 1, 0),    // ResBlock 1x1 out
      dims(2, 4, 12, 12, 4, 3, 3, 1, 1),     // ResBlock(8) 3x3 at 48x48 frames
      dims(2, 3, 9, 7, 5, 5, 5, 1, 2),       // same-padded 5x5, channels and sides unequal
      dims(2, k, 84, 84, 32, 4, 4, 2, 1),    // reward net -> 42x42x32
      dims(2, 32, 42, 42, 64, 4, 4, 2, 1),   // -> 21x21x64
      dims(2, 64, 21, 21, 64, 3, 3, 1, 1),   // 21x21x64
      dims(2, 64, 21, 21, 128, 4, 4, 2, 1),  // -> 10x10x128
      dims(2, k, 84, 84, 32, 8, 8, 4, 0),    // Nature 8x8 s4 -> 20x20
      dims(2, 32, 20, 20, 64, 4, 4, 2, 0),   // Nature 4x4 s2 -> 9x9
      dims(2, 64, 9, 9, 64, 3, 3, 1, 0),     // Nature 3x3 -> 7x7
      dims(2, 16, 41, 41, 32, 3, 3, 1, 0),   // IMPALA 3x3 no pad
      dims(2, 64, 12, 12, 8, 1, 1, 1, 0),    // relational theta at 48x48 frames (direct 1x1)
      dims(2, 16, 6, 6, 128, 1, 1, 1, 0),    // relational output conv, second block at 48x48
  };
  for (const kernels::CpuConv backend : cpu_conv_backends())
    for (const Conv2dDims& d : cases) {
      kernels::set_cpu_conv(backend);
      SCOPED_TRACE(::testing::Message() << kernels::cpu_conv_name(backend) << " " << d.in_c << "x"
                                        << d.in_h << "x" << d.in_w << " -> " << d.out_c << " k"
                                        << d.kh << " s" << d.stride << " p" << d.pad);
      Rng rng(7);
      auto x = random_vector<float>(d.batch * d.in_size(), rng);
      auto w = random_vector<float>(d.weight_size(), rng, -0.1, 0.1);
      auto b = random_vector<float>(d.out_c, rng);
      auto dy = random_vector<float>(d.batch * d.out_size(), rng);
      std::vector<float> y(dy.size()), dx(x.size()), dw(w.size(), 0.f), db(b.size(), 0.f);
      kernels::conv2d_forward_cpu(d, x.data(), w.data(), b.data(), y.data());
      kernels::conv2d_backward_input_cpu(d, dy.data(), w.data(), dx.data());
      kernels::conv2d_backward_weight_cpu(d, x.data(), dy.data(), dw.data(), db.data());
      const Direct ref{d};
      std::vector<double> rdx, rdw, rdb;
      ref.backward(x.data(), w.data(), dy.data(), rdx, rdw, rdb);
      EXPECT_LT(rel_error(y, ref.forward(x.data(), w.data(), b.data())), 1e-5);
      EXPECT_LT(rel_error(dx, rdx), 1e-5);
      EXPECT_LT(rel_error(dw, rdw), 1e-5);
      EXPECT_LT(rel_error(db, rdb), 1e-5);
      std::vector<float> dw2(dw.size(), 0.f), db2(db.size(), 0.f);
      kernels::conv2d_backward_weight_cpu(d, x.data(), dy.data(), dw2.data(), db2.data());
      EXPECT_EQ(dw2, dw);
      EXPECT_EQ(db2, db);
      kernels::conv2d_backward_weight_cpu(d, x.data(), dy.data(), dw2.data(), db2.data());
      for (auto& v : rdw) v *= 2;
      for (auto& v : rdb) v *= 2;
      EXPECT_LT(rel_error(dw2, rdw), 1e-5);
      EXPECT_LT(rel_error(db2, rdb), 1e-5);
      std::vector<float> y2(y.size());
      kernels::conv2d_forward_cpu(d, x.data(), w.data(), b.data(), y2.data());
      EXPECT_EQ(y2, y);
    }
}

// The direct 1x1 kernels (kernels/conv2d_pointwise_cpu.cpp) called as they are: row counts
// around their 8 / 4 / 2 / 1 row blocks, maps of whole vectors, of a partial one only and of
// both, in double against the direct loop, float against double, backward_weight accumulating
// and independent of the thread count up to rounding.
TEST(Conv2d, PointwiseDirectMatchesDirectLoop) {
  const std::vector<Conv2dDims> cases = {
      dims(3, 5, 12, 12, 13, 1, 1, 1, 0),  // 13 rows: 8 + 4 + 1; 144 = 9 vectors of floats
      dims(2, 13, 6, 6, 3, 1, 1, 1, 0),    // 3 rows; 36 = 2 vectors + 4
      dims(2, 2, 1, 3, 7, 1, 1, 1, 0),     // 3 positions: a partial vector only
      dims(4, 64, 12, 12, 8, 1, 1, 1, 0),  // reward net's theta at 48x48 frames
      dims(3, 16, 4, 8, 130, 1, 1, 1, 0),  // 130 rows, 32 positions
      dims(9, 6, 5, 7, 10, 1, 1, 1, 0),    // 9 samples: groups of 8 + 1 in backward_weight
  };
  const int saved = omp_get_max_threads();
  for (const Conv2dDims& d : cases) {
    SCOPED_TRACE(::testing::Message() << d.batch << "x" << d.in_c << "x" << d.in_h << "x" << d.in_w
                                      << " -> " << d.out_c);
    Rng rng(31);
    auto x = random_vector<double>(d.batch * d.in_size(), rng);
    auto w = random_vector<double>(d.weight_size(), rng);
    auto b = random_vector<double>(d.out_c, rng);
    auto dy = random_vector<double>(d.batch * d.out_size(), rng);
    const Direct ref{d};
    std::vector<double> rdx, rdw, rdb;
    ref.backward(x.data(), w.data(), dy.data(), rdx, rdw, rdb);
    std::vector<double> y(dy.size()), dx(x.size(), 7.0);
    kernels::detail::pointwise_forward_cpu(d, x.data(), w.data(), b.data(), y.data());
    EXPECT_LT(rel_error(y, ref.forward(x.data(), w.data(), b.data())), 1e-13);
    kernels::detail::pointwise_forward_cpu<double>(d, x.data(), w.data(), nullptr, y.data());
    EXPECT_LT(rel_error(y, ref.forward<double>(x.data(), w.data(), nullptr)), 1e-13);
    kernels::detail::pointwise_backward_input_cpu(d, dy.data(), w.data(), dx.data());
    EXPECT_LT(rel_error(dx, rdx), 1e-13);
    for (int threads : {1, 2, 3}) {
      omp_set_num_threads(threads);
      auto dw = w, db = b;  // accumulates onto what is there
      kernels::detail::pointwise_backward_weight_cpu(d, x.data(), dy.data(), dw.data(), db.data());
      for (size_t i = 0; i < dw.size(); ++i) dw[i] -= w[i];
      for (size_t i = 0; i < db.size(); ++i) db[i] -= b[i];
      EXPECT_LT(rel_error(dw, rdw), 1e-12) << threads << " threads";
      EXPECT_LT(rel_error(db, rdb), 1e-12) << threads << " threads";
      std::vector<double> dw_only(w.size(), 0.0);
      kernels::detail::pointwise_backward_weight_cpu<double>(d, x.data(), dy.data(), dw_only.data(),
                                                             nullptr);
      EXPECT_LT(rel_error(dw_only, rdw), 1e-13) << threads << " threads, no bias";
    }
    omp_set_num_threads(saved);
    std::vector<float> xf(x.begin(), x.end()), wf(w.begin(), w.end()), bf(b.begin(), b.end()),
        dyf(dy.begin(), dy.end());
    std::vector<float> yf(dy.size()), dxf(x.size()), dwf(w.size(), 0.f), dbf(b.size(), 0.f);
    kernels::detail::pointwise_forward_cpu(d, xf.data(), wf.data(), bf.data(), yf.data());
    kernels::detail::pointwise_backward_input_cpu(d, dyf.data(), wf.data(), dxf.data());
    kernels::detail::pointwise_backward_weight_cpu(d, xf.data(), dyf.data(), dwf.data(),
                                                   dbf.data());
    EXPECT_LT(rel_error(yf, ref.forward(x.data(), w.data(), b.data())), 1e-5);
    EXPECT_LT(rel_error(dxf, rdx), 1e-5);
    EXPECT_LT(rel_error(dwf, rdw), 1e-5);
    EXPECT_LT(rel_error(dbf, rdb), 1e-5);
  }
}

// Which 1x1 convs conv2d_*_cpu send to the direct kernels, and that the switch used by the
// benchmarks turns the path off and back on.
TEST(Conv2d, PointwiseDirectRouting) {
  using kernels::detail::pointwise_direct;
  // the second argument: backward_input (else the forward or the weight gradient)
  EXPECT_TRUE(pointwise_direct(dims(64, 64, 12, 12, 8, 1, 1, 1, 0), false));   // theta, 48x48
  EXPECT_TRUE(pointwise_direct(dims(64, 8, 12, 12, 64, 1, 1, 1, 0), false));   // out, 48x48
  EXPECT_TRUE(pointwise_direct(dims(64, 16, 6, 6, 128, 1, 1, 1, 0), true));    // out, 6x6: dx
  EXPECT_FALSE(pointwise_direct(dims(64, 16, 6, 6, 128, 1, 1, 1, 0), false));  // y, dW: GEMM
  EXPECT_FALSE(pointwise_direct(dims(64, 64, 21, 21, 8, 1, 1, 1, 0), true));   // 84x84 frames
  EXPECT_FALSE(pointwise_direct(dims(64, 32, 9, 9, 32, 1, 1, 1, 0), true));    // 32 channels
  EXPECT_FALSE(pointwise_direct(dims(2, 3, 6, 5, 2, 1, 1, 2, 0), true));       // strided
  EXPECT_FALSE(pointwise_direct(dims(2, 3, 6, 5, 2, 3, 3, 1, 1), true));       // 3x3
  Conv2dDims blocked = dims(2, 16, 6, 6, 16, 1, 1, 1, 0);
  blocked.blocked_in = true;
  EXPECT_FALSE(pointwise_direct(blocked, false));
  kernels::detail::set_pointwise_direct_max_channels(0);
  EXPECT_FALSE(pointwise_direct(dims(64, 64, 12, 12, 8, 1, 1, 1, 0), false));
  kernels::detail::set_pointwise_direct_max_channels(-1);
  EXPECT_TRUE(pointwise_direct(dims(64, 64, 12, 12, 8, 1, 1, 1, 0), false));
}

TEST(Conv2d, CpuBackendSwitchIsValidated) {
  CpuConvScope scope;
  EXPECT_EQ(kernels::parse_cpu_conv("reference"), kernels::CpuConv::Reference);
  EXPECT_THROW(kernels::parse_cpu_conv("mkl"), Error);
  EXPECT_THROW(kernels::parse_cpu_conv(""), Error);
  if (kernels::cpu_conv_onednn_built()) {
    EXPECT_EQ(kernels::parse_cpu_conv("onednn"), kernels::CpuConv::OneDnn);
  } else {
    EXPECT_THROW(kernels::parse_cpu_conv("onednn"), Error);
    EXPECT_THROW(kernels::set_cpu_conv(kernels::CpuConv::OneDnn), Error);
  }
}

TEST(Conv2d, FloatAgreesWithDouble) {
  const Conv2dDims d = dims(3, 3, 11, 10, 4, 3, 3, 2, 1);
  Rng rng(5);
  auto xd = random_vector<double>(d.batch * d.in_size(), rng);
  auto wd = random_vector<double>(d.weight_size(), rng);
  auto bd = random_vector<double>(d.out_c, rng);
  auto dyd = random_vector<double>(d.batch * d.out_size(), rng);
  std::vector<float> xf(xd.begin(), xd.end()), wf(wd.begin(), wd.end()), bf(bd.begin(), bd.end()),
      dyf(dyd.begin(), dyd.end());
  std::vector<double> yd(dyd.size()), dxd(xd.size()), dwd(wd.size(), 0.0), dbd(bd.size(), 0.0);
  std::vector<float> yf(dyd.size()), dxf(xd.size()), dwf(wd.size(), 0.f), dbf(bd.size(), 0.f);
  kernels::conv2d_forward_cpu(d, xd.data(), wd.data(), bd.data(), yd.data());
  kernels::conv2d_forward_cpu(d, xf.data(), wf.data(), bf.data(), yf.data());
  kernels::conv2d_backward_input_cpu(d, dyd.data(), wd.data(), dxd.data());
  kernels::conv2d_backward_input_cpu(d, dyf.data(), wf.data(), dxf.data());
  kernels::conv2d_backward_weight_cpu(d, xd.data(), dyd.data(), dwd.data(), dbd.data());
  kernels::conv2d_backward_weight_cpu(d, xf.data(), dyf.data(), dwf.data(), dbf.data());
  EXPECT_LT(rel_error(yf, yd), 1e-5);
  EXPECT_LT(rel_error(dxf, dxd), 1e-5);
  EXPECT_LT(rel_error(dwf, dwd), 1e-5);
  EXPECT_LT(rel_error(dbf, dbd), 1e-5);
}

// backward_weight adds to what dw and db hold, also when the batch is split over threads.
TEST(Conv2d, BackwardWeightAccumulatesAndIgnoresThreadCount) {
  // Large enough to split; 10x10 maps go in groups of 3 samples (3 + 3 + 1).
  const Conv2dDims d = dims(7, 8, 10, 10, 8, 3, 3, 1, 1);
  Rng rng(9);
  auto x = random_vector<double>(d.batch * d.in_size(), rng);
  auto dy = random_vector<double>(d.batch * d.out_size(), rng);
  auto w0 = random_vector<double>(d.weight_size(), rng);
  auto b0 = random_vector<double>(d.out_c, rng);
  std::vector<double> rdx, rdw, rdb;
  Direct{d}.backward(x.data(), w0.data(), dy.data(), rdx, rdw, rdb);
  for (size_t i = 0; i < rdw.size(); ++i) rdw[i] += w0[i];
  for (size_t i = 0; i < rdb.size(); ++i) rdb[i] += b0[i];
  const int saved = omp_get_max_threads();
  for (int threads : {1, 2, 3}) {
    omp_set_num_threads(threads);
    auto dw = w0, db = b0;
    kernels::conv2d_backward_weight_cpu(d, x.data(), dy.data(), dw.data(), db.data());
    EXPECT_LT(rel_error(dw, rdw), 1e-13) << threads << " threads";
    EXPECT_LT(rel_error(db, rdb), 1e-13) << threads << " threads";
    auto dw_only = w0;
    kernels::conv2d_backward_weight_cpu<double>(d, x.data(), dy.data(), dw_only.data(), nullptr);
    EXPECT_LT(rel_error(dw_only, rdw), 1e-13) << threads << " threads, no bias";
  }
  omp_set_num_threads(saved);
}

// oneDNN's forward on a large batch with a plain output runs in chunks of a few samples (the
// agent's stem at batch 128): every sample, the last partial chunk's too, matches the definition,
// and the same call twice gives the same bits.
TEST(Conv2d, OneDnnForwardInChunksMatchesTheDefinition) {
  if (!kernels::cpu_conv_onednn_built()) GTEST_SKIP() << "built without oneDNN";
  CpuConvScope scope;
  kernels::set_cpu_conv(kernels::CpuConv::OneDnn);
  const Conv2dDims d = dims(23, 4, 84, 84, 32, 5, 5, 2, 1);  // 23 x 215 KB outputs: 5 chunks + 3
  Rng rng(13);
  const auto x = random_vector<float>(d.batch * d.in_size(), rng);
  const auto w = random_vector<float>(d.weight_size(), rng);
  const auto b = random_vector<float>(d.out_c, rng);
  std::vector<float> y(size_t(d.batch * d.out_size()), -9.f), again(y.size());
  kernels::conv2d_forward_cpu(d, x.data(), w.data(), b.data(), y.data());
  kernels::conv2d_forward_cpu(d, x.data(), w.data(), b.data(), again.data());
  EXPECT_EQ(y, again);
  EXPECT_LT(rel_error(y, Direct{d}.forward(x.data(), w.data(), b.data())), 1e-5);
}

// The backward passes of stride-2 convs with even kernels and few input channels, which run as
// oneDNN's stride-1 conv over the input's four phases (conv2d_cpu.cpp, phase_split): the reward
// net's conv1, odd sides, phase tensors of one, two and a partial channel block, a non-square
// kernel, padding past the kernel's half and input pixels no output sees (their gradient is 0),
// with dy NCHW and blocked; dW and db accumulate.
TEST(Conv2d, StrideTwoBackwardOverPhasesMatchesTheDefinition) {
  if (!kernels::cpu_conv_onednn_built()) GTEST_SKIP() << "built without oneDNN";
  CpuConvScope scope;
  kernels::set_cpu_conv(kernels::CpuConv::OneDnn);
  const int B = kernels::cpu_conv_block();
  const std::vector<Conv2dDims> cases = {
      dims(3, 4, 84, 84, 32, 4, 4, 2, 1),  // reward conv1 -> 42x42x32
      dims(2, 8, 47, 45, 16, 4, 4, 2, 1),  // odd sides, 32 phase channels
      dims(2, 3, 11, 10, 5, 2, 2, 2, 0),   // 12 phase channels
      dims(2, 2, 9, 13, 3, 6, 4, 2, 2),    // non-square kernel
      dims(2, 4, 10, 10, 8, 4, 4, 2, 3),   // pad 3
      dims(2, 4, 11, 11, 8, 2, 2, 2, 0),   // the last row and column feed no output
  };
  for (const Conv2dDims& plain : cases)
    for (const bool blocked_dy : {false, true}) {
      if (blocked_dy && (B == 0 || plain.out_c % B != 0)) continue;
      SCOPED_TRACE(::testing::Message()
                   << plain.in_c << "x" << plain.in_h << "x" << plain.in_w << " -> " << plain.out_c
                   << " k" << plain.kh << "x" << plain.kw << " p" << plain.pad << " blocked dy "
                   << blocked_dy);
      Conv2dDims d = plain;
      d.blocked_out = blocked_dy;
      Rng rng(17);
      const auto x = random_vector<float>(d.batch * d.in_size(), rng);
      const auto w = random_vector<float>(d.weight_size(), rng, -0.1, 0.1);
      const auto dy = random_vector<float>(d.batch * d.out_size(), rng);
      std::vector<float> dyb = dy;
      if (blocked_dy)
        kernels::cpu_nchw_to_blocked(d.batch, d.out_c, d.out_h(), d.out_w(), dy.data(), dyb.data());
      std::vector<float> dx(x.size(), -7.f), dw(w.size(), 0.5f), db(size_t(d.out_c), 0.5f);
      kernels::conv2d_backward_input_cpu(d, dyb.data(), w.data(), dx.data());
      kernels::conv2d_backward_weight_cpu(d, x.data(), dyb.data(), dw.data(), db.data());
      std::vector<double> rdx, rdw, rdb;
      Direct{plain}.backward(x.data(), w.data(), dy.data(), rdx, rdw, rdb);
      for (auto& v : rdw) v += 0.5;
      for (auto& v : rdb) v += 0.5;
      EXPECT_LT(rel_error(dx, rdx), 1e-5);
      EXPECT_LT(rel_error(dw, rdw), 1e-5);
      EXPECT_LT(rel_error(db, rdb), 1e-5);
      // Pixels that no output sees get exactly 0 (the definition's sum is empty there).
      for (size_t i = 0; i < dx.size(); ++i)
        if (rdx[i] == 0.0) ASSERT_EQ(dx[i], 0.f) << "at " << i;
    }
}

// The blocked activation layout (Conv2dDims::blocked_in / blocked_out): element (b, c, h, w) of
// nChw<B>c sits at ((b * C/B + c/B) * H + h) * W * B + w * B + c % B, the copies are exact, and
// every pass gives the same bits as on NCHW tensors, on each backend (the reference runs on NCHW
// copies), for the reward net's conv2-5 at both frame sizes and a 1x1 conv.
TEST(Conv2d, BlockedLayoutsGiveTheSameBitsAsNchw) {
  if (!kernels::cpu_conv_onednn_built())
    GTEST_SKIP() << "built without oneDNN: no blocked activation layout";
  CpuConvScope scope;
  kernels::set_cpu_conv(kernels::CpuConv::OneDnn);
  const int B = kernels::cpu_conv_block();
  if (B == 0) GTEST_SKIP() << "oneDNN uses no channel-blocked activation layout on this CPU";

  const int n = 3, c = 2 * B, h = 5, w = 7;
  Rng rng(3);
  auto src = random_vector<float>(long(n) * c * h * w, rng);
  // The copies: oneDNN's reorder with its convolutions selected, plain loops on the reference.
  for (const kernels::CpuConv backend : {kernels::CpuConv::OneDnn, kernels::CpuConv::Reference}) {
    SCOPED_TRACE(backend == kernels::CpuConv::OneDnn ? "oneDNN reorder" : "reference loops");
    kernels::set_cpu_conv(backend);
    std::vector<float> blocked(src.size()), back(src.size());
    kernels::cpu_nchw_to_blocked(n, c, h, w, src.data(), blocked.data());
    kernels::cpu_blocked_to_nchw(n, c, h, w, blocked.data(), back.data());
    EXPECT_EQ(back, src);
    for (int b = 0; b < n; ++b)
      for (int ch = 0; ch < c; ++ch)
        for (int i = 0; i < h; ++i)
          for (int j = 0; j < w; ++j)
            ASSERT_EQ(
                blocked[size_t((((long(b) * (c / B) + ch / B) * h + i) * w + j) * B + ch % B)],
                src[size_t(((long(b) * c + ch) * h + i) * w + j)]);
  }
  kernels::set_cpu_conv(kernels::CpuConv::OneDnn);

  auto to_blocked = [](int nb, int ch, int hh, int ww, const std::vector<float>& v) {
    std::vector<float> out(v.size());
    kernels::cpu_nchw_to_blocked(nb, ch, hh, ww, v.data(), out.data());
    return out;
  };
  auto to_nchw = [](int nb, int ch, int hh, int ww, const std::vector<float>& v) {
    std::vector<float> out(v.size());
    kernels::cpu_blocked_to_nchw(nb, ch, hh, ww, v.data(), out.data());
    return out;
  };
  const std::vector<Conv2dDims> cases = {
      dims(3, 32, 24, 24, 64, 4, 4, 2, 1),   // reward conv2, 48x48 frames
      dims(3, 64, 12, 12, 64, 3, 3, 1, 1),   // conv3
      dims(3, 64, 12, 12, 128, 4, 4, 2, 1),  // conv4
      dims(3, 128, 6, 6, 128, 4, 4, 2, 1),   // conv5
      dims(2, 64, 21, 21, 64, 3, 3, 1, 1),   // conv3, 84x84 frames
      dims(2, 32, 9, 9, 32, 1, 1, 1, 0),     // 1x1: the reference in every pass
  };
  for (const kernels::CpuConv backend : cpu_conv_backends())
    for (const Conv2dDims& plain : cases)
      for (const auto [bin, bout] : {std::pair{true, false}, {false, true}, {true, true}}) {
        kernels::set_cpu_conv(backend);
        SCOPED_TRACE(::testing::Message() << kernels::cpu_conv_name(backend) << " " << plain.in_c
                                          << "x" << plain.in_h << " -> " << plain.out_c << " k"
                                          << plain.kh << " blocked in " << bin << " out " << bout);
        Conv2dDims d = plain;
        d.blocked_in = bin;
        d.blocked_out = bout;
        const int oh = d.out_h(), ow = d.out_w();
        Rng r(11);
        auto x = random_vector<float>(d.batch * d.in_size(), r);
        auto wt = random_vector<float>(d.weight_size(), r, -0.1, 0.1);
        auto bias = random_vector<float>(d.out_c, r);
        auto dy = random_vector<float>(d.batch * d.out_size(), r);
        std::vector<float> y(dy.size()), dx(x.size()), dw(wt.size(), 0.5f), db(bias.size(), 0.5f);
        kernels::conv2d_forward_cpu(plain, x.data(), wt.data(), bias.data(), y.data());
        kernels::conv2d_backward_input_cpu(plain, dy.data(), wt.data(), dx.data());
        kernels::conv2d_backward_weight_cpu(plain, x.data(), dy.data(), dw.data(), db.data());

        const auto xb = bin ? to_blocked(d.batch, d.in_c, d.in_h, d.in_w, x) : x;
        const auto dyb = bout ? to_blocked(d.batch, d.out_c, oh, ow, dy) : dy;
        std::vector<float> yb(y.size()), dxb(dx.size()), dwb(wt.size(), 0.5f),
            dbb(bias.size(), 0.5f);
        kernels::conv2d_forward_cpu(d, xb.data(), wt.data(), bias.data(), yb.data());
        kernels::conv2d_backward_input_cpu(d, dyb.data(), wt.data(), dxb.data());
        kernels::conv2d_backward_weight_cpu(d, xb.data(), dyb.data(), dwb.data(), dbb.data());
        EXPECT_EQ(bout ? to_nchw(d.batch, d.out_c, oh, ow, yb) : yb, y);
        EXPECT_EQ(bin ? to_nchw(d.batch, d.in_c, d.in_h, d.in_w, dxb) : dxb, dx);
        EXPECT_EQ(dwb, dw);
        EXPECT_EQ(dbb, db);
      }
}

TEST(Conv2d, BlockedLayoutsNeedFloatAndOneDnn) {
  std::vector<double> buf(4096);
  Conv2dDims d = dims(1, 16, 4, 4, 16, 3, 3, 1, 1);
  d.blocked_out = true;
  EXPECT_THROW(kernels::conv2d_forward_cpu<double>(d, buf.data(), buf.data(), nullptr, buf.data()),
               Error);
  if (!kernels::cpu_conv_onednn_built()) {
    std::vector<float> f(4096);
    EXPECT_THROW(kernels::conv2d_forward_cpu<float>(d, f.data(), f.data(), nullptr, f.data()),
                 Error);
    EXPECT_EQ(kernels::cpu_conv_block(), 0);
  }
}

TEST(Conv2d, RejectsBadShapes) {
  std::vector<float> buf(1000);
  Conv2dDims d = dims(1, 1, 3, 3, 1, 5, 5, 1, 0);  // kernel larger than the input
  EXPECT_THROW(kernels::conv2d_forward_cpu<float>(d, buf.data(), buf.data(), nullptr, buf.data()),
               Error);
  d = dims(1, 1, 5, 5, 1, 3, 3, 0, 0);  // stride 0
  EXPECT_THROW(kernels::conv2d_backward_input_cpu(d, buf.data(), buf.data(), buf.data()), Error);
  d = dims(1, 1, 5, 5, 1, 3, 3, 1, 0);
  EXPECT_THROW(
      kernels::conv2d_backward_weight_cpu<float>(d, nullptr, buf.data(), buf.data(), nullptr),
      Error);
}

}  // namespace
}  // namespace relmimic
