// The adversarial reward learner of Relational Mimic (SPEC.md "Losses", "Reward network"): a
// GAIfO discriminator D(s) = sigmoid(logit(s)) on stacked grayscale windows s [k, H, W], trained
// to tell expert windows (label 1) from the agent's (label 0), and the reward it hands to PPO.
//
// One update on equally sized expert and agent minibatches, everything in standardized space
// x = frames / 255:
//   L = -mean log D(x_E) - mean log(1 - D(x_pi)) + lambda mean (||grad_x f(x_hat)|| - 1)^2,
//   x_hat_b = eps_b x_pi,b + (1 - eps_b) x_E,b,  eps_b ~ U[0, 1) from the learner's own Rng,
//   f = the logit (disc.penalty_on = logit, the default, as SPEC.md) or D itself (prob),
// then [gradient hook (all-reduce)] -> clip the global gradient norm -> one Adam step.
// Reward (D frozen): r(s) = -log(1 - D(s) + 1e-8).
//
// Imitation from states (DiscriminatorConfig::states): the windows are float observation windows
// [B, k, D] and the network a StateRewardNet (MLP); x is the observations standardized by the
// fixed moments of the config (the demonstrations'), and the same loss applies with x_hat the
// interpolate of the standardized windows.
//
// Spectral norm and the several forwards of one update. Every conv/FC weight is used as
// W / sigma(u) with u the layer's persistent power-iteration vector. An update runs several
// forwards (expert, agent, interpolates; more when a batch exceeds max_batch). Advancing u on
// each of them would give each term its own sigma, make the result depend on the order and
// chunking of the passes, and take several power steps per update. Instead an update
//   1. advances u by exactly one power iteration (a training-mode forward of one expert window),
//   2. evaluates all terms with u frozen (eval mode): every pass uses the same
//      W / ||W^T u||, whose gradient with u fixed is exactly what the layers back-propagate.
// So after step 1, L is a deterministic function of theta, its gradient is exact
// (compute_loss tests it against finite differences), and u moves once per update as SPEC's
// "one power iteration per forward" intends for the one discriminator forward of Algorithm 1.
// reward() and logits() never move u.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/checkpoint_fwd.h"
#include "engine/config.h"
#include "engine/networks.h"
#include "engine/optim.h"
#include "engine/rng.h"

namespace relmimic::algos {

struct DiscriminatorConfig {
  // Network (Table 3).
  bool relational = true;  // false: the GAIfO baseline (no relational rows)
  int frames = 4, height = 84, width = 84;
  std::array<int, 5> channels = {32, 64, 64, 128, 128};
  std::array<int, 2> embed = {8, 16};
  double slope = 0.1;   // LeakyReLU
  int max_batch = 128;  // windows per network pass; larger batches are processed in chunks
  PenaltyOn penalty_on = PenaltyOn::logit;  // the gradient penalty's score (engine/penalty.h)
  // Optimisation.
  double lr = 3e-4, lambda = 10.0;
  double beta1 = 0.9, beta2 = 0.999, adam_eps = 1e-8;
  double max_grad_norm = 0.5;  // global gradient-norm clip; 0: off
  uint64_t seed = 0;           // network init and the interpolation stream
  // Where the network, its Adam and every pass live; windows must be there too (the caller's
  // run.device). The interpolation weights are drawn on the host either way.
  Device device = Device::cpu();
  // Imitation from states: windows of `frames` observations of obs_dim values (float32), an MLP
  // of the hidden widths, inputs standardized by obs_mean / obs_std (the cpu only).
  bool states = false;
  int obs_dim = 0;
  std::vector<int> hidden = {256, 256};
  std::vector<double> obs_mean, obs_std;

  RewardConfig net() const;
  StateRewardConfig state_net() const;
};

// Declares the settings under `prefix` (default "disc."): variant, frames, frame_size,
// channels, embed, hidden, slope, max_batch, lr, lambda, penalty_on, beta1, beta2, adam_eps,
// max_grad_norm.
// The seed is the caller's (it derives one per learner).
void declare_discriminator(Config& cfg, const std::string& prefix = "disc");
// Reads and validates them (messages name the key).
DiscriminatorConfig discriminator_config(const Config& cfg, uint64_t seed,
                                         const std::string& prefix = "disc");

struct UpdateStats {
  double loss = 0;             // expert_loss + agent_loss + penalty
  double expert_loss = 0;      // -mean log D(expert)
  double agent_loss = 0;       // -mean log(1 - D(agent))
  double penalty = 0;          // lambda * mean (||grad_x f(x_hat)|| - 1)^2, f: logit or D
  double expert_accuracy = 0;  // fraction of expert windows with D > 1/2
  double agent_accuracy = 0;   // fraction of agent windows with D <= 1/2
  double expert_d = 0;         // mean D(expert)
  double agent_d = 0;          // mean D(agent)
  double grad_norm = 0;        // global L2 norm after the hook, before clipping
  // mean ||grad_x logit(x_hat)|| over the penalty's interpolates (NaN when lambda = 0)
  double logit_grad_norm = 0;
};

template <class T>
class Discriminator {
 public:
  // Receives the flat gradient (parameters().grads(), parameters().size()) after the backward
  // passes and before clipping and the Adam step; e.g. an all-reduce that averages it in place.
  using GradientHook = std::function<void(T* grads, long n)>;

