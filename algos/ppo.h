// PPO (clipped surrogate, clipped value loss, GAE) with separate policy and value networks, for
// proprioceptive experts (MLP on normalised state) and for pixel agents (image torsos on stacked
// frames). Every hyper-parameter is a Config value (declare_ppo), so a run folder's config.json
// replays the run and a checkpoint rebuilds its networks.
//
// One iteration (PpoTrainer::iterate = collect() then learn(); a trainer built on PPO, such as
// imitation, puts its own steps between the two):
//   collect   T steps of N envs into the Rollout; a ~ N(mu(s), sigma), clipped to [-c, c] for
//             the env only; obs normalised by running mean/std (updated as they arrive),
//             rewards optionally scaled by the running std of the discounted return; truncated
//             episodes store V(final observation) as their bootstrap.
//   learn     GAE: A = sum (gamma lambda)^l delta; returns = A + V(s) (kernels::gae_cpu), on the
//             rollout's rewards (whatever wrote them); then `epochs` passes over shuffled
//             minibatches: policy  L = clipped surrogate - c_H H,
//             value  L = c_V * clipped squared error; each network has its own Adam and its
//             own gradient-norm clip; learning rates decay linearly to 0 over the run.
//
// Device: one code path. The networks, the rollout storage (observation rows, actions,
// log-probs, values, rewards, dones, advantages, returns), action sampling, GAE, the losses,
// minibatch gathering, clipping and Adam run on the run's device (run.device: the cpu, or a GPU
// for pixel agents) through the dispatch helpers (engine/device_ops.h, algos/train_ops.h); on a
// GPU the env pool renders into device memory (FrameMode::Cuda), or host frames are copied into
// the rollout's rows after each step (run.device_frames=upload).
// Only the sampled actions go to the host for env.step, and rewards and dones come back to the
// device once per rollout. The random streams are the CPU path's (noise is drawn on the host),
// so a device run follows the CPU run up to float rounding. Checkpoints are the same files.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "algos/running_norm.h"
#include "engine/checkpoint_fwd.h"
#include "engine/config.h"
#include "engine/networks.h"
#include "engine/optim.h"
#include "env/pool.h"
#include "kernels/overlap.h"
#include "kernels/ppo_loss.h"

namespace relmimic::algos {

// Defaults of the two uses: `expert` (proprioceptive MLP, tuned for Hopper/Walker2d on CPU) and
// `pixels` (SPEC.md's PPO section for the image agents).
enum class PpoPreset { expert, pixels };

// Declares every PPO setting (env.*, net.*, ppo.*, run.*) with the preset's defaults.
void declare_ppo(Config& cfg, PpoPreset preset);

struct PpoSettings {
  // env
  env::Task task = env::Task::Hopper;
  int num_envs = 1, env_threads = 1, max_episode_steps = 1000;
  // env.pipeline: half the envs step while the policy acts on the others (auto: see pipelined())
  enum class Pipeline { automatic, on, off } pipeline = Pipeline::automatic;
  long seed = 0;
  // net
  Arch arch = Arch::mlp;
  Arch value_arch = Arch::mlp;  // net.value_arch ("same": arch)
  int frames = 4, frame_size = 84, embed = 2, hidden = 64;
  bool layer_norm = false;
  double init_log_std = 0;
  // ppo
  long total_steps = 0;
  int rollout_steps = 0, minibatch = 0, epochs = 0;
  double lr = 3e-4, value_lr = 3e-4;
  bool lr_decay = true, value_lr_decay = true;
  double gamma = 0.99, lambda = 0.95, clip = 0.2, value_clip = 0.2;
  double entropy_coef = 0, value_coef = 0.5, max_grad_norm = 0.5, target_kl = 0, adam_eps = 1e-5;
  bool norm_adv = true, obs_norm = true, reward_norm = true;
  double obs_clip = 10, reward_clip = 10, action_clip = 1;
  // run
  int threads = 1, checkpoint_every = 10, log_window = 100;
  bool overlap = true;         // run.overlap: policy and value gradients at once on the CPU
  Device device;               // run.device: cpu, or a CUDA device (pixel agents)
  bool upload_frames = false;  // run.device_frames=upload: host frames uploaded per step

