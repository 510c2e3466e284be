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
//
// Frame modes: Host (default) renders with glReadPixels and stacks on the host into the caller's
// buffers. Cuda keeps the stacks [N, k, H, W] uint8 in device memory (frames_device()): each
// worker renders its envs through CUDA-GL interop (env/frames_cuda.h) and updates its envs' stacks
// on its own stream, with the same padding and auto-reset semantics, bit for bit.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "engine/rng.h"
#include "engine/tensor.h"
#include "env/locomotion.h"
#include "env/renderer.h"

namespace relmimic::env {

// Where the stacked frames live (see the top of this file).
enum class FrameMode { Host, Cuda };
FrameMode parse_frame_mode(const std::string& s);  // "host" or "cuda"; throws otherwise
const char* frame_mode_name(FrameMode m);

struct PoolConfig {
  Task task = Task::Hopper;
  std::optional<TaskConfig> task_config;  // empty: TaskConfig::defaults(task)
  int num_envs = 1;                       // N
  int num_threads = 1;                    // T (clamped to N)
  uint64_t seed = 0;
  bool render = true;   // false: physics only (proprioceptive experts)
  int frame_stack = 4;  // k
  RenderConfig render_config;
  // Cuda needs render, a CUDA build and the NVIDIA EGL device (RenderConfig::egl "nvidia" or
  // "auto" on a GPU machine); the pool's constructor says which one is missing.
  FrameMode frame_mode = FrameMode::Host;
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
  // frames [N, k, H, W] uint8 (rendering only; must be null in FrameMode::Cuda, whose frames are
  // frames_device()), obs [N, obs_dim] float.
  void reset(uint8_t* frames, float* obs);
  // actions [N, A], passed to the envs as given (each env clamps to its ctrlrange). Needs a
  // reset() first.
  void step(const float* actions, uint8_t* frames, float* obs);

  // step() of the envs [first, first + count) alone, started on the pool's worker threads; it
  // returns at once, so that the caller can work while they step (the next observations'
  // policy forward of the other envs, say). actions, frames and obs are step()'s whole [N, ...]
  // arrays: only the range's rows are read and written, and they must stay untouched until
  // step_wait() returns. The other envs keep their state and their last results. The results
  // equal step()'s bit for bit. Needs a rendering pool in FrameMode::Host (every worker has its
  // own thread: async_steps()); one step may be in flight at a time, and no other call of the
  // pool may come before its step_wait().
  void step_begin(int first, int count, const float* actions, uint8_t* frames, float* obs);
  // Waits for the step in flight; rethrows an env's error. Returns at once when none is.
  void step_wait();
  // step_wait() for cleanup paths (destructors, unwinding): an env's error is dropped.
  void step_settle() noexcept;
  bool async_steps() const { return cfg_.render && cfg_.frame_mode == FrameMode::Host; }

  // The whole pool state between steps (physics, Rng streams, frame stacks, episode counters):
  // restore() into a pool of the same config continues exactly as this one would. restore()
  // checks the sizes and, like reset(), writes the current frames/obs (either may be null).
  std::vector<EnvSnapshot> snapshot() const;
  void restore(const std::vector<EnvSnapshot>& snaps, uint8_t* frames, float* obs);

  // Results of the last step(), one entry per env.
  const float* rewards() const { return reward_.data(); }           // [N]
  const uint8_t* terminated() const { return terminated_.data(); }  // [N] 0/1
  const uint8_t* truncated() const { return truncated_.data(); }    // [N] 0/1
  // The step's forward velocity of the torso (StepResult::x_velocity; 0 after a reset).
  const float* x_velocities() const { return x_velocity_.data(); }  // [N]
  bool done(int i) const { return terminated_[size_t(i)] || truncated_[size_t(i)]; }
  // Return and length of the episode so far; on a done step, of the episode that just ended.
  const double* episode_returns() const { return ep_return_out_.data(); }  // [N]
  const int* episode_lengths() const { return ep_length_out_.data(); }     // [N]
  // The last observation of env i's finished episode (valid when done(i) after step()).
  const float* final_obs(int i) const;  // [obs_dim]
  // Its physics state: qpos [nq], qvel [nv] (valid when done(i) after step()).
  const double* final_qpos(int i) const;
  const double* final_qvel(int i) const;
  const uint8_t* final_frames(int i) const;  // [k, H, W] (rendering only, FrameMode::Host)

  // FrameMode::Cuda: the frame stacks [N, k, H, W] uint8 on the CUDA device that renders, and the
  // final stacks of finished episodes (row i valid when done(i) after step()). Complete when
  // reset()/step()/restore() return; rewritten by the next call.
  const Tensor& frames_device() const;
  const Tensor& final_frames_device() const;
  FrameMode frame_mode() const { return cfg_.frame_mode; }

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
  void dispatch(const std::function<void(Worker&)>* job);  // to the threaded workers
  void join_workers();                                     // waits for the threaded workers
  void rethrow_worker_error();              // the first worker's error of the last job, if any
  void check_idle(const char* call) const;  // no step_begin() in flight
  void worker_loop(Worker& w);
  void reset_env(Worker& w, int i);
  void step_env(Worker& w, int i, const float* action);
  // step_env + write_out of envs [begin, end) of w's share (host frames).
  void step_envs(Worker& w, int begin, int end, const float* actions, uint8_t* frames, float* obs);
  void write_out(int i, uint8_t* frames, float* obs);
  void restart(int i);                       // reset_env without the frame
  bool advance(int i, const float* action);  // step_env's physics; true when the episode ends
  // FrameMode::Cuda (env/pool_device.cpp).
  void init_device_frames();
  void push_device(Worker& w, bool reset);  // the worker's rendered frames onto its stacks
  void step_device(Worker& w, const float* actions, float* obs);
  uint8_t* device_stack(int i) const;                   // env i's [k, H, W] in frames_device()
  std::vector<uint8_t> download_device_stacks() const;  // [N, k, H, W] on the host
  void upload_device_stacks();                          // the slots' host stacks to the device

  PoolConfig cfg_;
  int n_ = 0, t_ = 0, obs_dim_ = 0, act_dim_ = 0;
  long frame_size_ = 0;  // H*W
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<std::unique_ptr<Worker>> workers_;
  GlInfo gl_info_;
  Tensor stacks_dev_, final_dev_;  // FrameMode::Cuda: [N, k, H, W] uint8

  std::vector<float> reward_, x_velocity_;
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
  std::function<void(Worker&)> async_job_;  // the job of the step_begin() in flight
  bool in_flight_ = false;
  bool inline_first_ = false;
  bool was_reset_ = false;  // worker 0 runs on the calling thread (physics-only pools)
};

}  // namespace relmimic::env
