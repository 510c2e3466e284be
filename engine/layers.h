// Layers: plain structs that own their parameters (slots in the network's ParamSet), their
// output/gradient buffers (from the network's Arena, sized for max_batch) and what forward
// saved for backward.
//
// Conventions, shared by every layer:
//  - Tensors are NCHW, batch first; x.dim(0) is the batch B <= max_batch.
//  - forward(x) returns a view of the layer's own output buffer [B, ...]. The layer keeps a
//    view of x: the caller keeps x alive and unchanged until backward.
//  - backward(dy) accumulates parameter gradients into the ParamSet and returns dx (a view of
//    the layer's own buffer), or an undefined Tensor when constructed with need_dx = false.
//  - Second-order passes (reward-net layers only): jvp(t_x) returns the forward-mode tangent
//    t_y = J(x) t_x at the x of the last forward (parameters have zero tangent).
//    backward_jvp(dy, dt_y) is reverse mode through forward and jvp together: it accumulates
//    the parameter gradients of both, and returns {dx, dt_x}. With this, the gradient penalty's
//    parameter gradient is exact:  grad_theta P = backward_jvp(0, 1) after jvp(dP/dgrad_x).
//    Tangent buffers exist only when the layer was built with Build::second_order.
//    An undefined dy stands for zero (the penalty on the logit, where f'' = 0): the layer skips
//    that half and returns an undefined dx when it stays zero (it does through convs, linears
//    and piecewise-linear activations; a relational block's softmax makes it nonzero).
//  - set_repeat_backward(true) (the layers with backward_jvp): the caller promises that each
//    backward_jvp's dt_y is the dy of the layer's last backward(), unchanged in between (the
//    gradient penalty's dt half is exactly its grad_x pass). The layer returns that pass's dx
//    as dt_x instead of computing it again, and writes the dy half elsewhere; it checks that
//    dt_y is the very buffer backward() read.
//  - set_param_grads(false) makes backward compute dx only (the gradient penalty's pass for
//    grad_x D must not leave parameter gradients behind).
//  - params() counts trainable scalars; flops() counts one sample's forward FLOPs as
//    2*MAC + bias adds (+ residual adds); attention matmuls are reported apart.
//  - Weights start orthogonal (scaled by the layer's gain), biases at zero.
//  - Device: a layer computes where its Build's arena lives (Build::device()); its inputs and
//    output gradients must be there too (an input elsewhere is an error naming the layer).
//    Parameter pointers (ParamSet) and buffers are on that device after the network finalizes.
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "engine/arena.h"
#include "engine/params.h"
#include "engine/rng.h"
#include "engine/tensor.h"
#include "kernels/activation.h"
#include "kernels/attention.h"
#include "kernels/conv2d.h"
#include "kernels/pool3d.h"

namespace relmimic {

// Everything a layer needs at construction.
template <class T>
struct Build {
  ParamSet<T>& params;   // trainable parameters
  ParamSet<T>& buffers;  // persistent non-trainable state (spectral-norm u, ...), checkpointed
  Arena& arena;
  int max_batch;
  bool second_order = false;  // allocate tangent buffers for jvp / backward_jvp
  Device device() const { return arena.device(); }
};

// Returned by backward_jvp: gradients w.r.t. the input and the input's tangent.
struct DualGrad {
  Tensor dx, dt_x;
};

namespace detail {
// set_repeat_backward's bookkeeping: the mode, and the dy buffer of the last backward() that
// wrote dx (null after a forward or a backward that wrote none).
class RepeatBackward {
 public:
  void set(bool on) { on_ = on; }
  bool on() const { return on_; }
  void forget() { dy_ = nullptr; }
  void remember(const Tensor& dy) { dy_ = dy.raw(); }
  // Where a backward_jvp writes its two halves, given the layer's buffers: plainly dx_buf and
  // dt_x_buf; in the mode (after failing unless dt_y is the buffer the last backward() read)
  // dt_x is that backward's dx, already in dx_buf, and dx goes to dt_x_buf.
  struct Targets {
    Tensor *dx, *dt_x;
  };
  Targets targets(const Tensor& dt_y, const std::string& who, Tensor& dx_buf,
                  Tensor& dt_x_buf) const;

