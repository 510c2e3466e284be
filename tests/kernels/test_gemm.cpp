// gemm_cpu: every transpose combination against a direct loop, split over threads along rows
// and along columns, and called from inside a parallel region.
#include <cblas.h>
#include <gtest/gtest.h>
#include <omp.h>

#include <vector>

#include "kernels/gemm.h"
#include "tests/grad_check.h"

namespace relmimic {
namespace {

using testing::random_vector;
using testing::rel_error;

// C = alpha op(A) op(B) + beta C0 by the definition.
std::vector<double> direct(bool ta, bool tb, int M, int N, int K, double alpha,
                           const std::vector<double>& A, const std::vector<double>& B, double beta,
                           const std::vector<double>& C0) {
  std::vector<double> C(C0);
  for (int i = 0; i < M; ++i)
    for (int j = 0; j < N; ++j) {
      double s = 0;
      for (int k = 0; k < K; ++k)
        s += (ta ? A[size_t(k * M + i)] : A[size_t(i * K + k)]) *
             (tb ? B[size_t(j * K + k)] : B[size_t(k * N + j)]);
      C[size_t(i * N + j)] = alpha * s + beta * C0[size_t(i * N + j)];
    }
  return C;
}

TEST(Gemm, AllTransposesAndSplitsMatchDirectLoop) {
  struct Size {
    int M, N, K;
  };
  // Tall (row split), wide (column split), small (one thread), ragged block edges.
  for (const Size s : {Size{301, 40, 50}, Size{20, 517, 60}, Size{5, 7, 3}, Size{97, 113, 31}}) {
    for (int t = 0; t < 4; ++t) {
      const bool ta = t & 1, tb = t & 2;
      Rng rng(uint64_t(s.M * 1000 + t));
      auto A = random_vector<double>(long(s.M) * s.K, rng);
      auto B = random_vector<double>(long(s.K) * s.N, rng);
      auto C = random_vector<double>(long(s.M) * s.N, rng);
      const auto ref = direct(ta, tb, s.M, s.N, s.K, 0.5, A, B, 2.0, C);
      kernels::gemm_cpu<double>(ta, tb, s.M, s.N, s.K, 0.5, A.data(), ta ? s.M : s.K, B.data(),
                                tb ? s.K : s.N, 2.0, C.data(), s.N);
      EXPECT_LT(rel_error(C, ref), 1e-14)
          << s.M << "x" << s.N << "x" << s.K << " ta=" << ta << " tb=" << tb;
    }
  }
}

TEST(Gemm, InsideParallelRegionEachThreadOwnsItsProduct) {
  const int M = 64, N = 80, K = 70, P = 4;
  Rng rng(3);
  auto A = random_vector<float>(long(P) * M * K, rng);
  auto B = random_vector<float>(long(K) * N, rng);
  std::vector<float> C(size_t(P) * M * N, 0.f);
#pragma omp parallel for num_threads(2)
  for (int p = 0; p < P; ++p)
    kernels::gemm_cpu<float>(false, false, M, N, K, 1.f, A.data() + long(p) * M * K, K, B.data(), N,
                             0.f, C.data() + long(p) * M * N, N);
  for (int p = 0; p < P; ++p) {
    std::vector<double> a(A.begin() + long(p) * M * K, A.begin() + long(p + 1) * M * K);
    std::vector<double> b(B.begin(), B.end()), c0(size_t(M) * N, 0.0);
    const auto ref = direct(false, false, M, N, K, 1.0, a, b, 0.0, c0);
    EXPECT_LT(rel_error(C.data() + long(p) * M * N, ref.data(), long(M) * N), 1e-5) << p;
  }
}

// Code elsewhere may raise OpenBLAS's thread count; the next call outside a parallel region puts
// it back to one so per-sample GEMMs under OpenMP never start a second pool.
TEST(Gemm, PinsOpenBlasToOneThread) {
  openblas_set_num_threads(2);
  std::vector<double> a(4, 1.0), c(4, 0.0);
  kernels::gemm_cpu<double>(false, false, 2, 2, 2, 1.0, a.data(), 2, a.data(), 2, 0.0, c.data(), 2);
  EXPECT_EQ(openblas_get_num_threads(), 1);
  EXPECT_EQ(c, (std::vector<double>{2, 2, 2, 2}));
}

}  // namespace
}  // namespace relmimic
