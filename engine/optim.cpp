#include "engine/optim.h"

#include <algorithm>
#include <cmath>

#include "engine/device_ops.h"

namespace relmimic {

template <class T>
Adam<T>::Adam(ParamSet<T>& params, const kernels::AdamParams& hp) : ps_(params), hp_(hp) {
  if (params.device().is_cpu()) {
    m_.assign(size_t(params.size()), T(0));
    v_.assign(size_t(params.size()), T(0));
  } else {
    const Shape flat{std::max(params.size(), 1L)};
    dm_ = Tensor::zeros(flat, dtype_of<T>(), params.device());
    dv_ = Tensor::zeros(flat, dtype_of<T>(), params.device());
  }
}

template <class T>
void Adam<T>::check_host() const {
  RM_CHECK(ps_.device().is_cpu(), "Adam: the moments are on ", ps_.device().str(),
           "; use m_to_host / v_to_host / set_moments_from_host");
}

template <class T>
std::vector<T> Adam<T>::m_to_host() const {
  std::vector<T> h(static_cast<size_t>(ps_.size()));
  ops::copy_to_host(ps_.device(), h.data(), const_cast<Adam*>(this)->mp(), h.size() * sizeof(T));
  return h;
}

template <class T>
std::vector<T> Adam<T>::v_to_host() const {
  std::vector<T> h(static_cast<size_t>(ps_.size()));
  ops::copy_to_host(ps_.device(), h.data(), const_cast<Adam*>(this)->vp(), h.size() * sizeof(T));
  return h;
}

template <class T>
void Adam<T>::set_moments_from_host(const T* m, const T* v) {
  const size_t bytes = size_t(ps_.size()) * sizeof(T);
  ops::copy_from_host(ps_.device(), mp(), m, bytes);
  ops::copy_from_host(ps_.device(), vp(), v, bytes);
}

template <class T>
void Adam<T>::step() {
  const long n = ps_.device().is_cpu() ? long(m_.size()) : dm_.numel();
  RM_CHECK(n == ps_.size() || (n == 1 && ps_.size() == 0),
           "Adam: the parameter set changed size from ", n, " to ", ps_.size(),
           " after the optimizer was built");
  kernels::AdamParams p = hp_;
  p.step = ++steps_;
  ops::adam_step(ps_.device(), ps_.size(), ps_.values(), ps_.grads(), mp(), vp(), p);
}

template <class T>
double clip_grad_norm(ParamSet<T>& params, double max_norm) {
  const Device dev = params.device();
  const double norm = std::sqrt(ops::sum_squares(dev, params.size(), params.grads()));
  RM_CHECK(std::isfinite(norm), "gradient norm is not finite (", norm,
           "): the loss or a layer produced NaN/Inf");
  if (max_norm > 0 && norm > max_norm)
    ops::scale(dev, params.size(), T(max_norm / (norm + 1e-6)), params.grads());
  return norm;
}

template class Adam<float>;
template class Adam<double>;
template double clip_grad_norm(ParamSet<float>&, double);
template double clip_grad_norm(ParamSet<double>&, double);

}  // namespace relmimic
