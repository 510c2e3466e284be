// StateRewardNet: the MLP discriminator of imitation from states, with the gradient penalty's
// exact parameter gradient.
#include <cmath>
#include <string>

#include "engine/device_ops.h"
#include "engine/layer_util.h"
#include "engine/networks.h"
#include "engine/profile.h"

namespace relmimic {

using detail::checked_batch;
using detail::rows;

template <class T>
StateRewardNet<T>::StateRewardNet(const StateRewardConfig& c)
    : cfg_(c),
      in_(long(c.frames) * c.obs_dim),
      arena_(c.device),
      build_{params_, buffers_, arena_, c.max_batch, /*second_order=*/true},
      rng_(c.seed) {
  RM_CHECK(c.device.is_cpu(), "state reward network: runs on the cpu only, got ", c.device.str());
  RM_CHECK(c.frames >= 1 && c.obs_dim >= 1, "state reward network: bad window ", c.frames, " x ",
           c.obs_dim);
  RM_CHECK(c.max_batch > 0, "state reward network: max_batch must be positive, got ", c.max_batch);
  RM_CHECK(!c.hidden.empty(), "state reward network: needs at least one hidden layer");
  for (int h : c.hidden)
    RM_CHECK(h >= 1, "state reward network: hidden widths must be positive, got ", h);
  RM_CHECK(c.obs_mean.empty() || int(c.obs_mean.size()) == c.obs_dim,
           "state reward network: obs_mean has ", c.obs_mean.size(), " values for ", c.obs_dim,
           " features");
  RM_CHECK(c.obs_std.size() == c.obs_mean.size(),
           "state reward network: obs_std and obs_mean differ in size");
  for (double s : c.obs_std)
    RM_CHECK(std::isfinite(s) && s > 0,
             "state reward network: obs_std must be finite and > 0, got ", s);
  int width = int(in_);
  for (size_t i = 0; i < c.hidden.size(); ++i) {
    typename Linear<T>::Options o{.in = width, .out = c.hidden[i], .spectral_norm = true};
    linears_.push_back(
        std::make_unique<Linear<T>>(build_, "reward.fc" + std::to_string(i + 1), o, rng_));
    acts_.push_back(
        std::make_unique<Activation<T>>(build_, kernels::Act::LeakyReLU, c.hidden[i], T(c.slope)));
    width = c.hidden[i];
  }
  typename Linear<T>::Options head{.in = width, .out = 1, .spectral_norm = true, .gain = 1.0};
  linears_.push_back(std::make_unique<Linear<T>>(build_, "reward.logit", head, rng_));
  mean_slot_ = buffers_.add("reward.input_mean", {c.obs_dim});
  std_slot_ = buffers_.add("reward.input_std", {c.obs_dim});
  for (int j = 0; j < c.obs_dim; ++j) {
    buffers_.value(mean_slot_)[j] = c.obs_mean.empty() ? T(0) : T(c.obs_mean[size_t(j)]);
    buffers_.value(std_slot_)[j] = c.obs_std.empty() ? T(1) : T(c.obs_std[size_t(j)]);
  }
  x_ = arena_.tensor<T>({c.max_batch, c.frames, c.obs_dim});
  this->init_penalty(c.penalty_on, c.max_batch,
                     arena_.tensor<T>({c.max_batch, c.frames, c.obs_dim}),
                     arena_.tensor<T>({c.max_batch, 1}), arena_.tensor<T>({c.max_batch, 1}));
  params_.finalize(c.device);
  buffers_.finalize(c.device);
}

template <class T>
void StateRewardNet<T>::standardize(const Tensor& windows, T* x) const {
  const int B = checked_batch(windows, DType::f32, cfg_.device, {cfg_.frames, cfg_.obs_dim},
                              cfg_.max_batch, "state reward network", "observation windows");
  const float* o = windows.data<float>();
  const T* mean = buffers_.value(mean_slot_);
  const T* sd = buffers_.value(std_slot_);
  const long rows_ = long(B) * cfg_.frames;
  const int D = cfg_.obs_dim;
  for (long r = 0; r < rows_; ++r)
    for (int j = 0; j < D; ++j) x[r * D + j] = (T(o[r * D + j]) - mean[j]) / sd[j];
}

template <class T>
Tensor StateRewardNet<T>::forward(const Tensor& windows) {
  T* x = x_.template data<T>();
  standardize(windows, x);
  const int B = int(windows.dim(0));
  return forward_float(rows(x_, B, {B, cfg_.frames, cfg_.obs_dim}));
}

template <class T>
Tensor StateRewardNet<T>::forward_float(const Tensor& x) {
  profile::ScopedRange range("D forward");
  checked_batch(x, dtype_of<T>(), cfg_.device, {cfg_.frames, cfg_.obs_dim}, cfg_.max_batch,
                "state reward network", "input");
  Tensor h = x;
  for (size_t i = 0; i < acts_.size(); ++i) h = acts_[i]->forward(linears_[i]->forward(h));
  return linears_.back()->forward(h);
}

template <class T>
Tensor StateRewardNet<T>::backward(const Tensor& dlogit) {
  profile::ScopedRange range("D backward");
  Tensor d = linears_.back()->backward(dlogit);
  for (size_t i = acts_.size(); i-- > 0;) d = linears_[i]->backward(acts_[i]->backward(d));
  return d;
}

template <class T>
Tensor StateRewardNet<T>::jvp(const Tensor& t_x) {
  profile::ScopedRange range("D jvp");
  Tensor t = t_x;
  for (size_t i = 0; i < acts_.size(); ++i) t = acts_[i]->jvp(linears_[i]->jvp(t));
  return linears_.back()->jvp(t);
}

template <class T>
void StateRewardNet<T>::backward_jvp(const Tensor& dlogit, const Tensor& dt_logit) {
  profile::ScopedRange range("D backward_jvp");
  DualGrad g = linears_.back()->backward_jvp(dlogit, dt_logit);
  for (size_t i = acts_.size(); i-- > 0;) {
    g = acts_[i]->backward_jvp(g.dx, g.dt_x);
    g = linears_[i]->backward_jvp(g.dx, g.dt_x);
  }
}

template <class T>
void StateRewardNet<T>::set_training(bool t) {
  for (auto& l : linears_) l->set_training(t);
}

template <class T>
void StateRewardNet<T>::set_input_grads(bool on) {
  linears_.front()->set_input_grads(on);
}

template <class T>
void StateRewardNet<T>::set_repeat_backward(bool on) {
  for (auto& l : linears_) l->set_repeat_backward(on);
  for (auto& a : acts_) a->set_repeat_backward(on);
}

template <class T>
void StateRewardNet<T>::set_param_grads(bool on) {
  for (auto& l : linears_) l->set_param_grads(on);
}

template <class T>
long StateRewardNet<T>::params() const {
  long n = 0;
  for (const auto& l : linears_) n += l->params();
  return n;
}

template <class T>
long StateRewardNet<T>::flops() const {
  long n = 2 * in_;  // standardization
  for (const auto& l : linears_) n += l->flops();
  for (const auto& a : acts_) n += a->flops();
  return n;
}

template class StateRewardNet<float>;
template class StateRewardNet<double>;

}  // namespace relmimic
