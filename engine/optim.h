// Adam over a whole ParamSet: the first and second moments are flat buffers parallel to the
// parameters, so one kernel call updates every parameter of a network. The moments live on the
// parameter set's device (the CUDA kernel updates a network on a GPU in place).
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
  // Moments of an optimizer on the cpu (throw on a CUDA device: use the host copies below).
  std::vector<T>& m() { return check_host(), m_; }
  std::vector<T>& v() { return check_host(), v_; }
  const std::vector<T>& m() const { return check_host(), m_; }
  const std::vector<T>& v() const { return check_host(), v_; }
  // Host copies of the moments on any device, for checkpoints.
  std::vector<T> m_to_host() const;
  std::vector<T> v_to_host() const;
  void set_moments_from_host(const T* m, const T* v);  // [params.size()] each
  void set_steps(long s) { steps_ = s; }
  Device device() const { return ps_.device(); }
  long size() const { return ps_.size(); }  // length of each moment

 private:
  void check_host() const;
  T* mp() { return ps_.device().is_cpu() ? m_.data() : dm_.template data<T>(); }
  T* vp() { return ps_.device().is_cpu() ? v_.data() : dv_.template data<T>(); }

  ParamSet<T>& ps_;
  kernels::AdamParams hp_;
  std::vector<T> m_, v_;  // on the cpu
  Tensor dm_, dv_;        // on a CUDA device
  long steps_ = 0;
};

extern template class Adam<float>;
extern template class Adam<double>;

// Global L2 norm of the gradients; when it exceeds max_norm, scales them down to max_norm.
// Returns the norm before clipping. Runs on the parameter set's device (the norm comes back to
// the host).
template <class T>
double clip_grad_norm(ParamSet<T>& params, double max_norm);

}  // namespace relmimic
