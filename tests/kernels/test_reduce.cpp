// Reductions on known values, NaN/inf handling and thread-count independence.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <limits>
#include <vector>

#include "kernels/common.h"
#include "kernels/reduce.h"
#include "tests/grad_check.h"

namespace relmimic {
namespace {

TEST(Reduce, SumsOnKnownValues) {
  const long n = 300001;  // many chunks, ragged last one
  std::vector<double> x(static_cast<size_t>(n)), ones(size_t(n), 1.0);
  for (long i = 0; i < n; ++i) x[size_t(i)] = double(i + 1);
  const double N = double(n);
  EXPECT_EQ(kernels::sum_cpu(n, x.data()), N * (N + 1) / 2);
  EXPECT_EQ(kernels::dot_cpu(n, x.data(), ones.data()), N * (N + 1) / 2);
  EXPECT_EQ(kernels::sum_squares_cpu(n, x.data()), N * (N + 1) * (2 * N + 1) / 6);
  const std::vector<float> f = {1.5f, -2.5f, 4.0f};
  EXPECT_EQ(kernels::sum_cpu(3, f.data()), 3.0);
  EXPECT_EQ(kernels::dot_cpu(3, f.data(), f.data()), 1.5 * 1.5 + 2.5 * 2.5 + 16.0);
  EXPECT_EQ(kernels::sum_squares_cpu(3, f.data()), 1.5 * 1.5 + 2.5 * 2.5 + 16.0);
  EXPECT_EQ(kernels::sum_cpu<float>(0, nullptr), 0.0);
}

TEST(Reduce, MaxAbsAndFiniteness) {
  std::vector<float> x = {0.5f, -7.0f, 3.0f, 6.5f};
  EXPECT_EQ(kernels::max_abs_cpu(4, x.data()), 7.0);
  EXPECT_TRUE(kernels::all_finite_cpu(4, x.data()));
  x[2] = std::numeric_limits<float>::infinity();
  EXPECT_FALSE(kernels::all_finite_cpu(4, x.data()));
  EXPECT_TRUE(std::isinf(kernels::max_abs_cpu(4, x.data())));
  std::vector<double> big(1 << 20, -1.0);
  big[123457] = -9.0;
  EXPECT_EQ(kernels::max_abs_cpu(long(big.size()), big.data()), 9.0);
  EXPECT_TRUE(kernels::all_finite_cpu(long(big.size()), big.data()));
  big[1000] = std::nan("");
  EXPECT_TRUE(std::isnan(kernels::max_abs_cpu(long(big.size()), big.data())));
  EXPECT_FALSE(kernels::all_finite_cpu(long(big.size()), big.data()));
}

TEST(Reduce, VectorOps) {
  std::vector<double> x = {1, 2, 3}, y = {10, 20, 30};
  kernels::axpy_cpu(3, 2.0, x.data(), y.data());
  EXPECT_EQ(y, (std::vector<double>{12, 24, 36}));
  kernels::scale_cpu(3, 0.5, y.data());
  EXPECT_EQ(y, (std::vector<double>{6, 12, 18}));
  const std::vector<float> m = {1, 2, 3, 4, 5, 6};  // [2, 3]
  std::vector<float> rs(2, -1.f);
  kernels::row_sum_cpu(2, 3, m.data(), rs.data());
  EXPECT_EQ(rs, (std::vector<float>{6, 15}));
}

// The same bits for 1, 2 and 3 threads.
TEST(Reduce, IndependentOfThreadCount) {
  const long n = 200003;
  Rng rng(41);
  auto x = testing::random_vector<float>(n, rng), y = testing::random_vector<float>(n, rng);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  const double s1 = kernels::sum_cpu(n, x.data()), d1 = kernels::dot_cpu(n, x.data(), y.data());
  for (int t : {2, 3}) {
    omp_set_num_threads(t);
    EXPECT_EQ(kernels::sum_cpu(n, x.data()), s1) << t;
    EXPECT_EQ(kernels::dot_cpu(n, x.data(), y.data()), d1) << t;
  }
  omp_set_num_threads(saved);
  double ref = 0;
  for (long i = 0; i < n; ++i) ref += double(x[size_t(i)]);
  EXPECT_NEAR(s1, ref, 1e-9 * n);
}

TEST(Reduce, RejectsBadArguments) {
  EXPECT_THROW(kernels::sum_cpu<float>(-1, nullptr), Error);
  EXPECT_THROW(kernels::sum_cpu<float>(3, nullptr), Error);
}

}  // namespace
}  // namespace relmimic
