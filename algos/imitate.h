// Relational Mimic (the paper's Algorithm 1): PPO from pixels on a reward learned by a GAIfO
// discriminator from video demonstrations; no env reward is used for training (it is logged).
//
// One iteration (ImitationTrainer::iterate), per learner:
// (docs/architecture.md follows it call by call)
//   rollout   T steps of N rendering envs with the policy (PpoTrainer::collect); the rollout's
//             rows hold each sample's stacked state after the step, s^k_{t+1} (on a done step
//             the finished episode's last stack, EnvPool::final_frames, not the reset frames).
//   reward    r = -log(1 - D(s^k_{t+1}) + 1e-8) for the whole rollout, D frozen, before GAE;
//             with imitate.reward_norm = return_std divided by the running std of its discounted
//             return (ReturnNormalizer, per learner, in the checkpoint) and clipped to
//             +-imitate.reward_clip.
//   D         imitate.disc_passes passes over the rollout's windows in shuffled minibatches of
//             imitate.disc_minibatch, each paired with as many expert windows drawn uniformly
//             from the demonstrations (same stacking and episode-start padding; states reached
//             by a step, t >= 1); loss = BCE (expert 1, agent 0) + exact gradient penalty.
//             imitate.disc_updates > 0 stops after that many updates.
//   PPO       ppo.epochs passes of clipped PPO on the policy and the value network.
//   eval      on rank 0 every eval.every iterations: eval.episodes whole episodes per mode of
//             eval.modes (deterministic: the policy's mean; stochastic: sampled actions; both by
//             default, from the same initial states) on fresh envs; each mode's logged return is
//             the mean of its last eval.window evaluation episodes. The best deterministic
//             evaluation so far (this evaluation's mean) is known to every learner and kept in
//             the checkpoint (best.h5 in a run folder, algos/imitate_run.h).
//
// Variants (Table 4, which modules hold relational blocks):
//   baseline  reward local,      policy local,     value local    (GAIfO)
//   rm-l-l    reward relational, policy local,     value local
//   rm-l-nl   reward relational, policy local,     value non-local
//   rm-nl-nl  reward relational, policy non-local, value non-local
//
// Imitation from states (imitate.obs = state): the same loop with the env's proprioceptive
// observations instead of frames. The policy and value are the expert's MLPs on running-normalised
// observations (net.arch = mlp, ppo.obs_norm = true); s^k_{t+1} is the window of the k raw
// observations ending at the one after the step (the finished episode's final observation on a
// done step; the reset observation repeated before an episode's start, as DemoSet::obs_window
// builds the expert's), and D is an MLP (disc.hidden) on those windows standardized by the
// demonstrations' per-feature mean and std (fixed at the start, kept in the checkpoint). The
// demonstrations need observations (format version 2). The cpu only.
//
// Several learners (mpirun -np L): learner r seeds everything from seed + 1e6 (r + 1), starts
// from rank 0's parameters, and averages the gradients of the policy, the value and the
// discriminator across learners before every Adam step, so the parameters stay identical.
//
// Device: one code path on the run's device (run.device). The demonstrations' rows are there
// (uploaded once on a GPU) and expert windows are gathered there from positions drawn on the
// host (one stream for every device); agent windows are gathered from the rollout's rows; D's
// reward is written into the rollout's rewards there, and its losses and updates run there. The
// rewards come to the host once per iteration for the logged statistics (and, with
// imitate.reward_norm, are scaled there and go back).
// Several learners average their device gradients through Comm's device backend
// (install_device_comm: NCCL, each rank on its local GPU).
#pragma once

#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "algos/discriminator.h"
#include "algos/evaluate.h"
#include "algos/ppo.h"
#include "engine/comm.h"
#include "engine/config.h"
#include "env/demos.h"

