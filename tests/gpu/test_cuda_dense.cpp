// CUDA linear (cuBLAS) and LayerNorm against the CPU reference in double, on the networks' FC
// and LayerNorm widths, float (FP32 and TF32) and double; outputs poisoned with NaN. Skipped,
// with the reason, where there is no GPU.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/rng.h"
#include "kernels/common.h"
#include "kernels/gemm.h"
#include "kernels/linear.h"
#include "kernels/norm.h"
#include "tests/gpu/cuda_test_util.h"
#include "tests/gpu/net_shapes.h"

namespace relmimic {
namespace {

using kernels::CudaMath;
using testing::DeviceBuffer;

#ifdef RELMIMIC_WITH_CUDA

// Tolerance of type T under `math`: double is held to 1e-12.
template <class T>
void expect_close_t(const std::vector<T>& got, const std::vector<double>& ref, CudaMath math,
                    const char* what) {
  if constexpr (std::is_same_v<T, double>) {
    EXPECT_LT(testing::max_rel_error(got, ref), 1e-12) << what << " (double)";
  } else {
    testing::expect_close(got, ref, math, what);
  }
}

template <class T>
void check_linear(int M, int N, int K, CudaMath math, const std::string& name) {
  SCOPED_TRACE(name + " M=" + std::to_string(M) + " " + kernels::cuda_math_name(math));
  Rng rng(uint64_t(M * 7 + N * 13 + K));
  const auto x = testing::random_vector<T>(long(M) * K, rng);
  const auto w = testing::random_vector<T>(long(N) * K, rng);
  const auto b = testing::random_vector<T>(N, rng);
  const auto dy = testing::random_vector<T>(long(M) * N, rng);
  const auto dw0 = testing::random_vector<T>(long(N) * K, rng);
  const auto db0 = testing::random_vector<T>(N, rng);
  const auto xd = testing::to_double(x), wd = testing::to_double(w), bd = testing::to_double(b);
  const auto dyd = testing::to_double(dy);
  std::vector<double> y_ref(dy.size()), dx_ref(x.size());
  std::vector<double> dw_ref = testing::to_double(dw0), db_ref = testing::to_double(db0);
  kernels::linear_forward_cpu(M, N, K, xd.data(), wd.data(), bd.data(), y_ref.data());
  kernels::linear_backward_input_cpu(M, N, K, dyd.data(), wd.data(), dx_ref.data());
  kernels::linear_backward_weight_cpu(M, N, K, xd.data(), dyd.data(), dw_ref.data(), db_ref.data());

  DeviceBuffer<T> xg(x), wg(w), bg(b), dyg(dy), dw(dw0), db(db0);
  DeviceBuffer<T> y(long(dy.size())), dx(long(x.size()));
  y.poison();
  kernels::linear_forward_cuda(M, N, K, xg.get(), wg.get(), bg.get(), y.get(), math);
  expect_close_t(y.download(), y_ref, math, "forward");
  dx.poison();
  kernels::linear_backward_input_cuda(M, N, K, dyg.get(), wg.get(), dx.get(), math);
  expect_close_t(dx.download(), dx_ref, math, "backward_input");
  kernels::linear_backward_weight_cuda(M, N, K, xg.get(), dyg.get(), dw.get(), db.get(), math);
  expect_close_t(dw.download(), dw_ref, math, "backward_weight dw");
  expect_close_t(db.download(), db_ref, math, "backward_weight db");

  // Without bias: y = x w^T exactly overwritten, db untouched.
  std::vector<double> y0_ref(dy.size());
  kernels::linear_forward_cpu<double>(M, N, K, xd.data(), wd.data(), nullptr, y0_ref.data());
  y.poison();
  kernels::linear_forward_cuda<T>(M, N, K, xg.get(), wg.get(), nullptr, y.get(), math);
  expect_close_t(y.download(), y0_ref, math, "forward without bias");
}

TEST(CudaLinear, MatchesCpuOnNetworkShapes) {
  RM_REQUIRE_GPU();
  for (const auto& l : testing::net_linears()) {
    for (int M : {3, 130}) {  // odd row counts: no tile divides them
      check_linear<float>(M, l.out, l.in, CudaMath::FP32, l.name);
      check_linear<float>(M, l.out, l.in, CudaMath::TF32, l.name);
      check_linear<double>(M, l.out, l.in, CudaMath::FP32, l.name);
    }
  }
}

TEST(CudaLinear, GemmCudaHandlesEveryTransposeCombination) {
  RM_REQUIRE_GPU();
  const int M = 37, N = 21, K = 53;
  Rng rng(5);
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      const int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 2, ldc = N + 1;
      const auto A = testing::random_vector<double>(long(ta ? K : M) * lda, rng);
      const auto B = testing::random_vector<double>(long(tb ? N : K) * ldb, rng);
      const auto C0 = testing::random_vector<double>(long(M) * ldc, rng);
      std::vector<double> ref = C0;
      kernels::gemm_cpu(ta, tb, M, N, K, 0.5, A.data(), lda, B.data(), ldb, -2.0, ref.data(), ldc);
      DeviceBuffer<double> a(A), b(B), c(C0);
      kernels::gemm_cuda(ta, tb, M, N, K, 0.5, a.get(), lda, b.get(), ldb, -2.0, c.get(), ldc);
      EXPECT_LT(testing::max_rel_error(c.download(), ref), 1e-12) << "ta " << ta << " tb " << tb;
    }
}

template <class T>
void check_layernorm(int M, int D, bool alias) {
  SCOPED_TRACE("M=" + std::to_string(M) + " D=" + std::to_string(D) + (alias ? " dx=dy" : ""));
  Rng rng(uint64_t(M + D));
  auto x = testing::random_vector<T>(long(M) * D, rng, -2, 3);
  for (int i = 0; i < D; ++i) x[size_t(i)] = T(0.25) + T(1e-3) * T(i % 3);  // a near-constant row
  const auto gamma = testing::random_vector<T>(D, rng, 0.5, 1.5);
  const auto beta = testing::random_vector<T>(D, rng);
  const auto dy = testing::random_vector<T>(long(M) * D, rng);
  const auto dg0 = testing::random_vector<T>(D, rng), db0 = testing::random_vector<T>(D, rng);
  const double eps = 1e-5;
  const auto xd = testing::to_double(x), gd = testing::to_double(gamma);
  const auto bd = testing::to_double(beta), dyd = testing::to_double(dy);
  std::vector<double> y_ref(x.size()), mean_ref(static_cast<size_t>(M)),
      rstd_ref(static_cast<size_t>(M)), dx_ref(x.size());
  std::vector<double> dg_ref = testing::to_double(dg0), db_ref = testing::to_double(db0);
  kernels::layernorm_forward_cpu(M, D, xd.data(), gd.data(), bd.data(), eps, y_ref.data(),
                                 mean_ref.data(), rstd_ref.data());
  kernels::layernorm_backward_cpu(M, D, xd.data(), gd.data(), mean_ref.data(), rstd_ref.data(),
                                  dyd.data(), dx_ref.data(), dg_ref.data(), db_ref.data());

  DeviceBuffer<T> xg(x), gg(gamma), bg(beta), dyg(dy), dg(dg0), db(db0);
  DeviceBuffer<T> y(long(x.size())), mean(M), rstd(M), dx(long(x.size()));
  y.poison();
  mean.poison();
  rstd.poison();
  kernels::layernorm_forward_cuda(M, D, xg.get(), gg.get(), bg.get(), T(eps), y.get(), mean.get(),
                                  rstd.get());
  expect_close_t(y.download(), y_ref, CudaMath::FP32, "forward");
  expect_close_t(mean.download(), mean_ref, CudaMath::FP32, "mean");
  expect_close_t(rstd.download(), rstd_ref, CudaMath::FP32, "rstd");
  T* dx_ptr = alias ? dyg.get() : dx.get();
  if (!alias) dx.poison();
  kernels::layernorm_backward_cuda(M, D, xg.get(), gg.get(), mean.get(), rstd.get(), dyg.get(),
                                   dx_ptr, dg.get(), db.get());
  expect_close_t(alias ? dyg.download() : dx.download(), dx_ref, CudaMath::FP32, "dx");
  expect_close_t(dg.download(), dg_ref, CudaMath::FP32, "dgamma");
  expect_close_t(db.download(), db_ref, CudaMath::FP32, "dbeta");
}

TEST(CudaLayerNorm, MatchesCpuOnNetworkWidths) {
  RM_REQUIRE_GPU();
  for (int D : testing::net_layernorm_widths()) {
    for (int M : {1, 37, 1029}) {
      check_layernorm<float>(M, D, false);
      check_layernorm<double>(M, D, false);
    }
    check_layernorm<float>(37, D, true);
  }
  check_layernorm<float>(5, 33, false);  // a width that is not a multiple of the warp
}

#else
TEST(CudaLinear, BuiltWithoutCuda) {
  GTEST_SKIP() << "relmimic was built without the CUDA backend (RELMIMIC_CUDA=OFF or no nvcc)";
}
#endif

#ifdef RELMIMIC_WITH_CUDA
// Argument checks run before anything touches the device, so these need no GPU.
TEST(CudaLinear, RejectsBadArgumentsWithTheFunctionsName) {
  double never_read = 0;
  try {
    kernels::linear_forward_cuda<double>(4, 4, 4, &never_read, &never_read, nullptr, &never_read,
                                         CudaMath::TF32);
    FAIL() << "TF32 accepted for double";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("TF32"), std::string::npos) << e.what();
  }
  EXPECT_THROW(
      kernels::linear_backward_input_cuda<double>(0, 4, 4, &never_read, &never_read, &never_read),
      Error);
  EXPECT_THROW(kernels::gemm_cuda<double>(false, false, 4, 4, 4, 1.0, &never_read, 3, &never_read,
                                          4, 0.0, &never_read, 4),
               Error);
  EXPECT_THROW(kernels::layernorm_forward_cuda<double>(4, 4, &never_read, &never_read, &never_read,
                                                       -1.0, &never_read, &never_read, &never_read),
               Error);
}
#endif

}  // namespace
}  // namespace relmimic
