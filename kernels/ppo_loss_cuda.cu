// PPO and discriminator math on the device (see kernels/ppo_loss.h for the equations, which
// every kernel here follows line by line, in double like the CPU reference). The loss kernels run
// as one block over the minibatch: each thread keeps double partial sums of its strided share,
// a fixed tree combines them, and thread 0 writes the statistics for the host to fetch.
#include <algorithm>
#include <cmath>
#include <initializer_list>

#include "kernels/ppo_loss.h"
#include "kernels/ppo_loss_math.h"
#include "kernels/reduce_cuda.cuh"

namespace relmimic::kernels {

namespace {
using namespace cuda_reduce;
using namespace ppo_math;

constexpr int kStatsOffset = kStatsSlot;  // where the statistics go in scratch(stream)

unsigned blocks_for(long n) {
  return unsigned(std::clamp((n + kThreads - 1) / kThreads, 1L, 65535L * 16));
}

template <class T>
__global__ void gae_kernel(int steps, int envs, const T* __restrict__ rewards,
                           const T* __restrict__ values, const T* __restrict__ next_values,
                           const uint8_t* __restrict__ terminated,
                           const uint8_t* __restrict__ truncated, double gamma, double lambda,
                           T* __restrict__ advantages, T* __restrict__ returns) {
  const int n = blockIdx.x * blockDim.x + threadIdx.x;
  if (n >= envs) return;
  gae_env(n, steps, envs, rewards, values, next_values, terminated, truncated, gamma, lambda,
          advantages, returns);
}

template <class T>
__global__ void log_prob_kernel(int batch, int dim, const T* __restrict__ mean,
                                const T* __restrict__ log_std, const T* __restrict__ actions,
                                T* __restrict__ logp) {
  const int b = blockIdx.x * blockDim.x + threadIdx.x;
  if (b >= batch) return;
  double norm = 0, q = 0;  // sum_j (log_std_j + 0.5 log 2 pi),  sum_j z_j^2
  for (int j = 0; j < dim; ++j) {
    const long i = long(b) * dim + j;
    const double ls = double(log_std[j]);
    const double z = (double(actions[i]) - double(mean[i])) * exp(-ls);
    norm += ls + kHalfLog2Pi;
    q += z * z;
  }
  logp[b] = T(-0.5 * q - norm);
}

template <class T>
__global__ void sample_kernel(long n, int dim, const T* __restrict__ mean,
                              const T* __restrict__ log_std, const T* __restrict__ noise,
                              T* __restrict__ actions) {
  for (long i = blockIdx.x * long(blockDim.x) + threadIdx.x; i < n;
       i += long(gridDim.x) * blockDim.x)
    actions[i] = T(double(mean[i]) + exp(double(log_std[i % dim])) * double(noise[i]));
}

// One block per action dimension j: dmean[:, j] and the block-reduced dlog_std[j].
template <class T>
__global__ void __launch_bounds__(kThreads)
    log_prob_backward_kernel(int batch, int dim, const T* __restrict__ mean,
                             const T* __restrict__ log_std, const T* __restrict__ actions,
                             const T* __restrict__ weights, T* __restrict__ dmean,
                             T* __restrict__ dlog_std) {
  const int j = blockIdx.x;
  const double inv_sigma = exp(-double(log_std[j]));
  double dls = 0;
  for (int b = threadIdx.x; b < batch; b += kThreads) {
    const long i = long(b) * dim + j;
    const double w = double(weights[b]);
    const double z = (double(actions[i]) - double(mean[i])) * inv_sigma;
    dmean[i] = T(w * z * inv_sigma);  // d/dmean of -0.5 z^2 = z / sigma
    dls += w * (z * z - 1.0);         // d/dlog_std of -0.5 z^2 - log_std = z^2 - 1
  }
  dls = block_reduce(dls, Add{});
  if (threadIdx.x == 0) dlog_std[j] = T(dls);
}

// stats = {loss, approx_kl, clip_fraction}
template <class T>
__global__ void __launch_bounds__(kThreads)
    policy_loss_kernel(int batch, const T* __restrict__ logp, const T* __restrict__ logp_old,
                       const T* __restrict__ advantages, double clip, T* __restrict__ dlogp,
                       double* __restrict__ stats) {
  const double inv_b = 1.0 / batch;
  double loss = 0, kl = 0, clipped = 0;
  for (int i = threadIdx.x; i < batch; i += kThreads) {
    const double log_r = double(logp[i]) - double(logp_old[i]);
    const double r = exp(log_r);
    const double a = double(advantages[i]);
    const double rc = fmin(fmax(r, 1.0 - clip), 1.0 + clip);
    const double unclipped = r * a, clipped_term = rc * a;
    const bool use_unclipped = unclipped <= clipped_term;
    loss -= use_unclipped ? unclipped : clipped_term;
    if (dlogp) dlogp[i] = T(use_unclipped ? -unclipped * inv_b : 0.0);  // d(r A)/dlogp = r A
    kl += expm1(log_r) - log_r;
    clipped += fabs(r - 1.0) > clip ? 1.0 : 0.0;
  }
  loss = block_reduce(loss, Add{});
  kl = block_reduce(kl, Add{});
  clipped = block_reduce(clipped, Add{});
  if (threadIdx.x == 0) {
    stats[0] = loss * inv_b;
    stats[1] = kl * inv_b;
    stats[2] = clipped * inv_b;
  }
}

// stats = {loss, clip_fraction}
template <class T>
__global__ void __launch_bounds__(kThreads)
    value_loss_kernel(int batch, const T* __restrict__ v, const T* __restrict__ v_old,
                      const T* __restrict__ returns, bool clipped, double clip, T* __restrict__ dv,
                      double* __restrict__ stats) {
  const double inv_b = 1.0 / batch;
  double loss = 0, n_clipped = 0;
  for (int i = threadIdx.x; i < batch; i += kThreads) {
    const double vi = double(v[i]), ret = double(returns[i]);
    const double e = vi - ret;
    double grad = e, term = e * e;
    if (clipped) {
      const double old = double(v_old[i]);
      const double d = vi - old;
      const double ec = old + fmin(fmax(d, -clip), clip) - ret;
      if (ec * ec > term) {  // the clipped term wins only outside the range: constant in v
        term = ec * ec;
        grad = 0;
      }
      n_clipped += fabs(d) > clip ? 1.0 : 0.0;
    }
    loss += 0.5 * term;
    if (dv) dv[i] = T(grad * inv_b);
  }
  loss = block_reduce(loss, Add{});
  n_clipped = block_reduce(n_clipped, Add{});
  if (threadIdx.x == 0) {
    stats[0] = loss * inv_b;
    stats[1] = n_clipped * inv_b;
  }
}

// stats = {mean, std}; x is rewritten only when 1 / (std + eps) is finite (the host then throws).
template <class T>
__global__ void __launch_bounds__(kThreads)
    standardize_kernel(long n, T* __restrict__ x, double eps, double* __restrict__ stats) {
  double s = 0;
  for (long i = threadIdx.x; i < n; i += kThreads) s += double(x[i]);
  const double mean = block_reduce(s, Add{}) / double(n);
  double ss = 0;  // two passes: the mean is removed before squaring
  for (long i = threadIdx.x; i < n; i += kThreads) {
    const double d = double(x[i]) - mean;
    ss += d * d;
  }
  const double sd = sqrt(block_reduce(ss, Add{}) / double(n));
  const double inv = 1.0 / (sd + eps);
  if (threadIdx.x == 0) {
    stats[0] = mean;
    stats[1] = sd;
  }
  if (!isfinite(inv)) return;
  for (long i = threadIdx.x; i < n; i += kThreads) x[i] = T((double(x[i]) - mean) * inv);
}

// stats = {loss, accuracy}
template <class T>
__global__ void __launch_bounds__(kThreads)
    bce_kernel(int n, const T* __restrict__ logits, double label, T* __restrict__ dlogits,
               double* __restrict__ stats) {
  const double inv_n = 1.0 / n;
  const bool positive = label >= 0.5;
  double loss = 0, correct = 0;
  for (int i = threadIdx.x; i < n; i += kThreads) {
    const double x = double(logits[i]);
    loss += -log_sigmoid_neg(x) - label * x;  // softplus(x) - y x
    if (dlogits) dlogits[i] = T((sigmoid(x) - label) * inv_n);
    correct += (x > 0) == positive ? 1.0 : 0.0;
  }
  loss = block_reduce(loss, Add{});
  correct = block_reduce(correct, Add{});
  if (threadIdx.x == 0) {
    stats[0] = loss * inv_n;
    stats[1] = correct * inv_n;
  }
}

template <class T>
__global__ void reward_kernel(int n, const T* __restrict__ logits, T* __restrict__ rewards,
                              double eps) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const double x = double(logits[i]);
  double r;
  if (x >= 0) {
    const double e = exp(-x);  // 1 - D = sigmoid(-x), exact as exp(-x) / (1 + exp(-x))
    r = -log(e / (1.0 + e) + eps);
  } else {
    r = -log1p(eps - sigmoid(x));  // 1 - D + eps = 1 + (eps - D), D small
  }
  rewards[i] = T(r);
}

}  // namespace

