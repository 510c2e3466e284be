// Scalar functions of the PPO and discriminator math (kernels/ppo_loss.h) shared by the CPU
// reference and the CUDA kernels, in double.
#pragma once

#include <math.h>

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

}  // namespace relmimic::kernels::ppo_math
