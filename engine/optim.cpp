#include "engine/optim.h"

#include <cmath>

#include "kernels/reduce.h"

namespace relmimic {

template <class T>
Adam<T>::Adam(ParamSet<T>& params, const kernels::AdamParams& hp)
    : ps_(params), hp_(hp), m_(size_t(params.size()), T(0)), v_(size_t(params.size()), T(0)) {}

template <class T>
void Adam<T>::step() {
  RM_CHECK(long(m_.size()) == ps_.size(), "Adam: the parameter set changed size from ", m_.size(),
           " to ", ps_.size(), " after the optimizer was built");
  kernels::AdamParams p = hp_;
  p.step = ++steps_;
  kernels::adam_step_cpu(ps_.size(), ps_.values(), ps_.grads(), m_.data(), v_.data(), p);
}

template <class T>
double clip_grad_norm(ParamSet<T>& params, double max_norm) {
  const double norm = std::sqrt(kernels::sum_squares_cpu(params.size(), params.grads()));
  RM_CHECK(std::isfinite(norm), "gradient norm is not finite (", norm,
           "): the loss or a layer produced NaN/Inf");
  if (max_norm > 0 && norm > max_norm)
    kernels::scale_cpu(params.size(), T(max_norm / (norm + 1e-6)), params.grads());
  return norm;
}

template class Adam<float>;
template class Adam<double>;
template double clip_grad_norm(ParamSet<float>&, double);
template double clip_grad_norm(ParamSet<double>&, double);

}  // namespace relmimic
