#include "algos/running_norm.h"

#include <algorithm>
#include <cmath>

#include "kernels/common.h"

namespace relmimic::algos {

RunningMeanStd::RunningMeanStd(int dim, double initial_count)
    : mean_(size_t(std::max(dim, 0)), 0.0),
      var_(size_t(std::max(dim, 0)), 1.0),
      count_(initial_count) {
  RM_CHECK(dim > 0, "RunningMeanStd: dim must be positive, got ", dim);
  RM_CHECK(initial_count >= 0 && std::isfinite(initial_count),
           "RunningMeanStd: initial count must be finite and non-negative, got ", initial_count);
}

template <class T>
void RunningMeanStd::update(const T* x, long batch) {
  RM_CHECK(batch > 0, "RunningMeanStd::update: batch must be positive, got ", batch);
  RM_CHECK(x != nullptr, "RunningMeanStd::update: data is null");
  const int d = dim();
  std::vector<double> m(size_t(d), 0.0), v(size_t(d), 0.0);
  for (long b = 0; b < batch; ++b)
    for (int j = 0; j < d; ++j) m[size_t(j)] += double(x[b * d + j]);
  for (double& mj : m) mj /= double(batch);
  // Second pass around the batch mean: no cancellation for data far from 0.
  for (long b = 0; b < batch; ++b)
    for (int j = 0; j < d; ++j) {
      const double e = double(x[b * d + j]) - m[size_t(j)];
      v[size_t(j)] += e * e;
    }
  for (double& vj : v) vj /= double(batch);
  update_from_moments(m.data(), v.data(), double(batch));
}

void RunningMeanStd::update_from_moments(const double* batch_mean, const double* batch_var,
                                         double batch_count) {
  RM_CHECK(batch_mean != nullptr && batch_var != nullptr,
           "RunningMeanStd::update_from_moments: null moments");
  RM_CHECK(batch_count > 0 && std::isfinite(batch_count),
           "RunningMeanStd::update_from_moments: count must be positive, got ", batch_count);
  const double total = count_ + batch_count;
  for (size_t j = 0; j < mean_.size(); ++j) {
    RM_CHECK(std::isfinite(batch_mean[j]) && std::isfinite(batch_var[j]) && batch_var[j] >= 0,
             "RunningMeanStd: batch statistics of dimension ", j, " are invalid (mean ",
             batch_mean[j], ", var ", batch_var[j], ")");
    const double delta = batch_mean[j] - mean_[j];
    const double m2 = var_[j] * count_ + batch_var[j] * batch_count +
                      delta * delta * count_ * batch_count / total;
    mean_[j] += delta * batch_count / total;
    var_[j] = m2 / total;
  }
  count_ = total;
}

template <class T>
void RunningMeanStd::normalize(const T* x, T* y, long batch, double clip, double eps) const {
  RM_CHECK(batch >= 0, "RunningMeanStd::normalize: batch must be non-negative, got ", batch);
  RM_CHECK(batch == 0 || (x != nullptr && y != nullptr), "RunningMeanStd::normalize: null data");
  RM_CHECK(clip > 0, "RunningMeanStd::normalize: clip must be positive, got ", clip);
  RM_CHECK(eps >= 0, "RunningMeanStd::normalize: eps must be non-negative, got ", eps);
  const int d = dim();
  std::vector<double> inv_std(static_cast<size_t>(d));
  for (int j = 0; j < d; ++j) inv_std[size_t(j)] = 1.0 / std::sqrt(var_[size_t(j)] + eps);
  for (long b = 0; b < batch; ++b)
    for (int j = 0; j < d; ++j) {
      const long i = b * d + j;
      const double z = (double(x[i]) - mean_[size_t(j)]) * inv_std[size_t(j)];
      y[i] = T(std::clamp(z, -clip, clip));
    }
}

void RunningMeanStd::set_state(const std::vector<double>& mean, const std::vector<double>& var,
                               double count) {
  RM_CHECK(mean.size() == mean_.size() && var.size() == var_.size(),
           "RunningMeanStd::set_state: expected ", mean_.size(), " values, got mean ", mean.size(),
           " and var ", var.size());
  RM_CHECK(count >= 0 && std::isfinite(count),
           "RunningMeanStd::set_state: count must be finite and non-negative, got ", count);
  for (size_t j = 0; j < var.size(); ++j)
    RM_CHECK(std::isfinite(mean[j]) && std::isfinite(var[j]) && var[j] >= 0,
             "RunningMeanStd::set_state: invalid statistics at dimension ", j, " (mean ", mean[j],
             ", var ", var[j], ")");
  mean_ = mean;
  var_ = var;
  count_ = count;
}

ReturnNormalizer::ReturnNormalizer(int envs, double gamma, double clip, double eps)
    : rms_(1), running_(size_t(std::max(envs, 0)), 0.0), gamma_(gamma), clip_(clip), eps_(eps) {
  RM_CHECK(envs > 0, "ReturnNormalizer: envs must be positive, got ", envs);
  RM_CHECK(gamma >= 0 && gamma <= 1, "ReturnNormalizer: gamma must be in [0, 1], got ", gamma);
  RM_CHECK(clip > 0, "ReturnNormalizer: clip must be positive, got ", clip);
  RM_CHECK(eps >= 0, "ReturnNormalizer: eps must be non-negative, got ", eps);
}

void ReturnNormalizer::scale(int steps, const float* rewards, const uint8_t* terminated,
                             const uint8_t* truncated, float* out) {
  RM_CHECK(steps >= 0, "ReturnNormalizer::scale: steps must be non-negative, got ", steps);
  RM_CHECK(steps == 0 || (rewards && terminated && truncated && out),
           "ReturnNormalizer::scale: null data");
  const int n = envs();
  for (int t = 0; t < steps; ++t) {
    const long base = long(t) * n;
    for (int e = 0; e < n; ++e)
      running_[size_t(e)] = running_[size_t(e)] * gamma_ + rewards[base + e];
    rms_.update(running_.data(), n);
    const double inv_std = 1.0 / std::sqrt(rms_.var()[0] + eps_);
    for (int e = 0; e < n; ++e) {
      const long i = base + e;
      out[i] = float(std::clamp(double(rewards[i]) * inv_std, -clip_, clip_));
      if (terminated[i] || truncated[i]) running_[size_t(e)] = 0;
    }
  }
}

void ReturnNormalizer::set_running(const std::vector<double>& r) {
  RM_CHECK(r.size() == running_.size(), "ReturnNormalizer::set_running: expected ", running_.size(),
           " running returns, got ", r.size());
  for (size_t e = 0; e < r.size(); ++e)
    RM_CHECK(std::isfinite(r[e]), "ReturnNormalizer::set_running: running return ", e,
             " is not finite (", r[e], ")");
  running_ = r;
}

template void RunningMeanStd::update<float>(const float*, long);
template void RunningMeanStd::update<double>(const double*, long);
template void RunningMeanStd::normalize<float>(const float*, float*, long, double, double) const;
template void RunningMeanStd::normalize<double>(const double*, double*, long, double, double) const;

}  // namespace relmimic::algos
