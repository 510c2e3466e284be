// What the discriminator's gradient penalty differentiates, and the per-sample factors its exact
// parameter gradient needs; shared by every discriminator network.
//
// A discriminator scores an input x with a logit l(x) (D = sigmoid(l)). The penalty
//   P = lambda mean_b (||grad_x f(l(x_b))|| - 1)^2
// is taken on f = identity (PenaltyOn::logit, the default: the score's gradient, as in the
// authors' code and the GAIL / WGAN-GP implementations) or on f = sigmoid (PenaltyOn::prob,
// ||grad_x D||, which forces ||grad_x l|| >= 4 wherever the constraint holds).
//
// With g_b = f'(l_b) grad_x l_b and v = dP/dg held fixed, and J the input Jacobian of l,
//   dP/dtheta = f''(l) (J v) dl/dtheta + f'(l) d(J v)/dtheta,
// i.e. a network computes P's parameter gradient as backward_jvp(dy = f''(l) t_l, dt_y = f'(l))
// after t_l = jvp(v), and grad_x f as backward(dy = f'(l)). penalty_factors gives
// {f'(l), f''(l)} per sample: {1, 0} on the logit.
#pragma once

#include <string>

namespace relmimic {

enum class PenaltyOn { logit, prob };

const char* penalty_on_name(PenaltyOn p);  // "logit", "prob"
// "logit" or "prob"; throws naming the valid values on anything else.
PenaltyOn parse_penalty_on(const std::string& s);

struct PenaltyFactors {
  double d1 = 1;  // f'(l)
  double d2 = 0;  // f''(l)
};

// {f'(l), f''(l)} of the penalised score at logit l; for prob, without cancellation at large |l|.
PenaltyFactors penalty_factors(PenaltyOn on, double logit);

}  // namespace relmimic