template <class T>
void gae_cuda(int steps, int envs, const T* rewards, const T* values, const T* next_values,
              const uint8_t* terminated, const uint8_t* truncated, double gamma, double lambda,
              T* advantages, T* returns, Stream stream) {
  check_count("gae_cuda", "steps", steps);
  check_count("gae_cuda", "envs", envs);
  check_ptrs("gae_cuda",
             {rewards, values, next_values, terminated, truncated, advantages, returns});
  RM_CHECK(gamma >= 0 && gamma <= 1, "gae_cuda: gamma must be in [0, 1], got ", gamma);
  RM_CHECK(lambda >= 0 && lambda <= 1, "gae_cuda: lambda must be in [0, 1], got ", lambda);
  gae_kernel<T><<<blocks_for(envs), kThreads, 0, stream>>>(steps, envs, rewards, values,
                                                           next_values, terminated, truncated,
                                                           gamma, lambda, advantages, returns);
  CUDA_CHECK_LAUNCH();
}

template <class T>
void gaussian_log_prob_cuda(int batch, int dim, const T* mean, const T* log_std, const T* actions,
                            T* logp, Stream stream) {
  check_count("gaussian_log_prob_cuda", "batch", batch);
  check_count("gaussian_log_prob_cuda", "dim", dim);
  check_ptrs("gaussian_log_prob_cuda", {mean, log_std, actions, logp});
  log_prob_kernel<T>
      <<<blocks_for(batch), kThreads, 0, stream>>>(batch, dim, mean, log_std, actions, logp);
  CUDA_CHECK_LAUNCH();
}

