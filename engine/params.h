// ParamSet: every parameter of a network in one contiguous buffer (values, gradients), with a
// table of named slots. One allocation, one all-reduce, one Adam call over everything.
// Layers add() their parameters while the network is built (value()/grad() are usable at once,
// so a layer can initialise what it added; pointers stay valid only until the next add()), then
// finalize() freezes the table.
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
  void finalize();
  bool finalized() const { return finalized_; }

  T* value(int slot) { return values_.data() + entry(slot).offset; }
  const T* value(int slot) const { return values_.data() + entry(slot).offset; }
  T* grad(int slot) { return grads_.data() + entry(slot).offset; }
  Tensor value_tensor(int slot);
  Tensor grad_tensor(int slot);
  const Entry& entry(int slot) const;
  int find(const std::string& name) const;  // -1 when absent

  long size() const { return total_; }
  int count() const { return int(entries_.size()); }
  const std::vector<Entry>& entries() const { return entries_; }
  T* values() { return values_.data(); }
  const T* values() const { return values_.data(); }
  T* grads() { return grads_.data(); }
  const T* grads() const { return grads_.data(); }
  void zero_grad();

 private:
  std::vector<Entry> entries_;
  std::vector<T> values_, grads_;
  long total_ = 0;
  bool finalized_ = false;
};

extern template class ParamSet<float>;
extern template class ParamSet<double>;

}  // namespace relmimic