namespace relmimic::algos {

enum class Variant { baseline, rm_l_l, rm_l_nl, rm_nl_nl };
const char* variant_name(Variant v);  // "baseline", "rm-l-l", "rm-l-nl", "rm-nl-nl"
Variant parse_variant(const std::string& s);

struct VariantNets {
  bool relational_reward = false;
  Arch policy = Arch::local, value = Arch::local;
};
VariantNets variant_nets(Variant v);

// Declares every setting of an imitation run: variant, demos, PPO's (pixels preset, reward
// normalisation off: the reward is D's), the discriminator's (disc.*), imitate.* and eval.*.
void declare_imitation(Config& cfg);
// Sets the keys the variant and the agent's input decide: net.arch, net.value_arch,
// ppo.obs_norm, disc.variant, disc.frames (= net.frames) and disc.frame_size (= net.frame_size).
// With imitate.obs = state: mlp networks and observation normalisation.
void apply_variant(Config& cfg);
// The keys apply_variant() overwrites (a command line refuses overrides of them).
const std::vector<std::string>& variant_keys();

struct ImitationSettings {
  PpoSettings ppo;
  DiscriminatorConfig disc;  // seed: the learner's, set by the trainer
  Variant variant = Variant::rm_l_l;
  bool states = false;       // imitate.obs = state: policy, value and D on observations
  bool disc_states = false;  // D on windows of k observations (imitate.obs or imitate.disc_obs)
  std::string demos;
  int disc_passes = 1, disc_minibatch = 128;
  int disc_updates = 0;  // cap on D updates per iteration (0: none)
  int disc_shift = 0;    // random-shift augmentation of D's update windows, pixels (0: none)
  // imitate.reward_norm: "none" (D's reward as is) or "return_std" (scaled by the running std of
  // its discounted return, then clipped to +-reward_clip).
  bool reward_norm = false;
  double reward_clip = 10;
  EvalSettings eval;
};

// Reads and validates (messages name the key); checks that the variant's keys agree.
ImitationSettings imitation_settings(const Config& cfg);

// The PPO part of an imitation config with the learner's seed: what PpoTrainer builds from and
// what a checkpoint's "config" holds (so `relmimic eval` reads imitation checkpoints too).
Config ppo_config_of(const Config& cfg, long learner_seed);

struct ImitationStats {
  IterationStats ppo;  // this learner's PPO statistics (mean_return: its env episodes)
  UpdateStats disc;    // mean over the iteration's discriminator updates
  int disc_updates = 0;
  double mean_reward = 0;     // mean D reward over the rollout (before any normalisation)
  double reward_std = 0;      // its std over the rollout (pooled over the learners)
  double train_velocity = 0;  // mean forward velocity (x_velocity) over the rollout's steps
  // Averaged over the learners (collective): D and PPO losses above, and:
  double train_return = 0;  // mean env return of the training episodes (NaN before any)
  double train_length = 0;
  long episodes = 0;  // training episodes finished this iteration, all learners
  // Rank 0: evaluation this iteration (NaN on the other iterations and ranks), per mode the
  // mean and std of its last eval.window evaluation episodes (NaN for a mode not in eval.modes).
  // eval_return/eval_std: the deterministic mode's when evaluated, else the stochastic one's.
  double eval_return = 0, eval_std = 0;
  double eval_det_return = 0, eval_det_std = 0, eval_stoch_return = 0, eval_stoch_std = 0;
  long eval_total = 0;  // evaluation episodes so far (of eval_return's mode)
  // Every rank: this iteration's evaluation beat the best deterministic evaluation mean so far
  // (the stochastic one without the deterministic mode); best_eval_return is that best.
  bool new_best = false;
  double best_eval_return = 0;
  // Seconds of this iteration's phases (the rest of ppo.rollout_seconds is policy/value
  // forward, sampling and GAE).
  double reward_seconds = 0, disc_seconds = 0, eval_seconds = 0;
  double fps = 0;  // this learner's env steps per second (evaluation excluded)
};

class ImitationTrainer {
 public:
  // Loads and validates the demonstrations, builds the learner (its envs, networks and
  // discriminator from the learner seed) and copies rank 0's parameters to every learner.
  // Collective over comm.
  explicit ImitationTrainer(const Config& cfg, Comm& comm = Comm::world());
  ~ImitationTrainer();

  // One iteration of Algorithm 1 (collective). Throws on a non-finite loss or gradient.
  ImitationStats iterate();
  bool finished() const { return ppo_->finished(); }

  // Collective: every learner's state goes into one checkpoint that rank 0 writes (atomically):
  // a PPO checkpoint (policy, value, rank 0's learner state) + the discriminator + imitation
  // state + the other learners' own states (RNG streams, envs) as embedded files.
  void save(const std::string& path, double wall_seconds = 0);
  // Collective: every rank reads the checkpoint (the same number of learners is required).
  void load(const std::string& path);

