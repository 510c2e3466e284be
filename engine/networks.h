// The paper's networks (SPEC.md Tables 1-3) built from engine/layers.h.
//
// An agent network = a torso (observation -> feature [B, F]) + one head:
//   value  : Linear(F -> 1)
//   policy : Gaussian, mean = Linear(F -> A) (init gain 0.01), state-independent log-std [A]
//            (init log 0.6)
// Torsos: `nature` (standard Nature CNN), `impala` (Large IMPALA), `local` / `nonlocal` (Table 1,
// without / with the relational row), `mlp` (proprioceptive experts: two tanh layers of 64).
// Image torsos take uint8 frames [B, k, H, W] (standardized inside), the MLP float [B, obs_dim].
//
// The reward network (discriminator, Table 3) maps frames to a logit [B, 1] and computes the
// gradient penalty (on the logit or on sigmoid(logit), engine/penalty.h) with its exact
// parameter gradient. StateRewardNet does the same for windows of proprioceptive observations
// (an MLP; imitation from states). Both implement DiscriminatorNet, what algos/discriminator.h
// trains.
//
// Every network owns its ParamSet (parameters + gradients, one buffer), a ParamSet of buffers
// (spectral-norm u) and an Arena sized for max_batch at construction; forward/backward never
// allocate. forward keeps views of its input: keep the input alive until backward.
//
// Device: config.device (default the cpu) is where everything of a network lives and computes:
// parameters, gradients, buffers, the arena and every layer's kernels (the CUDA entry points on
// a GPU). Inputs must be on that device; outputs and pointers it hands out (log_std(),
// parameters().values(), ...) are on it too. Building on a CUDA device without one, or in a build
// without the CUDA backend, throws naming the network. Conv layers on CUDA take float only, so
// double image networks stay on the cpu (the MLP runs in double on CUDA too). Copy values
// between devices with ParamSet::copy_values_from / values_to_host / set_values_from_host.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/layers.h"
#include "engine/penalty.h"

namespace relmimic {

enum class Arch { nature, impala, local, nonlocal, mlp };

const char* arch_name(Arch a);
// "nature", "impala", "local", "nonlocal", "mlp"; throws on anything else.
Arch parse_arch(const std::string& s);

// Observation -> feature [B, F].
template <class T>
class Torso {
 public:
  virtual ~Torso() = default;
  virtual Tensor forward(const Tensor& obs) = 0;
  // Accumulates parameter gradients; the observation gets no gradient.
  virtual void backward(const Tensor& dfeat) = 0;
  virtual int features() const = 0;
  virtual long params() const = 0;
  virtual long flops() const = 0;  // per sample, attention matmuls excluded
  virtual long attention_flops() const { return 0; }
  virtual int conv_layers() const { return 0; }
};

struct AgentConfig {
  Arch arch = Arch::local;
  int frames = 4, height = 84, width = 84;  // image torsos: input [B, frames, height, width]
  int obs_dim = 0;                          // mlp: input [B, obs_dim]
  int embed = 2;                            // relational block width C' (nonlocal)
  int actions = 0;                          // 0: value network; > 0: Gaussian policy over A
  int max_batch = 128;
  uint64_t seed = 0;
  bool mlp_layer_norm = true;  // FC -> LN -> tanh in the MLP (SPEC: LN after hidden dense)
  int mlp_hidden = 64;         // width of the MLP's two hidden layers
  Device device = Device::cpu();
};

template <class T>
class AgentNet {
 public:
  explicit AgentNet(const AgentConfig& c);
  AgentNet(const AgentNet&) = delete;
  AgentNet& operator=(const AgentNet&) = delete;

  // obs -> [B, A] (policy mean) or [B, 1] (value).
  Tensor forward(const Tensor& obs);
  // dout like forward's output; dlog_std [A] (policy only, may be nullptr; memory on the
  // network's device) is added to the log-std gradient. Accumulates every parameter gradient.
  void backward(const Tensor& dout, const T* dlog_std = nullptr);

  bool is_policy() const { return cfg_.actions > 0; }
  int outputs() const { return is_policy() ? cfg_.actions : 1; }
  const T* log_std() const;  // [A], policy only, on device()
  int log_std_slot() const { return log_std_; }
  Device device() const { return cfg_.device; }

  ParamSet<T>& parameters() { return params_; }
  ParamSet<T>& buffers() { return buffers_; }
  Torso<T>& torso() { return *torso_; }
  const AgentConfig& config() const { return cfg_; }

  long params() const;  // trainable scalars, torso + head
  long flops() const;   // per sample forward
  long attention_flops() const { return torso_->attention_flops(); }
  int conv_layers() const { return torso_->conv_layers(); }