 private:
  bool on_ = false;
  const void* dy_ = nullptr;
};
}  // namespace detail

// Spectral normalisation of a weight viewed as a matrix [rows, cols] (rows = out channels).
// One power iteration per forward in training mode, u persistent (a buffer), v derived.
// W_sn = W / sigma, sigma = u^T W v, with u and v treated as constants in the gradient
// (as in Miyato et al. and PyTorch): dW = (dW_sn - <dW_sn, W_sn> u v^T) / sigma.
template <class T>
class SpectralNorm {
 public:
  SpectralNorm(Build<T>& b, const std::string& name, int rows, int cols, Rng& rng);
  // Writes W_sn; updates u (and sigma) when training. Pointers on the layer's device.
  void normalize(const T* w, T* w_sn, bool training);
  // Maps the gradient w.r.t. W_sn (accumulated since the last normalize) into dw (accumulate).
  void backward(const T* dw_sn, T* dw) const;
  // sigma of the last normalize (on CUDA it lives on the device: this copies it to the host).
  T sigma() const;
  const T* u() const;
  const T* v() const { return v_.template data<T>(); }

 private:
  ParamSet<T>& buffers_;
  Device dev_;
  int u_slot_;
  int rows_, cols_;
  Tensor v_, w_sn_;  // v [cols], copy of W_sn used by backward
  Tensor acc_;       // cpu: [cols] double accumulator for W^T u; CUDA: [1] double sigma
  T sigma_ = T(1);
};

template <class T>
class MaxPool3D;

// 2-D convolution with bias, optional spectral norm on the weight.
template <class T>
class Conv2d {
 public:
  struct Options {
    int in_c, in_h, in_w, out_c, kernel, stride = 1, pad = 0;
    bool bias = true, spectral_norm = false, need_dx = true;
    double gain = 1.4142135623730951;  // orthogonal init gain (sqrt 2)
    // CPU float only: x and dx (blocked_in), y and dy (blocked_out) are in oneDNN's blocked
    // layout, not NCHW (kernels::Conv2dDims); the shapes stay [B, C, H, W]. For a chain of
    // convolutions (with element-wise layers between them) that nothing else reads; the
    // channels must be a multiple of kernels::cpu_conv_block().
    bool blocked_in = false, blocked_out = false;
  };
  Conv2d(Build<T>& b, const std::string& name, const Options& o, Rng& rng);
  Tensor forward(const Tensor& x);
  Tensor backward(const Tensor& dy);
  // backward(pool.backward(dpool)) for a max-pool on this layer's output. On the CPU, when no
  // input gradient is needed, the weight gradients come straight from the pool's winners
  // (kernels/conv_pool.h) without the dense output gradient; elsewhere it is that composition.
  Tensor backward_through_pool(MaxPool3D<T>& pool, const Tensor& dpool);
  Tensor jvp(const Tensor& t_x);
  DualGrad backward_jvp(const Tensor& dy, const Tensor& dt_y);

  Shape out_shape(int batch) const { return {batch, d_.out_c, d_.out_h(), d_.out_w()}; }
  long params() const;
  long flops() const;
  int weight_slot() const { return w_; }
  int bias_slot() const { return b_; }
  bool blocked_out() const { return d_.blocked_out; }
  const SpectralNorm<T>* spectral_norm() const { return sn_ ? &*sn_ : nullptr; }
  void set_training(bool t) { training_ = t; }
  void set_param_grads(bool on) { param_grads_ = on; }
  // off: backward and backward_jvp skip the input gradients (when nothing reads them).
  void set_input_grads(bool on) { input_grads_ = on; }
  void set_repeat_backward(bool on) { repeat_.set(on); }

