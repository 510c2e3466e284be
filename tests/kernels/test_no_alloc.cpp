// Steady-state kernel calls allocate nothing on the heap (per-thread scratch grows once, on the
// first call). Counted by replacing the global operator new for this test program, counting
// only while a test asks for it.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "kernels/activation.h"
#include "kernels/adam.h"
#include "kernels/conv2d.h"
#include "kernels/gemm.h"
#include "kernels/linear.h"
#include "kernels/norm.h"
#include "kernels/pool3d.h"
#include "kernels/reduce.h"
#include "tests/alloc_counter.h"

namespace relmimic {
namespace {

using testing::allocations_of;
using testing::expect_no_buffers_allocated;

// Batch 16 so the threaded paths run; a large map (one sample per GEMM) and a small one
// (samples grouped), each with a 1x1 conv. On the reference backend nothing is allocated. oneDNN's
// primitive execution (in builds with it) allocates its own small argument bookkeeping on every
// call, inside the library; every buffer (layouts, scratchpad, partial dW) is held between calls,
// so no allocation is larger than that bookkeeping.
TEST(NoAllocation, Conv2d) {
  auto dims = [](int cin, int hw, int cout, int k, int s, int p) {
    kernels::Conv2dDims d;
    d.batch = 16, d.in_c = cin, d.in_h = d.in_w = hw, d.out_c = cout;
    d.kh = d.kw = k, d.stride = s, d.pad = p;
    return d;
  };
  for (const auto& d : {dims(4, 84, 32, 5, 2, 1), dims(16, 21, 8, 1, 1, 0),
                        dims(64, 10, 32, 4, 2, 1), dims(8, 10, 8, 1, 1, 0)}) {
    std::vector<float> x(size_t(d.batch * d.in_size()), 0.5f), w(size_t(d.weight_size()), 0.1f),
        b(size_t(d.out_c)), y(size_t(d.batch * d.out_size())), dx(x.size()), dw(w.size());
    expect_no_buffers_allocated(
        [&] {
          kernels::conv2d_forward_cpu(d, x.data(), w.data(), b.data(), y.data());
          kernels::conv2d_backward_input_cpu(d, y.data(), w.data(), dx.data());
          kernels::conv2d_backward_weight_cpu(d, x.data(), y.data(), dw.data(), b.data());
        },
        std::to_string(d.in_c) + "x" + std::to_string(d.in_h) + " k" + std::to_string(d.kh));
  }
}

TEST(NoAllocation, Pool3dLinearNormActivationAdamReduce) {
  kernels::Pool3dDims p;
  p.batch = 16, p.c = 32, p.h = p.w = 41, p.kc = 2, p.kh = p.kw = 3;
  p.sc = p.sh = p.sw = 2, p.ph = p.pw = 1;
  std::vector<float> px(size_t(p.batch * p.in_size()), 1.f), py(size_t(p.batch * p.out_size()));
  std::vector<int32_t> arg(py.size());
  EXPECT_EQ(allocations_of([&] {
              kernels::pool3d_forward_cpu(p, px.data(), py.data(), arg.data());
              kernels::pool3d_backward_cpu(p, py.data(), arg.data(), px.data());
            }),
            0);

  const int M = 64, N = 128, K = 512;
  std::vector<float> x(size_t(M) * K, 0.1f), w(size_t(N) * K, 0.1f), b(static_cast<size_t>(N)),
      y(size_t(M) * N), dx(x.size()), dw(w.size()), mean(static_cast<size_t>(M)),
      rstd(static_cast<size_t>(M)), m(w.size()), v(w.size());
  EXPECT_EQ(allocations_of([&] {
              kernels::linear_forward_cpu(M, N, K, x.data(), w.data(), b.data(), y.data());
              kernels::linear_backward_input_cpu(M, N, K, y.data(), w.data(), dx.data());
              kernels::linear_backward_weight_cpu(M, N, K, x.data(), y.data(), dw.data(), b.data());
              kernels::layernorm_forward_cpu(M, K, x.data(), w.data(), w.data(), 1e-5f, dx.data(),
                                             mean.data(), rstd.data());
              kernels::layernorm_backward_cpu(M, K, x.data(), w.data(), mean.data(), rstd.data(),
                                              x.data(), dx.data(), dw.data(), dw.data() + K);
              kernels::activation_forward_cpu(kernels::Act::LeakyReLU, long(x.size()), x.data(),
                                              dx.data(), 0.1f);
              kernels::activation_backward_cpu(kernels::Act::Tanh, long(x.size()), x.data(),
                                               x.data(), dx.data(), dx.data(), 0.f);
              kernels::AdamParams ap;
              kernels::adam_step_cpu(long(w.size()), w.data(), dw.data(), m.data(), v.data(), ap);
              kernels::sum_squares_cpu(long(w.size()), w.data());
              kernels::max_abs_cpu(long(w.size()), w.data());
            }),
            0);
}

}  // namespace
}  // namespace relmimic

namespace relmimic {
namespace {
// The counter itself must see allocations, or every test above would pass vacuously.
TEST(NoAllocation, CounterSeesAllocations) {
  // Through a volatile pointer: the compiler may drop a new/delete pair it can see through.
  static int* volatile sink = nullptr;
  EXPECT_EQ(testing::allocations_of([] {
              sink = new int(1);
              delete sink;
            }),
            1);
}
}  // namespace
}  // namespace relmimic
