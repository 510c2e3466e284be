// Scalar functions of the PPO and discriminator math (kernels/ppo_loss.h) shared by the CPU
// reference and the CUDA kernels, in double.
#pragma once

#include <math.h>
#include <stdint.h>

#include "kernels/host_device.h"

namespace relmimic::kernels::ppo_math {

constexpr double kHalfLog2Pi = 0.91893853320467274178;  // 0.5 log(2 pi)

// log(sigmoid(-x)) = -softplus(x), without overflow for either sign.
RM_HD double log_sigmoid_neg(double x) {
  return -(fmax(x, 0.0) + log1p(exp(-fabs(x))));
}

RM_HD double sigmoid(double x) {
  if (x >= 0) return 1.0 / (1.0 + exp(-x));
  const double e = exp(x);
  return e / (1.0 + e);
}

// GAE for env n of a [steps, envs] rollout, backwards in time (see kernels/ppo_loss.h): a
// termination zeroes the bootstrap, a termination or truncation cuts the advantage recursion.
template <class T>
RM_HD void gae_env(int n, int steps, int envs, const T* rewards, const T* values,
                   const T* next_values, const uint8_t* terminated, const uint8_t* truncated,
                   double gamma, double lambda, T* advantages, T* returns) {
  double next_adv = 0;  // A_{t+1}; A_T = 0
  for (int t = steps - 1; t >= 0; --t) {
    const long i = long(t) * envs + n;  // on the device a warp reads 32 consecutive envs
    const bool term = terminated[i] != 0;
    const bool done = term || truncated[i] != 0;
    const double bootstrap = term ? 0.0 : gamma * double(next_values[i]);
    const double delta = double(rewards[i]) + bootstrap - double(values[i]);
    const double adv = delta + (done ? 0.0 : gamma * lambda * next_adv);
    advantages[i] = T(adv);
    returns[i] = T(adv + double(values[i]));
    next_adv = adv;
  }
}

}  // namespace relmimic::kernels::ppo_math
