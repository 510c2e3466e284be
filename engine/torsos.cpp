// The agent torsos: Nature CNN, Large IMPALA, the paper's Local / Non-local agent, and the MLP.
// Each forward is the explicit sequence of layer calls; each backward the same calls reversed.
#include <memory>
#include <optional>
#include <vector>

#include "engine/device_ops.h"
#include "engine/layer_util.h"
#include "engine/networks.h"

namespace relmimic {

namespace {

using kernels::Act;

// [1, C, H, W] of a layer's output.
template <class L>
Shape sample_shape(const L& layer) {
  return layer.out_shape(1);
}

template <class T>
typename Conv2d<T>::Options conv_on(const Shape& in, int out_c, int kernel, int stride, int pad,
                                    bool need_dx = true) {
  typename Conv2d<T>::Options o{.in_c = int(in[1]),
                                .in_h = int(in[2]),
                                .in_w = int(in[3]),
                                .out_c = out_c,
                                .kernel = kernel,
                                .stride = stride,
                                .pad = pad};
  o.need_dx = need_dx;
  return o;
}

// FC -> LayerNorm -> ReLU: the dense row that ends every image torso.
template <class T>
class DenseTail {
 public:
  DenseTail(Build<T>& b, const std::string& name, int in, int out, Rng& rng)
      : fc_(b, name + ".fc", {.in = in, .out = out}, rng),
        ln_(b, name + ".ln", out),
        act_(b, Act::ReLU, out) {}
  Tensor forward(const Tensor& x) { return act_.forward(ln_.forward(fc_.forward(x))); }
  Tensor backward(const Tensor& dy) { return fc_.backward(ln_.backward(act_.backward(dy))); }
  long params() const { return fc_.params() + ln_.params(); }
  long flops() const { return fc_.flops() + ln_.flops() + act_.flops(); }

 private:
  Linear<T> fc_;
  LayerNorm<T> ln_;
  Activation<T> act_;
};

// ---------------------------------------------------------------- Nature CNN
// conv 8x8/4 32 -> ReLU -> conv 4x4/2 64 -> ReLU -> conv 3x3/1 64 -> ReLU -> FC 512 -> LN -> ReLU

template <class T>
class NatureTorso final : public Torso<T> {
 public:
  NatureTorso(Build<T>& b, const AgentConfig& c, Rng& rng)
      : std_(b, long(c.frames) * c.height * c.width),
        c1_(b, "nature.conv1", conv_on<T>({1, c.frames, c.height, c.width}, 32, 8, 4, 0, false),
            rng),
        a1_(b, Act::ReLU, sample_shape(c1_).numel()),
        c2_(b, "nature.conv2", conv_on<T>(sample_shape(c1_), 64, 4, 2, 0), rng),
        a2_(b, Act::ReLU, sample_shape(c2_).numel()),
        c3_(b, "nature.conv3", conv_on<T>(sample_shape(c2_), 64, 3, 1, 0), rng),
        a3_(b, Act::ReLU, sample_shape(c3_).numel()),
        tail_(b, "nature", int(sample_shape(c3_).numel()), kFeatures, rng) {}

  Tensor forward(const Tensor& obs) override {
    Tensor h = a1_.forward(c1_.forward(std_.forward(obs)));
    h = a3_.forward(c3_.forward(a2_.forward(c2_.forward(h))));
    return tail_.forward(h);
  }
  void backward(const Tensor& dfeat) override {
    Tensor d = a2_.backward(c3_.backward(a3_.backward(tail_.backward(dfeat))));
    c1_.backward(a1_.backward(c2_.backward(d)));
  }
  int features() const override { return kFeatures; }
  long params() const override {
    return c1_.params() + c2_.params() + c3_.params() + tail_.params();
  }
  long flops() const override {
    return std_.flops() + c1_.flops() + a1_.flops() + c2_.flops() + a2_.flops() + c3_.flops() +
           a3_.flops() + tail_.flops();
  }
  int conv_layers() const override { return 3; }

