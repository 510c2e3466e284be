// EnvPool: N LocomotionEnv on T persistent worker threads, stepped as one batch.
// Thread t owns the envs [t*N/T, (t+1)*N/T) and, when rendering, one EGL context that draws
// them (physics-only pools run the first share on the calling thread). Every env has its own Rng
// stream (Rng::derive(seed, env index)), so results depend on (seed, N) and the actions only, not
// on T: frames and states are bit-identical across T.
//
// Auto-reset: an env whose episode ends (terminated or truncated) in step() is reset at once.
// That step reports the final reward/terminated/truncated, the finished episode's return and
// length, and keeps its final observation and frame stack (final_obs / final_frames) for
// bootstrapping truncated episodes; the obs/frames it writes are those of the new episode.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "engine/rng.h"
#include "env/locomotion.h"
#include "env/renderer.h"

namespace relmimic::env {

struct PoolConfig {
  Task task = Task::Hopper;
  std::optional<TaskConfig> task_config;  // empty: TaskConfig::defaults(task)
  int num_envs = 1;                       // N
  int num_threads = 1;                    // T (clamped to N)
  uint64_t seed = 0;
  bool render = true;   // false: physics only (proprioceptive experts)
  int frame_stack = 4;  // k
  RenderConfig render_config;
};

// One env's share of the pool state (see EnvPool::snapshot).
struct EnvSnapshot {
  LocomotionEnv::State physics;
  Rng::State rng;              // the env's reset-noise stream
  std::vector<uint8_t> stack;  // [k, H, W] frame stack, oldest first (empty without rendering)
  double episode_return = 0;   // of the episode in progress
  int episode_length = 0;
};

class EnvPool {
 public:
  explicit EnvPool(const PoolConfig& cfg);
  ~EnvPool();
  EnvPool(const EnvPool&) = delete;
  EnvPool& operator=(const EnvPool&) = delete;

  // Resets every env (episode counters too); the per-env Rng streams continue, so a second
  // reset() draws new initial states. Outputs may be null when not wanted:
  // frames [N, k, H, W] uint8 (rendering only), obs [N, obs_dim] float.
  void reset(uint8_t* frames, float* obs);
  // actions [N, A], passed to the envs as given (each env clamps to its ctrlrange). Needs a
  // reset() first.
  void step(const float* actions, uint8_t* frames, float* obs);

  // The whole pool state between steps (physics, Rng streams, frame stacks, episode counters):
  // restore() into a pool of the same config continues exactly as this one would. restore()
  // checks the sizes and, like reset(), writes the current frames/obs (either may be null).
  std::vector<EnvSnapshot> snapshot() const;
  void restore(const std::vector<EnvSnapshot>& snaps, uint8_t* frames, float* obs);

  // Results of the last step(), one entry per env.
  const float* rewards() const { return reward_.data(); }           // [N]
  const uint8_t* terminated() const { return terminated_.data(); }  // [N] 0/1
  const uint8_t* truncated() const { return truncated_.data(); }    // [N] 0/1
  bool done(int i) const { return terminated_[size_t(i)] || truncated_[size_t(i)]; }
  // Return and length of the episode so far; on a done step, of the episode that just ended.
  const double* episode_returns() const { return ep_return_out_.data(); }  // [N]
  const int* episode_lengths() const { return ep_length_out_.data(); }     // [N]
  // The last observation of env i's finished episode (valid when done(i) after step()).
  const float* final_obs(int i) const;       // [obs_dim]
  const uint8_t* final_frames(int i) const;  // [k, H, W] (rendering only)

  int num_envs() const { return n_; }
  int num_threads() const { return t_; }
  int obs_dim() const { return obs_dim_; }
  int action_dim() const { return act_dim_; }
  int frame_stack() const { return cfg_.frame_stack; }
  int height() const { return cfg_.render_config.height; }
  int width() const { return cfg_.render_config.width; }
  bool rendering() const { return cfg_.render; }
  const PoolConfig& config() const { return cfg_; }
  // The envs themselves (state inspection, e.g. qpos/qvel); not to be stepped directly.
  LocomotionEnv& env(int i);
  const LocomotionEnv& env(int i) const;
  // The GL stack worker 0 renders with (empty when not rendering).
  const GlInfo& gl_info() const { return gl_info_; }

 private:
  struct Slot;  // one env and its state
  struct Worker;
  void shutdown();
  void run_all(const std::function<void(Worker&)>& job);
  void worker_loop(Worker& w);
  void reset_env(Worker& w, int i);
  void step_env(Worker& w, int i, const float* action);
  void write_out(int i, uint8_t* frames, float* obs);

  PoolConfig cfg_;
  int n_ = 0, t_ = 0, obs_dim_ = 0, act_dim_ = 0;
  long frame_size_ = 0;  // H*W
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<std::unique_ptr<Worker>> workers_;
  GlInfo gl_info_;

  std::vector<float> reward_;
  std::vector<uint8_t> terminated_, truncated_;
  std::vector<double> ep_return_out_;
  std::vector<int> ep_length_out_;

  // Dispatch: the caller publishes a job and bumps generation_; each worker runs it once and
  // the last to finish wakes the caller.
  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  const std::function<void(Worker&)>* job_ = nullptr;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stop_ = false;
  bool inline_first_ = false;
  bool was_reset_ = false;  // worker 0 runs on the calling thread (physics-only pools)
};

}  // namespace relmimic::env