  explicit Discriminator(const DiscriminatorConfig& c);
  Discriminator(const Discriminator&) = delete;
  Discriminator& operator=(const Discriminator&) = delete;

  // One Adam step on L for expert and agent windows, both uint8 [B, k, H, W] (states: float32
  // [B, k, D]) with the same B.
  // Throws (before touching the parameters) when a loss term or the gradient is not finite.
  UpdateStats update(const Tensor& expert, const Tensor& agent, const GradientHook& hook = {});

  // L at the current parameters with u frozen and the given interpolation weights eps [B];
  // with accumulate_grad, overwrites parameters().grads() with dL/dtheta. No Adam step, no
  // power iteration, no clipping: the deterministic core of update(). grad_norm is left 0.
  UpdateStats compute_loss(const Tensor& expert, const Tensor& agent, const T* eps,
                           bool accumulate_grad);

  // r = -log(1 - D(s) + 1e-8) for windows uint8 [B, k, H, W] into r_out [B] (on D's device);
  // D frozen (u not updated, no gradients), in passes of at most max_batch windows.
  void reward(const Tensor& states, float* r_out);
  // The logits of windows uint8 [B, k, H, W] into out [B] (host memory), D frozen as in reward().
  void logits(const Tensor& states, T* out);

  // Parameters, buffers (u), Adam state and the interpolation Rng under group `name`.
  void save(CheckpointWriter& w, const std::string& name = "discriminator");
  void load(CheckpointReader& r, const std::string& name = "discriminator");

  DiscriminatorNet<T>& net() { return *net_; }
  ParamSet<T>& parameters() { return net_->parameters(); }
  Adam<T>& optimizer() { return adam_; }
  const DiscriminatorConfig& config() const { return cfg_; }
  long updates() const { return adam_.steps(); }
  // The interpolation weights' stream: a learner's own state when several learners share the
  // network (their checkpoints keep one stream per learner).
  Rng& interpolation_rng() { return rng_; }

 private:
  // Checks a window batch (uint8 [B, k, H, W], states float32 [B, k, D]); returns B.
  int check_windows(const Tensor& t, const char* what) const;
  // Both batches valid and of the same size; returns B.
  int check_pair(const Tensor& expert, const Tensor& agent) const;
  // One power iteration of every spectral norm (training-mode forward of one window).
  void advance_power_iteration(const Tensor& window);
  // BCE of one labelled batch, chunked; adds its parameter gradient when asked.
  void bce_term(const Tensor& frames, double label, bool accumulate_grad, double& loss,
                double& accuracy, double& mean_d);
  // Throws naming `term` (and the first parameter) when a gradient is not finite.
  void check_grads(const char* term);

  // x_hat [c, k, D] of states: the interpolate of the standardized windows.
  void interpolate_states(const Tensor& expert, const Tensor& agent, const T* eps, T* x_hat);

  DiscriminatorConfig cfg_;
  std::unique_ptr<DiscriminatorNet<T>> net_;
  StateRewardNet<T>* state_net_ = nullptr;  // net_ when cfg_.states
  Adam<T> adam_;
  Rng rng_;
  long per_;                // k * H * W (states: k * D)
  std::vector<T> agent_x_;  // states: [max_batch, k, D] standardized agent windows
  std::vector<T> eps_;      // [B] interpolation weights of the current update
  std::vector<T> chunk_;    // [max_batch] logits / rewards scratch
  Tensor dlogit_, x_hat_;   // [max_batch, 1], [max_batch, k, H, W]
  Tensor d_eps_;            // on a CUDA device: [max_batch] eps of a chunk
};

extern template class Discriminator<float>;
extern template class Discriminator<double>;

}  // namespace relmimic::algos