 private:
  static constexpr int kFeatures = 512;
  Standardize<T> std_;
  Conv2d<T> c1_;
  Activation<T> a1_;
  Conv2d<T> c2_;
  Activation<T> a2_;
  Conv2d<T> c3_;
  Activation<T> a3_;
  DenseTail<T> tail_;
};

// ---------------------------------------------------------------- Large IMPALA
// Three stacks (16, 32, 32 channels) of: conv 3x3 (no pad) -> max-pool 3/2 (no pad) ->
// 2 x [x + conv3x3(ReLU(conv3x3(ReLU(x))))] (pad 1); then ReLU -> FC 256 -> LN -> ReLU.

template <class T>
class ImpalaBlock {
 public:
  ImpalaBlock(Build<T>& b, const std::string& name, const Shape& in, Rng& rng)
      : shape_(in),
        dev_(b.device()),
        a0_(b, Act::ReLU, in.numel()),
        c0_(b, name + ".conv0", conv_on<T>(in, int(in[1]), 3, 1, 1), rng),
        a1_(b, Act::ReLU, in.numel()),
        c1_(b, name + ".conv1", conv_on<T>(in, int(in[1]), 3, 1, 1), rng) {
    y_ = b.arena.template tensor<T>({b.max_batch, in[1], in[2], in[3]});
    dx_ = b.arena.template tensor<T>({b.max_batch, in[1], in[2], in[3]});
  }
  Tensor forward(const Tensor& x) {
    Tensor f = c1_.forward(a1_.forward(c0_.forward(a0_.forward(x))));
    ops::add(dev_, x.numel(), x.data<T>(), f.data<T>(), y_.template data<T>());
    return detail::rows(y_, int(x.dim(0)), x.shape());
  }
  Tensor backward(const Tensor& dy) {
    Tensor df = a0_.backward(c0_.backward(a1_.backward(c1_.backward(dy))));
    ops::add(dev_, dy.numel(), dy.data<T>(), df.data<T>(), dx_.template data<T>());
    return detail::rows(dx_, int(dy.dim(0)), dy.shape());
  }
  long params() const { return c0_.params() + c1_.params(); }
  long flops() const {
    return a0_.flops() + c0_.flops() + a1_.flops() + c1_.flops() + shape_.numel();
  }

 private:
  Shape shape_;
  Device dev_;
  Activation<T> a0_;
  Conv2d<T> c0_;
  Activation<T> a1_;
  Conv2d<T> c1_;
  Tensor y_, dx_;
};

template <class T>
class ImpalaStack {
 public:
  ImpalaStack(Build<T>& b, const std::string& name, const Shape& in, int channels, bool first,
              Rng& rng)
      : conv_(b, name + ".conv", conv_on<T>(in, channels, 3, 1, 0, !first), rng),
        pool_(b, pool_dims(sample_shape(conv_))),
        r0_(b, name + ".res0", sample_shape(pool_), rng),
        r1_(b, name + ".res1", sample_shape(pool_), rng) {}
  Tensor forward(const Tensor& x) {
    return r1_.forward(r0_.forward(pool_.forward(conv_.forward(x))));
  }
  Tensor backward(const Tensor& dy) {
    return conv_.backward(pool_.backward(r0_.backward(r1_.backward(dy))));
  }
  Shape out_shape() const { return sample_shape(pool_); }
  long params() const { return conv_.params() + r0_.params() + r1_.params(); }
  long flops() const { return conv_.flops() + pool_.flops() + r0_.flops() + r1_.flops(); }