 private:
  AgentConfig cfg_;
  std::string name_;  // "<arch> network", for error messages
  ParamSet<T> params_, buffers_;
  Arena arena_;
  Build<T> build_;
  Rng rng_;
  std::unique_ptr<Torso<T>> torso_;
  std::optional<Linear<T>> head_;
  int log_std_ = -1;
};

// A discriminator network: windows of states -> logit [B, 1] with the exact gradient penalty.
template <class T>
class DiscriminatorNet {
 public:
  virtual ~DiscriminatorNet() = default;
  // Windows as stored (uint8 frames [B, k, H, W]; float observations [B, k, D]) -> logit [B, 1].
  virtual Tensor forward(const Tensor& windows) = 0;
  // The standardized input T (what forward() makes of the windows) -> logit [B, 1].
  virtual Tensor forward_float(const Tensor& x) = 0;
  // dlogit [B, 1]: accumulates parameter gradients, returns d/dx of the standardized input.
  virtual Tensor backward(const Tensor& dlogit) = 0;
  // backward() for the parameter gradients alone: the first layer skips d/dx (a BCE step).
  void backward_params(const Tensor& dlogit);
  // P = lambda * mean_b (||grad_x f(logit(x_hat_b))||_2 - 1)^2 for standardized interpolates
  // x_hat [B, ...], f the identity (penalty on the logit) or sigmoid (on D; engine/penalty.h).
  // With accumulate_grad, adds dP/dtheta (exact, through jvp + backward_jvp) to the parameter
  // gradients; the pass that computes grad_x f leaves none. logit_grad_norm (optional) receives
  // mean_b ||grad_x logit(x_hat_b)||_2, the steepness of the logit, from the same pass (on
  // prob: grad_x logit_b = grad_x D_b / D'(logit_b)). The same for every network.
  double gradient_penalty(const Tensor& x_hat, double lambda, bool accumulate_grad,
                          double* logit_grad_norm = nullptr);
  // Training: one power iteration of every spectral norm per forward; evaluation: u frozen.
  virtual void set_training(bool t) = 0;
  virtual ParamSet<T>& parameters() = 0;
  virtual ParamSet<T>& buffers() = 0;
  virtual Device device() const = 0;
  virtual long params() const = 0;
  virtual long flops() const = 0;
  virtual long attention_flops() const { return 0; }

 protected:
  // The penalty's passes: t_logit [B, 1] = J t_x (input Jacobian of the logit, at the last
  // forward_float), and the parameter gradient of <dlogit, logit> + <dt_logit, t_logit>.
  virtual Tensor jvp(const Tensor& t_x) = 0;
  virtual void backward_jvp(const Tensor& dlogit, const Tensor& dt_logit) = 0;
  virtual void set_param_grads(bool on) = 0;  // off: backward() leaves no parameter gradient
  // off: the first layer's backward passes skip the input gradient (nothing reads it).
  virtual void set_input_grads(bool on) = 0;
  // on: every layer's backward_jvp takes its dt half from the last backward (layers.h).
  virtual void set_repeat_backward(bool on) = 0;
  // A network's constructor hands over the penalty's scratch on its device: v [max_batch, ...]
  // (the input's shape), dlogit and dt_logit [max_batch, 1].
  void init_penalty(PenaltyOn on, int max_batch, Tensor v, Tensor dlogit, Tensor dt_logit);

 private:
  PenaltyOn penalty_on_ = PenaltyOn::logit;
  Tensor v_, dlogit_, dt_logit_;  // dP/dg, and the per-sample factors' device copies
  std::vector<T> host_logit_, host_dy_, host_tl_;  // [max_batch] on the host
};

struct RewardConfig {
  int frames = 4, height = 84, width = 84;
  bool relational = true;                                // false: the GAIfO baseline (no rows 5, 7)
  std::array<int, 5> channels = {32, 64, 64, 128, 128};  // rows 2, 3, 4, 6, 8
  std::array<int, 2> embed = {8, 16};                    // C' of rows 5 and 7
  double slope = 0.1;                                    // LeakyReLU
  PenaltyOn penalty_on = PenaltyOn::logit;               // what the gradient penalty differentiates
  int max_batch = 128;
  uint64_t seed = 0;
  Device device = Device::cpu();
  // CPU float with oneDNN: conv1 -> conv2 -> conv3 (and conv3 -> conv4 -> conv5 in the baseline,
  // which has no relational block between them) pass their activations in oneDNN's blocked layout,
  // which skips the reorders to NCHW and back around each convolution (kernels::Conv2dDims). The
  // same numbers either way; false keeps every activation NCHW.
  bool cpu_blocked = true;
};

// Table 3: conv4x4/2 -> conv4x4/2 -> conv3x3/1 -> [RB] -> conv4x4/2 -> [RB] -> conv4x4/2 -> FC,
// LeakyReLU after every conv, spectral norm on every conv/FC (relational 1x1 convs included).
template <class T>
class RewardNet : public DiscriminatorNet<T> {
 public:
  explicit RewardNet(const RewardConfig& c);
  RewardNet(const RewardNet&) = delete;
  RewardNet& operator=(const RewardNet&) = delete;

  // uint8 frames [B, k, H, W] -> logit [B, 1]  (D = sigmoid(logit)).
  Tensor forward(const Tensor& frames) override;
  // Standardized input x = frames / 255, T [B, k, H, W] -> logit [B, 1].
  Tensor forward_float(const Tensor& x) override;
  // dlogit [B, 1]: accumulates parameter gradients, returns d/dx of the standardized input.
  Tensor backward(const Tensor& dlogit) override;