  bool pixels() const { return arch != Arch::mlp; }
  long batch() const { return long(rollout_steps) * num_envs; }  // samples per iteration
  long iterations() const { return (total_steps + batch() - 1) / batch(); }
};

// Reads and validates the declared settings (messages name the key).
PpoSettings ppo_settings(const Config& cfg);

// The networks a PPO run builds for its settings: obs_dim / actions of the task.
AgentConfig policy_config(const PpoSettings& s, int obs_dim, int actions);
AgentConfig value_config(const PpoSettings& s, int obs_dim);

// The env pool a run's policy acts in: num_envs envs of s.task on s.env_threads threads, seeded
// by `seed`, with the run's time limit (env.max_episode_steps); a pixel run renders stacks of
// s.frames frames of s.frame_size x s.frame_size.
env::PoolConfig pool_config(const PpoSettings& s, int num_envs, uint64_t seed);

// ---------------------------------------------------------------------------------------------
// The two minibatch losses on a network, with their gradients (templated so tests can check
// them in double against finite differences). Scratch grows to the largest batch once.

template <class T>
struct LossScratch {
  // On the network's device: log-probs and their gradient [B], the mean's and the log-std's
  // gradients [B, A] and [A], ones [A] (the entropy term's gradient), the value's gradient [B];
  // and a host copy of the log-std (for the entropy).
  Tensor logp, dlogp, dmean, dlog_std, ones, dv;
  std::vector<T> h_log_std;
};

struct PolicyObjective {
  double loss = 0;     // clipped surrogate - entropy_coef * H (what the gradient descends)
  double entropy = 0;  // H of the Gaussian (per sample, nats)
  kernels::PolicyLossStats stats;
};

// obs [B, ...] (the policy's input), actions/logp_old/advantages [B, A] / [B] / [B], all on the
// network's device (the CUDA kernels of kernels/ppo_loss.h there). With backward, accumulates d
// loss / d theta into pi's gradients.
template <class T>
PolicyObjective policy_objective(AgentNet<T>& pi, const Tensor& obs, const T* actions,
                                 const T* logp_old, const T* advantages, double clip,
                                 double entropy_coef, bool backward, LossScratch<T>& s);

// value_coef * (clipped) value loss; value_clip <= 0 turns clipping off. v_old, returns [B].
template <class T>
kernels::ValueLossStats value_objective(AgentNet<T>& vf, const Tensor& obs, const T* returns,
                                        const T* v_old, double value_clip, double value_coef,
                                        bool backward, LossScratch<T>& s);

// 1 - Var(returns - values) / Var(returns): how much of the return the value function explains
// (NaN when the returns do not vary).
double explained_variance(const std::vector<float>& values, const std::vector<float>& returns);

// ---------------------------------------------------------------------------------------------

struct IterationStats {
  long iteration = 0, timesteps = 0;
  // Over the last log_window finished episodes (NaN before the first one).
  double mean_return = 0, std_return = 0, mean_length = 0;
  long episodes = 0;  // finished in this iteration
  double policy_loss = 0, value_loss = 0, entropy = 0, approx_kl = 0, clip_fraction = 0;
  double value_clip_fraction = 0, explained_variance = 0, policy_grad_norm = 0, value_grad_norm = 0;
  double lr = 0, rollout_seconds = 0, update_seconds = 0, fps = 0;
  // Of rollout_seconds: waiting for the envs' steps (physics + rendering); with the pipelined
  // rollout (env.pipeline), the part of them not hidden behind the policy's forward.
  double env_seconds = 0;
  double mean_velocity = 0;  // forward velocity (the env's x_velocity) over the rollout's steps
  int epochs_run = 0;        // < epochs when target_kl stopped the update early
};

// The rollout storage on the run's device (the cpu, or a CUDA device for pixel agents),
// time-major [T, N] flattened to T*N samples, and host copies of what the host produces or logs.
struct Rollout {
  long obs_bytes = 0;  // per observation row: k*H*W frame bytes, or obs_dim normalised floats
  // Observation rows: row t*N + n is s_t of env n for t = 0..T (t = T: the states after the
  // rollout, where the next one starts); rows from (T+1)*N on hold, in step order, the final
  // observation of each step that ended an episode (its s_{t+1}; the env has reset since).
  Tensor obs;                     // [(T+1)*N + final rows, obs_bytes] u8
  std::vector<int32_t> next_row;  // [T*N] (host) the row of each sample's s_{t+1}
  long final_rows = 0;            // rows after (T+1)*N used by this rollout
  Tensor actions;                 // [T*N, A]
  Tensor logp, values, next_values, rewards, advantages, returns;  // [T*N]
  Tensor terminated, truncated;                                    // [T*N] u8
  // Host: the env's rewards (uploaded into `rewards` at the end of collect(); a learned reward
  // overwrites `rewards` on the device), done flags, bootstraps, and copies of the values and
  // (after learn()) the returns.
  std::vector<float> host_rewards, host_values, host_next_values, host_returns;
  std::vector<uint8_t> host_terminated, host_truncated;
  // State agents, and pixel agents after PpoTrainer::keep_raw_obs(): the raw (unnormalised)
  // observation of every row above, [rows, obs_dim].
  std::vector<float> raw_obs;
  // The minibatch of learn() and its gather order, on the device.
  Tensor perm;                // [T*N] i32: this epoch's shuffled sample order
  Tensor mb_obs, mb_actions;  // [M, obs_bytes] u8, [M, A]
  Tensor mb_scalars;          // [4, M]: logp_old, advantages, returns, values_old
  Tensor noise;               // [N, A] standard normals drawn on the host
};

class PpoTrainer {
 public:
  // Builds envs, networks and optimizers from a config declared by declare_ppo, and resets the
  // envs. The config JSON is kept for checkpoints.
  explicit PpoTrainer(const Config& cfg);
  ~PpoTrainer();

