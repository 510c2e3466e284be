#include "env/pool.h"

#include <algorithm>
#include <cstring>

#include "env/pool_internal.h"
#include "kernels/common.h"
#include "kernels/image.h"

namespace relmimic::env {

EnvPool::EnvPool(const PoolConfig& cfg) : cfg_(cfg) {
  RM_CHECK(cfg.num_envs >= 1, "EnvPool: num_envs must be >= 1, got ", cfg.num_envs);
  RM_CHECK(cfg.num_threads >= 1, "EnvPool: num_threads must be >= 1, got ", cfg.num_threads);
  RM_CHECK(cfg.frame_stack >= 1, "EnvPool: frame_stack must be >= 1, got ", cfg.frame_stack);
  const RenderConfig& rc = cfg.render_config;
  if (cfg.frame_mode == FrameMode::Cuda) {
    RM_CHECK(cfg.render, "EnvPool: frame_mode cuda needs render = true (a physics-only pool ",
             "has no frames)");
    RM_CHECK(cuda_frames_built(), "EnvPool: frame_mode cuda: ", cuda_frames_unsupported({}));
  }
  if (cfg.render)
    RM_CHECK(rc.width >= 1 && rc.height >= 1 && rc.width <= 4096 && rc.height <= 4096,
             "EnvPool: frame size must be in [1, 4096], got ", rc.width, "x", rc.height);
  n_ = cfg.num_envs;
  t_ = std::min(cfg.num_threads, n_);
  frame_size_ = cfg.render ? long(rc.width) * rc.height : 0;
  const TaskConfig tc = cfg.task_config ? *cfg.task_config : TaskConfig::defaults(cfg.task);

  // Models are loaded here, one after the other (MuJoCo's XML loader is not re-entrant).
  for (int i = 0; i < n_; ++i) {
    auto s = std::make_unique<Slot>();
    s->env = std::make_unique<LocomotionEnv>(cfg.task, tc);
    s->rng.seed_with(Rng::derive(cfg.seed, uint64_t(i)));
    s->stack.assign(size_t(cfg.frame_stack * frame_size_), 0);
    s->final_stack = s->stack;
    s->frame.assign(size_t(frame_size_), 0);
    s->action.assign(size_t(s->env->action_dim()), 0.0);
    s->obs_d.assign(size_t(s->env->obs_dim()), 0.0);
    s->obs.assign(s->obs_d.size(), 0.f);
    s->final_obs = s->obs;
    s->final_qpos.assign(size_t(s->env->nq()), 0.0);
    s->final_qvel.assign(size_t(s->env->nv()), 0.0);
    slots_.push_back(std::move(s));
  }
  obs_dim_ = slots_[0]->env->obs_dim();
  act_dim_ = slots_[0]->env->action_dim();
  reward_.assign(size_t(n_), 0.f);
  x_velocity_.assign(size_t(n_), 0.f);
  terminated_.assign(size_t(n_), 0);
  truncated_.assign(size_t(n_), 0);
  ep_return_out_.assign(size_t(n_), 0.0);
  ep_length_out_.assign(size_t(n_), 0);

  for (int t = 0; t < t_; ++t) {
    auto w = std::make_unique<Worker>();
    w->begin = int(long(t) * n_ / t_);
    w->end = int(long(t + 1) * n_ / t_);
    workers_.push_back(std::move(w));
  }
  // Rendering workers each need a thread that owns their GL context. Physics-only pools run
  // the first share on the calling thread, which saves one hand-off per step.
  inline_first_ = !cfg.render;
  for (size_t t = inline_first_ ? 1 : 0; t < workers_.size(); ++t)
    workers_[t]->thread = std::thread([this, p = workers_[t].get()] { worker_loop(*p); });
  try {
    if (cfg.render) {
      // Each worker makes its own context, on its own thread, for its envs' model.
      run_all([this](Worker& w) {
        w.renderer =
            std::make_unique<Renderer>(slots_[size_t(w.begin)]->env->model(), cfg_.render_config);
      });
      gl_info_ = workers_[0]->renderer->gl_info();
      if (cfg.frame_mode == FrameMode::Cuda) init_device_frames();
    }
  } catch (...) {
    shutdown();  // joins the threads (their renderers are freed on their threads)
    throw;
  }
}

EnvPool::~EnvPool() {
  shutdown();
}

void EnvPool::shutdown() {
  step_settle();  // the step in flight writes into the caller's arrays: let it finish
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (auto& w : workers_)
    if (w->thread.joinable()) w->thread.join();
  workers_.clear();
}

void EnvPool::worker_loop(Worker& w) {
  uint64_t seen = 0;
  for (;;) {
    const std::function<void(Worker&)>* job = nullptr;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) break;
      seen = generation_;
      job = job_;
    }
    try {
      (*job)(w);
    } catch (...) {
      w.error = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (--pending_ == 0) done_cv_.notify_one();
  }
  w.frames.reset();    // unregisters from CUDA while the renderer's context still exists
  w.renderer.reset();  // the GL context belongs to this thread
}

