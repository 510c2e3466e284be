// The weight gradient of conv -> max-pool from the pool's winners (kernels/conv_pool.h) against
// the composition it replaces: the pool's backward scatter, then the convolution's backward
// weight (im2col + GEMM), on the agent's stems and on shapes that take the generic path.
#include <gtest/gtest.h>
#include <omp.h>

#include <vector>

#include "kernels/common.h"
#include "kernels/conv2d.h"
#include "kernels/conv_pool.h"
#include "kernels/pool3d.h"
#include "tests/cpu_conv_backends.h"
#include "tests/grad_check.h"

namespace relmimic {
namespace {

using kernels::Conv2dDims;
using kernels::Pool3dDims;
using testing::random_vector;
using testing::rel_error;

struct Case {
  const char* name;
  Conv2dDims conv;
  int kc, kh, kw, sc, sh, sw, pc, ph, pw;  // the pool on the conv's output
};

std::vector<Case> cases() {
  return {
      // The agent's stems: 4 frames at 48x48, 8 frames at 84x84 (the compiled paths).
      {"stem_48_k4", {3, 4, 48, 48, 32, 5, 5, 2, 1}, 2, 3, 3, 2, 2, 2, 0, 1, 1},
      {"stem_84_k8", {2, 8, 84, 84, 32, 5, 5, 2, 1}, 2, 3, 3, 2, 2, 2, 0, 1, 1},
      // The compiled path under channel windows that overlap and cross the padding.
      {"stem_48_k4_overlap", {2, 4, 48, 48, 32, 5, 5, 2, 1}, 3, 3, 3, 1, 2, 2, 1, 1, 1},
      // The generic path: 3x3 stride 1 with padding, a 2-D pool; a 7-wide kernel.
      {"generic_3x3", {2, 3, 9, 9, 4, 3, 3, 1, 1}, 1, 2, 2, 1, 2, 2, 0, 0, 0},
      {"generic_7x7", {2, 2, 11, 11, 6, 7, 7, 2, 3}, 2, 3, 3, 2, 2, 2, 0, 1, 1},
  };
}

Pool3dDims pool_of(const Case& c) {
  Pool3dDims p;
  p.batch = c.conv.batch, p.c = c.conv.out_c, p.h = c.conv.out_h(), p.w = c.conv.out_w();
  p.kc = c.kc, p.kh = c.kh, p.kw = c.kw, p.sc = c.sc, p.sh = c.sh, p.sw = c.sw;
  p.pc = c.pc, p.ph = c.ph, p.pw = c.pw;
  return p;
}

struct OmpThreads {
  explicit OmpThreads(int n) : saved(omp_get_max_threads()) { omp_set_num_threads(n); }
  ~OmpThreads() { omp_set_num_threads(saved); }
  int saved;
};

// The conv's input x, the pool's winners on a random conv output, and a gradient at the pool's
// output with every third value zero (as after a ReLU).
template <class T>
struct Inputs {
  std::vector<T> x, dpool;
  std::vector<int32_t> arg;
  Inputs(const Case& c, Rng& rng) {
    const Conv2dDims& d = c.conv;
    const Pool3dDims p = pool_of(c);
    x = random_vector<T>(d.batch * d.in_size(), rng);
    const auto y = random_vector<T>(d.batch * d.out_size(), rng);
    std::vector<T> py(size_t(d.batch * p.out_size()));
    arg.resize(py.size());
    kernels::pool3d_forward_cpu(p, y.data(), py.data(), arg.data());
    dpool = random_vector<T>(long(py.size()), rng);
    for (size_t i = 0; i < dpool.size(); i += 3) dpool[i] = T(0);
  }
};

// dw, db from both ways, each accumulated onto the same nonzero start.
template <class T>
void compare(const Case& c, int threads, double tol) {
  SCOPED_TRACE(std::string(c.name) + ", " + std::to_string(threads) + " thread(s)");
  const Conv2dDims& d = c.conv;
  const Pool3dDims p = pool_of(c);
  Rng rng(7);
  const Inputs<T> in(c, rng);
  const std::vector<T>&x = in.x, &dpool = in.dpool;
  const std::vector<int32_t>& arg = in.arg;
  const auto dw0 = random_vector<T>(d.weight_size(), rng);
  const auto db0 = random_vector<T>(d.out_c, rng);

  testing::CpuConvScope scope;
  kernels::set_cpu_conv(kernels::CpuConv::Reference);
  OmpThreads t(threads);
  std::vector<T> dy(size_t(d.batch * d.out_size())), want_w = dw0, want_b = db0, got_w = dw0,
                                                     got_b = db0;
  kernels::pool3d_backward_cpu(p, dpool.data(), arg.data(), dy.data());
  kernels::conv2d_backward_weight_cpu(d, x.data(), dy.data(), want_w.data(), want_b.data());
  kernels::conv2d_backward_weight_pooled_cpu(d, x.data(), p, arg.data(), dpool.data(), got_w.data(),
                                             got_b.data());
  EXPECT_LT(rel_error(got_w, want_w), tol);
  EXPECT_LT(rel_error(got_b, want_b), tol);
  // Without a bias gradient, the same weights.
  std::vector<T> only_w = dw0;
  kernels::conv2d_backward_weight_pooled_cpu(d, x.data(), p, arg.data(), dpool.data(),
                                             only_w.data(), static_cast<T*>(nullptr));
  EXPECT_EQ(only_w, got_w);
}

TEST(ConvPool, MatchesThePoolsScatterThenTheConvsBackwardWeight) {
  for (const Case& c : cases())
    for (int threads : {1, 2}) {
      compare<double>(c, threads, 1e-13);
      compare<float>(c, threads, 2e-6);
    }
}

TEST(ConvPool, FixedThreadCountGivesTheSameBits) {
  const Case c = cases()[0];
  const Conv2dDims& d = c.conv;
  const Pool3dDims p = pool_of(c);
  Rng rng(11);
  const Inputs<float> in(c, rng);
  const std::vector<float>&x = in.x, &dpool = in.dpool;
  const std::vector<int32_t>& arg = in.arg;
  OmpThreads t(2);
  std::vector<float> a(size_t(d.weight_size())), b(a.size()), ga(size_t(d.out_c)), gb(ga.size());
  kernels::conv2d_backward_weight_pooled_cpu(d, x.data(), p, arg.data(), dpool.data(), a.data(),
                                             ga.data());
  kernels::conv2d_backward_weight_pooled_cpu(d, x.data(), p, arg.data(), dpool.data(), b.data(),
                                             gb.data());
  EXPECT_EQ(a, b);
  EXPECT_EQ(ga, gb);
}

TEST(ConvPool, RejectsAPoolThatDoesNotReadTheConvsOutput) {
  const Case c = cases()[2];
  Pool3dDims p = pool_of(c);
  p.h += 1;
  std::vector<double> buf(4096);
  std::vector<int32_t> arg(4096);
  EXPECT_THROW(kernels::conv2d_backward_weight_pooled_cpu(c.conv, buf.data(), p, arg.data(),
                                                          buf.data(), buf.data(), buf.data()),
               Error);
  Conv2dDims wide = c.conv;
  wide.kw = wide.kh = 9;
  wide.pad = 4;
  EXPECT_THROW(kernels::conv2d_backward_weight_pooled_cpu(wide, buf.data(), pool_of(c), arg.data(),
                                                          buf.data(), buf.data(), buf.data()),
               Error);
}

}  // namespace
}  // namespace relmimic
