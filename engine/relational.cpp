// Relational block (non-local block, embedded Gaussian) with its first- and second-order passes.
//   theta, phi, g = conv1x1(u)  [B, C', H, W]      (N = H W positions)
//   a = attention(theta, phi, g) = softmax_rows(theta^T phi) g
//   z = conv1x1(a) + u          [B, C, H, W]
// The attention core is kernels/attention.h; this file only wires the 1x1 convs around it.
#include "engine/device_ops.h"
#include "engine/layer_util.h"
#include "engine/layers.h"
#include "engine/profile.h"

namespace relmimic {

using detail::checked_batch;
using detail::expect;
using detail::rows;

namespace {
// The data of an optional buffer (null when it was not allocated).
template <class T>
T* ptr(const Tensor& t) {
  return t.defined() ? t.template data<T>() : nullptr;
}

template <class T>
typename Conv2d<T>::Options conv1x1(int in_c, int h, int w, int out_c, bool sn) {
  typename Conv2d<T>::Options o{.in_c = in_c, .in_h = h, .in_w = w, .out_c = out_c, .kernel = 1};
  o.spectral_norm = sn;
  return o;
}
}  // namespace

template <class T>
RelationalBlock<T>::RelationalBlock(Build<T>& b, const std::string& name, const Options& o,
                                    Rng& rng)
    : name_("relational block '" + name + "'"),
      dev_(b.device()),
      o_(o),
      max_batch_(b.max_batch),
      theta_(b, name + ".theta",
             conv1x1<T>(o.channels, o.height, o.width, o.embed, o.spectral_norm), rng),
      phi_(b, name + ".phi", conv1x1<T>(o.channels, o.height, o.width, o.embed, o.spectral_norm),
           rng),
      g_(b, name + ".g", conv1x1<T>(o.channels, o.height, o.width, o.embed, o.spectral_norm), rng),
      out_(b, name + ".out", conv1x1<T>(o.embed, o.height, o.width, o.channels, o.spectral_norm),
           rng) {
  const int mb = b.max_batch, c = o.channels, e = o.embed, h = o.height, w = o.width;
  const int n = h * w;
  ad_ = {1, e, n};
  y_ = b.arena.template tensor<T>({mb, c, h, w});
  dx_ = b.arena.template tensor<T>({mb, c, h, w});
  att_out_ = b.arena.template tensor<T>({mb, e, h, w});
  d_theta_ = b.arena.template tensor<T>({mb, e, h, w});
  d_phi_ = b.arena.template tensor<T>({mb, e, h, w});
  d_g_ = b.arena.template tensor<T>({mb, e, h, w});
  if (dev_.is_cuda()) {
    // Fused flash-style kernels when C' fits their register tiles; the second-order passes
    // (unfused) take A from the saved log-sum-exp. Scratch: [B, N, N] for the unfused backward
    // and jvp, [3, B, N, N] for backward_jvp.
    path_ = e <= kernels::kAttentionFusedMaxChannels ? kernels::AttentionPath::Fused
                                                     : kernels::AttentionPath::Unfused;
    lse_ = b.arena.template tensor<T>({mb, n});
    const long work = b.second_order ? 3 : path_ == kernels::AttentionPath::Unfused ? 1 : 0;
    if (work > 0) work_ = b.arena.template tensor<T>({work * mb * n * n});
  }
  // A [B, N, N] for the passes that read it: the CPU's, CUDA's unfused and second-order ones. A
  // first-order block on the fused CUDA path keeps only the log-sum-exp; attention() makes A
  // there if asked (800 MB at B = 1024, N = 441 that training never reads).
  if (!(dev_.is_cuda() && path_ == kernels::AttentionPath::Fused && !b.second_order))
    attn_ = b.arena.template tensor<T>({mb, n, n});
  if (b.second_order) {
    t_y_ = b.arena.template tensor<T>({mb, c, h, w});
    dt_x_ = b.arena.template tensor<T>({mb, c, h, w});
    s_dot_ = b.arena.template tensor<T>({mb, n, n});
    t_att_out_ = b.arena.template tensor<T>({mb, e, h, w});
    dt_theta_ = b.arena.template tensor<T>({mb, e, h, w});
    dt_phi_ = b.arena.template tensor<T>({mb, e, h, w});
    dt_g_ = b.arena.template tensor<T>({mb, e, h, w});
  }
}

template <class T>
Tensor RelationalBlock<T>::forward(const Tensor& x) {
  const int B =
      checked_batch(x, dtype_of<T>(), dev_, {o_.channels, o_.height, o_.width}, max_batch_, name_);
  profile::ScopedRange range("relational forward");
  x_ = x;
  repeat_.forget();
  profile::ScopedRange projections("relational.theta/phi/g");
  th_ = theta_.forward(x);
  ph_ = phi_.forward(x);
  gg_ = g_.forward(x);
  projections.end();
  kernels::AttentionDims ad = ad_;
  ad.batch = B;
  const Shape es{B, o_.embed, o_.height, o_.width};
  profile::ScopedRange att_range("relational.attention");
  ops::attention_forward(dev_, path_, ad, th_.data<T>(), ph_.data<T>(), gg_.data<T>(),
                         att_out_.template data<T>(), ptr<T>(lse_), ptr<T>(attn_));
  attn_ready_ = dev_.is_cpu() || path_ == kernels::AttentionPath::Unfused;
  att_range.end();
  profile::ScopedRange output("relational.out + residual");
  Tensor z = out_.forward(rows(att_out_, B, es));
  ops::add(dev_, x.numel(), z.data<T>(), x.data<T>(), y_.template data<T>());
  return rows(y_, B, x.shape());
}

template <class T>
Tensor RelationalBlock<T>::backward(const Tensor& dy) {
  RM_CHECK(x_.defined(), name_, ": backward before forward");
  expect(dy, x_.shape(), dtype_of<T>(), dev_, name_, "backward: dy");
  const int B = int(x_.dim(0));
  const Shape es{B, o_.embed, o_.height, o_.width};
  profile::ScopedRange range("relational backward");
  profile::ScopedRange output("relational.out");
  Tensor da = out_.backward(dy);
  output.end();
  kernels::AttentionDims ad = ad_;
  ad.batch = B;
  profile::ScopedRange att_range("relational.attention");
  ops::attention_backward(dev_, path_, ad, th_.data<T>(), ph_.data<T>(), gg_.data<T>(),
                          att_out_.template data<T>(), ptr<T>(lse_), ptr<T>(attn_), da.data<T>(),
                          d_theta_.template data<T>(), d_phi_.template data<T>(),
                          d_g_.template data<T>(), ptr<T>(work_));
  att_range.end();
  profile::ScopedRange projections("relational.theta/phi/g + residual");
  Tensor a = theta_.backward(rows(d_theta_, B, es));
  Tensor b = phi_.backward(rows(d_phi_, B, es));
  Tensor c = g_.backward(rows(d_g_, B, es));
  ops::add4(dev_, dy.numel(), dy.data<T>(), a.data<T>(), b.data<T>(), c.data<T>(),
            dx_.template data<T>());
  repeat_.remember(dy);
  return rows(dx_, B, x_.shape());
}

template <class T>
Tensor RelationalBlock<T>::jvp(const Tensor& t_x) {
  RM_CHECK(t_y_.defined(), name_, ": jvp needs a layer built with second_order");
  RM_CHECK(x_.defined(), name_, ": jvp before forward");
  expect(t_x, x_.shape(), dtype_of<T>(), dev_, name_, "jvp: t_x");
  const int B = int(x_.dim(0));
  profile::ScopedRange range("relational jvp");
  profile::ScopedRange projections("relational.theta/phi/g");
  t_th_ = theta_.jvp(t_x);
  t_ph_ = phi_.jvp(t_x);
  t_gg_ = g_.jvp(t_x);
  projections.end();
  kernels::AttentionDims ad = ad_;
  ad.batch = B;
  profile::ScopedRange att_range("relational.attention");
  attention();  // A of the forward, for the second-order passes
  ops::attention_jvp(dev_, ad, th_.data<T>(), ph_.data<T>(), gg_.data<T>(),
                     attn_.template data<T>(), t_th_.data<T>(), t_ph_.data<T>(), t_gg_.data<T>(),
                     t_att_out_.template data<T>(), s_dot_.template data<T>(), ptr<T>(work_));
  att_range.end();
  profile::ScopedRange output("relational.out + residual");
  Tensor tz = out_.jvp(rows(t_att_out_, B, {B, o_.embed, o_.height, o_.width}));
  ops::add(dev_, t_x.numel(), tz.data<T>(), t_x.data<T>(), t_y_.template data<T>());
  return rows(t_y_, B, x_.shape());
}

template <class T>
DualGrad RelationalBlock<T>::backward_jvp(const Tensor& dy_in, const Tensor& dt_y) {
  RM_CHECK(t_th_.defined(), name_, ": backward_jvp before jvp");
  expect(dt_y, x_.shape(), dtype_of<T>(), dev_, name_, "backward_jvp: dt_y");
  const int B = int(x_.dim(0));
  // Under repeat dx_ keeps the last backward's dx (this pass's dt_x) and dx goes to dt_x_.
  const auto targets = repeat_.targets(dt_y, name_, dx_, dt_x_);
  Tensor& dx_buf = *targets.dx;
  // The softmax's second derivative makes dx nonzero even for a zero dy: that runs on zeros.
  Tensor dy = dy_in;
  if (dy.defined()) {
    expect(dy, x_.shape(), dtype_of<T>(), dev_, name_, "backward_jvp: dy");
  } else {
    dy = rows(dx_buf, B, x_.shape());
    dy.zero();
  }
  const Shape es{B, o_.embed, o_.height, o_.width};
  profile::ScopedRange range("relational backward_jvp");
  profile::ScopedRange output("relational.out");
  DualGrad da = out_.backward_jvp(dy, dt_y);
  output.end();
  kernels::AttentionDims ad = ad_;
  ad.batch = B;
  profile::ScopedRange att_range("relational.attention");
  ops::attention_backward_jvp(
      dev_, ad, th_.data<T>(), ph_.data<T>(), gg_.data<T>(), attn_.template data<T>(),
      t_th_.data<T>(), t_ph_.data<T>(), t_gg_.data<T>(), s_dot_.template data<T>(), da.dx.data<T>(),
      da.dt_x.data<T>(), d_theta_.template data<T>(), d_phi_.template data<T>(),
      d_g_.template data<T>(), dt_theta_.template data<T>(), dt_phi_.template data<T>(),
      dt_g_.template data<T>(), ptr<T>(work_));
  att_range.end();
  profile::ScopedRange projections("relational.theta/phi/g + residual");
  DualGrad a = theta_.backward_jvp(rows(d_theta_, B, es), rows(dt_theta_, B, es));
  DualGrad b = phi_.backward_jvp(rows(d_phi_, B, es), rows(dt_phi_, B, es));
  DualGrad c = g_.backward_jvp(rows(d_g_, B, es), rows(dt_g_, B, es));
  const long n = dy.numel();
  ops::add4(dev_, n, dy.data<T>(), a.dx.data<T>(), b.dx.data<T>(), c.dx.data<T>(),
            dx_buf.template data<T>());
  if (repeat_.on()) return {rows(dx_buf, B, x_.shape()), rows(*targets.dt_x, B, x_.shape())};
  ops::add4(dev_, n, dt_y.data<T>(), a.dt_x.data<T>(), b.dt_x.data<T>(), c.dt_x.data<T>(),
            dt_x_.template data<T>());
  return {rows(dx_, B, x_.shape()), rows(dt_x_, B, x_.shape())};
}

template <class T>
Tensor RelationalBlock<T>::attention() const {
  if (!attn_.defined()) {
    const int n = o_.height * o_.width;
    attn_ = Tensor::zeros({max_batch_, n, n}, dtype_of<T>(), dev_);
    attn_ready_ = false;
  }
  if (!x_.defined()) return attn_;
  const int B = int(x_.dim(0));
  if (!attn_ready_) {
    kernels::AttentionDims ad = ad_;
    ad.batch = B;
    ops::attention_probs(dev_, path_, ad, th_.data<T>(), ph_.data<T>(), ptr<T>(lse_),
                         attn_.template data<T>());
    attn_ready_ = true;
  }
  return attn_.slice(0, B);
}

template <class T>
long RelationalBlock<T>::params() const {
  return theta_.params() + phi_.params() + g_.params() + out_.params();
}

template <class T>
long RelationalBlock<T>::flops() const {
  return theta_.flops() + phi_.flops() + g_.flops() + out_.flops() +
         long(o_.channels) * o_.height * o_.width;
}

// S = theta^T phi and A g: 2 N^2 C' each; softmax: exp, sum and divide, 3 N^2.
template <class T>
long RelationalBlock<T>::attention_flops() const {
  const long n = long(o_.height) * o_.width;
  return 4L * n * n * o_.embed + 3L * n * n;
}

template <class T>
void RelationalBlock<T>::set_training(bool t) {
  theta_.set_training(t);
  phi_.set_training(t);
  g_.set_training(t);
  out_.set_training(t);
}

template <class T>
void RelationalBlock<T>::set_param_grads(bool on) {
  theta_.set_param_grads(on);
  phi_.set_param_grads(on);
  g_.set_param_grads(on);
  out_.set_param_grads(on);
}

template class RelationalBlock<float>;
template class RelationalBlock<double>;

}  // namespace relmimic
