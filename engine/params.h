// ParamSet: every parameter of a network in one contiguous buffer (values, gradients), with a
// table of named slots. One allocation, one all-reduce, one Adam call over everything.
// Layers add() their parameters while the network is built (value()/grad() are usable at once,
// so a layer can initialise what it added; pointers stay valid only until the next add()), then
// finalize() freezes the table.
// Device: construction always writes the host staging buffers; finalize(device) then moves the
// values (and zeroed gradients) to `device`, after which value()/grad()/values()/grads() point
// to device memory. Host code that needs numbers copies them explicitly (values_to_host, ...).
#pragma once

#include <string>
#include <vector>

#include "engine/tensor.h"

namespace relmimic {

template <class T>
class ParamSet {
 public:
  struct Entry {
    std::string name;
    Shape shape;
    long offset = 0;
    long size = 0;
  };

  // Registers a parameter and returns its slot.
  int add(const std::string& name, const Shape& shape);
  // Freezes the table and moves the buffers to `device` (throws when it is not usable).
  void finalize(Device device = Device::cpu());
  bool finalized() const { return finalized_; }
  Device device() const { return device_; }

  T* value(int slot) { return values() + entry(slot).offset; }
  const T* value(int slot) const { return values() + entry(slot).offset; }
  T* grad(int slot) { return grads() + entry(slot).offset; }
  Tensor value_tensor(int slot);
  Tensor grad_tensor(int slot);
  const Entry& entry(int slot) const;
  int find(const std::string& name) const;  // -1 when absent

  long size() const { return total_; }
  int count() const { return int(entries_.size()); }
  const std::vector<Entry>& entries() const { return entries_; }
  // Flat buffers [size()] on device().
  T* values() { return device_.is_cpu() ? values_.data() : dvalues_.template data<T>(); }
  const T* values() const {
    return device_.is_cpu() ? values_.data() : dvalues_.template data<T>();
  }
  T* grads() { return device_.is_cpu() ? grads_.data() : dgrads_.template data<T>(); }
  const T* grads() const { return device_.is_cpu() ? grads_.data() : dgrads_.template data<T>(); }
  Tensor values_tensor() { return Tensor::view(values(), {total_}, dtype_of<T>(), device_); }
  Tensor grads_tensor() { return Tensor::view(grads(), {total_}, dtype_of<T>(), device_); }
  void zero_grad();

  // Explicit host copies of the flat buffers, on any device.
  std::vector<T> values_to_host() const;
  std::vector<T> grads_to_host() const;
  void set_values_from_host(const T* src);  // src [size()]
  void set_grads_from_host(const T* src);   // src [size()]
  // Copies every value from a parameter set of the same layout (names and shapes), on any
  // device: how a CPU copy of a network follows one trained on a GPU, and back.
  void copy_values_from(const ParamSet& src);

 private:
  std::vector<Entry> entries_;
  std::vector<T> values_, grads_;  // the storage on the cpu; staging while building
  Tensor dvalues_, dgrads_;        // the storage on a CUDA device
  Device device_;
  long total_ = 0;
  bool finalized_ = false;
};

extern template class ParamSet<float>;
extern template class ParamSet<double>;

}  // namespace relmimic
