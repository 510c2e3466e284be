// Device reductions and vector ops (kernels/reduce.h) and the spectral-norm power iteration
// (kernels/spectral_norm.h) against their CPU references.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "kernels/common.h"
#ifdef RELMIMIC_WITH_CUDA
#include "kernels/cuda_context.h"
#endif
#include "kernels/reduce.h"
#include "kernels/spectral_norm.h"
#include "tests/gpu/close_check.h"
#include "tests/gpu/cuda_test_util.h"

namespace relmimic {
namespace {

using testing::cast, testing::close, testing::DeviceBuffer;

#ifdef RELMIMIC_WITH_CUDA

// Sizes around the block and partial-count edges, up to one that needs the grid-stride loop.
constexpr long kSizes[] = {1, 255, 4097, 100003, 3000001};

double rel(double a, double b) {
  return std::abs(a - b) / std::max({std::abs(a), std::abs(b), 1e-300});
}

template <class T>
void check_reductions(uint64_t seed) {
  for (long n : kSizes) {
    if (testing::quick_mode() && n > 5000) continue;  // compute-sanitizer runs 10-100x slower
    SCOPED_TRACE("n=" + std::to_string(n) + (sizeof(T) == 4 ? " float" : " double"));
    Rng rng(seed + uint64_t(n));
    const auto x = testing::random_vector<T>(n, rng), y = testing::random_vector<T>(n, rng);
    DeviceBuffer<T> dx(x), dy(y);
    // Both sides accumulate in double; only the order differs.
    EXPECT_LT(rel(kernels::sum_cuda(n, dx.get()), kernels::sum_cpu(n, x.data())), 1e-12);
    EXPECT_LT(
        rel(kernels::dot_cuda(n, dx.get(), dy.get()), kernels::dot_cpu(n, x.data(), y.data())),
        1e-12);
    EXPECT_LT(rel(kernels::sum_squares_cuda(n, dx.get()), kernels::sum_squares_cpu(n, x.data())),
              1e-12);
    EXPECT_EQ(kernels::max_abs_cuda(n, dx.get()), kernels::max_abs_cpu(n, x.data()));
    EXPECT_TRUE(kernels::all_finite_cuda(n, dx.get()));
    // The same input gives the same bits.
    EXPECT_EQ(kernels::sum_cuda(n, dx.get()), kernels::sum_cuda(n, dx.get()));

    std::vector<T> bad = x;
    bad[size_t(n / 2)] = std::numeric_limits<T>::infinity();
    DeviceBuffer<T> dbad(bad);
    EXPECT_FALSE(kernels::all_finite_cuda(n, dbad.get()));
    bad[size_t(n - 1)] = std::numeric_limits<T>::quiet_NaN();
    dbad.upload(bad);
    EXPECT_TRUE(std::isnan(kernels::max_abs_cuda(n, dbad.get()))) << "NaN must not hide";

    // axpy and scale in place; the device may contract a * x + y into one FMA.
    const double tol = sizeof(T) == 4 ? 1e-6 : 1e-15;
    std::vector<T> yc = y;
    kernels::axpy_cpu(n, T(0.37), x.data(), yc.data());
    kernels::axpy_cuda(n, T(0.37), dx.get(), dy.get());
    EXPECT_TRUE(close(dy.download(), yc, tol)) << "axpy";
    kernels::scale_cpu(n, T(-1.7), yc.data());
    kernels::scale_cuda(n, T(-1.7), dy.get());
    EXPECT_TRUE(close(dy.download(), yc, tol)) << "scale";
  }
}

TEST(CudaReduce, MatchesCpu) {
  RM_REQUIRE_GPU();
  check_reductions<float>(1);
  check_reductions<double>(2);
}

TEST(CudaReduce, RowSumMatchesCpu) {
  RM_REQUIRE_GPU();
  Rng rng(3);
  for (auto [m, n] : {std::pair{441, 1000}, std::pair{3, 1}, std::pair{1, 70001}}) {
    const auto x = testing::random_vector<float>(long(m) * n, rng);
    std::vector<float> y(static_cast<size_t>(m));
    kernels::row_sum_cpu(m, n, x.data(), y.data());
    DeviceBuffer<float> dx(x), dy(m);
    dy.poison();
    kernels::row_sum_cuda(m, n, dx.get(), dy.get());
    EXPECT_TRUE(close(dy.download(), y, 1e-6)) << m << "x" << n;
  }
}

// Every spectrally normalised weight of the reward network, as [rows = out, cols = in * k * k].
struct SnShape {
  int rows, cols;
};
constexpr SnShape kRewardNetWeights[] = {{32, 4 * 16},    {64, 32 * 16},  {64, 64 * 9}, {8, 64},
                                         {64, 8},         {128, 64 * 16}, {16, 128},    {128, 16},
                                         {128, 128 * 16}, {1, 3200}};

template <class T>
void check_spectral_norm(const SnShape& s, bool training, uint64_t seed) {
  SCOPED_TRACE(std::to_string(s.rows) + "x" + std::to_string(s.cols) +
               (training ? " training" : " eval") + (sizeof(T) == 4 ? " float" : " double"));
  Rng rng(seed);
  const long n = long(s.rows) * s.cols;
  const auto w = testing::random_vector<T>(n, rng), dw_sn = testing::random_vector<T>(n, rng),
             dw0 = testing::random_vector<T>(n, rng);
  auto u = testing::random_vector<T>(s.rows, rng);
  std::vector<T> v(static_cast<size_t>(s.cols)), w_sn(static_cast<size_t>(n)), dw = dw0;
  std::vector<double> acc(static_cast<size_t>(s.cols));
  DeviceBuffer<T> du(u), dv(s.cols), dwt(w), dwsn(n), dg(dw_sn), ddw(dw0);
  DeviceBuffer<double> sigma(1);
  dv.poison();
  dwsn.poison();
  sigma.poison();

  // Two iterations, so the second starts from the updated u on both sides.
  for (int it = 0; it < 2; ++it) {
    const double ref_sigma = kernels::spectral_norm_power_iteration_cpu(
        s.rows, s.cols, w.data(), u.data(), v.data(), training, acc.data());
    kernels::spectral_norm_power_iteration_cuda(s.rows, s.cols, dwt.get(), du.get(), dv.get(),
                                                training, sigma.get());
    kernels::spectral_norm_apply_cpu(n, w.data(), ref_sigma, w_sn.data());
    kernels::spectral_norm_apply_cuda(n, dwt.get(), sigma.get(), dwsn.get());
    const double tol = sizeof(T) == 4 ? 2e-6 : 1e-13;
    EXPECT_LT(rel(sigma.download()[0], ref_sigma), tol) << "sigma";
    EXPECT_TRUE(close(du.download(), u, tol)) << "u";
    EXPECT_TRUE(close(dv.download(), v, tol)) << "v";
    EXPECT_TRUE(close(dwsn.download(), w_sn, tol)) << "w_sn";
    kernels::spectral_norm_backward_cpu(s.rows, s.cols, dw_sn.data(), w_sn.data(), u.data(),
                                        v.data(), ref_sigma, dw.data());
    kernels::spectral_norm_backward_cuda(s.rows, s.cols, dg.get(), dwsn.get(), du.get(), dv.get(),
                                         sigma.get(), ddw.get());
    EXPECT_TRUE(close(ddw.download(), dw, sizeof(T) == 4 ? 1e-5 : 1e-12)) << "dw";
  }
}

TEST(CudaSpectralNorm, MatchesCpuOnRewardNetWeights) {
  RM_REQUIRE_GPU();
  uint64_t seed = 10;
  int k = 0;
  for (const SnShape& s : kRewardNetWeights)
    for (bool training : {true, false}) {
      if (testing::quick_mode() && k++ % 3 != 0) continue;
      check_spectral_norm<float>(s, training, ++seed);
      check_spectral_norm<double>(s, training, ++seed);
    }
}

// The reductions keep results in their workspace between a kernel's write and the host's fetch;
// a conv's split-K partials must neither overwrite them nor, by growing a shared buffer, free it.
TEST(CudaWorkspace, EachUseHasItsOwnBuffer) {
  RM_REQUIRE_GPU();
  using kernels::WorkspaceUse;
  void* r = kernels::cuda_workspace(WorkspaceUse::reduction, 4096, nullptr);
  void* c = kernels::cuda_workspace(WorkspaceUse::conv_split_k, 4096, nullptr);
  EXPECT_NE(r, c);
  // The conv's buffer grows (and moves); the reduction's stays where its results are.
  kernels::cuda_workspace(WorkspaceUse::conv_split_k, size_t(64) << 20, nullptr);
  EXPECT_EQ(kernels::cuda_workspace(WorkspaceUse::reduction, 4096, nullptr), r);
}

// With RELMIMIC_CUDA_SYNC on, every launch waits for the device and checks; results are the
// same.
TEST(CudaSync, LaunchesWaitAndGiveTheSameResults) {
  RM_REQUIRE_GPU();
  Rng rng(12);
  const long n = 4097;
  const auto x = testing::random_vector<float>(n, rng);
  DeviceBuffer<float> dx(x);
  const double plain = kernels::sum_cuda(n, dx.get());
  const bool before = kernels::cuda_sync_launches();
  kernels::set_cuda_sync_launches(true);
  const double synced = kernels::sum_cuda(n, dx.get());
  kernels::set_cuda_sync_launches(before);
  EXPECT_EQ(plain, synced);
}

#endif  // RELMIMIC_WITH_CUDA

#ifdef RELMIMIC_WITH_CUDA
// Host-side checks, before any device work: they hold in every CUDA build, GPU or not.
TEST(CudaReduce, RejectsBadArguments) {
  float x = 0;
  EXPECT_THROW(kernels::sum_cuda<float>(-1, &x), Error);
  EXPECT_THROW(kernels::dot_cuda<float>(4, &x, nullptr), Error);
  EXPECT_THROW(kernels::row_sum_cuda<float>(2, 3, nullptr, &x), Error);
  EXPECT_THROW(kernels::spectral_norm_power_iteration_cuda<float>(0, 3, &x, &x, &x, true, nullptr),
               Error);
}
#else
TEST(CudaReduce, BuiltWithoutCuda) {
  GTEST_SKIP() << "relmimic was built without the CUDA backend (RELMIMIC_CUDA=OFF or no nvcc)";
}
#endif

}  // namespace
}  // namespace relmimic