 private:
  // 2-D max-pool 3x3 stride 2 as a 3-D pool with a one-channel window.
  static kernels::Pool3dDims pool_dims(const Shape& in) {
    return {.c = int(in[1]), .h = int(in[2]), .w = int(in[3]), .kh = 3, .kw = 3, .sh = 2, .sw = 2};
  }
  Conv2d<T> conv_;
  MaxPool3D<T> pool_;
  ImpalaBlock<T> r0_, r1_;
};

template <class T>
class ImpalaTorso final : public Torso<T> {
 public:
  ImpalaTorso(Build<T>& b, const AgentConfig& c, Rng& rng)
      : std_(b, long(c.frames) * c.height * c.width) {
    Shape s{1, c.frames, c.height, c.width};
    const int channels[3] = {16, 32, 32};
    for (int i = 0; i < 3; ++i) {
      stacks_.push_back(std::make_unique<ImpalaStack<T>>(b, "impala.stack" + std::to_string(i), s,
                                                         channels[i], i == 0, rng));
      s = stacks_.back()->out_shape();
    }
    act_.emplace(b, Act::ReLU, s.numel());
    tail_.emplace(b, "impala", int(s.numel()), kFeatures, rng);
  }

  Tensor forward(const Tensor& obs) override {
    Tensor h = std_.forward(obs);
    for (auto& s : stacks_) h = s->forward(h);
    return tail_->forward(act_->forward(h));
  }
  void backward(const Tensor& dfeat) override {
    Tensor d = act_->backward(tail_->backward(dfeat));
    for (int i = 2; i >= 0; --i) d = stacks_[size_t(i)]->backward(d);
  }
  int features() const override { return kFeatures; }
  long params() const override {
    long n = tail_->params();
    for (const auto& s : stacks_) n += s->params();
    return n;
  }
  long flops() const override {
    long n = std_.flops() + act_->flops() + tail_->flops();
    for (const auto& s : stacks_) n += s->flops();
    return n;
  }
  int conv_layers() const override { return 3 * 5; }

 private:
  static constexpr int kFeatures = 256;
  Standardize<T> std_;
  std::vector<std::unique_ptr<ImpalaStack<T>>> stacks_;
  std::optional<Activation<T>> act_;
  std::optional<DenseTail<T>> tail_;
};

// ---------------------------------------------------------------- Local / Non-local agent (Table
// 1)
// Table 1 applies each ReLU before the max-pool that follows it (rows 2-3 and 6-7). ReLU is
// monotone, so max(ReLU(x)) = ReLU(max(x)) bit for bit, and the gradient reaching x is the same:
// dy where the window's maximum is positive, 0 elsewhere. The torso pools first and applies the
// ReLU to the pooled tensor, 7x smaller after row 3 (half after row 7): that ReLU and its
// backward were ~10 % of a PPO minibatch on the CPU at 48x48. The stem's weight gradient comes
// straight from the first pool's winners on the CPU (Conv2d::backward_through_pool). The
// ResBlocks right after those ReLUs (rows 4 and 8) skip their own first ReLU, the identity on
// the ReLU's output, with the same bits (ResidualBlock's input_from_relu).

template <class T>
class AgentTorso final : public Torso<T> {
 public:
  AgentTorso(Build<T>& b, const AgentConfig& c, bool relational, Rng& rng)
      : std_(b, long(c.frames) * c.height * c.width),
        c1_(b, "agent.conv1", conv_on<T>({1, c.frames, c.height, c.width}, 32, 5, 2, 1, false),
            rng),
        p1_(b, pool1(sample_shape(c1_))),
        a1_(b, Act::ReLU, sample_shape(p1_).numel()),
        rb1_(b, "agent.res1", int(sample_shape(p1_)[1]), int(sample_shape(p1_)[2]),
             int(sample_shape(p1_)[3]), rng, /*input_from_relu=*/true),
        rb2_(b, "agent.res2", int(sample_shape(p1_)[1]), int(sample_shape(p1_)[2]),
             int(sample_shape(p1_)[3]), rng),
        p2_(b, pool2(sample_shape(p1_))),
        a2_(b, Act::ReLU, sample_shape(p2_).numel()),
        rb3_(b, "agent.res3", int(sample_shape(p2_)[1]), int(sample_shape(p2_)[2]),
             int(sample_shape(p2_)[3]), rng, /*input_from_relu=*/true),
        rb4_(b, "agent.res4", int(sample_shape(p2_)[1]), int(sample_shape(p2_)[2]),
             int(sample_shape(p2_)[3]), rng),
        a3_(b, Act::ReLU, sample_shape(p2_).numel()),
        tail_(b, "agent", int(sample_shape(p2_).numel()), kFeatures, rng) {
    if (relational) {
      const Shape s = sample_shape(p1_);
      rel_.emplace(
          b, "agent.relational",
          typename RelationalBlock<T>::Options{
              .channels = int(s[1]), .height = int(s[2]), .width = int(s[3]), .embed = c.embed},
          rng);
    }
  }