void EnvPool::dispatch(const std::function<void(Worker&)>* job) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = job;
    pending_ = t_ - (inline_first_ ? 1 : 0);
    ++generation_;
  }
  work_cv_.notify_all();
}

void EnvPool::join_workers() {
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait(lock, [&] { return pending_ == 0; });
  job_ = nullptr;
}

void EnvPool::rethrow_worker_error() {
  std::exception_ptr first;
  for (auto& w : workers_) {
    if (w->error && !first) first = w->error;
    w->error = nullptr;
  }
  if (first) std::rethrow_exception(first);
}

void EnvPool::check_idle(const char* call) const {
  RM_CHECK(!in_flight_, "EnvPool::", call,
           ": a step_begin() is in flight (call step_wait() first)");
}

void EnvPool::run_all(const std::function<void(Worker&)>& job) {
  const int threaded = t_ - (inline_first_ ? 1 : 0);
  if (threaded > 0) dispatch(&job);
  if (inline_first_) {
    try {
      job(*workers_[0]);
    } catch (...) {
      workers_[0]->error = std::current_exception();
    }
  }
  if (threaded > 0) join_workers();
  rethrow_worker_error();
}

void EnvPool::restart(int i) {
  Slot& s = *slots_[size_t(i)];
  s.env->reset(s.rng);
  s.ep_return = 0;
  s.ep_length = 0;
  s.env->observation(s.obs_d.data());
  for (size_t j = 0; j < s.obs.size(); ++j) s.obs[j] = float(s.obs_d[j]);
}

void EnvPool::reset_env(Worker& w, int i) {
  restart(i);
  Slot& s = *slots_[size_t(i)];
  if (w.frames) {
    w.frames->render(i - w.begin, s.env->data());  // pushed by the caller (push_device)
  } else if (cfg_.render) {
    w.renderer->render_gray(s.env->data(), s.frame.data());
    kernels::stack_push_cpu(cfg_.frame_stack, frame_size_, s.frame.data(), s.stack.data(), true);
  }
}

bool EnvPool::advance(int i, const float* action) {
  Slot& s = *slots_[size_t(i)];
  for (int j = 0; j < act_dim_; ++j) s.action[size_t(j)] = double(action[j]);
  const StepResult r = s.env->step(s.action.data());
  s.ep_return += r.reward;
  s.ep_length += 1;
  reward_[size_t(i)] = float(r.reward);
  x_velocity_[size_t(i)] = float(r.x_velocity);
  terminated_[size_t(i)] = r.terminated;
  truncated_[size_t(i)] = r.truncated;
  ep_return_out_[size_t(i)] = s.ep_return;
  ep_length_out_[size_t(i)] = s.ep_length;
  s.env->observation(s.obs_d.data());
  for (size_t j = 0; j < s.obs.size(); ++j) s.obs[j] = float(s.obs_d[j]);
  return r.terminated || r.truncated;
}

void EnvPool::step_env(Worker& w, int i, const float* action) {
  Slot& s = *slots_[size_t(i)];
  const bool done = advance(i, action);
  if (cfg_.render) {
    w.renderer->render_gray(s.env->data(), s.frame.data());
    kernels::stack_push_cpu(cfg_.frame_stack, frame_size_, s.frame.data(), s.stack.data(), false);
  }
  if (done) {
    // Keep what the finished episode ended on, then start the next one.
    s.final_obs = s.obs;
    s.env->positions(s.final_qpos.data(), s.final_qvel.data());
    if (cfg_.render) s.final_stack = s.stack;
    reset_env(w, i);
  }
}

