#include "algos/train_ops.h"

#include <cstring>

#include "engine/cuda_branch.h"
#include "kernels/device.h"
#include "kernels/gather.h"
#include "kernels/image.h"
#include "kernels/reduce.h"

namespace relmimic::algos::train_ops {

void gather_rows(Device dev, long rows, long row_bytes, const int32_t* index, const void* src,
                 void* dst) {
  if (dev.is_cpu()) return kernels::gather_rows_cpu(rows, row_bytes, index, src, dst);
  RM_CUDA("gather_rows", kernels::gather_rows_cuda(rows, row_bytes, index, src, dst));
}

void shift_windows(Device dev, int n, int k, int h, int w, const int32_t* shifts, const uint8_t* x,
                   uint8_t* y) {
  if (dev.is_cpu()) return kernels::shift_windows_cpu(n, k, h, w, shifts, x, y);
  RM_CUDA("shift_windows", kernels::shift_windows_cuda(n, k, h, w, shifts, x, y));
}

void copy_bytes(Device dev, void* dst, const void* src, size_t n) {
  if (n == 0) return;
  if (dev.is_cpu()) {
    std::memcpy(dst, src, n);
    return;
  }
  kernels::cuda_memcpy(dst, src, n, kernels::CopyKind::DeviceToDevice);
}

template <class T>
void gae(Device dev, int steps, int envs, const T* rewards, const T* values, const T* next_values,
         const uint8_t* terminated, const uint8_t* truncated, double gamma, double lambda,
         T* advantages, T* returns) {
  if (dev.is_cpu())
    return kernels::gae_cpu(steps, envs, rewards, values, next_values, terminated, truncated, gamma,
                            lambda, advantages, returns);
  RM_CUDA("gae", kernels::gae_cuda(steps, envs, rewards, values, next_values, terminated, truncated,
                                   gamma, lambda, advantages, returns));
}

template <class T>
void gaussian_sample(Device dev, int batch, int dim, const T* mean, const T* log_std,
                     const T* noise, T* actions) {
  if (dev.is_cpu()) return kernels::gaussian_sample_cpu(batch, dim, mean, log_std, noise, actions);
  RM_CUDA("gaussian_sample",
          kernels::gaussian_sample_cuda(batch, dim, mean, log_std, noise, actions));
}

template <class T>
void gaussian_log_prob(Device dev, int batch, int dim, const T* mean, const T* log_std,
                       const T* actions, T* logp) {
  if (dev.is_cpu()) return kernels::gaussian_log_prob_cpu(batch, dim, mean, log_std, actions, logp);
  RM_CUDA("gaussian_log_prob",
          kernels::gaussian_log_prob_cuda(batch, dim, mean, log_std, actions, logp));
}

template <class T>
void gaussian_log_prob_backward(Device dev, int batch, int dim, const T* mean, const T* log_std,
                                const T* actions, const T* weights, T* dmean, T* dlog_std) {
  if (dev.is_cpu())
    return kernels::gaussian_log_prob_backward_cpu(batch, dim, mean, log_std, actions, weights,
                                                   dmean, dlog_std);
  RM_CUDA("gaussian_log_prob_backward",
          kernels::gaussian_log_prob_backward_cuda(batch, dim, mean, log_std, actions, weights,
                                                   dmean, dlog_std));
}

template <class T>
kernels::PolicyLossStats ppo_policy_loss(Device dev, int batch, const T* logp, const T* logp_old,
                                         const T* advantages, double clip, T* dlogp) {
  if (dev.is_cpu())
    return kernels::ppo_policy_loss_cpu(batch, logp, logp_old, advantages, clip, dlogp);
  RM_CUDA("ppo_policy_loss",
          return kernels::ppo_policy_loss_cuda(batch, logp, logp_old, advantages, clip, dlogp));
}

template <class T>
kernels::ValueLossStats value_loss(Device dev, int batch, const T* v, const T* v_old,
                                   const T* returns, bool clipped, double clip, T* dv) {
  if (dev.is_cpu()) return kernels::value_loss_cpu(batch, v, v_old, returns, clipped, clip, dv);
  RM_CUDA("value_loss",
          return kernels::value_loss_cuda(batch, v, v_old, returns, clipped, clip, dv));
}

template <class T>
kernels::MeanStd standardize(Device dev, long n, T* x) {
  if (dev.is_cpu()) return kernels::standardize_cpu(n, x);
  RM_CUDA("standardize", return kernels::standardize_cuda(n, x));
}

template <class T>
kernels::BceStats sigmoid_bce(Device dev, int n, const T* logits, double label, T* dlogits) {
  if (dev.is_cpu()) return kernels::sigmoid_bce_cpu(n, logits, label, dlogits);
  RM_CUDA("sigmoid_bce", return kernels::sigmoid_bce_cuda(n, logits, label, dlogits));
}

template <class T>
void interpolate_frames(Device dev, int batch, long per, const T* eps, const uint8_t* a,
                        const uint8_t* e, T* x_hat) {
  if (dev.is_cpu()) return kernels::interpolate_frames_cpu(batch, per, eps, a, e, x_hat);
  RM_CUDA("interpolate_frames", kernels::interpolate_frames_cuda(batch, per, eps, a, e, x_hat));
}

template <class T>
bool all_finite(Device dev, long n, const T* x) {
  if (dev.is_cpu()) return kernels::all_finite_cpu(n, x);
  RM_CUDA("all_finite", return kernels::all_finite_cuda(n, x));
}

template <class T>
void discriminator_reward(Device dev, int n, const T* logits, T* rewards, double eps) {
  if (dev.is_cpu()) return kernels::discriminator_reward_cpu(n, logits, rewards, eps);
  RM_CUDA("discriminator_reward", kernels::discriminator_reward_cuda(n, logits, rewards, eps));
}

#define RELMIMIC_TRAIN_OPS(T)                                                                   \
  template void gae(Device, int, int, const T*, const T*, const T*, const uint8_t*,             \
                    const uint8_t*, double, double, T*, T*);                                    \
  template void gaussian_sample(Device, int, int, const T*, const T*, const T*, T*);            \
  template void gaussian_log_prob(Device, int, int, const T*, const T*, const T*, T*);          \
  template void gaussian_log_prob_backward(Device, int, int, const T*, const T*, const T*,      \
                                           const T*, T*, T*);                                   \
  template kernels::PolicyLossStats ppo_policy_loss(Device, int, const T*, const T*, const T*,  \
                                                    double, T*);                                \
  template kernels::ValueLossStats value_loss(Device, int, const T*, const T*, const T*, bool,  \
                                              double, T*);                                      \
  template kernels::MeanStd standardize(Device, long, T*);                                      \
  template kernels::BceStats sigmoid_bce(Device, int, const T*, double, T*);                    \
  template void discriminator_reward(Device, int, const T*, T*, double);                        \
  template void interpolate_frames(Device, int, long, const T*, const uint8_t*, const uint8_t*, \
                                   T*);                                                         \
  template bool all_finite(Device, long, const T*);
RELMIMIC_TRAIN_OPS(float)
RELMIMIC_TRAIN_OPS(double)

}  // namespace relmimic::algos::train_ops