  Tensor forward(const Tensor& obs) override {
    Tensor h = a1_.forward(p1_.forward(c1_.forward(std_.forward(obs))));
    h = rb1_.forward(h);
    if (rel_) h = rel_->forward(h);
    h = a2_.forward(p2_.forward(rb2_.forward(h)));
    h = a3_.forward(rb4_.forward(rb3_.forward(h)));
    return tail_.forward(h);
  }
  void backward(const Tensor& dfeat) override {
    Tensor d = rb3_.backward(rb4_.backward(a3_.backward(tail_.backward(dfeat))));
    d = rb2_.backward(p2_.backward(a2_.backward(d)));
    if (rel_) d = rel_->backward(d);
    d = rb1_.backward(d);
    c1_.backward_through_pool(p1_, a1_.backward(d));
  }
  int features() const override { return kFeatures; }
  long params() const override {
    return c1_.params() + rb1_.params() + (rel_ ? rel_->params() : 0) + rb2_.params() +
           rb3_.params() + rb4_.params() + tail_.params();
  }
  long flops() const override {
    return std_.flops() + c1_.flops() + a1_.flops() + p1_.flops() + rb1_.flops() +
           (rel_ ? rel_->flops() : 0) + rb2_.flops() + a2_.flops() + p2_.flops() + rb3_.flops() +
           rb4_.flops() + a3_.flops() + tail_.flops();
  }
  long attention_flops() const override { return rel_ ? rel_->attention_flops() : 0; }
  int conv_layers() const override {
    return 1 + rb1_.conv_layers() + rb2_.conv_layers() + rb3_.conv_layers() + rb4_.conv_layers() +
           (rel_ ? rel_->conv_layers() : 0);
  }

 private:
  static constexpr int kFeatures = 128;
  // Row 3: window (2, 3, 3), stride (2, 2, 2), pad (0, 1, 1) over (channel, H, W).
  static kernels::Pool3dDims pool1(const Shape& in) {
    return {.c = int(in[1]),
            .h = int(in[2]),
            .w = int(in[3]),
            .kc = 2,
            .kh = 3,
            .kw = 3,
            .sc = 2,
            .sh = 2,
            .sw = 2,
            .pc = 0,
            .ph = 1,
            .pw = 1};
  }
  // Row 7: feature-only window (2, 1, 1), stride (2, 1, 1).
  static kernels::Pool3dDims pool2(const Shape& in) {
    return {.c = int(in[1]), .h = int(in[2]), .w = int(in[3]), .kc = 2, .sc = 2};
  }
  Standardize<T> std_;
  Conv2d<T> c1_;
  MaxPool3D<T> p1_;
  Activation<T> a1_;
  ResidualBlock<T> rb1_, rb2_;
  MaxPool3D<T> p2_;
  Activation<T> a2_;
  ResidualBlock<T> rb3_, rb4_;
  Activation<T> a3_;
  DenseTail<T> tail_;
  std::optional<RelationalBlock<T>> rel_;
};

// ---------------------------------------------------------------- MLP (proprioceptive experts)
// FC 64 -> [LN] -> tanh -> FC 64 -> [LN] -> tanh

template <class T>
class MlpTorso final : public Torso<T> {
 public:
  MlpTorso(Build<T>& b, const AgentConfig& c, Rng& rng)
      : hidden_(c.mlp_hidden),
        l1_(b, "mlp.fc1", {.in = c.obs_dim, .out = c.mlp_hidden, .need_dx = false}, rng),
        t1_(b, Act::Tanh, c.mlp_hidden),
        l2_(b, "mlp.fc2", {.in = c.mlp_hidden, .out = c.mlp_hidden}, rng),
        t2_(b, Act::Tanh, c.mlp_hidden) {
    if (c.mlp_layer_norm) {
      n1_.emplace(b, "mlp.ln1", c.mlp_hidden);
      n2_.emplace(b, "mlp.ln2", c.mlp_hidden);
    }
  }

