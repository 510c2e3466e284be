// The PPO minibatch objectives on a network: forward, loss, gradient, backward.
#include <algorithm>

#include "algos/ppo.h"
#include "kernels/common.h"

namespace relmimic::algos {

namespace {
template <class T>
void grow(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
}
}  // namespace

template <class T>
PolicyObjective policy_objective(AgentNet<T>& pi, const Tensor& obs, const T* actions,
                                 const T* logp_old, const T* advantages, double clip,
                                 double entropy_coef, bool backward, LossScratch<T>& s) {
  RM_CHECK(pi.is_policy(), "policy_objective: the network has no policy head");
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
