// The PPO minibatch objectives on a network: forward, loss, gradient, backward.
#include <algorithm>

#include "algos/ppo.h"
#include "algos/train_ops.h"
#include "engine/device_ops.h"
#include "kernels/common.h"

namespace relmimic::algos {

namespace {
template <class T>
void grow(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
}

template <class T>
T* grow(Tensor& t, long n, Device dev) {
  if (!t.defined() || t.numel() < n || t.device() != dev)
    t = Tensor::zeros({n}, dtype_of<T>(), dev);
  return t.data<T>();
}

// policy_objective on a CUDA device: the same steps through train_ops (everything stays there
// but the loss statistics and the A log-stds for the entropy).
template <class T>
PolicyObjective policy_objective_device(AgentNet<T>& pi, const Tensor& obs, const T* actions,
                                        const T* logp_old, const T* advantages, double clip,
                                        double entropy_coef, bool backward, LossScratch<T>& s) {
  const Device dev = pi.device();
  ops::check_on(obs, dev, "policy_objective", "the observation batch");
  const int B = int(obs.dim(0)), A = pi.outputs();
  T* logp = grow<T>(s.d_logp, B, dev);
  T* dlogp = grow<T>(s.d_dlogp, B, dev);
  T* dmean = grow<T>(s.d_dmean, long(B) * A, dev);
  T* dlog_std = grow<T>(s.d_dlog_std, A, dev);
  if (!s.d_ones.defined() || s.d_ones.numel() != A || s.d_ones.device() != dev) {
    grow<T>(s.d_ones, A, dev);
    const std::vector<T> ones(size_t(A), T(1));
    ops::copy_from_host(dev, s.d_ones.raw(), ones.data(), sizeof(T) * size_t(A));
  }
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
    // -c_H H with dH/dlog_std_j = 1.
    if (entropy_coef != 0)
      ops::axpy(dev, long(A), T(-entropy_coef), s.d_ones.template data<T>(), dlog_std);
    pi.backward(Tensor::view(dmean, {B, A}, dtype_of<T>(), dev), dlog_std);
  }
  return out;
}

template <class T>
kernels::ValueLossStats value_objective_device(AgentNet<T>& vf, const Tensor& obs, const T* returns,
                                               const T* v_old, double value_clip, double value_coef,
                                               bool backward, LossScratch<T>& s) {
  const Device dev = vf.device();
  ops::check_on(obs, dev, "value_objective", "the observation batch");
  const int B = int(obs.dim(0));
  T* dv = grow<T>(s.d_dv, B, dev);
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
}  // namespace

template <class T>
PolicyObjective policy_objective(AgentNet<T>& pi, const Tensor& obs, const T* actions,
                                 const T* logp_old, const T* advantages, double clip,
                                 double entropy_coef, bool backward, LossScratch<T>& s) {
  RM_CHECK(pi.is_policy(), "policy_objective: the network has no policy head");
  if (!pi.device().is_cpu())
    return policy_objective_device(pi, obs, actions, logp_old, advantages, clip, entropy_coef,
                                   backward, s);
  const int B = int(obs.dim(0)), A = pi.outputs();
  grow(s.logp, size_t(B));
  grow(s.dlogp, size_t(B));
  grow(s.dmean, size_t(B) * A);
  grow(s.dlog_std, size_t(A));
  const Tensor mean = pi.forward(obs);  // [B, A]
  const T* mu = mean.data<T>();
  const T* log_std = pi.log_std();
  kernels::gaussian_log_prob_cpu(B, A, mu, log_std, actions, s.logp.data());
  PolicyObjective out;
  out.stats = kernels::ppo_policy_loss_cpu(B, s.logp.data(), logp_old, advantages, clip,
                                           backward ? s.dlogp.data() : nullptr);
  out.entropy = kernels::gaussian_entropy_cpu(A, log_std);
  out.loss = out.stats.loss - entropy_coef * out.entropy;
  if (backward) {
    kernels::gaussian_log_prob_backward_cpu(B, A, mu, log_std, actions, s.dlogp.data(),
                                            s.dmean.data(), s.dlog_std.data());
    // -c_H H with dH/dlog_std_j = 1.
    for (int j = 0; j < A; ++j) s.dlog_std[size_t(j)] -= T(entropy_coef);
    const Tensor dmean = Tensor::view(s.dmean.data(), {B, A}, dtype_of<T>());
    pi.backward(dmean, s.dlog_std.data());
  }
  return out;
}

template <class T>
kernels::ValueLossStats value_objective(AgentNet<T>& vf, const Tensor& obs, const T* returns,
                                        const T* v_old, double value_clip, double value_coef,
                                        bool backward, LossScratch<T>& s) {
  RM_CHECK(!vf.is_policy(), "value_objective: the network is a policy");
  if (!vf.device().is_cpu())
    return value_objective_device(vf, obs, returns, v_old, value_clip, value_coef, backward, s);
  const int B = int(obs.dim(0));
  grow(s.dv, size_t(B));
  const Tensor v = vf.forward(obs);  // [B, 1]
  const bool clipped = value_clip > 0;
  kernels::ValueLossStats st =
      kernels::value_loss_cpu(B, v.data<T>(), clipped ? v_old : nullptr, returns, clipped,
                              value_clip, backward ? s.dv.data() : nullptr);
  st.loss *= value_coef;
  if (backward) {
    for (int i = 0; i < B; ++i) s.dv[size_t(i)] *= T(value_coef);
    vf.backward(Tensor::view(s.dv.data(), {B, 1}, dtype_of<T>()));
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
