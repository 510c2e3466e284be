// RunningMeanStd: batched merges against the statistics of the concatenated data, normalisation
// with clipping, and save/restore of the state.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "algos/running_norm.h"
#include "engine/rng.h"
#include "kernels/common.h"
#include "tests/grad_check.h"

namespace relmimic {
namespace {

using algos::RunningMeanStd;

constexpr int kDim = 3;

// Rows with a different offset and spread per dimension (far from 0, to expose cancellation).
std::vector<double> make_data(long rows, uint64_t seed) {
  Rng rng(seed);
  std::vector<double> x(size_t(rows * kDim));
  const double offset[kDim] = {1000.0, -3.0, 0.5}, scale[kDim] = {2.0, 0.1, 7.0};
  for (long b = 0; b < rows; ++b)
    for (int j = 0; j < kDim; ++j) x[size_t(b * kDim + j)] = offset[j] + scale[j] * rng.normal();
  return x;
}

// Population mean and variance per dimension, two passes.
void exact_moments(const std::vector<double>& x, std::vector<double>& mean,
                   std::vector<double>& var) {
  const long rows = long(x.size()) / kDim;
  mean.assign(kDim, 0.0);
  var.assign(kDim, 0.0);
  for (long b = 0; b < rows; ++b)
    for (int j = 0; j < kDim; ++j) mean[j] += x[size_t(b * kDim + j)] / double(rows);
  for (long b = 0; b < rows; ++b)
    for (int j = 0; j < kDim; ++j) {
      const double e = x[size_t(b * kDim + j)] - mean[j];
      var[j] += e * e / double(rows);
    }
}

TEST(RunningMeanStd, BatchedMergeEqualsConcatenatedStatistics) {
  const std::vector<double> x = make_data(100, 1);
  std::vector<double> mean, var;
  exact_moments(x, mean, var);

  // Starting from count 0 the merge is exact: batches of 1, 7, 30 and 62 rows.
  RunningMeanStd rms(kDim, 0.0);
  const long sizes[] = {1, 7, 30, 62};
  long start = 0;
  for (long n : sizes) {
    rms.update(x.data() + start * kDim, n);
    start += n;
  }
  ASSERT_EQ(start, 100);
  EXPECT_DOUBLE_EQ(rms.count(), 100.0);
  for (int j = 0; j < kDim; ++j) {
    EXPECT_NEAR(rms.mean()[j], mean[j], 1e-12 * std::abs(mean[j]) + 1e-12) << "dim " << j;
    EXPECT_NEAR(rms.var()[j], var[j], 1e-10 * var[j]) << "dim " << j;
  }

  // With the default prior (count 1e-4, mean 0, var 1) batching still does not matter.
  RunningMeanStd once(kDim), split(kDim);
  once.update(x.data(), 100);
  split.update(x.data(), 50);
  split.update(x.data() + 50 * kDim, 50);
  EXPECT_DOUBLE_EQ(once.count(), 100.0001);
  for (int j = 0; j < kDim; ++j) {
    EXPECT_NEAR(split.mean()[j], once.mean()[j], 1e-12 * std::abs(once.mean()[j]) + 1e-12);
    EXPECT_NEAR(split.var()[j], once.var()[j], 1e-9 * once.var()[j]);
    // The prior moves the statistics by O(1e-4 / 100) relative to the data's own.
    EXPECT_NEAR(once.mean()[j], mean[j], 1e-5 * (std::abs(mean[j]) + 1));
  }
}

TEST(RunningMeanStd, MergesMomentsOfAnotherLearner) {
  const std::vector<double> a = make_data(40, 2), b = make_data(60, 3);
  std::vector<double> all = a;
  all.insert(all.end(), b.begin(), b.end());
  std::vector<double> mb, vb, mean, var;
  exact_moments(b, mb, vb);
  exact_moments(all, mean, var);
  RunningMeanStd rms(kDim, 0.0);
  rms.update(a.data(), 40);
  rms.update_from_moments(mb.data(), vb.data(), 60);
  for (int j = 0; j < kDim; ++j) {
    EXPECT_NEAR(rms.mean()[j], mean[j], 1e-12 * std::abs(mean[j]) + 1e-12);
    EXPECT_NEAR(rms.var()[j], var[j], 1e-10 * var[j]);
  }
}

TEST(RunningMeanStd, NormalizeStandardizesAndClips) {
  RunningMeanStd fresh(kDim);
  std::vector<float> x = {1.5f, -2.f, 30.f}, y(3);
  fresh.normalize(x.data(), y.data(), 1);  // mean 0, var 1: identity up to the clip
  EXPECT_NEAR(y[0], 1.5f, 1e-6);
  EXPECT_NEAR(y[1], -2.f, 1e-6);
  EXPECT_EQ(y[2], 10.f);

  // Count 0: the statistics are exactly the data's (the default prior at mean 0 would inflate
  // the variance of dimension 0, offset 1000, by 1e-4 * 1000^2 / 500 = 0.2).
  const std::vector<double> data = make_data(500, 4);
  RunningMeanStd rms(kDim, 0.0);
  rms.update(data.data(), 500);
  std::vector<double> z(data.size());
  rms.normalize(data.data(), z.data(), 500, 5.0);
  std::vector<double> mean, var;
  exact_moments(z, mean, var);
  for (int j = 0; j < kDim; ++j) {
    EXPECT_NEAR(mean[j], 0.0, 1e-9) << "dim " << j;
    // var / (var + 1e-8): 1 - 1e-6 for dimension 1 (var 0.01); no sample reaches 5 sigma.
    EXPECT_NEAR(var[j], 1.0, 1e-5) << "dim " << j;
  }
  for (double v : z) EXPECT_LE(std::abs(v), 5.0);
  // In place works too.
  std::vector<double> w = data;
  rms.normalize(w.data(), w.data(), 500, 5.0);
  EXPECT_EQ(w, z);
}

TEST(RunningMeanStd, SaveAndRestore) {
  const std::vector<double> x = make_data(64, 5);
  RunningMeanStd a(kDim);
  a.update(x.data(), 32);
  RunningMeanStd b(kDim);
  b.set_state(a.mean(), a.var(), a.count());
  a.update(x.data() + 32 * kDim, 32);
  b.update(x.data() + 32 * kDim, 32);
  EXPECT_EQ(a.mean(), b.mean());
  EXPECT_EQ(a.var(), b.var());
  EXPECT_EQ(a.count(), b.count());

  EXPECT_THROW(b.set_state({0, 0}, {1, 1}, 3.0), Error);         // wrong size
  EXPECT_THROW(b.set_state({0, 0, 0}, {1, -1, 1}, 3.0), Error);  // negative variance
  EXPECT_THROW(b.set_state({0, 0, 0}, {1, 1, 1}, -1.0), Error);  // negative count
  EXPECT_THROW(RunningMeanStd(0), Error);
  EXPECT_THROW(a.update(x.data(), 0), Error);
}

}  // namespace
}  // namespace relmimic