 private:
  const T* weight();  // W, or W_sn under spectral norm
  kernels::Conv2dDims dims(int batch) const;
  // dW (+)= dy (*) x [+ dt_y (*) t_x], db += sum dy; through spectral norm when on.
  void weight_grads(int batch, const T* x, const T* dy, const T* t_x, const T* dt_y);
  std::string name_;
  Device dev_;
  ParamSet<T>& ps_;
  kernels::Conv2dDims d_;
  Options o_;
  int max_batch_;
  int w_ = -1, b_ = -1;
  std::optional<SpectralNorm<T>> sn_;
  Tensor x_, t_x_, y_, t_y_, dx_, dt_x_, w_sn_, dw_sn_;
  bool training_ = true, param_grads_ = true, input_grads_ = true;
  detail::RepeatBackward repeat_;
};

// Fully connected: x [B, in] -> y [B, out]; optional spectral norm.
template <class T>
class Linear {
 public:
  struct Options {
    int in, out;
    bool bias = true, spectral_norm = false, need_dx = true;
    double gain = 1.4142135623730951;  // orthogonal init gain (sqrt 2)
  };
  Linear(Build<T>& b, const std::string& name, const Options& o, Rng& rng);
  Tensor forward(const Tensor& x);  // x may be [B, ...]; it is flattened to [B, in]
  Tensor backward(const Tensor& dy);
  Tensor jvp(const Tensor& t_x);
  DualGrad backward_jvp(const Tensor& dy, const Tensor& dt_y);
  long params() const;
  long flops() const;
  int weight_slot() const { return w_; }
  int bias_slot() const { return b_; }
  const SpectralNorm<T>* spectral_norm() const { return sn_ ? &*sn_ : nullptr; }
  void set_training(bool t) { training_ = t; }
  void set_param_grads(bool on) { param_grads_ = on; }
  // off: backward and backward_jvp skip the input gradients (when nothing reads them).
  void set_input_grads(bool on) { input_grads_ = on; }
  void set_repeat_backward(bool on) { repeat_.set(on); }

 private:
  const T* weight();
  int batch_of(const Tensor& x) const;
  void weight_grads(int batch, const T* x, const T* dy, const T* t_x, const T* dt_y);
  std::string name_;
  Device dev_;
  ParamSet<T>& ps_;
  Options o_;
  int max_batch_;
  int w_ = -1, b_ = -1;
  std::optional<SpectralNorm<T>> sn_;
  Tensor x_, t_x_, y_, t_y_, dx_, dt_x_, w_sn_, dw_sn_;
  bool training_ = true, param_grads_ = true, input_grads_ = true;
  detail::RepeatBackward repeat_;
};

// LayerNorm over the features of [B, D] with gain and bias.
template <class T>
class LayerNorm {
 public:
  LayerNorm(Build<T>& b, const std::string& name, int dim, T eps = T(1e-5));
  Tensor forward(const Tensor& x);
  Tensor backward(const Tensor& dy);
  long params() const { return 2L * dim_; }
  long flops() const { return 8L * dim_; }

 private:
  std::string name_;
  Device dev_;
  ParamSet<T>& ps_;
  int dim_, max_batch_;
  T eps_;
  int g_ = -1, b_ = -1;
  Tensor x_, y_, dx_, mean_, rstd_;
};

// Element-wise activation on any shape [B, ...] (per-sample size given at construction).
template <class T>
class Activation {
 public:
  Activation(Build<T>& b, kernels::Act act, long per_sample, T slope = T(0.01));
  Tensor forward(const Tensor& x);
  Tensor backward(const Tensor& dy);
  Tensor jvp(const Tensor& t_x);
  DualGrad backward_jvp(const Tensor& dy, const Tensor& dt_y);
  void set_repeat_backward(bool on) { repeat_.set(on); }
  long flops() const { return per_sample_; }

 private:
  std::string name_;
  Device dev_;
  kernels::Act act_;
  long per_sample_;
  int max_batch_;
  T slope_;
  Tensor x_, t_x_, y_, t_y_, dx_, dt_x_;
  detail::RepeatBackward repeat_;
};

// MaxPool3D over (channel, H, W) of [B, C, H, W].
template <class T>
class MaxPool3D {
 public:
  MaxPool3D(Build<T>& b, const kernels::Pool3dDims& dims);  // dims.batch ignored
  Tensor forward(const Tensor& x);
  Tensor backward(const Tensor& dy);
  Shape out_shape(int batch) const { return {batch, d_.out_c(), d_.out_h(), d_.out_w()}; }
  long flops() const { return 0; }
  // The last forward's dims (its batch) and winners [batch, out_size], for layers that use
  // them directly (Conv2d::backward_through_pool).
  kernels::Pool3dDims last_dims() const;
  const int32_t* last_argmax() const;

