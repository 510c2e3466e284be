// Running mean and variance of a stream of vectors (observation or return normalisation), as
// baselines' RunningMeanStd: each batch's mean/variance is merged into the running statistics
// with Chan's parallel formula, so the result does not depend on how the data was batched.
//
//   delta = mean_b - mean,  n' = n + n_b
//   mean' = mean + delta * n_b / n'
//   var'  = (var * n + var_b * n_b + delta^2 * n * n_b / n') / n'     (population variances)
//
// The count starts at a small epsilon (1e-4) with mean 0 and variance 1, so normalising before
// any data is the identity and the first batch dominates immediately.
#pragma once

#include <cstdint>
#include <vector>

namespace relmimic::algos {

class RunningMeanStd {
 public:
  static constexpr double kInitialCount = 1e-4;

  explicit RunningMeanStd(int dim, double initial_count = kInitialCount);

  int dim() const { return int(mean_.size()); }

  // Merges x [batch, dim] (row-major) into the statistics.
  template <class T>
  void update(const T* x, long batch);
  // Merges precomputed batch moments (mean [dim], population var [dim], count > 0), e.g. the
  // statistics another learner gathered.
  void update_from_moments(const double* batch_mean, const double* batch_var, double batch_count);

  // y = clip((x - mean) / sqrt(var + eps), -clip, clip) for x, y [batch, dim] (may alias).
  template <class T>
  void normalize(const T* x, T* y, long batch, double clip = 10.0, double eps = 1e-8) const;

  // State for checkpoints: set_state checks the sizes and that var >= 0, count >= 0.
  const std::vector<double>& mean() const { return mean_; }
  const std::vector<double>& var() const { return var_; }
  double count() const { return count_; }
  void set_state(const std::vector<double>& mean, const std::vector<double>& var, double count);

 private:
  std::vector<double> mean_, var_;
  double count_;
};

// Scales per-env rewards by the running std of their discounted return, as SB3's VecNormalize
// does for env rewards: at every step, per env,
//   ret = gamma * ret + r;  merge the N returns into a RunningMeanStd(1);
//   r'  = clip(r / sqrt(var + eps), -clip, clip);  ret = 0 where the episode ended,
// so the scale follows the return's spread, its sign and mean are kept.
class ReturnNormalizer {
 public:
  ReturnNormalizer(int envs, double gamma, double clip, double eps = 1e-8);

  int envs() const { return int(running_.size()); }

  // A time-major rollout [steps, envs]: step by step as above, out may alias rewards. done[i]
  // nonzero: the episode of sample i ended at that step (terminated or truncated).
  void scale(int steps, const float* rewards, const uint8_t* terminated, const uint8_t* truncated,
             float* out);

  // State for checkpoints: the return statistics and each env's running return.
  RunningMeanStd& stats() { return rms_; }
  const RunningMeanStd& stats() const { return rms_; }
  const std::vector<double>& running() const { return running_; }
  void set_running(const std::vector<double>& r);  // checks the size and that r is finite

 private:
  RunningMeanStd rms_;
  std::vector<double> running_;
  double gamma_, clip_, eps_;
};

}  // namespace relmimic::algos
