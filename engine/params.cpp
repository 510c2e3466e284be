#include "engine/params.h"

#include <algorithm>

namespace relmimic {

template <class T>
int ParamSet<T>::add(const std::string& name, const Shape& shape) {
  RM_CHECK(!finalized_, "parameter '", name, "' added after the parameter set was finalized");
  RM_CHECK(find(name) < 0, "parameter '", name, "' registered twice");
  Entry e{name, shape, total_, long(shape.numel())};
  total_ += e.size;
  entries_.push_back(e);
  values_.resize(size_t(total_), T(0));
  grads_.resize(size_t(total_), T(0));
  return int(entries_.size()) - 1;
}

template <class T>
void ParamSet<T>::finalize() {
  RM_CHECK(!finalized_, "parameter set finalized twice");
  finalized_ = true;
}

template <class T>
const typename ParamSet<T>::Entry& ParamSet<T>::entry(int slot) const {
  RM_CHECK(slot >= 0 && slot < int(entries_.size()), "bad parameter slot ", slot);
  return entries_[size_t(slot)];
}

template <class T>
Tensor ParamSet<T>::value_tensor(int slot) {
  return Tensor::view(value(slot), entry(slot).shape, dtype_of<T>());
}

template <class T>
Tensor ParamSet<T>::grad_tensor(int slot) {
  return Tensor::view(grad(slot), entry(slot).shape, dtype_of<T>());
}

template <class T>
int ParamSet<T>::find(const std::string& name) const {
  for (size_t i = 0; i < entries_.size(); ++i)
    if (entries_[i].name == name) return int(i);
  return -1;
}

template <class T>
void ParamSet<T>::zero_grad() {
  std::fill(grads_.begin(), grads_.end(), T(0));
}

template class ParamSet<float>;
template class ParamSet<double>;

}  // namespace relmimic
