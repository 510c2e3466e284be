// Device dispatch of the training math (PPO, GAE, the discriminator's loss and reward, row
// gathers): the CPU kernel on the cpu, the CUDA entry point (legacy default stream) on a CUDA
// device. Pointers live on `dev`, index arrays included; the CPU calls are exactly the ones the
// trainers make on the cpu, so CPU results do not change. In a build without the CUDA backend a
// CUDA device is an error naming the operation.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/tensor.h"
#include "kernels/ppo_loss.h"

namespace relmimic::algos::train_ops {

// dst[i] = src[index[i]], rows of row_bytes bytes (kernels/gather.h).
void gather_rows(Device dev, long rows, long row_bytes, const int32_t* index, const void* src,
                 void* dst);
// Random-shift augmentation of uint8 windows [n, k, h, w] by shifts [n, 2] (dy, dx), edges
// replicated (kernels/image.h); shifts on dev.
void shift_windows(Device dev, int n, int k, int h, int w, const int32_t* shifts, const uint8_t* x,
                   uint8_t* y);
// n bytes within dev.
void copy_bytes(Device dev, void* dst, const void* src, size_t n);

template <class T>
void gae(Device dev, int steps, int envs, const T* rewards, const T* values, const T* next_values,
         const uint8_t* terminated, const uint8_t* truncated, double gamma, double lambda,
         T* advantages, T* returns);
template <class T>
void gaussian_sample(Device dev, int batch, int dim, const T* mean, const T* log_std,
                     const T* noise, T* actions);
template <class T>
void gaussian_log_prob(Device dev, int batch, int dim, const T* mean, const T* log_std,
                       const T* actions, T* logp);
template <class T>
void gaussian_log_prob_backward(Device dev, int batch, int dim, const T* mean, const T* log_std,
                                const T* actions, const T* weights, T* dmean, T* dlog_std);
template <class T>
kernels::PolicyLossStats ppo_policy_loss(Device dev, int batch, const T* logp, const T* logp_old,
                                         const T* advantages, double clip, T* dlogp);
template <class T>
kernels::ValueLossStats value_loss(Device dev, int batch, const T* v, const T* v_old,
                                   const T* returns, bool clipped, double clip, T* dv);
template <class T>
kernels::MeanStd standardize(Device dev, long n, T* x);
template <class T>
kernels::BceStats sigmoid_bce(Device dev, int n, const T* logits, double label, T* dlogits);
// kernels/gather.h's interpolates; eps [batch] on dev.
template <class T>
void interpolate_frames(Device dev, int batch, long per, const T* eps, const uint8_t* a,
                        const uint8_t* e, T* x_hat);
// Whether every gradient is finite (kernels/reduce.h).
template <class T>
bool all_finite(Device dev, long n, const T* x);
template <class T>
void discriminator_reward(Device dev, int n, const T* logits, T* rewards, double eps);

}  // namespace relmimic::algos::train_ops