  // One iteration: collect() then learn(). Throws (leaving the trainer unusable) on a
  // non-finite loss or gradient.
  IterationStats iterate();
  // T steps of the N envs with the policy into rollout(): observations, actions, log-probs,
  // values, the env's rewards, done flags and bootstraps; the episode window. Fills the
  // statistics of the rollout (episodes, env_seconds, rollout_seconds, mean_velocity).
  IterationStats collect();
  // GAE on rollout().rewards (whatever wrote them), advantage standardisation and the PPO
  // epochs; ends the iteration (counters, learning-rate schedule, episode-window statistics).
  void learn(IterationStats& st);
  bool finished() const { return timesteps_ >= s_.total_steps; }

  // Everything for an exact resume: parameters, Adam moments, normalisers, RNG streams,
  // counters, episode window and the env pool's state; plus the config JSON (string "config").
  // networks = false leaves out the parameters and Adam moments (a learner's own state when
  // several learners share their networks).
  void save(CheckpointWriter& w, bool networks = true) const;
  // Restores a checkpoint written by save() of a run with the same networks and env count.
  void load(CheckpointReader& r, bool networks = true);

  // Called after each minibatch backward, before gradient clipping and the Adam step, with the
  // flat gradient of the policy and of the value network (on the trainer's device): e.g. an
  // all-reduce that averages it in place across learners.
  using GradientHook = std::function<void(float* grads, long n)>;
  void set_gradient_hook(GradientHook hook) { grad_hook_ = std::move(hook); }
  const Rollout& rollout() const { return r_; }
  Rollout& rollout() { return r_; }
  // Where the networks and the rollout live.
  Device device() const { return s_.device; }

  const PpoSettings& settings() const { return s_; }
  long iteration() const { return iteration_; }
  long timesteps() const { return timesteps_; }
  AgentNet<float>& policy() { return *pi_; }
  AgentNet<float>& value() { return *vf_; }
  const RunningMeanStd* obs_rms() const { return obs_rms_.get(); }
  // [N, obs_dim] the raw observations the envs are in now (after the last step, reset or load).
  const float* raw_obs() const { return obs_raw_.data(); }
  // Pixel agents: from the next collect() on, also keep each row's raw observation in
  // Rollout::raw_obs (a discriminator on states next to a policy on frames). State agents always
  // keep them.
  void keep_raw_obs();
  env::EnvPool& pool() { return *pool_; }
  // Whether collect() steps the envs in two pipelined halves: a pixel agent on the CPU backend
  // with host frames and at least 2 envs, and env.pipeline on, or auto without a Non-local
  // torso on frames over 64x64 (there its forward on one thread outweighs the rendering it
  // would hide: 84x84, 8 envs, 2 cores: the rollout 1.2x slower pipelined; 48x48 1.4x faster).
  bool pipelined() const;

 private:
  // The minibatch's inputs (on the trainer's device).
  struct Minibatch {
    Tensor obs;
    const float *actions, *logp, *advantages, *returns, *values;
  };
  uint8_t* row(long r) const { return static_cast<uint8_t*>(r_.obs.raw()) + r * r_.obs_bytes; }
  // A [count, k, H, W] u8 (state agents: [count, obs_dim] f32) view at p on the device.
  Tensor obs_view(void* p, int count) const;
  Tensor rows(long first, int count) const { return obs_view(row(first), count); }
  // bytes of frames from the pool (host memory, or device memory with interop) into row r on.
  void store_frames(long r, const uint8_t* src, size_t bytes);
  // Rows [first, first + N): the envs' current observations (normalised state agents).
  void store_current(long first, int env_first = 0, int env_count = -1);
  // The next final row: env n's finished episode's last observation; returns its index.
  long store_final(int n);
  // After pool step t: rewards, dones, truncation bootstraps, s_{t+1} rows, the episode window.
  // store = false: the s_{t+1} rows are already stored (the pipelined rollout).
  void record_step(int t, IterationStats& st, bool store = true);
  // The policy (a sample, its log-prob) and the value at the s_t rows of envs [first, first +
  // count); alone: on this thread only (kernels::cpu_alone), else the two networks overlapped.
  void act_rows(int t, int first, int count, bool alone);
  // The rollout's steps with the envs in two halves, each stepping while the policy acts on the
  // other (env.pipeline; pipelined() says when it applies).
  void collect_pipelined(IterationStats& st);
  void trim_window();  // the episode window keeps the last log_window episodes
  void update(IterationStats& st);
  Minibatch gather_minibatch(long start, int b);
  double value_of_row(long r);  // V of one stored observation row