void EnvPool::write_out(int i, uint8_t* frames, float* obs) {
  const Slot& s = *slots_[size_t(i)];
  if (frames && cfg_.render)
    std::memcpy(frames + size_t(i) * s.stack.size(), s.stack.data(), s.stack.size());
  if (obs) std::memcpy(obs + size_t(i) * s.obs.size(), s.obs.data(), s.obs.size() * sizeof(float));
}

void EnvPool::reset(uint8_t* frames, float* obs) {
  check_idle("reset");
  RM_CHECK(!frames || cfg_.render, "EnvPool::reset: frames requested from a physics-only pool");
  RM_CHECK(!frames || cfg_.frame_mode == FrameMode::Host, "EnvPool::reset: host frames ",
           "requested from a pool in frame mode cuda (its frames are frames_device())");
  run_all([&](Worker& w) {
    for (int i = w.begin; i < w.end; ++i) {
      reset_env(w, i);
      reward_[size_t(i)] = x_velocity_[size_t(i)] = 0.f;
      terminated_[size_t(i)] = truncated_[size_t(i)] = 0;
      ep_return_out_[size_t(i)] = 0.0;
      ep_length_out_[size_t(i)] = 0;
      write_out(i, frames, obs);
    }
    if (w.frames) push_device(w, true);
  });
  was_reset_ = true;
}

void EnvPool::step(const float* actions, uint8_t* frames, float* obs) {
  check_idle("step");
  RM_CHECK(was_reset_, "EnvPool::step: call reset() before the first step()");
  RM_CHECK(actions, "EnvPool::step: null actions");
  RM_CHECK(!frames || cfg_.render, "EnvPool::step: frames requested from a physics-only pool");
  RM_CHECK(!frames || cfg_.frame_mode == FrameMode::Host, "EnvPool::step: host frames ",
           "requested from a pool in frame mode cuda (its frames are frames_device())");
  run_all([&](Worker& w) {
    if (w.frames) return step_device(w, actions, obs);
    step_envs(w, w.begin, w.end, actions, frames, obs);
  });
}

void EnvPool::step_envs(Worker& w, int begin, int end, const float* actions, uint8_t* frames,
                        float* obs) {
  for (int i = begin; i < end; ++i) {
    step_env(w, i, actions + size_t(i) * size_t(act_dim_));
    write_out(i, frames, obs);
  }
}

void EnvPool::step_begin(int first, int count, const float* actions, uint8_t* frames, float* obs) {
  check_idle("step_begin");
  RM_CHECK(was_reset_, "EnvPool::step_begin: call reset() before the first step");
  RM_CHECK(async_steps(), "EnvPool::step_begin: needs a rendering pool with host frames (its ",
           "workers step on their own threads)");
  RM_CHECK(actions, "EnvPool::step_begin: null actions");
  RM_CHECK(first >= 0 && count >= 1 && first + count <= n_, "EnvPool::step_begin: envs [", first,
           ", ", first + count, ") out of range [0, ", n_, ")");
  const int end = first + count;
  async_job_ = [this, first, end, actions, frames, obs](Worker& w) {
    step_envs(w, std::max(first, w.begin), std::min(end, w.end), actions, frames, obs);
  };
  dispatch(&async_job_);
  in_flight_ = true;
}

void EnvPool::step_wait() {
  if (!in_flight_) return;
  in_flight_ = false;
  join_workers();
  rethrow_worker_error();
}

void EnvPool::step_settle() noexcept {
  try {
    step_wait();
  } catch (...) {
  }
}