 private:
  std::string name_;
  Device dev_;
  kernels::Pool3dDims d_;
  int max_batch_, batch_ = 0;
  Tensor y_, dx_, argmax_;
};

// Relational block (non-local, embedded Gaussian) on [B, C, H, W] with embedding width C':
// theta/phi/g = 1x1 conv C -> C'; y = softmax(theta^T phi) g; z = conv1x1(y) (C' -> C) + u.
// Optional spectral norm on all four 1x1 convs (reward net). Second-order passes included.
template <class T>
class RelationalBlock {
 public:
  struct Options {
    int channels, height, width, embed;
    bool spectral_norm = false;
  };
  RelationalBlock(Build<T>& b, const std::string& name, const Options& o, Rng& rng);
  Tensor forward(const Tensor& x);
  Tensor backward(const Tensor& dy);
  Tensor jvp(const Tensor& t_x);
  DualGrad backward_jvp(const Tensor& dy, const Tensor& dt_y);
  long params() const;
  long flops() const;            // the four 1x1 convs + residual add
  long attention_flops() const;  // theta^T phi and A g matmuls + softmax, per sample
  // [B, N, N] of the last forward (on CUDA's fused path it is computed from the saved
  // log-sum-exp on the first call after a forward; a first-order fused block allocates its
  // [max_batch, N, N] buffer on that first call, outside the arena).
  Tensor attention() const;
  // The CUDA attention implementation (Fused when C' allows it); the cpu ignores it.
  kernels::AttentionPath attention_path() const { return path_; }
  void set_training(bool t);
  void set_param_grads(bool on);
  // The block's own dx / dt_x only: the 1x1 convs inside always compute both halves (their
  // dt_y come from the attention's passes, not from a backward they ran).
  void set_repeat_backward(bool on) { repeat_.set(on); }
  int conv_layers() const { return 4; }

 private:
  std::string name_;
  Device dev_;
  Options o_;
  int max_batch_;
  Conv2d<T> theta_, phi_, g_, out_;
  kernels::AttentionDims ad_;
  kernels::AttentionPath path_ = kernels::AttentionPath::Unfused;
  Tensor lse_, work_;                // CUDA: row log-sum-exp [B, N]; scratch for the unfused passes
  mutable bool attn_ready_ = false;  // attn_ holds A of the last forward
  // Views of the convs' outputs [B, C', H, W] (and their tangents) saved for the backward passes.
  Tensor th_, ph_, gg_, t_th_, t_ph_, t_gg_;
  Tensor x_, y_, t_y_, s_dot_, att_out_, t_att_out_, dx_, dt_x_;
  mutable Tensor attn_;  // A [max_batch, N, N]: see the constructor
  Tensor d_theta_, d_phi_, d_g_, dt_theta_, dt_phi_, dt_g_;
  detail::RepeatBackward repeat_;
};

// Pre-activation residual block on [B, c, H, W] (m = c/2):
// F = ReLU -> conv1x1(c->m) -> ReLU -> conv3x3(m->m, pad 1) -> ReLU -> conv1x1(m->c); out = x + F.
// input_from_relu: the block's input is a ReLU's output (the agent torso's rows 3 and 7 end in
// one), so F's first ReLU is skipped: its forward is the identity on x >= 0, and the gradient it
// would zero where x = 0 is zeroed by that earlier ReLU's backward, after the skip's add, all the
// same. The network's outputs and gradients keep their bits; the block's own dx differs where
// x = 0.
template <class T>
class ResidualBlock {
 public:
  ResidualBlock(Build<T>& b, const std::string& name, int channels, int height, int width, Rng& rng,
                bool input_from_relu = false);
  Tensor forward(const Tensor& x);
  Tensor backward(const Tensor& dy);
  long params() const;
  long flops() const;
  int conv_layers() const { return 3; }

 private:
  std::string name_;
  Device dev_;
  int c_, h_, w_, max_batch_;
  std::optional<Activation<T>> a0_;  // absent with input_from_relu
  Activation<T> a1_, a2_;
  Conv2d<T> c0_, c1_, c2_;
  Tensor y_, dx_;
};

// Standardize: uint8 frames [B, k, H, W] -> T in [0, 1] (x / 255). The first row of every net.
template <class T>
class Standardize {
 public:
  Standardize(Build<T>& b, long per_sample, T scale = T(1.0 / 255.0));
  Tensor forward(const Tensor& x_u8);
  long flops() const { return per_sample_; }

 private:
  std::string name_;
  Device dev_;
  long per_sample_;
  int max_batch_;
  T scale_;
  Tensor y_;
};

// Orthogonal initialisation of a [rows, cols] matrix (Saxe et al.), scaled by gain.
template <class T>
void orthogonal_init(T* w, int rows, int cols, double gain, Rng& rng);

}  // namespace relmimic
