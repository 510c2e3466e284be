// The parameter-free and composite layers: Activation, LayerNorm, MaxPool3D, Standardize,
// ResidualBlock. Conv2d/Linear live in layers_dense.cpp, the relational block in relational.cpp,
// spectral norm and orthogonal init in spectral_norm.cpp.
#include "engine/layers.h"

#include "engine/device_ops.h"
#include "engine/layer_util.h"
#include "kernels/norm.h"

namespace relmimic {

using detail::checked_batch;
using detail::expect;
using detail::rows;

detail::RepeatBackward::Targets detail::RepeatBackward::targets(const Tensor& dt_y,
                                                                const std::string& who,
                                                                Tensor& dx_buf,
                                                                Tensor& dt_x_buf) const {
  if (!on_) return {&dx_buf, &dt_x_buf};
  RM_CHECK(dy_ != nullptr && dt_y.raw() == dy_, who,
           ": backward_jvp repeats the last backward, but dt_y is not the dy that backward read"
           " (or no backward wrote dx since the last forward)");
  return {&dt_x_buf, &dx_buf};
}

// ---------------------------------------------------------------- Activation
// y = f(x);  t_y = f'(x) t_x;  backward_jvp: dx = f'(x) dy + f''(x) t_x dt_y,  dt_x = f'(x) dt_y.

template <class T>
Activation<T>::Activation(Build<T>& b, kernels::Act act, long per_sample, T slope)
    : name_(std::string("activation ") + kernels::act_name(act)),
      dev_(b.device()),
      act_(act),
      per_sample_(per_sample),
      max_batch_(b.max_batch),
      slope_(slope) {
  RM_CHECK(per_sample > 0 && b.max_batch > 0, name_, ": bad size ", per_sample, " x ", b.max_batch);
  y_ = b.arena.template tensor<T>({b.max_batch, per_sample});
  dx_ = b.arena.template tensor<T>({b.max_batch, per_sample});
  if (b.second_order) {
    t_y_ = b.arena.template tensor<T>({b.max_batch, per_sample});
    dt_x_ = b.arena.template tensor<T>({b.max_batch, per_sample});
  }
}

template <class T>
Tensor Activation<T>::forward(const Tensor& x) {
  const int B = checked_batch(x, dtype_of<T>(), dev_, per_sample_, max_batch_, name_);
  x_ = x;
  repeat_.forget();
  ops::activation_forward(dev_, act_, B * per_sample_, x.data<T>(), y_.template data<T>(), slope_);
  return rows(y_, B, x.shape());
}

template <class T>
Tensor Activation<T>::backward(const Tensor& dy) {
  RM_CHECK(x_.defined(), name_, ": backward before forward");
  expect(dy, x_.shape(), dtype_of<T>(), dev_, name_, "backward: dy");
  const int B = int(x_.dim(0));
  ops::activation_backward(dev_, act_, B * per_sample_, x_.data<T>(), y_.template data<T>(),
                           dy.data<T>(), dx_.template data<T>(), slope_);
  repeat_.remember(dy);
  return rows(dx_, B, x_.shape());
}

template <class T>
Tensor Activation<T>::jvp(const Tensor& t_x) {
  RM_CHECK(t_y_.defined(), name_, ": jvp needs a layer built with second_order");
  RM_CHECK(x_.defined(), name_, ": jvp before forward");
  expect(t_x, x_.shape(), dtype_of<T>(), dev_, name_, "jvp: t_x");
  const int B = int(x_.dim(0));
  t_x_ = t_x;
  ops::activation_backward(dev_, act_, B * per_sample_, x_.data<T>(), y_.template data<T>(),
                           t_x.data<T>(), t_y_.template data<T>(), slope_);
  return rows(t_y_, B, x_.shape());
}

template <class T>
DualGrad Activation<T>::backward_jvp(const Tensor& dy, const Tensor& dt_y) {
  RM_CHECK(t_x_.defined(), name_, ": backward_jvp before jvp");
  if (dy.defined()) expect(dy, x_.shape(), dtype_of<T>(), dev_, name_, "backward_jvp: dy");
  expect(dt_y, x_.shape(), dtype_of<T>(), dev_, name_, "backward_jvp: dt_y");
  const int B = int(x_.dim(0));
  const long n = B * per_sample_;
  const T* x = x_.data<T>();
  const T* y = y_.template data<T>();
  // dt_x = f'(x) dt_y: the last backward's dx when this repeats it; dx goes to the other buffer.
  const auto [dx_buf, dt_buf] = repeat_.targets(dt_y, name_, dx_, dt_x_);
  if (!repeat_.on())
    ops::activation_backward(dev_, act_, n, x, y, dt_y.data<T>(), dt_buf->template data<T>(),
                             slope_);
  DualGrad g{Tensor{}, rows(*dt_buf, B, x_.shape())};
  // dx = f'(x) dy + f''(x) t_x dt_y; f'' = 0 for the piecewise-linear activations.
  const bool curved = act_ == kernels::Act::Tanh || act_ == kernels::Act::Sigmoid;
  if (!dy.defined() && !curved) return g;
  g.dx = rows(*dx_buf, B, x_.shape());
  T* dx = dx_buf->template data<T>();
  if (dy.defined())
    ops::activation_backward(dev_, act_, n, x, y, dy.data<T>(), dx, slope_);
  else
    g.dx.zero();
  ops::activation_second_order(dev_, act_, n, x, y, t_x_.data<T>(), dt_y.data<T>(), dx, slope_);
  return g;
}

// ---------------------------------------------------------------- LayerNorm

template <class T>
LayerNorm<T>::LayerNorm(Build<T>& b, const std::string& name, int dim, T eps)
    : name_("layernorm '" + name + "'"),
      dev_(b.device()),
      ps_(b.params),
      dim_(dim),
      max_batch_(b.max_batch),
      eps_(eps) {
  RM_CHECK(dim > 0 && b.max_batch > 0, name_, ": bad size ", dim, " x ", b.max_batch);
  g_ = ps_.add(name + ".gain", {dim});
  b_ = ps_.add(name + ".bias", {dim});
  T* g = ps_.value(g_);
  for (int i = 0; i < dim; ++i) g[i] = T(1);
  y_ = b.arena.template tensor<T>({b.max_batch, dim});
  dx_ = b.arena.template tensor<T>({b.max_batch, dim});
  mean_ = b.arena.template tensor<T>({b.max_batch});
  rstd_ = b.arena.template tensor<T>({b.max_batch});
}

template <class T>
Tensor LayerNorm<T>::forward(const Tensor& x) {
  const int B = checked_batch(x, dtype_of<T>(), dev_, long(dim_), max_batch_, name_);
  x_ = x;
  ops::layernorm_forward(dev_, B, dim_, x.data<T>(), ps_.value(g_), ps_.value(b_), eps_,
                         y_.template data<T>(), mean_.template data<T>(), rstd_.template data<T>());
  return rows(y_, B, x.shape());
}

template <class T>
Tensor LayerNorm<T>::backward(const Tensor& dy) {
  RM_CHECK(x_.defined(), name_, ": backward before forward");
  expect(dy, x_.shape(), dtype_of<T>(), dev_, name_, "backward: dy");
  const int B = int(x_.dim(0));
  ops::layernorm_backward(dev_, B, dim_, x_.data<T>(), ps_.value(g_), mean_.template data<T>(),
                          rstd_.template data<T>(), dy.data<T>(), dx_.template data<T>(),
                          ps_.grad(g_), ps_.grad(b_));
  return rows(dx_, B, x_.shape());
}

// ---------------------------------------------------------------- MaxPool3D

template <class T>
MaxPool3D<T>::MaxPool3D(Build<T>& b, const kernels::Pool3dDims& dims)
    : name_("maxpool3d"), dev_(b.device()), d_(dims), max_batch_(b.max_batch) {
  RM_CHECK(d_.c > 0 && d_.h > 0 && d_.w > 0 && d_.kc > 0 && d_.kh > 0 && d_.kw > 0 && d_.sc > 0 &&
               d_.sh > 0 && d_.sw > 0 && d_.pc >= 0 && d_.ph >= 0 && d_.pw >= 0,
           name_, ": bad window/stride/padding");
  RM_CHECK(d_.out_c() > 0 && d_.out_h() > 0 && d_.out_w() > 0, name_, ": window larger than input");
  d_.batch = 1;
  y_ = b.arena.template tensor<T>({b.max_batch, d_.out_size()});
  dx_ = b.arena.template tensor<T>({b.max_batch, d_.in_size()});
  argmax_ = b.arena.template tensor<int32_t>({b.max_batch, d_.out_size()});
}

template <class T>
Tensor MaxPool3D<T>::forward(const Tensor& x) {
  const int B = checked_batch(x, dtype_of<T>(), dev_, {d_.c, d_.h, d_.w}, max_batch_, name_);
  batch_ = B;
  kernels::Pool3dDims d = d_;
  d.batch = B;
  ops::pool3d_forward(dev_, d, x.data<T>(), y_.template data<T>(),
                      argmax_.template data<int32_t>());
  return rows(y_, B, out_shape(B));
}

template <class T>
Tensor MaxPool3D<T>::backward(const Tensor& dy) {
  RM_CHECK(batch_ > 0, name_, ": backward before forward");
  expect(dy, out_shape(batch_), dtype_of<T>(), dev_, name_, "backward: dy");
  kernels::Pool3dDims d = d_;
  d.batch = batch_;
  ops::pool3d_backward(dev_, d, dy.data<T>(), argmax_.template data<int32_t>(),
                       dx_.template data<T>());
  return rows(dx_, batch_, {batch_, d_.c, d_.h, d_.w});
}

template <class T>
kernels::Pool3dDims MaxPool3D<T>::last_dims() const {
  RM_CHECK(batch_ > 0, name_, ": no forward yet");
  kernels::Pool3dDims d = d_;
  d.batch = batch_;
  return d;
}

template <class T>
const int32_t* MaxPool3D<T>::last_argmax() const {
  RM_CHECK(batch_ > 0, name_, ": no forward yet");
  return argmax_.template data<int32_t>();
}

// ---------------------------------------------------------------- Standardize

template <class T>
Standardize<T>::Standardize(Build<T>& b, long per_sample, T scale)
    : name_("standardize"),
      dev_(b.device()),
      per_sample_(per_sample),
      max_batch_(b.max_batch),
      scale_(scale) {
  RM_CHECK(per_sample > 0 && b.max_batch > 0, name_, ": bad size ", per_sample, " x ", b.max_batch);
  y_ = b.arena.template tensor<T>({b.max_batch, per_sample});
}

// y = x * scale (x / 255 by default).
template <class T>
Tensor Standardize<T>::forward(const Tensor& x_u8) {
  const int B = checked_batch(x_u8, DType::u8, dev_, per_sample_, max_batch_, name_);
  ops::standardize(dev_, B * per_sample_, x_u8.data<uint8_t>(), y_.template data<T>(), scale_);
  return rows(y_, B, x_u8.shape());
}

// ---------------------------------------------------------------- ResidualBlock

template <class T>
ResidualBlock<T>::ResidualBlock(Build<T>& b, const std::string& name, int channels, int height,
                                int width, Rng& rng, bool input_from_relu)
    : name_("residual block '" + name + "'"),
      dev_(b.device()),
      c_(channels),
      h_(height),
      w_(width),
      max_batch_(b.max_batch),
      a1_(b, kernels::Act::ReLU, long(channels / 2) * height * width),
      a2_(b, kernels::Act::ReLU, long(channels / 2) * height * width),
      c0_(b, name + ".conv0",
          {.in_c = channels, .in_h = height, .in_w = width, .out_c = channels / 2, .kernel = 1},
          rng),
      c1_(b, name + ".conv1",
          {.in_c = channels / 2,
           .in_h = height,
           .in_w = width,
           .out_c = channels / 2,
           .kernel = 3,
           .stride = 1,
           .pad = 1},
          rng),
      c2_(b, name + ".conv2",
          {.in_c = channels / 2, .in_h = height, .in_w = width, .out_c = channels, .kernel = 1},
          rng) {
  RM_CHECK(channels >= 2 && channels % 2 == 0, name_, ": channels must be even, got ", channels);
  if (!input_from_relu) a0_.emplace(b, kernels::Act::ReLU, long(channels) * height * width);
  y_ = b.arena.template tensor<T>({b.max_batch, channels, height, width});
  dx_ = b.arena.template tensor<T>({b.max_batch, channels, height, width});
}

// out = x + conv2(relu(conv1(relu(conv0(relu(x))))))
template <class T>
Tensor ResidualBlock<T>::forward(const Tensor& x) {
  const int B = checked_batch(x, dtype_of<T>(), dev_, {c_, h_, w_}, max_batch_, name_);
  Tensor f =
      c2_.forward(a2_.forward(c1_.forward(a1_.forward(c0_.forward(a0_ ? a0_->forward(x) : x)))));
  ops::add(dev_, x.numel(), x.data<T>(), f.data<T>(), y_.template data<T>());
  return rows(y_, B, x.shape());
}

template <class T>
Tensor ResidualBlock<T>::backward(const Tensor& dy) {
  Tensor df = c0_.backward(a1_.backward(c1_.backward(a2_.backward(c2_.backward(dy)))));
  if (a0_) df = a0_->backward(df);
  ops::add(dev_, dy.numel(), dy.data<T>(), df.data<T>(), dx_.template data<T>());
  return rows(dx_, int(dy.dim(0)), dy.shape());
}

template <class T>
long ResidualBlock<T>::params() const {
  return c0_.params() + c1_.params() + c2_.params();
}

template <class T>
long ResidualBlock<T>::flops() const {
  // The first ReLU counts whether it runs or not: the architecture has it (Table 2's FLOPs).
  return long(c_) * h_ * w_ + c0_.flops() + a1_.flops() + c1_.flops() + a2_.flops() + c2_.flops() +
         long(c_) * h_ * w_;
}

template class Activation<float>;
template class Activation<double>;
template class LayerNorm<float>;
template class LayerNorm<double>;
template class MaxPool3D<float>;
template class MaxPool3D<double>;
template class Standardize<float>;
template class Standardize<double>;
template class ResidualBlock<float>;
template class ResidualBlock<double>;

}  // namespace relmimic
