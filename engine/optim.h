// Adam over a whole ParamSet: the first and second moments are flat buffers parallel to the
// parameters, so one kernel call updates every parameter of a network.
#pragma once

#include <vector>

#include "engine/params.h"
#include "kernels/adam.h"

namespace relmimic {

template <class T>
class Adam {
 public:
  explicit Adam(ParamSet<T>& params, const kernels::AdamParams& hp = {});
  // One update from the gradients currently in the ParamSet (bias correction uses steps()+1).
  void step();
  void set_lr(double lr) { hp_.lr = lr; }
  double lr() const { return hp_.lr; }
  const kernels::AdamParams& hyper() const { return hp_; }
  long steps() const { return steps_; }
  // Moments and step counter, for checkpoints.
  std::vector<T>& m() { return m_; }
  std::vector<T>& v() { return v_; }
  const std::vector<T>& m() const { return m_; }
  const std::vector<T>& v() const { return v_; }
  void set_steps(long s) { steps_ = s; }

 private:
  ParamSet<T>& ps_;
  kernels::AdamParams hp_;
  std::vector<T> m_, v_;
  long steps_ = 0;
};

extern template class Adam<float>;
extern template class Adam<double>;

// Global L2 norm of the gradients; when it exceeds max_norm, scales them down to max_norm.
// Returns the norm before clipping.
template <class T>
double clip_grad_norm(ParamSet<T>& params, double max_norm);

}  // namespace relmimic
