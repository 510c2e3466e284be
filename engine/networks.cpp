// AgentNet (torso + value or Gaussian policy head) and RewardNet (the discriminator, Table 3)
// with the gradient penalty's exact parameter gradient.
#include "engine/networks.h"

#include <cmath>
#include <string_view>
#include <type_traits>
#include <vector>

#include "engine/device_ops.h"
#include "engine/layer_util.h"
#include "engine/profile.h"

namespace relmimic {

using detail::checked_batch;
using detail::expect;
using detail::rows;

namespace {
// The device a network is built on, checked before anything is allocated there.
Device usable(Device d, std::string_view who) {
  ops::check_device(d, who);
  return d;
}

// Holds a layer switch at `during` for a scope and flips it back when the scope ends, by return
// or by exception: set_param_grads and set_input_grads are on outside (held off),
// set_repeat_backward is off outside (held on).
template <class Set>
class Switched {
 public:
  Switched(Set set, bool during) : set_(set), during_(during) { set_(during_); }
  ~Switched() { set_(!during_); }
  Switched(const Switched&) = delete;
  Switched& operator=(const Switched&) = delete;

 private:
  Set set_;
  bool during_;
};
}  // namespace

// ---------------------------------------------------------------- AgentNet

template <class T>
AgentNet<T>::AgentNet(const AgentConfig& c)
    : cfg_(c),
      name_(std::string(arch_name(c.arch)) + " network"),
      arena_(usable(c.device, name_)),
      build_{params_, buffers_, arena_, c.max_batch},
      rng_(c.seed) {
  RM_CHECK(c.max_batch > 0, "agent network: max_batch must be positive, got ", c.max_batch);
  RM_CHECK(c.actions >= 0, "agent network: actions must be >= 0, got ", c.actions);
  torso_ = make_torso(build_, c, rng_);
  const int f = torso_->features();
  // Policy mean: gain 0.01 keeps the initial actions near 0; value: gain 1.
  head_.emplace(
      build_, is_policy() ? "policy.mean" : "value",
      typename Linear<T>::Options{.in = f, .out = outputs(), .gain = is_policy() ? 0.01 : 1.0},
      rng_);
  if (is_policy()) {
    log_std_ = params_.add("policy.log_std", {cfg_.actions});
    T* ls = params_.value(log_std_);
    for (int i = 0; i < cfg_.actions; ++i) ls[i] = T(std::log(0.6));
  }
  params_.finalize(c.device);
  buffers_.finalize(c.device);
}

template <class T>
Tensor AgentNet<T>::forward(const Tensor& obs) {
  profile::ScopedRange range(is_policy() ? "policy forward" : "value forward");
  if (cfg_.arch == Arch::mlp) {
    checked_batch(obs, dtype_of<T>(), cfg_.device, {cfg_.obs_dim}, cfg_.max_batch, "mlp network",
                  "observation");
  } else {
    checked_batch(obs, DType::u8, cfg_.device, {cfg_.frames, cfg_.height, cfg_.width},
                  cfg_.max_batch, name_, "observation");
  }
  return head_->forward(torso_->forward(obs));
}

template <class T>
void AgentNet<T>::backward(const Tensor& dout, const T* dlog_std) {
  profile::ScopedRange range(is_policy() ? "policy backward" : "value backward");
  torso_->backward(head_->backward(dout));
  if (dlog_std) {
    RM_CHECK(is_policy(), "value network: backward got a log-std gradient");
    T* g = params_.grad(log_std_);
    if (cfg_.device.is_cpu())
      for (int i = 0; i < cfg_.actions; ++i) g[i] += dlog_std[i];
    else
      ops::axpy(cfg_.device, long(cfg_.actions), T(1), dlog_std, g);
  }
}

template <class T>
const T* AgentNet<T>::log_std() const {
  RM_CHECK(is_policy(), "value network has no log-std");
  return params_.value(log_std_);
}

template <class T>
long AgentNet<T>::params() const {
  return torso_->params() + head_->params() + (is_policy() ? cfg_.actions : 0);
}

template <class T>
long AgentNet<T>::flops() const {
  return torso_->flops() + head_->flops();
}

// ---------------------------------------------------------------- RewardNet

namespace {
template <class T>
typename Conv2d<T>::Options sn_conv(const Shape& in, int out_c, int kernel, int stride,
                                    bool blocked_in = false, bool blocked_out = false) {
  typename Conv2d<T>::Options o{.in_c = int(in[1]),
                                .in_h = int(in[2]),
                                .in_w = int(in[3]),
                                .out_c = out_c,
                                .kernel = kernel,
                                .stride = stride,
                                .pad = 1};
  o.spectral_norm = true;
  o.blocked_in = blocked_in;
  o.blocked_out = blocked_out;
  return o;
}

// Whether reward conv `from` (1 to 4) hands its output to the next conv in oneDNN's blocked
// layout (RewardConfig::cpu_blocked). conv1's own backward passes run im2col + GEMM on NCHW
// (faster than oneDNN's at 4 input channels); they take an NCHW copy of their blocked dy, one
// reorder where NCHW between conv1 and conv2 cost four (kernels/conv2d_cpu.cpp). Not into or
// out of a relational block, nor into the FC.
template <class T>
bool blocked_link(const RewardConfig& c, int from) {
  if (!c.cpu_blocked || !c.device.is_cpu() || !std::is_same_v<T, float>) return false;
  if (c.relational && from > 2) return false;
  const int block = kernels::cpu_conv_block();
  return block > 0 && c.channels[size_t(from - 1)] % block == 0;
}

template <class T>
typename RelationalBlock<T>::Options sn_relational(const Shape& in, int embed) {
  return {.channels = int(in[1]),
          .height = int(in[2]),
          .width = int(in[3]),
          .embed = embed,
          .spectral_norm = true};
}
}  // namespace

template <class T>
RewardNet<T>::RewardNet(const RewardConfig& c)
    : cfg_(c),
      arena_(usable(c.device, "reward network")),
      build_{params_, buffers_, arena_, c.max_batch, /*second_order=*/true},
      rng_(c.seed),
      std_(build_, long(c.frames) * c.height * c.width),
      c1_(build_, "reward.conv1",
          sn_conv<T>({1, c.frames, c.height, c.width}, c.channels[0], 4, 2, false,
                     blocked_link<T>(c, 1)),
          rng_),
      a1_(build_, kernels::Act::LeakyReLU, c1_.out_shape(1).numel(), T(c.slope)),
      c2_(build_, "reward.conv2",
          sn_conv<T>(c1_.out_shape(1), c.channels[1], 4, 2, blocked_link<T>(c, 1),
                     blocked_link<T>(c, 2)),
          rng_),
      a2_(build_, kernels::Act::LeakyReLU, c2_.out_shape(1).numel(), T(c.slope)),
      c3_(build_, "reward.conv3",
          sn_conv<T>(c2_.out_shape(1), c.channels[2], 3, 1, blocked_link<T>(c, 2),
                     blocked_link<T>(c, 3)),
          rng_),
      a3_(build_, kernels::Act::LeakyReLU, c3_.out_shape(1).numel(), T(c.slope)),
      c4_(build_, "reward.conv4",
          sn_conv<T>(c3_.out_shape(1), c.channels[3], 4, 2, blocked_link<T>(c, 3),
                     blocked_link<T>(c, 4)),
          rng_),
      a4_(build_, kernels::Act::LeakyReLU, c4_.out_shape(1).numel(), T(c.slope)),
      c5_(build_, "reward.conv5",
          sn_conv<T>(c4_.out_shape(1), c.channels[4], 4, 2, blocked_link<T>(c, 4), false), rng_),
      a5_(build_, kernels::Act::LeakyReLU, c5_.out_shape(1).numel(), T(c.slope)),
      fc_(build_, "reward.fc",
          {.in = int(c5_.out_shape(1).numel()), .out = 1, .spectral_norm = true}, rng_) {
  RM_CHECK(c.max_batch > 0, "reward network: max_batch must be positive, got ", c.max_batch);
  if (c.relational) {
    r1_.emplace(build_, "reward.relational1", sn_relational<T>(c3_.out_shape(1), c.embed[0]), rng_);
    r2_.emplace(build_, "reward.relational2", sn_relational<T>(c4_.out_shape(1), c.embed[1]), rng_);
  }
  this->init_penalty(c.penalty_on, c.max_batch,
                     arena_.tensor<T>({c.max_batch, c.frames, c.height, c.width}),
                     arena_.tensor<T>({c.max_batch, 1}), arena_.tensor<T>({c.max_batch, 1}));
  params_.finalize(c.device);
  buffers_.finalize(c.device);
}

template <class T>
Tensor RewardNet<T>::forward(const Tensor& frames) {
  checked_batch(frames, DType::u8, cfg_.device, {cfg_.frames, cfg_.height, cfg_.width},
                cfg_.max_batch, "reward network", "frames");
  return forward_float(std_.forward(frames));
}

template <class T>
Tensor RewardNet<T>::forward_float(const Tensor& x) {
  profile::ScopedRange range("D forward");
  checked_batch(x, dtype_of<T>(), cfg_.device, {cfg_.frames, cfg_.height, cfg_.width},
                cfg_.max_batch, "reward network", "input");
  Tensor h = a3_.forward(c3_.forward(a2_.forward(c2_.forward(a1_.forward(c1_.forward(x))))));
  if (r1_) h = r1_->forward(h);
  h = a4_.forward(c4_.forward(h));
  if (r2_) h = r2_->forward(h);
  return fc_.forward(a5_.forward(c5_.forward(h)));
}

template <class T>
Tensor RewardNet<T>::backward(const Tensor& dlogit) {
  profile::ScopedRange range("D backward");
  Tensor d = c5_.backward(a5_.backward(fc_.backward(dlogit)));
  if (r2_) d = r2_->backward(d);
  d = c4_.backward(a4_.backward(d));
  if (r1_) d = r1_->backward(d);
  return c1_.backward(a1_.backward(c2_.backward(a2_.backward(c3_.backward(a3_.backward(d))))));
}

template <class T>
Tensor RewardNet<T>::jvp(const Tensor& t_x) {
  profile::ScopedRange range("D jvp");
  Tensor t = a3_.jvp(c3_.jvp(a2_.jvp(c2_.jvp(a1_.jvp(c1_.jvp(t_x))))));
  if (r1_) t = r1_->jvp(t);
  t = a4_.jvp(c4_.jvp(t));
  if (r2_) t = r2_->jvp(t);
  return fc_.jvp(a5_.jvp(c5_.jvp(t)));
}

template <class T>
void RewardNet<T>::backward_jvp(const Tensor& dlogit, const Tensor& dt_logit) {
  profile::ScopedRange range("D backward_jvp");
  DualGrad g = fc_.backward_jvp(dlogit, dt_logit);
  g = a5_.backward_jvp(g.dx, g.dt_x);
  g = c5_.backward_jvp(g.dx, g.dt_x);
  if (r2_) g = r2_->backward_jvp(g.dx, g.dt_x);
  g = a4_.backward_jvp(g.dx, g.dt_x);
  g = c4_.backward_jvp(g.dx, g.dt_x);
  if (r1_) g = r1_->backward_jvp(g.dx, g.dt_x);
  g = a3_.backward_jvp(g.dx, g.dt_x);
  g = c3_.backward_jvp(g.dx, g.dt_x);
  g = a2_.backward_jvp(g.dx, g.dt_x);
  g = c2_.backward_jvp(g.dx, g.dt_x);
  g = a1_.backward_jvp(g.dx, g.dt_x);
  c1_.backward_jvp(g.dx, g.dt_x);
}

// ---------------------------------------------------------------- DiscriminatorNet

template <class T>
void DiscriminatorNet<T>::init_penalty(PenaltyOn on, int max_batch, Tensor v, Tensor dlogit,
                                       Tensor dt_logit) {
  penalty_on_ = on;
  v_ = std::move(v);
  dlogit_ = std::move(dlogit);
  dt_logit_ = std::move(dt_logit);
  for (auto* h : {&host_logit_, &host_dy_, &host_tl_})
    h->assign(static_cast<size_t>(max_batch), T(0));
}

// With f the penalised score (engine/penalty.h), g_b = f'(logit_b) grad_x logit_b and
// v = dP/dg (held fixed),
//   dP/dtheta = d/dtheta <v, g> = d/dtheta [ f'(logit) (J v) ]
//             = f''(logit) (J v) dlogit/dtheta + f'(logit) d(J v)/dtheta,
// i.e. backward_jvp(dy = f'' * t_logit, dt_y = f') after t_logit = jvp(v). Its dt half is the
// grad_x pass again (same dlogit = f', same layers): the layers repeat that pass's results
// (set_repeat_backward) instead of computing them twice. On the logit f'' = 0 and the dy half
// is dropped (an undefined dy); what is left per layer is one weight gradient, dt_y t_x^T.
template <class T>
double DiscriminatorNet<T>::gradient_penalty(const Tensor& x_hat, double lambda,
                                             bool accumulate_grad, double* logit_grad_norm) {
  profile::ScopedRange range("D gradient penalty");
  const Device dev = device();
  Tensor logit = forward_float(x_hat);
  const int B = int(x_hat.dim(0));
  const long per = x_hat.numel() / B;
  // The per-sample scalars (logits, derivatives of f) are B values: computed on the host.
  std::vector<T>& l = host_logit_;
  std::vector<T>& ds = host_dy_;
  const size_t bytes = size_t(B) * sizeof(T);
  ops::copy_to_host(dev, l.data(), logit.raw(), bytes);
  for (int b = 0; b < B; ++b)
    ds[size_t(b)] = T(penalty_factors(penalty_on_, double(l[size_t(b)])).d1);
  // dt_logit_ holds f' through backward_jvp, which repeats this pass from the same buffer.
  ops::copy_from_host(dev, dt_logit_.raw(), ds.data(), bytes);
  const Tensor d1 = rows(dt_logit_, B, {B, 1});
  // grad_x f without leaving parameter gradients behind.
  Tensor g;
  {
    Switched off([this](bool on) { set_param_grads(on); }, false);
    g = backward(d1);
  }

  const T* gp = g.data<T>();
  T* v = v_.template data<T>();
  double penalty = 0, logit_norm = 0;
  for (int b = 0; b < B; ++b) {
    const T* gb = gp + b * per;
    double n2 = 0;
    if (dev.is_cpu())
      for (long i = 0; i < per; ++i) n2 += double(gb[i]) * double(gb[i]);
    else
      n2 = ops::sum_squares(dev, per, gb);
    const double n = std::sqrt(n2);
    penalty += (n - 1) * (n - 1);
    // ||grad_x logit|| = ||g_b|| / |f'(logit)|
    const double d1 = std::abs(double(ds[size_t(b)]));
    logit_norm += n > 0 && d1 > 0 ? n / d1 : 0.0;
    // dP/dg_b = (2 lambda / B) (||g_b|| - 1) g_b / ||g_b||  (0 at g_b = 0, a subgradient).
    const double c = n > 0 ? 2.0 * lambda / B * (n - 1) / n : 0.0;
    if (dev.is_cpu()) {
      for (long i = 0; i < per; ++i) v[b * per + i] = T(c * double(gb[i]));
    } else {
      ops::copy(dev, per, gb, v + b * per);
      ops::scale(dev, per, T(c), v + b * per);
    }
  }
  penalty *= lambda / B;
  if (logit_grad_norm) *logit_grad_norm = logit_norm / B;
  if (!accumulate_grad) return penalty;

  Tensor t_logit = jvp(rows(v_, B, x_hat.shape()));
  std::vector<T>& tl = host_tl_;
  ops::copy_to_host(dev, tl.data(), t_logit.raw(), bytes);
  bool curved = false;
  for (int b = 0; b < B; ++b) {
    const double d2 = penalty_factors(penalty_on_, double(l[size_t(b)])).d2;
    ds[size_t(b)] = T(d2 * double(tl[size_t(b)]));
    curved = curved || ds[size_t(b)] != T(0);
  }
  Tensor dy;  // f'' t_logit, undefined (zero) on the logit
  if (curved) {
    ops::copy_from_host(dev, dlogit_.raw(), ds.data(), bytes);
    dy = rows(dlogit_, B, {B, 1});
  }
  // Only the parameter gradients: x_hat is data.
  Switched off([this](bool on) { set_input_grads(on); }, false);
  Switched repeat([this](bool on) { set_repeat_backward(on); }, true);
  backward_jvp(dy, d1);
  return penalty;
}

template <class T>
void DiscriminatorNet<T>::backward_params(const Tensor& dlogit) {
  Switched off([this](bool on) { set_input_grads(on); }, false);
  backward(dlogit);
}

template class DiscriminatorNet<float>;
template class DiscriminatorNet<double>;

template <class T>
void RewardNet<T>::set_training(bool t) {
  for (Conv2d<T>* c : {&c1_, &c2_, &c3_, &c4_, &c5_}) c->set_training(t);
  fc_.set_training(t);
  if (r1_) r1_->set_training(t);
  if (r2_) r2_->set_training(t);
}

template <class T>
void RewardNet<T>::set_input_grads(bool on) {
  c1_.set_input_grads(on);
}

template <class T>
void RewardNet<T>::set_repeat_backward(bool on) {
  for (Conv2d<T>* c : {&c1_, &c2_, &c3_, &c4_, &c5_}) c->set_repeat_backward(on);
  for (Activation<T>* a : {&a1_, &a2_, &a3_, &a4_, &a5_}) a->set_repeat_backward(on);
  fc_.set_repeat_backward(on);
  if (r1_) r1_->set_repeat_backward(on);
  if (r2_) r2_->set_repeat_backward(on);
}

template <class T>
void RewardNet<T>::set_param_grads(bool on) {
  for (Conv2d<T>* c : {&c1_, &c2_, &c3_, &c4_, &c5_}) c->set_param_grads(on);
  fc_.set_param_grads(on);
  if (r1_) r1_->set_param_grads(on);
  if (r2_) r2_->set_param_grads(on);
}

template <class T>
int RewardNet<T>::blocked_links() const {
  int n = 0;
  for (const Conv2d<T>* c : {&c1_, &c2_, &c3_, &c4_}) n += c->blocked_out();
  return n;
}

template <class T>
long RewardNet<T>::params() const {
  long n = fc_.params();
  for (const Conv2d<T>* c : {&c1_, &c2_, &c3_, &c4_, &c5_}) n += c->params();
  if (r1_) n += r1_->params() + r2_->params();
  return n;
}

template <class T>
long RewardNet<T>::flops() const {
  long n = std_.flops() + fc_.flops();
  for (const Conv2d<T>* c : {&c1_, &c2_, &c3_, &c4_, &c5_}) n += c->flops();
  for (const Activation<T>* a : {&a1_, &a2_, &a3_, &a4_, &a5_}) n += a->flops();
  if (r1_) n += r1_->flops() + r2_->flops();
  return n;
}

template <class T>
long RewardNet<T>::attention_flops() const {
  return r1_ ? r1_->attention_flops() + r2_->attention_flops() : 0;
}

template <class T>
int RewardNet<T>::conv_layers() const {
  return 5 + (r1_ ? r1_->conv_layers() + r2_->conv_layers() : 0);
}

template class AgentNet<float>;
template class AgentNet<double>;
template class RewardNet<float>;
template class RewardNet<double>;

}  // namespace relmimic
