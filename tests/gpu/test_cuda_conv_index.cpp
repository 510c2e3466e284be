// The CUDA conv kernel's arithmetic, checked on the CPU (runs with or without a GPU):
//   - FastDivmod against / and %,
//   - the implicit-GEMM problems (conv2d_igemm.h) through a naive GEMM against the reference
//     conv on every network shape,
//   - the kernel's block body (igemm_tile.h, FP32 path) on an emulated thread block, tiles,
//     loaders, barriers and epilogue included, against the reference conv.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "kernels/conv2d.h"
#include "kernels/conv2d_igemm.h"
#include "kernels/fast_divmod.h"
#include "kernels/igemm_tile.h"
#include "tests/gpu/block_emulator.h"
#include "tests/gpu/net_shapes.h"
#include "tests/grad_check.h"

namespace relmimic {
namespace {

using kernels::Conv2dDims;
using kernels::FastDivmod;
namespace igemm = kernels::igemm;

void expect_divmod(const FastDivmod& f, int n) {
  int q, r;
  f.divmod(n, q, r);
  ASSERT_EQ(q, n / f.divisor) << n << " / " << f.divisor;
  ASSERT_EQ(r, n % f.divisor) << n << " % " << f.divisor;
}

TEST(CudaConvIndex, FastDivmodMatchesIntegerDivision) {
  std::vector<int> divisors;
  for (int d = 1; d <= 1000; ++d) divisors.push_back(d);
  for (int s = 10; s <= 30; ++s)
    for (int e : {-1, 0, 1}) divisors.push_back((1 << s) + e);
  divisors.push_back(std::numeric_limits<int>::max());
  for (int d : {1681, 1764, 7056, 441, 3 * 84 * 84, 100003}) divisors.push_back(d);
  Rng rng(11);
  const int max = std::numeric_limits<int>::max();
  for (int d : divisors) {
    const FastDivmod f(d);
    for (int n = 0; n < 3000; ++n) expect_divmod(f, n);
    for (int i = 0; i < 300; ++i) expect_divmod(f, int(rng.below(uint64_t(max) + 1)));
    // Around multiples of d and at the top of the range.
    for (long m = d; m < max; m *= 7) {
      for (long e : {-1L, 0L, 1L})
        if (m + e >= 0 && m + e <= max) expect_divmod(f, int(m + e));
    }
    for (int e = 0; e < 16; ++e) expect_divmod(f, max - e);
  }
}

// Inputs as float (the kernels' type) and as double (for the reference).
struct Data {
  std::vector<float> f;
  std::vector<double> d;
};
Data random_data(long n, Rng& rng) {
  Data r;
  r.f = testing::random_vector<float>(n, rng);
  r.d.assign(r.f.begin(), r.f.end());
  return r;
}

// Runs slice z's naive GEMM through the problem's accessors, as the kernel's blocks would.
template <class Op>
void naive_gemm(const Op& op, int slices) {
  for (int z = 0; z < slices; ++z) {
    const typename Op::Slice p = op.slice(z);
    for (int m = 0; m < p.M; ++m)
      for (int n = 0; n < p.N; ++n) {
        const auto col = p.col(n);
        double acc = 0;
        for (int k = p.k_begin; k < p.k_end; ++k) acc += double(p.a(m, k)) * p.b(p.row(k), col);
        p.store(m, n, float(acc));
      }
  }
}

// The kernel's block body on the emulator, FP32 path, over the launch's whole grid.
template <class Op, int BM, int BN>
void emulate_tile(const Op& op, int M, int max_n, int slices) {
  const igemm::Grid g = igemm::grid_for({BM, BN}, M, max_n, slices);
  auto smem = std::make_unique<igemm::Smem<BM, BN>>();
  testing::BlockEmulator em(igemm::kThreads);
  em.run(
      g.x, g.y, g.z,
      [&](const testing::BlockEmulator::Block& blk) {
        igemm::igemm_block<Op, BM, BN, igemm::MathFP32<BM, BN>>(op, blk, *smem);
      },
      [&] {
        // Poison shared memory: a tile element read before it is staged shows up as NaN.
        float* s = &smem->As[0][0];
        std::fill(s, s + sizeof(*smem) / sizeof(float), std::nanf(""));
      });
}
template <class Op>
void emulate(const Op& op, int M, int max_n, int slices) {
  const igemm::TileShape t = igemm::tile_for(M);
  if (t.bm == 16)
    emulate_tile<Op, 16, 256>(op, M, max_n, slices);
  else if (t.bm == 32)
    emulate_tile<Op, 32, 128>(op, M, max_n, slices);
  else
    emulate_tile<Op, 64, 64>(op, M, max_n, slices);
}

enum class Engine { NaiveGemm, EmulatedBlock };

template <class Op>
void run_engine(Engine e, const Op& op, int M, int max_n, int slices) {
  if (e == Engine::NaiveGemm)
    naive_gemm(op, slices);
  else
    emulate(op, M, max_n, slices);
}

// Every pass of conv d through `engine` against the double reference; sm_count sets how many
// splits backward_weight uses.
// bi_phases: backward_input phases per launch (the kernel uses kMaxPhases; fewer tests the
// multi-launch path of strides above 4).
void check_conv(const Conv2dDims& d, Engine engine, int sm_count, const std::string& name,
                int bi_phases = igemm::ConvBackwardInput::kMaxPhases) {
  SCOPED_TRACE(name + " batch " + std::to_string(d.batch));
  // The naive GEMM sums in double; the block body in float, as the GPU does (K up to 2048).
  const double tol = engine == Engine::NaiveGemm ? 1e-6 : 1e-5;
  Rng rng(uint64_t(d.in_c * 131 + d.out_c * 7 + d.kh + d.stride * 1000 + d.in_h));
  const Data x = random_data(d.batch * d.in_size(), rng), w = random_data(d.weight_size(), rng);
  const Data b = random_data(d.out_c, rng), dy = random_data(d.batch * d.out_size(), rng);
  const float nan = std::nanf("");

  // forward, with and without bias
  std::vector<double> y_ref(size_t(d.batch * d.out_size()));
  kernels::conv2d_forward_cpu(d, x.d.data(), w.d.data(), b.d.data(), y_ref.data());
  std::vector<float> y(y_ref.size(), nan);
  run_engine(engine, igemm::ConvForward(d, x.f.data(), w.f.data(), b.f.data(), y.data()), d.out_c,
             int(d.batch * d.out_h() * d.out_w()), 1);
  EXPECT_LT(testing::rel_error(y, y_ref), tol) << "forward";
  kernels::conv2d_forward_cpu<double>(d, x.d.data(), w.d.data(), nullptr, y_ref.data());
  std::fill(y.begin(), y.end(), nan);
  run_engine(engine, igemm::ConvForward(d, x.f.data(), w.f.data(), nullptr, y.data()), d.out_c,
             int(d.batch * d.out_h() * d.out_w()), 1);
  EXPECT_LT(testing::rel_error(y, y_ref), tol) << "forward without bias";

  // backward_input: every dx element written exactly once, by its stride phase
  std::vector<double> dx_ref(size_t(d.batch * d.in_size()));
  kernels::conv2d_backward_input_cpu(d, dy.d.data(), w.d.data(), dx_ref.data());
  std::vector<float> dx(dx_ref.size(), nan);
  for (int first = 0; first < d.stride * d.stride; first += bi_phases) {
    const igemm::ConvBackwardInput bi(d, dy.f.data(), w.f.data(), dx.data(), first, bi_phases);
    run_engine(engine, bi, bi.M, bi.max_N, bi.phases);
  }
  EXPECT_LT(testing::rel_error(dx, dx_ref), tol) << "backward_input";

  // backward_weight accumulates into dw, db
  const Data dw0 = random_data(d.weight_size(), rng), db0 = random_data(d.out_c, rng);
  for (bool with_bias : {true, false}) {
    std::vector<double> dw_ref = dw0.d, db_ref = db0.d;
    kernels::conv2d_backward_weight_cpu(d, x.d.data(), dy.d.data(), dw_ref.data(),
                                        with_bias ? db_ref.data() : nullptr);
    std::vector<float> dw = dw0.f, db = db0.f;
    const int wsize = d.in_c * d.kh * d.kw, N = wsize + (with_bias ? 1 : 0);
    igemm::ConvBackwardWeight bw(d, x.f.data(), dy.f.data(), nullptr, with_bias,
                                 igemm::weight_chunk(d, N, sm_count));
    std::vector<float> partial(size_t(bw.splits()) * d.out_c * N, nan);
    bw.partial = partial.data();
    run_engine(engine, bw, bw.M, bw.N, bw.splits());
    for (long i = 0; i < long(d.out_c) * N; ++i)
      igemm::add_splits(i, bw.splits(), d.out_c, N, wsize, partial.data(), dw.data(), db.data());
    EXPECT_LT(testing::rel_error(dw, dw_ref), tol) << "backward_weight, splits " << bw.splits();
    if (with_bias) EXPECT_LT(testing::rel_error(db, db_ref), tol) << "backward_weight db";
    if (!with_bias) EXPECT_EQ(db, db0.f) << "db touched although null";
  }
}

TEST(CudaConvIndex, ProblemsMatchReferenceOnNetworkShapes) {
  for (const auto& c : testing::net_convs()) {
    Conv2dDims d = c.d;
    d.batch = 1;
    check_conv(d, Engine::NaiveGemm, 132, c.name);
  }
}

TEST(CudaConvIndex, ProblemsHandleOddShapes) {
  // Stride larger than the kernel (phases without taps write zeros), stride 3, non-square
  // kernels, padding as large as the kernel allows, a 1-pixel output, stride 5 (25 phases: two
  // backward_input launches).
  auto dims = [](int b, int c, int h, int w, int o, int kh, int kw, int s, int p) {
    Conv2dDims d;
    d.batch = b, d.in_c = c, d.in_h = h, d.in_w = w, d.out_c = o;
    d.kh = kh, d.kw = kw, d.stride = s, d.pad = p;
    return d;
  };
  const std::vector<Conv2dDims> shapes = {
      dims(3, 5, 9, 7, 6, 1, 1, 2, 0),    dims(2, 3, 11, 13, 5, 3, 2, 3, 1),
      dims(1, 2, 5, 5, 3, 5, 5, 1, 2),    dims(2, 4, 4, 4, 70, 4, 4, 1, 0),
      dims(1, 7, 10, 10, 17, 2, 3, 4, 1), dims(2, 3, 17, 16, 5, 6, 5, 5, 2)};
  for (const auto& d : shapes) {
    check_conv(d, Engine::NaiveGemm, 4, "odd");
    check_conv(d, Engine::NaiveGemm, 4, "odd, 3 phases per launch", 3);
    check_conv(d, Engine::EmulatedBlock, 4, "odd, emulated block");
  }
}

// The block body as the GPU runs it (FP32 path) on one shape per tile size and stride kind;
// sm_count 2 keeps backward_weight split in several parts. Input maps are shrunk to keep the
// emulation fast; channels, kernels, strides and padding are the networks'.
TEST(CudaConvIndex, EmulatedBlocksMatchReference) {
  const std::vector<std::pair<const char*, Conv2dDims>> shapes = {
      {"agent_conv1 (M=32), 24x24", testing::conv(4, 24, 32, 5, 2, 1)},
      {"reward_conv2 (M=64), 14x14", testing::conv(32, 14, 64, 4, 2, 1)},
      {"reward_conv5 (M=128), 10x10", testing::conv(128, 10, 128, 4, 2, 1)},
      {"agent_res8_3x3 (M=4), 21x21", testing::conv(4, 21, 4, 3, 1, 1)},
      {"agent_rel_2to16 (M=16), 21x21", testing::conv(2, 21, 16, 1, 1, 0)},
      {"nature_conv1 (stride 4), 28x28", testing::conv(4, 28, 32, 8, 4, 0)},
      {"impala_conv2 (no pad), 12x12", testing::conv(16, 12, 32, 3, 1, 0)},
  };
  for (const auto& [name, dims] : shapes) {
    Conv2dDims d = dims;
    d.batch = 3;
    check_conv(d, Engine::EmulatedBlock, 2, name);
  }
}

}  // namespace
}  // namespace relmimic
