// PPO checkpoints: everything an exact resume needs (PpoTrainer::save/load) and the policy
// alone for evaluation (PpoPolicy).
//
// Layout beyond engine/checkpoint.h's networks, optimizers, RNGs and counters:
//   /obs_rms/mean, /obs_rms/var [obs_dim] (@count)      observation normaliser
//   /ret_rms/mean, /ret_rms/var [1] (@count), /ret_rms/running [N]   reward scaling
//   /episodes/returns [n], /episodes/lengths [n]        the logged episode window
//   /pool/...                                           each env's physics, Rng, frame stack
#include <algorithm>
#include <cmath>
#include <cstring>

#include "algos/ppo.h"
#include "engine/checkpoint.h"
#include "engine/json.h"
#include "kernels/common.h"

namespace relmimic::algos {

namespace {

void save_rms(h5::File& f, const std::string& g, const RunningMeanStd& r) {
  f.write(g + "/mean", r.mean());
  f.write(g + "/var", r.var());
  f.set_attr(g + "/mean", "count", r.count());
}

void load_rms(const h5::File& f, const std::string& g, RunningMeanStd& r) {
  RM_CHECK(f.exists(g + "/mean"), f.path(), ": checkpoint has no normaliser '", g, "'");
  auto read = [&](const std::string& p) {
    const Tensor t = f.read(p);
    RM_CHECK(t.dtype() == DType::f64 && t.numel() == r.dim(), f.path(), ": ", p, " has ", t.numel(),
             " values, expected ", r.dim());
    return std::vector<double>(t.data<double>(), t.data<double>() + t.numel());
  };
  r.set_state(read(g + "/mean"), read(g + "/var"), f.attr_double(g + "/mean", "count"));
}

template <class T>
Tensor rows_of(std::vector<T>& v, int n) {
  return Tensor::view(v.data(), {n, int64_t(v.size()) / std::max(n, 1)}, dtype_of<T>());
}

// Each env's snapshot as [N, ...] datasets.
void save_pool(h5::File& f, const std::vector<env::EnvSnapshot>& snaps) {
  const int n = int(snaps.size());
  std::vector<double> time, qpos, qvel, act, ctrl, warm, ret, cached;
  std::vector<int32_t> elapsed, length, rng, has_cached;
  std::vector<uint8_t> stack;
  for (const env::EnvSnapshot& s : snaps) {
    time.push_back(s.physics.time);
    elapsed.push_back(s.physics.elapsed_steps);
    qpos.insert(qpos.end(), s.physics.qpos.begin(), s.physics.qpos.end());
    qvel.insert(qvel.end(), s.physics.qvel.begin(), s.physics.qvel.end());
    act.insert(act.end(), s.physics.act.begin(), s.physics.act.end());
    ctrl.insert(ctrl.end(), s.physics.ctrl.begin(), s.physics.ctrl.end());
    warm.insert(warm.end(), s.physics.qacc_warmstart.begin(), s.physics.qacc_warmstart.end());
    ret.push_back(s.episode_return);
    length.push_back(s.episode_length);
    int32_t words[8];
    std::memcpy(words, s.rng.s.data(), sizeof(words));
    rng.insert(rng.end(), words, words + 8);
    cached.push_back(s.rng.cached_normal);
    has_cached.push_back(s.rng.has_cached);
    stack.insert(stack.end(), s.stack.begin(), s.stack.end());
  }
  f.write("pool/time", time);
  f.write("pool/elapsed_steps", elapsed);
  f.write("pool/qpos", rows_of(qpos, n));
  f.write("pool/qvel", rows_of(qvel, n));
  if (!act.empty()) f.write("pool/act", rows_of(act, n));
  f.write("pool/ctrl", rows_of(ctrl, n));
  f.write("pool/qacc_warmstart", rows_of(warm, n));
  f.write("pool/episode_return", ret);
  f.write("pool/episode_length", length);
  f.write("pool/rng", rows_of(rng, n));
  f.write("pool/rng_cached_normal", cached);
  f.write("pool/rng_has_cached", has_cached);
  if (!stack.empty()) f.write("pool/stack", rows_of(stack, n), true);
}

// Fills snapshots shaped like `like` (a snapshot of the pool to restore) from the file.
std::vector<env::EnvSnapshot> load_pool(const h5::File& f,
                                        const std::vector<env::EnvSnapshot>& like) {
  const int n = int(like.size());
  RM_CHECK(f.exists("pool/time"), f.path(), ": checkpoint has no env pool state");
  const Tensor time = f.read("pool/time");
  RM_CHECK(time.numel() == n, f.path(), ": checkpoint holds ", time.numel(), " envs, this run has ",
           n, " (env.num_envs must match to resume)");
  auto rows = [&](const std::string& p, size_t per, DType dt) {
    const Tensor t = f.read(p);
    RM_CHECK(t.dtype() == dt && size_t(t.numel()) == per * size_t(n), f.path(), ": ", p,
             " has shape ", t.shape().str(), ", expected ", n, " rows of ", per);
    return t;
  };
  const env::EnvSnapshot& l = like[0];
  const Tensor qpos = rows("pool/qpos", l.physics.qpos.size(), DType::f64);
  const Tensor qvel = rows("pool/qvel", l.physics.qvel.size(), DType::f64);
  const Tensor ctrl = rows("pool/ctrl", l.physics.ctrl.size(), DType::f64);
  const Tensor warm = rows("pool/qacc_warmstart", l.physics.qacc_warmstart.size(), DType::f64);
  const Tensor act =
      l.physics.act.empty() ? Tensor() : rows("pool/act", l.physics.act.size(), DType::f64);
  const Tensor elapsed = rows("pool/elapsed_steps", 1, DType::i32);
  const Tensor ret = rows("pool/episode_return", 1, DType::f64);
  const Tensor length = rows("pool/episode_length", 1, DType::i32);
  const Tensor rng = rows("pool/rng", 8, DType::i32);
  const Tensor cached = rows("pool/rng_cached_normal", 1, DType::f64);
  const Tensor has_cached = rows("pool/rng_has_cached", 1, DType::i32);
  const Tensor stack = l.stack.empty() ? Tensor() : rows("pool/stack", l.stack.size(), DType::u8);
  std::vector<env::EnvSnapshot> out = like;
  auto take = [](const Tensor& t, size_t i, std::vector<double>& dst) {
    if (dst.empty()) return;
    const double* p = t.data<double>() + i * dst.size();
    dst.assign(p, p + dst.size());
  };
  for (int i = 0; i < n; ++i) {
    env::EnvSnapshot& s = out[size_t(i)];
    s.physics.time = time.data<double>()[i];
    s.physics.elapsed_steps = elapsed.data<int32_t>()[i];
    take(qpos, size_t(i), s.physics.qpos);
    take(qvel, size_t(i), s.physics.qvel);
    take(ctrl, size_t(i), s.physics.ctrl);
    take(warm, size_t(i), s.physics.qacc_warmstart);
    if (!s.physics.act.empty()) take(act, size_t(i), s.physics.act);
    s.episode_return = ret.data<double>()[i];
    s.episode_length = length.data<int32_t>()[i];
    std::memcpy(s.rng.s.data(), rng.data<int32_t>() + 8 * i, sizeof(s.rng.s));
    s.rng.cached_normal = cached.data<double>()[i];
    s.rng.has_cached = has_cached.data<int32_t>()[i] != 0;
    if (!s.stack.empty())
      std::memcpy(s.stack.data(), stack.data<uint8_t>() + size_t(i) * s.stack.size(),
                  s.stack.size());
  }
  return out;
}

}  // namespace

void PpoTrainer::save(CheckpointWriter& w, bool networks) const {
  w.set_string("kind", "ppo");
  w.set_string("config", config_json_);
  w.set_counter("iteration", iteration_);
  w.set_counter("timesteps", timesteps_);
  w.set_counter("episodes", episodes_total_);
  w.set_counter("obs_dim", obs_dim_);
  w.set_counter("action_dim", act_dim_);
  if (s_.pixels()) {
    w.set_counter("frames", s_.frames);
    w.set_counter("frame_size", s_.frame_size);
  }
  if (networks) {
    w.add_params("policy", pi_->parameters(), &pi_->buffers());
    w.add_params("value", vf_->parameters(), &vf_->buffers());
    w.add_adam("policy", *pi_opt_);
    w.add_adam("value", *vf_opt_);
  }
  w.add_rng("sample", sample_rng_);
  w.add_rng("shuffle", shuffle_rng_);
  h5::File& f = w.file();
  if (obs_rms_) save_rms(f, "obs_rms", *obs_rms_);
  if (ret_rms_) {
    save_rms(f, "ret_rms", *ret_rms_);
    f.write("ret_rms/running", running_return_);
  }
  f.set_attr("/", "window_episodes", long(window_returns_.size()));
  if (!window_returns_.empty()) {
    f.write("episodes/returns", window_returns_);
    f.write("episodes/lengths", window_lengths_);
  }
  save_pool(f, pool_->snapshot());
}

void PpoTrainer::load(CheckpointReader& r, bool networks) {
  const h5::File& f = r.file();
  RM_CHECK(r.string("kind") == "ppo", f.path(), ": not a PPO checkpoint (kind '", r.string("kind"),
           "')");
  const char* task = env::task_name(s_.task);
  RM_CHECK(r.counter("obs_dim") == obs_dim_ && r.counter("action_dim") == act_dim_, f.path(),
           ": the checkpoint's policy takes ", r.counter("obs_dim"),
           " observation values and gives ", r.counter("action_dim"), " actions, this run's ", task,
           " env has ", obs_dim_, " and ", act_dim_, " (a checkpoint of another env?)");
  // Pixel checkpoints name their frames (older ones do not: their stacks are checked in
  // load_pool).
  if (s_.pixels() && r.has_counter("frames"))
    RM_CHECK(r.counter("frames") == s_.frames && r.counter("frame_size") == s_.frame_size, f.path(),
             ": the checkpoint's policy sees stacks of ", r.counter("frames"), " frames of ",
             r.counter("frame_size"), "x", r.counter("frame_size"), ", this run ", s_.frames,
             " of ", s_.frame_size, "x", s_.frame_size);
  if (networks) {
    r.load_params("policy", pi_->parameters(), &pi_->buffers());
    r.load_params("value", vf_->parameters(), &vf_->buffers());
    r.load_adam("policy", *pi_opt_);
    r.load_adam("value", *vf_opt_);
  }
  r.load_rng("sample", sample_rng_);
  r.load_rng("shuffle", shuffle_rng_);
  iteration_ = r.counter("iteration");
  timesteps_ = r.counter("timesteps");
  episodes_total_ = r.counter("episodes");
  if (obs_rms_) load_rms(f, "obs_rms", *obs_rms_);
  if (ret_rms_) {
    load_rms(f, "ret_rms", *ret_rms_);
    const Tensor run = f.read("ret_rms/running");
    RM_CHECK(run.numel() == s_.num_envs, f.path(), ": ret_rms/running has ", run.numel(),
             " values for ", s_.num_envs, " envs");
    running_return_.assign(run.data<double>(), run.data<double>() + run.numel());
  }
  window_returns_.clear();
  window_lengths_.clear();
  if (f.attr_long("/", "window_episodes") > 0) {
    const Tensor rets = f.read("episodes/returns"), lens = f.read("episodes/lengths");
    window_returns_.assign(rets.data<double>(), rets.data<double>() + rets.numel());
    window_lengths_.assign(lens.data<int32_t>(), lens.data<int32_t>() + lens.numel());
  }
  const bool host_frames = s_.pixels() && pool_->frame_mode() == env::FrameMode::Host;
  pool_->restore(load_pool(f, pool_->snapshot()), host_frames ? frames_.data() : nullptr,
                 obs_raw_.data());
}

// ---------------------------------------------------------------- PpoPolicy

PpoPolicy::PpoPolicy(const std::string& checkpoint, int max_batch) : checkpoint_(checkpoint) {
  CheckpointReader r(checkpoint);
  RM_CHECK(r.string("kind") == "ppo", checkpoint, ": not a PPO checkpoint");
  config_json_ = r.string("config");
  Config cfg;
  declare_ppo(cfg, PpoPreset::expert);
  cfg.load_json(json::parse(config_json_, checkpoint + ":config"), checkpoint + ":config");
  s_ = ppo_settings(cfg);
  obs_dim_ = int(r.counter("obs_dim"));
  act_dim_ = int(r.counter("action_dim"));
  iteration_ = r.counter("iteration");
  timesteps_ = r.counter("timesteps");
  if (s_.pixels() && r.has_counter("frames"))
    RM_CHECK(r.counter("frames") == s_.frames && r.counter("frame_size") == s_.frame_size,
             checkpoint, ": the policy was trained on stacks of ", r.counter("frames"),
             " frames of ", r.counter("frame_size"), "x", r.counter("frame_size"),
             ", its config says ", s_.frames, " of ", s_.frame_size, "x", s_.frame_size);
  AgentConfig pc = policy_config(s_, obs_dim_, act_dim_);
  pc.max_batch = std::max(1, max_batch);
  pi_ = std::make_unique<AgentNet<float>>(pc);
  r.load_params("policy", pi_->parameters(), &pi_->buffers());
  if (s_.obs_norm) {
    obs_rms_ = std::make_unique<RunningMeanStd>(obs_dim_);
    load_rms(r.file(), "obs_rms", *obs_rms_);
  }
  obs_.assign(size_t(pc.max_batch) * obs_dim_, 0.f);
}

void PpoPolicy::check_env(const env::EnvPool& pool) const {
  const char* task = env::task_name(pool.config().task);
  RM_CHECK(obs_dim_ == pool.obs_dim() && act_dim_ == pool.action_dim(), checkpoint_,
           ": the policy takes ", obs_dim_, " observation values and gives ", act_dim_,
           " actions, the ", task, " env has ", pool.obs_dim(), " and ", pool.action_dim(),
           " (a checkpoint of another env?)");
  if (s_.pixels())
    RM_CHECK(pool.frame_stack() == s_.frames && pool.height() == s_.frame_size &&
                 pool.width() == s_.frame_size,
             checkpoint_, ": the policy sees stacks of ", s_.frames, " frames of ", s_.frame_size,
             "x", s_.frame_size, ", the ", task, " env gives ", pool.frame_stack(), " of ",
             pool.height(), "x", pool.width());
}

void act(const Actor& actor, int batch, const float* obs_raw, const uint8_t* frames,
         bool deterministic, Rng& rng, float* actions, std::vector<float>& obs_scratch) {
  RM_CHECK(!actor.net.device().is_cuda(), "act: the policy network must be on the cpu");
  const PpoSettings& s = actor.settings;
  const int A = actor.net.outputs();
  Tensor ob;
  if (s.pixels()) {
    RM_CHECK(frames, "act: a pixel policy needs frames");
    ob = Tensor::view(const_cast<uint8_t*>(frames), {batch, s.frames, s.frame_size, s.frame_size},
                      DType::u8);
  } else {
    RM_CHECK(obs_raw, "act: a state policy needs observations");
    const int D = actor.net.config().obs_dim;
    const size_t n = size_t(batch) * size_t(D);
    if (obs_scratch.size() < n) obs_scratch.resize(n);
    if (actor.obs_rms)
      actor.obs_rms->normalize(obs_raw, obs_scratch.data(), batch, s.obs_clip);
    else
      std::copy(obs_raw, obs_raw + n, obs_scratch.data());
    ob = Tensor::view(obs_scratch.data(), {batch, D}, DType::f32);
  }
  const float* mean = actor.net.forward(ob).data<float>();
  const float* log_std = actor.net.log_std();
  const float c = float(s.action_clip);
  for (int b = 0; b < batch; ++b)
    for (int j = 0; j < A; ++j) {
      const size_t i = size_t(b) * A + j;
      float a = mean[i];
      if (!deterministic) a += std::exp(log_std[j]) * float(rng.normal());
      actions[i] = std::clamp(a, -c, c);
    }
}

void PpoPolicy::act(int batch, const float* obs_raw, const uint8_t* frames, bool deterministic,
                    Rng& rng, float* actions) {
  algos::act(actor(), batch, obs_raw, frames, deterministic, rng, actions, obs_);
}

}  // namespace relmimic::algos