std::vector<EnvSnapshot> EnvPool::snapshot() const {
  check_idle("snapshot");
  RM_CHECK(was_reset_, "EnvPool::snapshot: call reset() first");
  std::vector<EnvSnapshot> out(static_cast<size_t>(n_));
  const std::vector<uint8_t> dev = download_device_stacks();  // empty in FrameMode::Host
  for (int i = 0; i < n_; ++i) {
    const Slot& s = *slots_[size_t(i)];
    EnvSnapshot& o = out[size_t(i)];
    o.physics = s.env->state();
    o.rng = s.rng.state();
    o.stack = s.stack;
    if (!dev.empty())
      std::memcpy(o.stack.data(), dev.data() + size_t(i) * s.stack.size(), s.stack.size());
    o.episode_return = s.ep_return;
    o.episode_length = s.ep_length;
  }
  return out;
}

void EnvPool::restore(const std::vector<EnvSnapshot>& snaps, uint8_t* frames, float* obs) {
  check_idle("restore");
  RM_CHECK(int(snaps.size()) == n_, "EnvPool::restore: ", snaps.size(),
           " env snapshots for a pool of ", n_);
  RM_CHECK(!frames || cfg_.render, "EnvPool::restore: frames requested from a physics-only pool");
  RM_CHECK(!frames || cfg_.frame_mode == FrameMode::Host, "EnvPool::restore: host frames ",
           "requested from a pool in frame mode cuda (its frames are frames_device())");
  for (int i = 0; i < n_; ++i) {
    const EnvSnapshot& o = snaps[size_t(i)];
    Slot& s = *slots_[size_t(i)];
    RM_CHECK(o.stack.size() == s.stack.size(), "EnvPool::restore: env ", i,
             " has a frame stack of ", o.stack.size(), " bytes, the pool needs ", s.stack.size());
    RM_CHECK(o.episode_length >= 0, "EnvPool::restore: env ", i, " has a negative episode length");
    s.env->set_state(o.physics);
    s.rng.set_state(o.rng);
    s.stack = o.stack;
    s.ep_return = o.episode_return;
    s.ep_length = o.episode_length;
    s.env->observation(s.obs_d.data());
    for (size_t j = 0; j < s.obs.size(); ++j) s.obs[j] = float(s.obs_d[j]);
    reward_[size_t(i)] = x_velocity_[size_t(i)] = 0.f;
    terminated_[size_t(i)] = truncated_[size_t(i)] = 0;
    ep_return_out_[size_t(i)] = s.ep_return;
    ep_length_out_[size_t(i)] = s.ep_length;
    write_out(i, frames, obs);
  }
  if (stacks_dev_.defined()) upload_device_stacks();
  was_reset_ = true;
}

const float* EnvPool::final_obs(int i) const {
  RM_CHECK(i >= 0 && i < n_, "EnvPool::final_obs: env index ", i, " out of range [0, ", n_, ")");
  return slots_[size_t(i)]->final_obs.data();
}

const double* EnvPool::final_qpos(int i) const {
  RM_CHECK(i >= 0 && i < n_, "EnvPool::final_qpos: env index ", i, " out of range [0, ", n_, ")");
  return slots_[size_t(i)]->final_qpos.data();
}

const double* EnvPool::final_qvel(int i) const {
  RM_CHECK(i >= 0 && i < n_, "EnvPool::final_qvel: env index ", i, " out of range [0, ", n_, ")");
  return slots_[size_t(i)]->final_qvel.data();
}

const uint8_t* EnvPool::final_frames(int i) const {
  RM_CHECK(cfg_.render, "EnvPool::final_frames: the pool does not render");
  RM_CHECK(cfg_.frame_mode == FrameMode::Host, "EnvPool::final_frames: the pool keeps its ",
           "frames on the device (frame mode cuda): read final_frames_device()");
  RM_CHECK(i >= 0 && i < n_, "EnvPool::final_frames: env index ", i, " out of range [0, ", n_, ")");
  return slots_[size_t(i)]->final_stack.data();
}

LocomotionEnv& EnvPool::env(int i) {
  RM_CHECK(i >= 0 && i < n_, "EnvPool::env: index ", i, " out of range [0, ", n_, ")");
  return *slots_[size_t(i)]->env;
}
const LocomotionEnv& EnvPool::env(int i) const {
  RM_CHECK(i >= 0 && i < n_, "EnvPool::env: index ", i, " out of range [0, ", n_, ")");
  return *slots_[size_t(i)]->env;
}

}  // namespace relmimic::env
