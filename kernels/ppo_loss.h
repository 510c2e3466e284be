// PPO and adversarial-imitation math on flat buffers: GAE, the diagonal Gaussian policy, the
// clipped surrogate and value losses, advantage standardization, and the discriminator's
// cross-entropy and reward. Every loss returns its value (accumulated in double) and writes its
// gradient; nothing here allocates or knows about networks.
#pragma once

#include <cstdint>

#include "kernels/cuda_types.h"

namespace relmimic::kernels {

// ---------------------------------------------------------------------------------------------
// Generalized advantage estimation over a time-major rollout [T, N] (T steps, N envs).
//
// Step t of env n took s_t -> s_{t+1}, got rewards[t, n] and ended with one of:
//   terminated[t, n] = 1  s_{t+1} is terminal (unhealthy): its value is 0, nothing to bootstrap;
//   truncated[t, n]  = 1  the time limit cut the episode: s_{t+1} is the *final* observation
//                         before the auto-reset, and the return bootstraps from V(s_{t+1});
//   neither              s_{t+1} is the next state of the same episode.
// values[t, n] = V(s_t). next_values[t, n] = V(s_{t+1}), the value of the state the step reached:
//   for an ordinary step t < T-1 that is values[t+1, n]; for the last step it is the value of the
//   observation after the rollout; for a truncated step it is the value of the final observation
//   (not of the reset observation stored at t+1); for a terminated step it is ignored.
//
//   delta_t = r_t + gamma * V(s_{t+1}) * (1 - terminated_t) - V(s_t)
//   A_t     = delta_t + gamma * lambda * (1 - done_t) * A_{t+1},   done = terminated | truncated,
//   A_T     = 0 (nothing after the rollout: the last step bootstraps through next_values only),
//   returns = A + values (the value-function target).
// The episode boundary (done) cuts the recursion; only termination cuts the bootstrap.
// Overwrites advantages and returns [T, N].
template <class T>
void gae_cpu(int steps, int envs, const T* rewards, const T* values, const T* next_values,
             const uint8_t* terminated, const uint8_t* truncated, double gamma, double lambda,
             T* advantages, T* returns);

// ---------------------------------------------------------------------------------------------
// Diagonal Gaussian policy with a state-independent log-std: mean [B, A], log_std [A],
// actions [B, A], sigma = exp(log_std).
//   log p(a) = sum_j [ -0.5 ((a_j - mean_j) / sigma_j)^2 - log_std_j - 0.5 log(2 pi) ]
//   H        = sum_j [ log_std_j + 0.5 (1 + log(2 pi)) ]   (same for every sample; dH/dlog_std = 1)

// Overwrites logp [B].
template <class T>
void gaussian_log_prob_cpu(int batch, int dim, const T* mean, const T* log_std, const T* actions,
                           T* logp);

template <class T>
double gaussian_entropy_cpu(int dim, const T* log_std);

// actions = mean + exp(log_std) * noise, noise [B, A] drawn from N(0, 1) by the caller.
template <class T>
void gaussian_sample_cpu(int batch, int dim, const T* mean, const T* log_std, const T* noise,
                         T* actions);

// Gradient of L = sum_i w_i log p(a_i), e.g. w = dL/dlogp from ppo_policy_loss_cpu:
//   dmean[i, j]  = w_i (a_ij - mean_ij) / sigma_j^2                    overwrites dmean [B, A]
//   dlog_std[j]  = sum_i w_i (((a_ij - mean_ij) / sigma_j)^2 - 1)     overwrites dlog_std [A]
template <class T>
void gaussian_log_prob_backward_cpu(int batch, int dim, const T* mean, const T* log_std,
                                    const T* actions, const T* weights, T* dmean, T* dlog_std);

// ---------------------------------------------------------------------------------------------
// PPO clipped surrogate over a minibatch of B samples:
//   r_i = exp(logp_i - logp_old_i)
//   L   = -mean_i min(r_i A_i, clip(r_i, 1 - eps, 1 + eps) A_i)
//   dL/dlogp_i = -r_i A_i / B where the unclipped term is the minimum (ties included), else 0.
struct PolicyLossStats {
  double loss = 0;
  double approx_kl = 0;      // mean((r - 1) - log r), non-negative, unbiased for KL(old || new)
  double clip_fraction = 0;  // fraction of samples with |r - 1| > eps
};

// Overwrites dlogp [B] (may be null when only the value is needed).
template <class T>
PolicyLossStats ppo_policy_loss_cpu(int batch, const T* logp, const T* logp_old,
                                    const T* advantages, double clip, T* dlogp);

// Value loss with the same clipping around the rollout's predictions v_old:
//   clipped:    L = 0.5 mean max((v - R)^2, (v_old + clip(v - v_old, -eps, eps) - R)^2)
//   unclipped:  L = 0.5 mean (v - R)^2                           (v_old may then be null)
//   dL/dv_i = (v_i - R_i) / B where the unclipped term is the maximum (always so inside the clip
//   range, where both terms are equal), else 0 (the clipped term is constant outside the range).
struct ValueLossStats {
  double loss = 0;
  double clip_fraction = 0;  // fraction of samples with |v - v_old| > eps (0 when unclipped)
};

// Overwrites dv [B] (may be null).
template <class T>
ValueLossStats value_loss_cpu(int batch, const T* v, const T* v_old, const T* returns, bool clipped,
                              double clip, T* dv);

// In place: x = (x - mean(x)) / (std(x) + eps), population std. Returns {mean, std} before.
struct MeanStd {
  double mean = 0, std = 0;
};
template <class T>
MeanStd standardize_cpu(long n, T* x, double eps = 1e-8);

// ---------------------------------------------------------------------------------------------
// Discriminator D(s) = sigmoid(logit); expert label 1, agent label 0.
// Sigmoid cross-entropy of n logits that share one label y in [0, 1]:
//   loss = mean_i [ softplus(x_i) - y x_i ]   (= -mean[y log D + (1 - y) log(1 - D)], stable)
//   dlogits_i = (sigmoid(x_i) - y) / n
// The discriminator loss is sigmoid_bce_cpu(expert, 1) + sigmoid_bce_cpu(agent, 0); when both
// halves sit in one logit buffer each call writes its own half of the gradient.
struct BceStats {
  double loss = 0;
  double accuracy = 0;  // fraction on the label's side: x > 0 for y >= 0.5, x <= 0 otherwise
};

// Overwrites dlogits [n] (may be null).
template <class T>
BceStats sigmoid_bce_cpu(int n, const T* logits, double label, T* dlogits);

// Imitation reward r = -log(1 - sigmoid(x) + eps), eps = 1e-8 by SPEC, without forming
// 1 - sigmoid(x) by subtraction: bounded by -log(eps) ~ 18.42 for large x, ~ -eps for very
// negative x. Overwrites rewards [n].
template <class T>
void discriminator_reward_cpu(int n, const T* logits, T* rewards, double eps = 1e-8);

// ---------------------------------------------------------------------------------------------
// Device versions (queued on `stream`; same contracts and equations, computed in double). GAE
// runs one thread per env; the losses reduce their statistics in one block in a fixed order and
// copy them to the host (those calls synchronize the stream). uint8 masks are device memory too.
template <class T>
void gae_cuda(int steps, int envs, const T* rewards, const T* values, const T* next_values,
              const uint8_t* terminated, const uint8_t* truncated, double gamma, double lambda,
              T* advantages, T* returns, Stream stream = nullptr);
template <class T>
void gaussian_log_prob_cuda(int batch, int dim, const T* mean, const T* log_std, const T* actions,
                            T* logp, Stream stream = nullptr);
template <class T>
void gaussian_sample_cuda(int batch, int dim, const T* mean, const T* log_std, const T* noise,
                          T* actions, Stream stream = nullptr);
template <class T>
void gaussian_log_prob_backward_cuda(int batch, int dim, const T* mean, const T* log_std,
                                     const T* actions, const T* weights, T* dmean, T* dlog_std,
                                     Stream stream = nullptr);
template <class T>
PolicyLossStats ppo_policy_loss_cuda(int batch, const T* logp, const T* logp_old,
                                     const T* advantages, double clip, T* dlogp,
                                     Stream stream = nullptr);
template <class T>
ValueLossStats value_loss_cuda(int batch, const T* v, const T* v_old, const T* returns,
                               bool clipped, double clip, T* dv, Stream stream = nullptr);
template <class T>
MeanStd standardize_cuda(long n, T* x, double eps = 1e-8, Stream stream = nullptr);
template <class T>
BceStats sigmoid_bce_cuda(int n, const T* logits, double label, T* dlogits,
                          Stream stream = nullptr);
template <class T>
void discriminator_reward_cuda(int n, const T* logits, T* rewards, double eps = 1e-8,
                               Stream stream = nullptr);

}  // namespace relmimic::kernels
