// Conv2d and Linear: the two layers with weights, optional spectral norm and second-order passes.
//   forward      y   = W x + b
//   jvp          t_y = W t_x                      (parameters have zero tangent)
//   backward     dx  = W^T dy,                    dW += dy x^T,             db += dy
//   backward_jvp dx  = W^T dy,  dt_x = W^T dt_y,  dW += dy x^T + dt_y t_x^T, db += dy
// (an undefined dy is zero; under set_repeat_backward dt_x is the last backward's dx).
#include <type_traits>

#include "engine/device_ops.h"
#include "engine/layer_util.h"
#include "engine/layers.h"
#include "kernels/conv2d.h"
#include "kernels/conv_pool.h"
#include "kernels/linear.h"

namespace relmimic {

using detail::checked_batch;
using detail::expect;
using detail::rows;

// ---------------------------------------------------------------- Conv2d

template <class T>
Conv2d<T>::Conv2d(Build<T>& b, const std::string& name, const Options& o, Rng& rng)
    : name_("conv '" + name + "'"),
      dev_(b.device()),
      ps_(b.params),
      o_(o),
      max_batch_(b.max_batch) {
  RM_CHECK(o.in_c > 0 && o.in_h > 0 && o.in_w > 0 && o.out_c > 0 && o.kernel > 0 && o.stride > 0 &&
               o.pad >= 0,
           "conv '", name, "': bad options in_c=", o.in_c, " in_h=", o.in_h, " in_w=", o.in_w,
           " out_c=", o.out_c, " kernel=", o.kernel, " stride=", o.stride, " pad=", o.pad);
  RM_CHECK(o.in_h + 2 * o.pad >= o.kernel && o.in_w + 2 * o.pad >= o.kernel, "conv '", name,
           "': kernel ", o.kernel, " larger than the padded input ", o.in_h, "x", o.in_w);
  RM_CHECK(b.max_batch > 0, "conv '", name, "': max_batch must be positive");
  RM_CHECK(ops::conv2d_supported<T>(dev_), name_, ": the CUDA conv kernels take float only; build ",
           dtype_name(dtype_of<T>()), " networks with convolutions on the cpu");
  d_ = {1, o.in_c, o.in_h, o.in_w, o.out_c, o.kernel, o.kernel, o.stride, o.pad};
  if (o.blocked_in || o.blocked_out) {
    const int block = kernels::cpu_conv_block();
    RM_CHECK((dev_.is_cpu() && std::is_same_v<T, float> && block > 0), name_,
             ": blocked activations need a float network on the cpu with oneDNN's convolutions");
    RM_CHECK((!o.blocked_in || o.in_c % block == 0) && (!o.blocked_out || o.out_c % block == 0),
             name_, ": blocked activations need channels that are multiples of ", block, " (in ",
             o.in_c, ", out ", o.out_c, ")");
    d_.blocked_in = o.blocked_in;
    d_.blocked_out = o.blocked_out;
  }
  const int fan_in = o.in_c * o.kernel * o.kernel;
  w_ = ps_.add(name + ".weight", {o.out_c, o.in_c, o.kernel, o.kernel});
  orthogonal_init(ps_.value(w_), o.out_c, fan_in, o.gain, rng);
  if (o.bias) b_ = ps_.add(name + ".bias", {o.out_c});
  if (o.spectral_norm) {
    sn_.emplace(b, name, o.out_c, fan_in, rng);
    w_sn_ = b.arena.template tensor<T>({d_.weight_size()});
    dw_sn_ = b.arena.template tensor<T>({d_.weight_size()});
  }
  const Shape out{b.max_batch, o.out_c, d_.out_h(), d_.out_w()};
  const Shape in{b.max_batch, o.in_c, o.in_h, o.in_w};
  y_ = b.arena.template tensor<T>(out);
  if (o.need_dx) dx_ = b.arena.template tensor<T>(in);
  if (b.second_order) {
    t_y_ = b.arena.template tensor<T>(out);
    if (o.need_dx) dt_x_ = b.arena.template tensor<T>(in);
  }
}

template <class T>
kernels::Conv2dDims Conv2d<T>::dims(int batch) const {
  kernels::Conv2dDims d = d_;
  d.batch = batch;
  return d;
}

template <class T>
const T* Conv2d<T>::weight() {
  return sn_ ? w_sn_.template data<T>() : ps_.value(w_);
}

template <class T>
Tensor Conv2d<T>::forward(const Tensor& x) {
  const int B =
      checked_batch(x, dtype_of<T>(), dev_, {o_.in_c, o_.in_h, o_.in_w}, max_batch_, name_);
  x_ = x;
  repeat_.forget();
  if (sn_) sn_->normalize(ps_.value(w_), w_sn_.template data<T>(), training_);
  ops::conv2d_forward(dev_, dims(B), x.data<T>(), weight(), b_ >= 0 ? ps_.value(b_) : nullptr,
                      y_.template data<T>());
  return rows(y_, B, out_shape(B));
}

template <class T>
void Conv2d<T>::weight_grads(int batch, const T* x, const T* dy, const T* t_x, const T* dt_y) {
  const kernels::Conv2dDims d = dims(batch);
  T* db = b_ >= 0 ? ps_.grad(b_) : nullptr;
  T* dw = ps_.grad(w_);
  if (sn_) {
    dw_sn_.zero();
    dw = dw_sn_.template data<T>();
  }
  if (dy) ops::conv2d_backward_weight(dev_, d, x, dy, dw, db);
  if (t_x) ops::conv2d_backward_weight(dev_, d, t_x, dt_y, dw, static_cast<T*>(nullptr));
  if (sn_) sn_->backward(dw_sn_.template data<T>(), ps_.grad(w_));
}

template <class T>
Tensor Conv2d<T>::backward(const Tensor& dy) {
  RM_CHECK(x_.defined(), name_, ": backward before forward");
  const int B = int(x_.dim(0));
  expect(dy, out_shape(B), dtype_of<T>(), dev_, name_, "backward: dy");
  if (param_grads_) weight_grads(B, x_.data<T>(), dy.data<T>(), nullptr, nullptr);
  repeat_.forget();
  if (!o_.need_dx || !input_grads_) return {};
  ops::conv2d_backward_input(dev_, dims(B), dy.data<T>(), weight(), dx_.template data<T>());
  repeat_.remember(dy);
  return rows(dx_, B, x_.shape());
}

template <class T>
Tensor Conv2d<T>::backward_through_pool(MaxPool3D<T>& pool, const Tensor& dpool) {
  RM_CHECK(x_.defined(), name_, ": backward before forward");
  const int B = int(x_.dim(0));
  const kernels::Pool3dDims p = pool.last_dims();
  const bool direct = dev_.is_cpu() && !sn_ && !d_.blocked_in && !d_.blocked_out &&
                      d_.kw <= kernels::kPooledMaxKernelWidth && (!o_.need_dx || !input_grads_);
  if (!direct) return backward(pool.backward(dpool));
  RM_CHECK(p.batch == B && p.c == d_.out_c && p.h == d_.out_h() && p.w == d_.out_w(), name_,
           ": backward_through_pool: the pool does not read this layer's output");
  expect(dpool, pool.out_shape(B), dtype_of<T>(), dev_, name_, "backward_through_pool: dpool");
  repeat_.forget();
  if (param_grads_)
    kernels::conv2d_backward_weight_pooled_cpu(dims(B), x_.data<T>(), p, pool.last_argmax(),
                                               dpool.data<T>(), ps_.grad(w_),
                                               b_ >= 0 ? ps_.grad(b_) : nullptr);
  return {};
}

template <class T>
Tensor Conv2d<T>::jvp(const Tensor& t_x) {
  RM_CHECK(t_y_.defined(), name_, ": jvp needs a layer built with second_order");
  RM_CHECK(x_.defined(), name_, ": jvp before forward");
  const int B = int(x_.dim(0));
  expect(t_x, x_.shape(), dtype_of<T>(), dev_, name_, "jvp: t_x");
  t_x_ = t_x;
  ops::conv2d_forward(dev_, dims(B), t_x.data<T>(), weight(), static_cast<const T*>(nullptr),
                      t_y_.template data<T>());
  return rows(t_y_, B, out_shape(B));
}

template <class T>
DualGrad Conv2d<T>::backward_jvp(const Tensor& dy, const Tensor& dt_y) {
  RM_CHECK(t_x_.defined(), name_, ": backward_jvp before jvp");
  const int B = int(x_.dim(0));
  if (dy.defined()) expect(dy, out_shape(B), dtype_of<T>(), dev_, name_, "backward_jvp: dy");
  expect(dt_y, out_shape(B), dtype_of<T>(), dev_, name_, "backward_jvp: dt_y");
  if (param_grads_)
    weight_grads(B, x_.data<T>(), dy.defined() ? dy.data<T>() : nullptr, t_x_.data<T>(),
                 dt_y.data<T>());
  if (!o_.need_dx || !input_grads_) return {};
  const kernels::Conv2dDims d = dims(B);
  return detail::dual_input_grads<T>(
      repeat_, name_, B, x_.shape(), dy, dt_y, dx_, dt_x_,
      [&](const T* g, T* out) { ops::conv2d_backward_input(dev_, d, g, weight(), out); });
}

template <class T>
long Conv2d<T>::params() const {
  return d_.weight_size() + (o_.bias ? o_.out_c : 0);
}

// 2 * MAC + one add per output for the bias.
template <class T>
long Conv2d<T>::flops() const {
  const long outputs = d_.out_size();
  return 2L * outputs * o_.in_c * o_.kernel * o_.kernel + (o_.bias ? outputs : 0);
}

// ---------------------------------------------------------------- Linear

template <class T>
Linear<T>::Linear(Build<T>& b, const std::string& name, const Options& o, Rng& rng)
    : name_("linear '" + name + "'"),
      dev_(b.device()),
      ps_(b.params),
      o_(o),
      max_batch_(b.max_batch) {
  RM_CHECK(o.in > 0 && o.out > 0, "linear '", name, "': bad sizes in=", o.in, " out=", o.out);
  RM_CHECK(b.max_batch > 0, "linear '", name, "': max_batch must be positive");
  w_ = ps_.add(name + ".weight", {o.out, o.in});
  orthogonal_init(ps_.value(w_), o.out, o.in, o.gain, rng);
  if (o.bias) b_ = ps_.add(name + ".bias", {o.out});
  if (o.spectral_norm) {
    sn_.emplace(b, name, o.out, o.in, rng);
    w_sn_ = b.arena.template tensor<T>({long(o.out) * o.in});
    dw_sn_ = b.arena.template tensor<T>({long(o.out) * o.in});
  }
  y_ = b.arena.template tensor<T>({b.max_batch, o.out});
  if (o.need_dx) dx_ = b.arena.template tensor<T>({b.max_batch, o.in});
  if (b.second_order) {
    t_y_ = b.arena.template tensor<T>({b.max_batch, o.out});
    if (o.need_dx) dt_x_ = b.arena.template tensor<T>({b.max_batch, o.in});
  }
}

template <class T>
const T* Linear<T>::weight() {
  return sn_ ? w_sn_.template data<T>() : ps_.value(w_);
}

template <class T>
int Linear<T>::batch_of(const Tensor& x) const {
  return checked_batch(x, dtype_of<T>(), dev_, long(o_.in), max_batch_, name_);
}

template <class T>
Tensor Linear<T>::forward(const Tensor& x) {
  const int B = batch_of(x);
  x_ = x;
  repeat_.forget();
  if (sn_) sn_->normalize(ps_.value(w_), w_sn_.template data<T>(), training_);
  ops::linear_forward(dev_, B, o_.out, o_.in, x.data<T>(), weight(),
                      b_ >= 0 ? ps_.value(b_) : nullptr, y_.template data<T>());
  return rows(y_, B, {B, o_.out});
}

template <class T>
void Linear<T>::weight_grads(int batch, const T* x, const T* dy, const T* t_x, const T* dt_y) {
  T* db = b_ >= 0 ? ps_.grad(b_) : nullptr;
  T* dw = ps_.grad(w_);
  if (sn_) {
    dw_sn_.zero();
    dw = dw_sn_.template data<T>();
  }
  if (dy) ops::linear_backward_weight(dev_, batch, o_.out, o_.in, x, dy, dw, db);
  if (t_x)
    ops::linear_backward_weight(dev_, batch, o_.out, o_.in, t_x, dt_y, dw,
                                static_cast<T*>(nullptr));
  if (sn_) sn_->backward(dw_sn_.template data<T>(), ps_.grad(w_));
}

template <class T>
Tensor Linear<T>::backward(const Tensor& dy) {
  RM_CHECK(x_.defined(), name_, ": backward before forward");
  const int B = int(x_.dim(0));
  expect(dy, {B, o_.out}, dtype_of<T>(), dev_, name_, "backward: dy");
  if (param_grads_) weight_grads(B, x_.data<T>(), dy.data<T>(), nullptr, nullptr);
  repeat_.forget();
  if (!o_.need_dx || !input_grads_) return {};
  ops::linear_backward_input(dev_, B, o_.out, o_.in, dy.data<T>(), weight(),
                             dx_.template data<T>());
  repeat_.remember(dy);
  return rows(dx_, B, x_.shape());
}

template <class T>
Tensor Linear<T>::jvp(const Tensor& t_x) {
  RM_CHECK(t_y_.defined(), name_, ": jvp needs a layer built with second_order");
  RM_CHECK(x_.defined(), name_, ": jvp before forward");
  const int B = int(x_.dim(0));
  expect(t_x, x_.shape(), dtype_of<T>(), dev_, name_, "jvp: t_x");
  t_x_ = t_x;
  ops::linear_forward(dev_, B, o_.out, o_.in, t_x.data<T>(), weight(),
                      static_cast<const T*>(nullptr), t_y_.template data<T>());
  return rows(t_y_, B, {B, o_.out});
}

template <class T>
DualGrad Linear<T>::backward_jvp(const Tensor& dy, const Tensor& dt_y) {
  RM_CHECK(t_x_.defined(), name_, ": backward_jvp before jvp");
  const int B = int(x_.dim(0));
  if (dy.defined()) expect(dy, {B, o_.out}, dtype_of<T>(), dev_, name_, "backward_jvp: dy");
  expect(dt_y, {B, o_.out}, dtype_of<T>(), dev_, name_, "backward_jvp: dt_y");
  if (param_grads_)
    weight_grads(B, x_.data<T>(), dy.defined() ? dy.data<T>() : nullptr, t_x_.data<T>(),
                 dt_y.data<T>());
  if (!o_.need_dx || !input_grads_) return {};
  return detail::dual_input_grads<T>(
      repeat_, name_, B, x_.shape(), dy, dt_y, dx_, dt_x_, [&](const T* g, T* out) {
        ops::linear_backward_input(dev_, B, o_.out, o_.in, g, weight(), out);
      });
}

template <class T>
long Linear<T>::params() const {
  return long(o_.out) * o_.in + (o_.bias ? o_.out : 0);
}

template <class T>
long Linear<T>::flops() const {
  return 2L * o_.out * o_.in + (o_.bias ? o_.out : 0);
}

template class Conv2d<float>;
template class Conv2d<double>;
template class Linear<float>;
template class Linear<double>;

}  // namespace relmimic