  Tensor forward(const Tensor& obs) override {
    Tensor h = l1_.forward(obs);
    if (n1_) h = n1_->forward(h);
    h = l2_.forward(t1_.forward(h));
    if (n2_) h = n2_->forward(h);
    return t2_.forward(h);
  }
  void backward(const Tensor& dfeat) override {
    Tensor d = t2_.backward(dfeat);
    if (n2_) d = n2_->backward(d);
    d = t1_.backward(l2_.backward(d));
    if (n1_) d = n1_->backward(d);
    l1_.backward(d);
  }
  int features() const override { return hidden_; }
  long params() const override {
    return l1_.params() + l2_.params() + (n1_ ? n1_->params() + n2_->params() : 0);
  }
  long flops() const override {
    return l1_.flops() + t1_.flops() + l2_.flops() + t2_.flops() +
           (n1_ ? n1_->flops() + n2_->flops() : 0);
  }

 private:
  int hidden_;
  Linear<T> l1_;
  Activation<T> t1_;
  Linear<T> l2_;
  Activation<T> t2_;
  std::optional<LayerNorm<T>> n1_, n2_;
};

}  // namespace

const char* arch_name(Arch a) {
  switch (a) {
    case Arch::nature:
      return "nature";
    case Arch::impala:
      return "impala";
    case Arch::local:
      return "local";
    case Arch::nonlocal:
      return "nonlocal";
    case Arch::mlp:
      return "mlp";
  }
  return "?";
}

Arch parse_arch(const std::string& s) {
  for (Arch a : {Arch::nature, Arch::impala, Arch::local, Arch::nonlocal, Arch::mlp})
    if (s == arch_name(a)) return a;
  RM_FAIL("unknown network '", s, "' (expected nature, impala, local, nonlocal or mlp)");
}

template <class T>
std::unique_ptr<Torso<T>> make_torso(Build<T>& b, const AgentConfig& c, Rng& rng) {
  if (c.arch == Arch::mlp) {
    RM_CHECK(c.obs_dim > 0, "mlp torso: obs_dim must be positive, got ", c.obs_dim);
    RM_CHECK(c.mlp_hidden > 0, "mlp torso: mlp_hidden must be positive, got ", c.mlp_hidden);
    return std::make_unique<MlpTorso<T>>(b, c, rng);
  }
  RM_CHECK(c.frames > 0 && c.height > 0 && c.width > 0, arch_name(c.arch),
           " torso: bad input size ", c.frames, "x", c.height, "x", c.width);
  switch (c.arch) {
    case Arch::nature:
      return std::make_unique<NatureTorso<T>>(b, c, rng);
    case Arch::impala:
      return std::make_unique<ImpalaTorso<T>>(b, c, rng);
    case Arch::local:
    case Arch::nonlocal:
      return std::make_unique<AgentTorso<T>>(b, c, c.arch == Arch::nonlocal, rng);
    case Arch::mlp:
      break;
  }
  RM_FAIL("unknown architecture");
}

template std::unique_ptr<Torso<float>> make_torso(Build<float>&, const AgentConfig&, Rng&);
template std::unique_ptr<Torso<double>> make_torso(Build<double>&, const AgentConfig&, Rng&);

}  // namespace relmimic