template <class T>
void gaussian_sample_cuda(int batch, int dim, const T* mean, const T* log_std, const T* noise,
                          T* actions, Stream stream) {
  check_count("gaussian_sample_cuda", "batch", batch);
  check_count("gaussian_sample_cuda", "dim", dim);
  check_ptrs("gaussian_sample_cuda", {mean, log_std, noise, actions});
  const long n = long(batch) * dim;
  sample_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(n, dim, mean, log_std, noise, actions);
  CUDA_CHECK_LAUNCH();
}

template <class T>
void gaussian_log_prob_backward_cuda(int batch, int dim, const T* mean, const T* log_std,
                                     const T* actions, const T* weights, T* dmean, T* dlog_std,
                                     Stream stream) {
  check_count("gaussian_log_prob_backward_cuda", "batch", batch);
  check_count("gaussian_log_prob_backward_cuda", "dim", dim);
  check_ptrs("gaussian_log_prob_backward_cuda", {mean, log_std, actions, weights, dmean, dlog_std});
  log_prob_backward_kernel<T>
      <<<dim, kThreads, 0, stream>>>(batch, dim, mean, log_std, actions, weights, dmean, dlog_std);
  CUDA_CHECK_LAUNCH();
}

template <class T>
PolicyLossStats ppo_policy_loss_cuda(int batch, const T* logp, const T* logp_old,
                                     const T* advantages, double clip, T* dlogp, Stream stream) {
  check_count("ppo_policy_loss_cuda", "batch", batch);
  check_ptrs("ppo_policy_loss_cuda", {logp, logp_old, advantages});
  RM_CHECK(clip >= 0, "ppo_policy_loss_cuda: clip must be non-negative, got ", clip);
  policy_loss_kernel<T><<<1, kThreads, 0, stream>>>(batch, logp, logp_old, advantages, clip, dlogp,
                                                    scratch(stream) + kStatsOffset);
  CUDA_CHECK_LAUNCH();
  double h[3];
  fetch(h, 3, kStatsOffset, stream);
  return {h[0], h[1], h[2]};
}

