#include "engine/params.h"

#include <algorithm>

#include "engine/device_ops.h"
#include "kernels/device.h"

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
void ParamSet<T>::finalize(Device device) {
  RM_CHECK(!finalized_, "parameter set finalized twice");
  finalized_ = true;
  if (device.is_cpu()) return;
  ops::check_device(device, "parameter set");
  const Shape flat{std::max(total_, 1L)};
  dvalues_ = Tensor::zeros(flat, dtype_of<T>(), device);
  dgrads_ = Tensor::zeros(flat, dtype_of<T>(), device);
  ops::copy_from_host(device, dvalues_.raw(), values_.data(), size_t(total_) * sizeof(T));
  device_ = device;
  std::vector<T>().swap(values_);  // the device holds the values from now on
  std::vector<T>().swap(grads_);
}

template <class T>
const typename ParamSet<T>::Entry& ParamSet<T>::entry(int slot) const {
  RM_CHECK(slot >= 0 && slot < int(entries_.size()), "bad parameter slot ", slot);
  return entries_[size_t(slot)];
}

template <class T>
Tensor ParamSet<T>::value_tensor(int slot) {
  return Tensor::view(value(slot), entry(slot).shape, dtype_of<T>(), device_);
}

template <class T>
Tensor ParamSet<T>::grad_tensor(int slot) {
  return Tensor::view(grad(slot), entry(slot).shape, dtype_of<T>(), device_);
}

template <class T>
int ParamSet<T>::find(const std::string& name) const {
  for (size_t i = 0; i < entries_.size(); ++i)
    if (entries_[i].name == name) return int(i);
  return -1;
}

template <class T>
void ParamSet<T>::zero_grad() {
  if (device_.is_cpu())
    std::fill(grads_.begin(), grads_.end(), T(0));
  else
    dgrads_.zero();
}

template <class T>
std::vector<T> ParamSet<T>::values_to_host() const {
  std::vector<T> h(static_cast<size_t>(total_));
  ops::copy_to_host(device_, h.data(), values(), h.size() * sizeof(T));
  return h;
}

template <class T>
std::vector<T> ParamSet<T>::grads_to_host() const {
  std::vector<T> h(static_cast<size_t>(total_));
  ops::copy_to_host(device_, h.data(), grads(), h.size() * sizeof(T));
  return h;
}

template <class T>
void ParamSet<T>::set_values_from_host(const T* src) {
  ops::copy_from_host(device_, values(), src, size_t(total_) * sizeof(T));
}

template <class T>
void ParamSet<T>::set_grads_from_host(const T* src) {
  ops::copy_from_host(device_, grads(), src, size_t(total_) * sizeof(T));
}

template <class T>
void ParamSet<T>::copy_values_from(const ParamSet& src) {
  RM_CHECK(src.count() == count() && src.size() == size(),
           "copy_values_from: the parameter sets differ (", src.count(), " slots, ", src.size(),
           " values vs ", count(), " slots, ", size(), " values)");
  for (int i = 0; i < count(); ++i)
    RM_CHECK(src.entries_[size_t(i)].name == entries_[size_t(i)].name &&
                 src.entries_[size_t(i)].shape == entries_[size_t(i)].shape,
             "copy_values_from: slot ", i, " is ", src.entries_[size_t(i)].name,
             src.entries_[size_t(i)].shape.str(), " in the source and ", entries_[size_t(i)].name,
             entries_[size_t(i)].shape.str(), " here");
  if (&src == this || total_ == 0) return;
  const size_t bytes = size_t(total_) * sizeof(T);
  if (device_.is_cpu())
    ops::copy_to_host(src.device_, values(), src.values(), bytes);
  else if (src.device_.is_cpu())
    ops::copy_from_host(device_, values(), src.values(), bytes);
  else
    kernels::cuda_memcpy(values(), src.values(), bytes, kernels::CopyKind::DeviceToDevice);
}

template class ParamSet<float>;
template class ParamSet<double>;

}  // namespace relmimic