  std::string config_json_;
  PpoSettings s_;
  std::unique_ptr<env::EnvPool> pool_;
  std::unique_ptr<AgentNet<float>> pi_, vf_;
  std::unique_ptr<Adam<float>> pi_opt_, vf_opt_;
  std::unique_ptr<RunningMeanStd> obs_rms_, ret_rms_;
  Rng sample_rng_, shuffle_rng_;
  long iteration_ = 0, timesteps_ = 0, episodes_total_ = 0;
  int obs_dim_ = 0, act_dim_ = 0;

  Rollout r_;
  GradientHook grad_hook_;
  bool keep_raw_obs_ = false;           // Rollout::raw_obs filled (state agents, keep_raw_obs())
  std::vector<float> obs_raw_;          // [N, obs_dim] current raw observations
  std::vector<uint8_t> frames_;         // [N, k, H, W] current frames (host frame modes)
  std::vector<float> obs_stage_;        // [N, obs_dim] normalised observations on their way
  std::vector<double> running_return_;  // [N] discounted return for reward scaling
  std::vector<double> window_returns_;  // last log_window finished episodes
  std::vector<int> window_lengths_;
  std::vector<float> env_actions_, noise_;
  std::vector<long> perm_;
  std::vector<int32_t> perm32_;
  double velocity_sum_ = 0;  // x_velocity over the rollout's steps
  LossScratch<float> scratch_, value_scratch_;
  // a() and b() at the same time on a 2-thread CPU run with run.overlap (kernels/overlap.h),
  // else one after the other.
  template <class A, class B>
  void overlapped(A&& a, B&& b) {
    if (s_.overlap && s_.device.is_cpu()) {
      kernels::cpu_overlap(a, b);
    } else {
      a();
      b();
    }
  }
};

// A policy network as it acts outside training (evaluation, recording): the settings of its run
// (env, frames, clips) and, for a state policy trained with ppo.obs_norm, the normaliser of its
// observations (null: none; pixel policies ignore it). A checkpoint (PpoPolicy::actor) and a live
// trainer's network both give one.
struct Actor {
  AgentNet<float>& net;
  const PpoSettings& settings;
  const RunningMeanStd* obs_rms = nullptr;
};

// obs_raw [B, obs_dim] (state policies; normalised into obs_scratch, which grows as needed) or
// frames [B, k, H, W] (pixel policies); writes the env actions [B, A]: the mean (deterministic) or
// mean + exp(log_std) * N(0, 1) from rng, clipped to [-action_clip, action_clip].
void act(const Actor& actor, int batch, const float* obs_raw, const uint8_t* frames,
         bool deterministic, Rng& rng, float* actions, std::vector<float>& obs_scratch);

// The networks and normaliser of a checkpoint, for evaluation and recording: acts from raw
// observations (state or frames) exactly as the trained policy saw them.
class PpoPolicy {
 public:
  // max_batch: the most observations act() gets at once.
  PpoPolicy(const std::string& checkpoint, int max_batch);
  const PpoSettings& settings() const { return s_; }
  const std::string& checkpoint() const { return checkpoint_; }
  const std::string& config_json() const { return config_json_; }
  // obs_raw [B, obs_dim] (state policies) or frames [B, k, H, W] (pixel policies); writes the
  // env actions [B, A]: the mean (deterministic) or a sample from rng, clipped to the range.
  void act(int batch, const float* obs_raw, const uint8_t* frames, bool deterministic, Rng& rng,
           float* actions);
  Actor actor() { return {*pi_, s_, obs_rms_.get()}; }
  int obs_dim() const { return obs_dim_; }
  int action_dim() const { return act_dim_; }
  // Throws one line naming both sizes when the policy does not fit the pool's env: observation
  // and action sizes (a checkpoint of another env, or one relabelled), and for a pixel policy
  // the stack of frames k and the frame size.
  void check_env(const env::EnvPool& pool) const;
  long iteration() const { return iteration_; }
  long timesteps() const { return timesteps_; }

 private:
  std::string checkpoint_, config_json_;
  PpoSettings s_;
  std::unique_ptr<AgentNet<float>> pi_;
  std::unique_ptr<RunningMeanStd> obs_rms_;
  std::vector<float> obs_;
  int obs_dim_ = 0, act_dim_ = 0;
  long iteration_ = 0, timesteps_ = 0;
};

}  // namespace relmimic::algos
