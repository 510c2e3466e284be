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

template void RunningMeanStd::update<float>(const float*, long);
template void RunningMeanStd::update<double>(const double*, long);
template void RunningMeanStd::normalize<float>(const float*, float*, long, double, double) const;
template void RunningMeanStd::normalize<double>(const double*, double*, long, double, double) const;

}  // namespace relmimic::algos
