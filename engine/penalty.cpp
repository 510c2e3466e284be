// The gradient penalty's choice of score and its per-sample derivative factors.
#include "engine/penalty.h"

#include <cmath>

#include "kernels/common.h"

namespace relmimic {

const char* penalty_on_name(PenaltyOn p) {
  switch (p) {
    case PenaltyOn::logit:
      return "logit";
    case PenaltyOn::prob:
      return "prob";
  }
  return "?";
}

PenaltyOn parse_penalty_on(const std::string& s) {
  for (PenaltyOn p : {PenaltyOn::logit, PenaltyOn::prob})
    if (s == penalty_on_name(p)) return p;
  RM_FAIL("unknown gradient-penalty target '", s, "' (expected logit or prob)");
}

PenaltyFactors penalty_factors(PenaltyOn on, double logit) {
  if (on == PenaltyOn::logit) return {1.0, 0.0};
  // s = sigmoid(l), 1 - s = sigmoid(-l), each formed without subtraction.
  const double s = 1.0 / (1.0 + std::exp(-logit));
  const double t = 1.0 / (1.0 + std::exp(logit));
  const double d1 = s * t;
  return {d1, d1 * (t - s)};
}

}  // namespace relmimic
