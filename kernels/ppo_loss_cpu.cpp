// CPU reference of the PPO and discriminator math (see ppo_loss.h for the equations). The
// buffers are minibatch-sized, so the loops are plain and sums accumulate in double.
#include <cmath>
#include <initializer_list>

#include "kernels/common.h"
#include "kernels/ppo_loss.h"
#include "kernels/ppo_loss_math.h"

namespace relmimic::kernels {

namespace {
using namespace ppo_math;

}  // namespace

template <class T>
void gae_cpu(int steps, int envs, const T* rewards, const T* values, const T* next_values,
             const uint8_t* terminated, const uint8_t* truncated, double gamma, double lambda,
             T* advantages, T* returns) {
  check_count("gae", "steps", steps);
  check_count("gae", "envs", envs);
  check_ptrs("gae", {rewards, values, next_values, terminated, truncated, advantages, returns});
  RM_CHECK(gamma >= 0 && gamma <= 1, "gae: gamma must be in [0, 1], got ", gamma);
  RM_CHECK(lambda >= 0 && lambda <= 1, "gae: lambda must be in [0, 1], got ", lambda);
  for (int n = 0; n < envs; ++n)
    gae_env(n, steps, envs, rewards, values, next_values, terminated, truncated, gamma, lambda,
            advantages, returns);
}

template <class T>
void gaussian_log_prob_cpu(int batch, int dim, const T* mean, const T* log_std, const T* actions,
                           T* logp) {
  check_count("gaussian_log_prob", "batch", batch);
  check_count("gaussian_log_prob", "dim", dim);
  check_ptrs("gaussian_log_prob", {mean, log_std, actions, logp});
  double norm = 0;  // sum_j (log_std_j + 0.5 log(2 pi))
  for (int j = 0; j < dim; ++j) norm += double(log_std[j]) + kHalfLog2Pi;
  for (int b = 0; b < batch; ++b) {
    double q = 0;  // sum_j z_j^2, z = (a - mean) / sigma
    for (int j = 0; j < dim; ++j) {
      const long i = long(b) * dim + j;
      const double z = (double(actions[i]) - double(mean[i])) * std::exp(-double(log_std[j]));
      q += z * z;
    }
    logp[b] = T(-0.5 * q - norm);
  }
}

template <class T>
double gaussian_entropy_cpu(int dim, const T* log_std) {
  check_count("gaussian_entropy", "dim", dim);
  check_ptrs("gaussian_entropy", {log_std});
  double h = 0;
  for (int j = 0; j < dim; ++j) h += double(log_std[j]) + 0.5 + kHalfLog2Pi;
  return h;
}

template <class T>
void gaussian_sample_cpu(int batch, int dim, const T* mean, const T* log_std, const T* noise,
                         T* actions) {
  check_count("gaussian_sample", "batch", batch);
  check_count("gaussian_sample", "dim", dim);
  check_ptrs("gaussian_sample", {mean, log_std, noise, actions});
  for (int b = 0; b < batch; ++b)
    for (int j = 0; j < dim; ++j) {
      const long i = long(b) * dim + j;
      actions[i] = T(double(mean[i]) + std::exp(double(log_std[j])) * double(noise[i]));
    }
}

template <class T>
void gaussian_log_prob_backward_cpu(int batch, int dim, const T* mean, const T* log_std,
                                    const T* actions, const T* weights, T* dmean, T* dlog_std) {
  check_count("gaussian_log_prob_backward", "batch", batch);
  check_count("gaussian_log_prob_backward", "dim", dim);
  check_ptrs("gaussian_log_prob_backward", {mean, log_std, actions, weights, dmean, dlog_std});
  for (int j = 0; j < dim; ++j) {
    const double inv_sigma = std::exp(-double(log_std[j]));
    double dls = 0;
    for (int b = 0; b < batch; ++b) {
      const long i = long(b) * dim + j;
      const double w = double(weights[b]);
      const double z = (double(actions[i]) - double(mean[i])) * inv_sigma;
      dmean[i] = T(w * z * inv_sigma);  // d/dmean of -0.5 z^2 = z / sigma
      dls += w * (z * z - 1.0);         // d/dlog_std of -0.5 z^2 - log_std = z^2 - 1
    }
    dlog_std[j] = T(dls);
  }
}

template <class T>
PolicyLossStats ppo_policy_loss_cpu(int batch, const T* logp, const T* logp_old,
                                    const T* advantages, double clip, T* dlogp) {
  check_count("ppo_policy_loss", "batch", batch);
  check_ptrs("ppo_policy_loss", {logp, logp_old, advantages});
  RM_CHECK(clip >= 0, "ppo_policy_loss: clip must be non-negative, got ", clip);
  PolicyLossStats s;
  const double inv_b = 1.0 / batch;
  long clipped = 0;
  for (int i = 0; i < batch; ++i) {
    const double log_r = double(logp[i]) - double(logp_old[i]);
    const double r = std::exp(log_r);
    const double a = double(advantages[i]);
    const double rc = std::fmin(std::fmax(r, 1.0 - clip), 1.0 + clip);
    const double unclipped = r * a, clipped_term = rc * a;
    const bool use_unclipped = unclipped <= clipped_term;
    s.loss -= use_unclipped ? unclipped : clipped_term;
    if (dlogp) dlogp[i] = T(use_unclipped ? -unclipped * inv_b : 0.0);  // d(r A)/dlogp = r A
    s.approx_kl += std::expm1(log_r) - log_r;
    if (std::fabs(r - 1.0) > clip) ++clipped;
  }
  s.loss *= inv_b;
  s.approx_kl *= inv_b;
  s.clip_fraction = double(clipped) * inv_b;
  return s;
}

template <class T>
ValueLossStats value_loss_cpu(int batch, const T* v, const T* v_old, const T* returns, bool clipped,
                              double clip, T* dv) {
  check_count("value_loss", "batch", batch);
  check_ptrs("value_loss", {v, returns});
  if (clipped) {
    check_ptrs("value_loss (clipped, v_old)", {v_old});
    RM_CHECK(clip >= 0, "value_loss: clip must be non-negative, got ", clip);
  }
  ValueLossStats s;
  const double inv_b = 1.0 / batch;
  long n_clipped = 0;
  for (int i = 0; i < batch; ++i) {
    const double vi = double(v[i]), ret = double(returns[i]);
    const double e = vi - ret;
    double grad = e;
    double term = e * e;
    if (clipped) {
      const double old = double(v_old[i]);
      const double d = vi - old;
      const double ec = old + std::fmin(std::fmax(d, -clip), clip) - ret;
      if (ec * ec > term) {  // the clipped term wins only outside the range: constant in v
        term = ec * ec;
        grad = 0;
      }
      if (std::fabs(d) > clip) ++n_clipped;
    }
    s.loss += 0.5 * term;
    if (dv) dv[i] = T(grad * inv_b);
  }
  s.loss *= inv_b;
  s.clip_fraction = double(n_clipped) * inv_b;
  return s;
}

template <class T>
MeanStd standardize_cpu(long n, T* x, double eps) {
  check_count("standardize", "n", n);
  check_ptrs("standardize", {x});
  RM_CHECK(eps >= 0, "standardize: eps must be non-negative, got ", eps);
  MeanStd ms;
  for (long i = 0; i < n; ++i) ms.mean += double(x[i]);
  ms.mean /= double(n);
  double ss = 0;  // two passes: the mean is removed before squaring
  for (long i = 0; i < n; ++i) {
    const double d = double(x[i]) - ms.mean;
    ss += d * d;
  }
  ms.std = std::sqrt(ss / double(n));
  const double inv = 1.0 / (ms.std + eps);
  RM_CHECK(std::isfinite(inv), "standardize: all ", n, " values are equal and eps is 0");
  for (long i = 0; i < n; ++i) x[i] = T((double(x[i]) - ms.mean) * inv);
  return ms;
}

template <class T>
BceStats sigmoid_bce_cpu(int n, const T* logits, double label, T* dlogits) {
  check_count("sigmoid_bce", "n", n);
  check_ptrs("sigmoid_bce", {logits});
  RM_CHECK(label >= 0 && label <= 1, "sigmoid_bce: label must be in [0, 1], got ", label);
  BceStats s;
  const double inv_n = 1.0 / n;
  const bool positive = label >= 0.5;
  long correct = 0;
  for (int i = 0; i < n; ++i) {
    const double x = double(logits[i]);
    s.loss += -log_sigmoid_neg(x) - label * x;  // softplus(x) - y x
    if (dlogits) dlogits[i] = T((sigmoid(x) - label) * inv_n);
    if ((x > 0) == positive) ++correct;
  }
  s.loss *= inv_n;
  s.accuracy = double(correct) * inv_n;
  return s;
}

template <class T>
void discriminator_reward_cpu(int n, const T* logits, T* rewards, double eps) {
  check_count("discriminator_reward", "n", n);
  check_ptrs("discriminator_reward", {logits, rewards});
  RM_CHECK(eps > 0, "discriminator_reward: eps must be positive, got ", eps);
  for (int i = 0; i < n; ++i) {
    const double x = double(logits[i]);
    double r;
    if (x >= 0) {
      // 1 - D = sigmoid(-x) is small here and exact as exp(-x) / (1 + exp(-x)).
      const double e = std::exp(-x);
      r = -std::log(e / (1.0 + e) + eps);
    } else {
      // 1 - D + eps = 1 + (eps - D) with D = sigmoid(x) small here: log1p keeps the digits.
      r = -std::log1p(eps - sigmoid(x));
    }
    rewards[i] = T(r);
  }
}

#define RELMIMIC_INSTANTIATE_PPO_LOSS(T)                                                           \
  template void gae_cpu<T>(int, int, const T*, const T*, const T*, const uint8_t*, const uint8_t*, \
                           double, double, T*, T*);                                                \
  template void gaussian_log_prob_cpu<T>(int, int, const T*, const T*, const T*, T*);              \
  template double gaussian_entropy_cpu<T>(int, const T*);                                          \
  template void gaussian_sample_cpu<T>(int, int, const T*, const T*, const T*, T*);                \
  template void gaussian_log_prob_backward_cpu<T>(int, int, const T*, const T*, const T*,          \
                                                  const T*, T*, T*);                               \
  template PolicyLossStats ppo_policy_loss_cpu<T>(int, const T*, const T*, const T*, double, T*);  \
  template ValueLossStats value_loss_cpu<T>(int, const T*, const T*, const T*, bool, double, T*);  \
  template MeanStd standardize_cpu<T>(long, T*, double);                                           \
  template BceStats sigmoid_bce_cpu<T>(int, const T*, double, T*);                                 \
  template void discriminator_reward_cpu<T>(int, const T*, T*, double);

RELMIMIC_INSTANTIATE_PPO_LOSS(float)
RELMIMIC_INSTANTIATE_PPO_LOSS(double)
#undef RELMIMIC_INSTANTIATE_PPO_LOSS

}  // namespace relmimic::kernels
