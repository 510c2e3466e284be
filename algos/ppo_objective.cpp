// The PPO minibatch objectives on a network: forward, loss, gradient, backward.
#include <algorithm>

#include "algos/ppo.h"
#include "algos/train_ops.h"
#include "engine/device_ops.h"
#include "kernels/common.h"

namespace relmimic::algos {

namespace {
template <class T>
T* grow(Tensor& t, long n, Device dev) {
  if (!t.defined() || t.numel() < n || t.device() != dev)
    t = Tensor::zeros({n}, dtype_of<T>(), dev);
  return t.data<T>();
}
}  // namespace

// The same steps on every device, through train_ops / device_ops (on a GPU everything stays
// there but the loss statistics and the A log-stds for the entropy).
template <class T>
PolicyObjective policy_objective(AgentNet<T>& pi, const Tensor& obs, const T* actions,
                                 const T* logp_old, const T* advantages, double clip,
                                 double entropy_coef, bool backward, LossScratch<T>& s) {
  RM_CHECK(pi.is_policy(), "policy_objective: the network has no policy head");
  const Device dev = pi.device();
  ops::check_on(obs, dev, "policy_objective", "the observation batch");
  const int B = int(obs.dim(0)), A = pi.outputs();
  T* logp = grow<T>(s.logp, B, dev);
  T* dlogp = grow<T>(s.dlogp, B, dev);
  T* dmean = grow<T>(s.dmean, long(B) * A, dev);
  T* dlog_std = grow<T>(s.dlog_std, A, dev);
  const Tensor mean = pi.forward(obs);  // [B, A]
  const T* mu = mean.data<T>();
  const T* log_std = pi.log_std();
  train_ops::gaussian_log_prob(dev, B, A, mu, log_std, actions, logp);
  PolicyObjective out;
  out.stats = train_ops::ppo_policy_loss(dev, B, logp, logp_old, advantages, clip,
                                         backward ? dlogp : nullptr);
  s.h_log_std.resize(size_t(A));
  ops::copy_to_host(dev, s.h_log_std.data(), log_std, sizeof(T) * size_t(A));
  out.entropy = kernels::gaussian_entropy_cpu(A, s.h_log_std.data());
  out.loss = out.stats.loss - entropy_coef * out.entropy;
  if (backward) {
    train_ops::gaussian_log_prob_backward(dev, B, A, mu, log_std, actions, dlogp, dmean, dlog_std);
    if (entropy_coef != 0) {  // -c_H H with dH/dlog_std_j = 1
      if (!s.ones.defined() || s.ones.numel() != A || s.ones.device() != dev) {
        grow<T>(s.ones, A, dev);
        const std::vector<T> ones(size_t(A), T(1));
        ops::copy_from_host(dev, s.ones.raw(), ones.data(), sizeof(T) * size_t(A));
      }
      ops::axpy(dev, long(A), T(-entropy_coef), s.ones.template data<T>(), dlog_std);
    }
    pi.backward(Tensor::view(dmean, {B, A}, dtype_of<T>(), dev), dlog_std);
  }
  return out;
}

template <class T>
kernels::ValueLossStats value_objective(AgentNet<T>& vf, const Tensor& obs, const T* returns,
                                        const T* v_old, double value_clip, double value_coef,
                                        bool backward, LossScratch<T>& s) {
  RM_CHECK(!vf.is_policy(), "value_objective: the network is a policy");
  const Device dev = vf.device();
  ops::check_on(obs, dev, "value_objective", "the observation batch");
  const int B = int(obs.dim(0));
  T* dv = grow<T>(s.dv, B, dev);
  const Tensor v = vf.forward(obs);  // [B, 1]
  const bool clipped = value_clip > 0;
  kernels::ValueLossStats st =
      train_ops::value_loss(dev, B, v.data<T>(), clipped ? v_old : nullptr, returns, clipped,
                            value_clip, backward ? dv : nullptr);
  st.loss *= value_coef;
  if (backward) {
    ops::scale(dev, B, T(value_coef), dv);
    vf.backward(Tensor::view(dv, {B, 1}, dtype_of<T>(), dev));
  }
  return st;
}

#define RELMIMIC_PPO_OBJECTIVES(T)                                                            \
  template PolicyObjective policy_objective(AgentNet<T>&, const Tensor&, const T*, const T*,  \
                                            const T*, double, double, bool, LossScratch<T>&); \
  template kernels::ValueLossStats value_objective(                                           \
      AgentNet<T>&, const Tensor&, const T*, const T*, double, double, bool, LossScratch<T>&);
RELMIMIC_PPO_OBJECTIVES(float)
RELMIMIC_PPO_OBJECTIVES(double)

}  // namespace relmimic::algos