  // Training: one power iteration per forward; evaluation: u frozen.
  void set_training(bool t) override;
  ParamSet<T>& parameters() override { return params_; }
  ParamSet<T>& buffers() override { return buffers_; }
  const RewardConfig& config() const { return cfg_; }
  Device device() const override { return cfg_.device; }

  long params() const override;
  long flops() const override;
  long attention_flops() const override;
  int conv_layers() const;
  // How many conv -> conv hand-overs run in oneDNN's blocked layout (RewardConfig::cpu_blocked).
  int blocked_links() const;

 protected:
  void set_param_grads(bool on) override;
  void set_input_grads(bool on) override;
  void set_repeat_backward(bool on) override;
  Tensor jvp(const Tensor& t_x) override;
  void backward_jvp(const Tensor& dlogit, const Tensor& dt_logit) override;

 private:
  RewardConfig cfg_;
  ParamSet<T> params_, buffers_;
  Arena arena_;
  Build<T> build_;
  Rng rng_;
  Standardize<T> std_;
  Conv2d<T> c1_;
  Activation<T> a1_;
  Conv2d<T> c2_;
  Activation<T> a2_;
  Conv2d<T> c3_;
  Activation<T> a3_;
  std::optional<RelationalBlock<T>> r1_;
  Conv2d<T> c4_;
  Activation<T> a4_;
  std::optional<RelationalBlock<T>> r2_;
  Conv2d<T> c5_;
  Activation<T> a5_;
  Linear<T> fc_;
  // Host copies of the penalty's per-sample scalars [max_batch]: logits, the two derivatives
  // sent back, and the logit tangent (penalty_factors of each logit, engine/penalty.h).
};

struct StateRewardConfig {
  int frames = 2;   // k observations per window
  int obs_dim = 0;  // D
  std::vector<int> hidden = {256, 256};
  double slope = 0.2;  // LeakyReLU
  int max_batch = 128;
  uint64_t seed = 0;
  // Fixed input standardization x = (o - mean) / std per observation feature (every slot of the
  // window alike), e.g. the demonstrations' moments; empty: 0 and 1. Kept in the buffers (so in
  // checkpoints).
  std::vector<double> obs_mean, obs_std;
  PenaltyOn penalty_on = PenaltyOn::logit;  // what the gradient penalty differentiates
  Device device = Device::cpu();  // the cpu only (the windows are standardized on the host)
};

// The discriminator of imitation from states (GAIfO on observation windows, no actions):
// float windows [B, k, D] -> x = (o - mean) / std -> [Linear -> LeakyReLU] per hidden width ->
// Linear -> logit [B, 1], spectral norm on every Linear. The gradient penalty is taken with
// respect to the standardized x, with its exact parameter gradient (jvp + backward_jvp of the
// Linear and LeakyReLU layers).
template <class T>
class StateRewardNet : public DiscriminatorNet<T> {
 public:
  explicit StateRewardNet(const StateRewardConfig& c);
  StateRewardNet(const StateRewardNet&) = delete;
  StateRewardNet& operator=(const StateRewardNet&) = delete;

  // float32 windows [B, k, D] -> logit [B, 1].
  Tensor forward(const Tensor& windows) override;
  // Standardized windows T [B, k, D] -> logit [B, 1].
  Tensor forward_float(const Tensor& x) override;
  Tensor backward(const Tensor& dlogit) override;
  void set_training(bool t) override;
  ParamSet<T>& parameters() override { return params_; }
  ParamSet<T>& buffers() override { return buffers_; }
  Device device() const override { return cfg_.device; }
  long params() const override;
  long flops() const override;

  // x [B, k, D] = (windows - mean) / std with the stored moments (host memory).
  void standardize(const Tensor& windows, T* x) const;
  const StateRewardConfig& config() const { return cfg_; }

 protected:
  void set_param_grads(bool on) override;
  void set_input_grads(bool on) override;
  void set_repeat_backward(bool on) override;
  Tensor jvp(const Tensor& t_x) override;
  void backward_jvp(const Tensor& dlogit, const Tensor& dt_logit) override;

 private:
  StateRewardConfig cfg_;
  long in_;  // k * D
  ParamSet<T> params_, buffers_;
  Arena arena_;
  Build<T> build_;
  Rng rng_;
  int mean_slot_ = -1, std_slot_ = -1;  // buffers [D]
  std::vector<std::unique_ptr<Linear<T>>> linears_;
  std::vector<std::unique_ptr<Activation<T>>> acts_;  // after each linear but the last
  Tensor x_;                                          // [max_batch, k, D] standardized windows
};

extern template class AgentNet<float>;
extern template class AgentNet<double>;
extern template class RewardNet<float>;
extern template class RewardNet<double>;
extern template class StateRewardNet<float>;
extern template class StateRewardNet<double>;

// Torso factory (used by AgentNet; exposed for tests and benchmarks).
template <class T>
std::unique_ptr<Torso<T>> make_torso(Build<T>& b, const AgentConfig& c, Rng& rng);

}  // namespace relmimic