  const ImitationSettings& settings() const { return s_; }
  const Config& config() const { return cfg_; }
  long iteration() const { return ppo_->iteration(); }
  long timesteps() const { return ppo_->timesteps(); }
  PpoTrainer& ppo() { return *ppo_; }
  Discriminator<float>& disc() { return *disc_; }
  const env::DemoSet& demos() const { return *demos_; }
  Comm& comm() { return comm_; }
  // The last rollout's s^k_{t+1} windows, [T*N, k, H, W] (states: float [T*N, k, D]; sample
  // order of the rollout), gathered into a new tensor on the run's device.
  Tensor next_windows();
  Device device() const { return dev_; }
  // The last rollout's D rewards as written into the rollout (normalised with
  // imitate.reward_norm = return_std), [T*N] (host).
  const std::vector<float>& rewards() const { return rewards_; }
  // The best evaluation mean so far (see ImitationStats::new_best; -inf before any), every rank.
  double best_eval_return() const { return eval_->best(); }
  // The D reward's return normaliser (imitate.reward_norm = return_std), else null.
  const ReturnNormalizer* reward_normalizer() const { return reward_norm_.get(); }
  // count expert windows [count, k, H, W] (states: [count, k, D]) drawn as the D update draws
  // them (advances the expert stream), on the run's device: a view of the minibatch buffer,
  // valid until the next call.
  Tensor expert_batch(int count);
  // States: each env's window of its last k raw observations [N, k, D] (oldest first).
  const std::vector<float>& obs_windows() const { return obs_stack_; }

 private:
  // The steps of iterate(), in the order of Algorithm 1.
  void reward_rollout(ImitationStats& st);        // D frozen: r_t into the rollout's rewards
  void update_discriminator(ImitationStats& st);  // imitate.disc_passes over the windows
  void average_statistics(ImitationStats& st);    // collective
  void evaluate_if_due(ImitationStats& st);       // rank 0 evaluates, every rank learns the best
  // The s^k_{t+1} windows of rollout samples[0, c) gathered into dst (on the run's device).
  Tensor next_windows(const int32_t* samples, int c, Tensor& dst);
  // dst rows = source rows index_host_[0, count) of row_bytes each (on the run's device).
  Tensor gather(const Tensor& source, long row_bytes, long count, Tensor& dst);
  Tensor windows(const Tensor& rows, long count) const;  // a [count, k, ...] view
  // imitate.disc_shift: the frame windows, each moved by a random (dy, dx), into dst.
  Tensor shifted(const Tensor& src, Tensor& dst);
  void reset_obs_windows();    // every env's window: its current observation k times
  void build_state_windows();  // states: the rollout's windows of k raw observations
  void sync_parameters();      // rank 0's parameters and buffers to every learner
  void average(float* grads, long n);
  void save_learner(const std::string& path) const;  // this learner's own state
  void load_learner(CheckpointReader& r);
  void save_streams(CheckpointWriter& w) const;  // expert, shuffle and shift streams
  void load_streams(CheckpointReader& r);

  Config cfg_;
  Comm& comm_;
  ImitationSettings s_;
  long learner_seed_ = 0;
  std::unique_ptr<env::DemoSet> demos_;
  std::unique_ptr<PpoTrainer> ppo_;
  std::unique_ptr<Discriminator<float>> disc_;
  Rng expert_rng_, shuffle_rng_;  // expert windows, order of the agent windows
  Rng shift_rng_;                 // imitate.disc_shift: the windows' shifts
  Device dev_;    // this learner's device (run.device, or its local GPU with several learners)
  long per_ = 0;  // bytes per window: k * H * W (states: k * D * 4)
  // Frames: every demonstration frame [F, H, W] (states: observation [F, D]) on the device.
  Tensor demo_rows_;
  Tensor state_windows_;          // states: [T*N, k * D * 4] the rollout's s^k_{t+1} (cpu)
  std::vector<float> obs_stack_;  // states: [N, k, D] each env's last k raw observations
  // Window scratch on the device: agent minibatches and reward chunks, expert minibatches, and
  // their gather indices (with a host copy).
  Tensor agent_mb_, expert_mb_, index_;
  std::vector<int32_t> index_host_;
  // imitate.disc_shift: the shifted minibatches and the shifts (with a host copy).
  Tensor agent_shifted_, expert_shifted_, shifts_;
  std::vector<int32_t> shifts_host_;
  std::vector<int32_t> perm_;
  std::vector<float> rewards_;
  double reward_sq_ = 0;                           // mean squared D reward over the rollout
  std::unique_ptr<ReturnNormalizer> reward_norm_;  // imitate.reward_norm = return_std
  std::unique_ptr<AgentNet<float>> eval_policy_;   // the policy's cpu copy (a run on a GPU)
  std::unique_ptr<PeriodicEvaluation> eval_;       // evaluates on rank 0; best() on every rank
};

}  // namespace relmimic::algos
