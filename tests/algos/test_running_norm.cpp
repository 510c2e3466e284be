// RunningMeanStd: batched merges against the statistics of the concatenated data, normalisation
// with clipping, and save/restore of the state. ReturnNormalizer: VecNormalize's reward scaling
// against a direct replay (every discounted return seen so far, its variance by two passes).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "algos/running_norm.h"
#include "engine/rng.h"
#include "kernels/common.h"
#include "tests/grad_check.h"

namespace relmimic {
namespace {

using algos::ReturnNormalizer;
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

// VecNormalize by hand: after step t, the variance of every discounted return seen so far
// together with the initial pseudo-sample (count 1e-4, mean 0, variance 1); the reward divided by
// its square root (+ eps) and clipped; a return restarts after its episode ends.
std::vector<float> vec_normalize_replay(int steps, int envs, const std::vector<float>& r,
                                        const std::vector<uint8_t>& done, double gamma,
                                        double clip) {
  const double c0 = RunningMeanStd::kInitialCount;
  std::vector<double> seen, ret(size_t(envs), 0.0);
  std::vector<float> out(r.size());
  for (int t = 0; t < steps; ++t) {
    for (int e = 0; e < envs; ++e) {
      ret[size_t(e)] = gamma * ret[size_t(e)] + r[size_t(t * envs + e)];
      seen.push_back(ret[size_t(e)]);
    }
    double sum = 0;
    for (double x : seen) sum += x;
    const double mean = sum / (double(seen.size()) + c0);
    double m2 = c0 * (1.0 + mean * mean);
    for (double x : seen) m2 += (x - mean) * (x - mean);
    const double var = m2 / (double(seen.size()) + c0);
    for (int e = 0; e < envs; ++e) {
      const size_t i = size_t(t * envs + e);
      out[i] = float(std::clamp(double(r[i]) / std::sqrt(var + 1e-8), -clip, clip));
      if (done[i]) ret[size_t(e)] = 0;
    }
  }
  return out;
}

TEST(ReturnNormalizer, MatchesVecNormalizeReplayAcrossRolloutsAndEpisodeEnds) {
  const int T = 40, N = 3;
  const double gamma = 0.9, clip = 2.5;
  Rng rng(6);
  // Two rollouts back to back: D-like rewards in [0, 4], some episode ends (terminated in one
  // env, truncated in another).
  std::vector<float> r(size_t(2 * T * N));
  std::vector<uint8_t> term(r.size(), 0), trunc(r.size(), 0), done(r.size(), 0);
  for (size_t i = 0; i < r.size(); ++i) {
    r[i] = float(4.0 * rng.uniform());
    if (i % N == 0 && rng.uniform() < 0.1) term[i] = 1;
    if (i % N == 1 && rng.uniform() < 0.1) trunc[i] = 1;
    done[i] = term[i] | trunc[i];
  }
  // A spike that the clip catches.
  r[size_t(2 * N + 2)] = 400.f;
  const std::vector<float> want = vec_normalize_replay(2 * T, N, r, done, gamma, clip);

  ReturnNormalizer n(N, gamma, clip);
  std::vector<float> out(r.size());
  n.scale(T, r.data(), term.data(), trunc.data(), out.data());
  // In place for the second rollout.
  std::copy(r.begin() + T * N, r.end(), out.begin() + T * N);
  n.scale(T, out.data() + T * N, term.data() + T * N, trunc.data() + T * N, out.data() + T * N);
  int clipped = 0, ends = 0;
  for (size_t i = 0; i < r.size(); ++i) {
    EXPECT_NEAR(out[i], want[i], 1e-5 * std::max(1.0f, std::abs(want[i]))) << "sample " << i;
    clipped += std::abs(out[i]) == float(clip);
    ends += done[i];
  }
  EXPECT_GT(clipped, 0);
  EXPECT_GT(ends, 2);
  EXPECT_NEAR(n.stats().count(), 2.0 * T * N + RunningMeanStd::kInitialCount, 1e-9);
  // Rewards shrink by the return's spread (returns of ~2 / (1 - gamma) = 20 spread widely).
  EXPECT_LT(std::abs(out.back()), std::abs(r.back()));
}

TEST(ReturnNormalizer, SaveAndRestoreContinueIdentically) {
  const int T = 10, N = 2;
  Rng rng(7);
  std::vector<float> r(size_t(2 * T * N));
  for (float& x : r) x = float(rng.uniform());
  const std::vector<uint8_t> none(r.size(), 0);
  ReturnNormalizer a(N, 0.99, 10.0);
  std::vector<float> out_a(r.size()), out_b(r.size());
  a.scale(T, r.data(), none.data(), none.data(), out_a.data());
  ReturnNormalizer b(N, 0.99, 10.0);
  b.stats().set_state(a.stats().mean(), a.stats().var(), a.stats().count());
  b.set_running(a.running());
  a.scale(T, r.data() + T * N, none.data(), none.data(), out_a.data() + T * N);
  b.scale(T, r.data() + T * N, none.data(), none.data(), out_b.data() + T * N);
  for (size_t i = size_t(T * N); i < r.size(); ++i) EXPECT_EQ(out_a[i], out_b[i]) << i;
  // Without the running returns the scale differs: they are part of the state.
  ReturnNormalizer c(N, 0.99, 10.0);
  c.stats().set_state(a.stats().mean(), a.stats().var(), a.stats().count());
  EXPECT_NE(a.running(), c.running());

  EXPECT_THROW(b.set_running({0.0}), Error);                // wrong size
  EXPECT_THROW(b.set_running({0.0, std::nan("")}), Error);  // not finite
  EXPECT_THROW(ReturnNormalizer(0, 0.99, 10.0), Error);
  EXPECT_THROW(ReturnNormalizer(2, 1.5, 10.0), Error);
  EXPECT_THROW(ReturnNormalizer(2, 0.99, 0.0), Error);
  EXPECT_THROW(a.scale(T, nullptr, none.data(), none.data(), out_a.data()), Error);
}

}  // namespace
}  // namespace relmimic