template <class T>
ValueLossStats value_loss_cuda(int batch, const T* v, const T* v_old, const T* returns,
                               bool clipped, double clip, T* dv, Stream stream) {
  check_count("value_loss_cuda", "batch", batch);
  check_ptrs("value_loss_cuda", {v, returns});
  if (clipped) {
    check_ptrs("value_loss_cuda (clipped, v_old)", {v_old});
    RM_CHECK(clip >= 0, "value_loss_cuda: clip must be non-negative, got ", clip);
  }
  value_loss_kernel<T><<<1, kThreads, 0, stream>>>(batch, v, v_old, returns, clipped, clip, dv,
                                                   scratch(stream) + kStatsOffset);
  CUDA_CHECK_LAUNCH();
  double h[2];
  fetch(h, 2, kStatsOffset, stream);
  return {h[0], h[1]};
}

template <class T>
MeanStd standardize_cuda(long n, T* x, double eps, Stream stream) {
  check_count("standardize_cuda", "n", n);
  check_ptrs("standardize_cuda", {x});
  RM_CHECK(eps >= 0, "standardize_cuda: eps must be non-negative, got ", eps);
  standardize_kernel<T><<<1, kThreads, 0, stream>>>(n, x, eps, scratch(stream) + kStatsOffset);
  CUDA_CHECK_LAUNCH();
  double h[2];
  fetch(h, 2, kStatsOffset, stream);
  RM_CHECK(std::isfinite(1.0 / (h[1] + eps)), "standardize_cuda: all ", n,
           " values are equal and eps is 0");
  return {h[0], h[1]};
}

template <class T>
BceStats sigmoid_bce_cuda(int n, const T* logits, double label, T* dlogits, Stream stream) {
  check_count("sigmoid_bce_cuda", "n", n);
  check_ptrs("sigmoid_bce_cuda", {logits});
  RM_CHECK(label >= 0 && label <= 1, "sigmoid_bce_cuda: label must be in [0, 1], got ", label);
  bce_kernel<T>
      <<<1, kThreads, 0, stream>>>(n, logits, label, dlogits, scratch(stream) + kStatsOffset);
  CUDA_CHECK_LAUNCH();
  double h[2];
  fetch(h, 2, kStatsOffset, stream);
  return {h[0], h[1]};
}

template <class T>
void discriminator_reward_cuda(int n, const T* logits, T* rewards, double eps, Stream stream) {
  check_count("discriminator_reward_cuda", "n", n);
  check_ptrs("discriminator_reward_cuda", {logits, rewards});
  RM_CHECK(eps > 0, "discriminator_reward_cuda: eps must be positive, got ", eps);
  reward_kernel<T><<<blocks_for(n), kThreads, 0, stream>>>(n, logits, rewards, eps);
  CUDA_CHECK_LAUNCH();
}

#define RELMIMIC_PPO_LOSS_CUDA(T)                                                                 \
  template void gae_cuda<T>(int, int, const T*, const T*, const T*, const uint8_t*,               \
                            const uint8_t*, double, double, T*, T*, Stream);                      \
  template void gaussian_log_prob_cuda<T>(int, int, const T*, const T*, const T*, T*, Stream);    \
  template void gaussian_sample_cuda<T>(int, int, const T*, const T*, const T*, T*, Stream);      \
  template void gaussian_log_prob_backward_cuda<T>(int, int, const T*, const T*, const T*,        \
                                                   const T*, T*, T*, Stream);                     \
  template PolicyLossStats ppo_policy_loss_cuda<T>(int, const T*, const T*, const T*, double, T*, \
                                                   Stream);                                       \
  template ValueLossStats value_loss_cuda<T>(int, const T*, const T*, const T*, bool, double, T*, \
                                             Stream);                                             \
  template MeanStd standardize_cuda<T>(long, T*, double, Stream);                                 \
  template BceStats sigmoid_bce_cuda<T>(int, const T*, double, T*, Stream);                       \
  template void discriminator_reward_cuda<T>(int, const T*, T*, double, Stream);
RELMIMIC_PPO_LOSS_CUDA(float)
RELMIMIC_PPO_LOSS_CUDA(double)
#undef RELMIMIC_PPO_LOSS_CUDA

}  // namespace relmimic::kernels
