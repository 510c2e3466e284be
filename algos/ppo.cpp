// PpoTrainer: rollout, GAE and the clipped PPO update.
#include "algos/ppo.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <numeric>

#include "algos/train_ops.h"
#include "engine/device_ops.h"
#include "engine/profile.h"
#include "kernels/common.h"
#include "kernels/overlap.h"

namespace relmimic::algos {

namespace {
const uint8_t* bytes_of(const Tensor& t) {
  return static_cast<const uint8_t*>(t.raw());
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

// 1 - Var(returns - values) / Var(returns): how much of the return the value function explains.
double explained_variance(const std::vector<float>& values, const std::vector<float>& returns) {
  const size_t n = values.size();
  double mr = 0, md = 0;
  for (size_t i = 0; i < n; ++i) {
    mr += returns[i];
    md += double(returns[i]) - values[i];
  }
  mr /= double(n);
  md /= double(n);
  double vr = 0, vd = 0;
  for (size_t i = 0; i < n; ++i) {
    vr += (returns[i] - mr) * (returns[i] - mr);
    const double d = double(returns[i]) - values[i] - md;
    vd += d * d;
  }
  return vr > 0 ? 1.0 - vd / vr : NAN;
}

PpoTrainer::PpoTrainer(const Config& cfg)
    : config_json_(cfg.dump()),
      s_(ppo_settings(cfg)),
      sample_rng_(Rng::derive(uint64_t(s_.seed), 201)),
      shuffle_rng_(Rng::derive(uint64_t(s_.seed), 202)) {
  env::PoolConfig pc = pool_config(s_, s_.num_envs, Rng::derive(uint64_t(s_.seed), 200));
  // A CUDA run fails here, before any env or network is built, when the device is not usable.
  ops::check_device(s_.device, "config run.device");
  if (s_.device.is_cuda() && !s_.upload_frames) pc.frame_mode = env::FrameMode::Cuda;
  pool_ = std::make_unique<env::EnvPool>(pc);
  obs_dim_ = pool_->obs_dim();
  act_dim_ = pool_->action_dim();

  AgentConfig pcfg = policy_config(s_, obs_dim_, act_dim_), vcfg = value_config(s_, obs_dim_);
  pcfg.device = vcfg.device = s_.device;
  pi_ = std::make_unique<AgentNet<float>>(pcfg);
  vf_ = std::make_unique<AgentNet<float>>(vcfg);
  const std::vector<float> init_log_std(size_t(act_dim_), float(s_.init_log_std));
  ops::copy_from_host(s_.device, pi_->parameters().value(pi_->log_std_slot()), init_log_std.data(),
                      sizeof(float) * size_t(act_dim_));
  kernels::AdamParams hp;
  hp.eps = s_.adam_eps;
  hp.lr = s_.lr;
  pi_opt_ = std::make_unique<Adam<float>>(pi_->parameters(), hp);
  hp.lr = s_.value_lr;
  vf_opt_ = std::make_unique<Adam<float>>(vf_->parameters(), hp);
  if (s_.obs_norm) obs_rms_ = std::make_unique<RunningMeanStd>(obs_dim_);
  if (s_.reward_norm) ret_rms_ = std::make_unique<RunningMeanStd>(1);

  const int N = s_.num_envs, A = act_dim_, M = s_.minibatch;
  const long B = s_.batch();
  const Device d = s_.device;
  if (s_.device.is_cuda() && pool_->frame_mode() == env::FrameMode::Cuda)
    RM_CHECK(pool_->frames_device().device() == d, "config run.device=", d.str(),
             ": the envs render on ", pool_->frames_device().device().str(),
             " (CUDA-GL interop uses the GPU of the EGL context); choose that device or "
             "run.device_frames=upload");
  r_.obs_bytes = s_.pixels() ? long(s_.frames) * s_.frame_size * s_.frame_size : long(obs_dim_) * 4;
  // Room for N final rows to start with; store_final() grows it when more episodes end.
  r_.obs = Tensor::zeros({(s_.rollout_steps + 2L) * N, r_.obs_bytes}, DType::u8, d);
  if (!s_.pixels()) keep_raw_obs();
  r_.next_row.assign(size_t(B), 0);
  r_.actions = Tensor::zeros({B, A}, DType::f32, d);
  for (Tensor* t :
       {&r_.logp, &r_.values, &r_.next_values, &r_.rewards, &r_.advantages, &r_.returns})
    *t = Tensor::zeros({B}, DType::f32, d);
  r_.terminated = Tensor::zeros({B}, DType::u8, d);
  r_.truncated = Tensor::zeros({B}, DType::u8, d);
  for (auto* v : {&r_.host_rewards, &r_.host_values, &r_.host_next_values, &r_.host_returns})
    v->assign(size_t(B), 0.f);
  r_.host_terminated.assign(size_t(B), 0);
  r_.host_truncated.assign(size_t(B), 0);
  r_.perm = Tensor::zeros({B}, DType::i32, d);
  r_.mb_obs = Tensor::zeros({M, r_.obs_bytes}, DType::u8, d);
  r_.mb_actions = Tensor::zeros({M, A}, DType::f32, d);
  r_.mb_scalars = Tensor::zeros({4, M}, DType::f32, d);
  r_.noise = Tensor::zeros({N, A}, DType::f32, d);

  obs_raw_.assign(size_t(N) * obs_dim_, 0.f);
  obs_stage_.assign(size_t(N) * obs_dim_, 0.f);
  if (s_.pixels()) frames_.assign(size_t(N * r_.obs_bytes), 0);
  running_return_.assign(size_t(N), 0.0);
  env_actions_.assign(size_t(N) * A, 0.f);
  noise_.assign(size_t(N) * A, 0.f);
  perm_.resize(size_t(B));
  perm32_.resize(size_t(B));

  const bool host_frames = s_.pixels() && pool_->frame_mode() == env::FrameMode::Host;
  pool_->reset(host_frames ? frames_.data() : nullptr, obs_raw_.data());
  if (obs_rms_) obs_rms_->update(obs_raw_.data(), N);
}

PpoTrainer::~PpoTrainer() = default;

void PpoTrainer::keep_raw_obs() {
  keep_raw_obs_ = true;
  r_.raw_obs.assign(size_t(r_.obs.dim(0)) * obs_dim_, 0.f);
}

Tensor PpoTrainer::obs_view(void* p, int count) const {
  if (s_.pixels())
    return Tensor::view(p, {count, s_.frames, s_.frame_size, s_.frame_size}, DType::u8, s_.device);
  return Tensor::view(p, {count, obs_dim_}, DType::f32, s_.device);
}

void PpoTrainer::store_frames(long r, const uint8_t* src, size_t bytes) {
  if (pool_->frame_mode() == env::FrameMode::Host)
    ops::copy_from_host(s_.device, row(r), src, bytes);
  else  // rendered into device memory (CUDA-GL interop)
    train_ops::copy_bytes(s_.device, row(r), src, bytes);
}

void PpoTrainer::store_current(long first, int env_first, int env_count) {
  const int N = s_.num_envs;
  if (env_count < 0) env_count = N - env_first;
  const size_t bytes = size_t(env_count) * size_t(r_.obs_bytes);
  if (keep_raw_obs_)
    std::copy_n(obs_raw_.begin() + long(env_first) * obs_dim_, long(env_count) * obs_dim_,
                r_.raw_obs.begin() + (first + env_first) * obs_dim_);
  if (s_.pixels()) {
    const size_t skip = size_t(env_first) * size_t(r_.obs_bytes);
    const bool host = pool_->frame_mode() == env::FrameMode::Host;
    store_frames(first + env_first,
                 (host ? frames_.data() : bytes_of(pool_->frames_device())) + skip, bytes);
    return;
  }
  RM_CHECK(env_first == 0 && env_count == N, "PpoTrainer: state rows are stored for all envs");
  if (obs_rms_)
    obs_rms_->normalize(obs_raw_.data(), obs_stage_.data(), N, s_.obs_clip);
  else
    obs_stage_ = obs_raw_;
  ops::copy_from_host(s_.device, row(first), obs_stage_.data(), bytes);
}

long PpoTrainer::store_final(int n) {
  const int N = s_.num_envs;
  const long r = (s_.rollout_steps + 1L) * N + r_.final_rows++;
  if (r >= r_.obs.dim(0)) {  // twice the final rows, the rows so far kept
    Tensor grown = Tensor::zeros(
        {(s_.rollout_steps + 1L) * N + 2 * (r - (s_.rollout_steps + 1L) * N), r_.obs_bytes},
        DType::u8, s_.device);
    train_ops::copy_bytes(s_.device, grown.raw(), r_.obs.raw(), r_.obs.nbytes());
    r_.obs = grown;
    if (keep_raw_obs_) r_.raw_obs.resize(size_t(grown.dim(0)) * obs_dim_);
  }
  const size_t per = size_t(r_.obs_bytes);
  const float* raw = pool_->final_obs(n);
  if (keep_raw_obs_) std::copy_n(raw, obs_dim_, r_.raw_obs.begin() + r * obs_dim_);
  if (s_.pixels()) {
    const bool host = pool_->frame_mode() == env::FrameMode::Host;
    store_frames(
        r, host ? pool_->final_frames(n) : bytes_of(pool_->final_frames_device()) + size_t(n) * per,
        per);
    return r;
  }
  if (obs_rms_)
    obs_rms_->normalize(raw, obs_stage_.data(), 1, s_.obs_clip);
  else
    std::copy_n(raw, obs_dim_, obs_stage_.begin());
  ops::copy_from_host(s_.device, row(r), obs_stage_.data(), per);
  return r;
}

double PpoTrainer::value_of_row(long r) {
  float v = 0;
  ops::copy_to_host(s_.device, &v, vf_->forward(rows(r, 1)).raw(), sizeof(float));
  return double(v);
}

bool PpoTrainer::pipelined() const {
  using P = PpoSettings::Pipeline;
  if (s_.pipeline == P::off || !s_.pixels() || !s_.device.is_cpu() || s_.num_envs < 2 ||
      !pool_->async_steps())
    return false;
  const bool big_attention =
      (s_.arch == Arch::nonlocal || s_.value_arch == Arch::nonlocal) && s_.frame_size > 64;
  return s_.pipeline == P::on || !big_attention;
}

void PpoTrainer::act_rows(int t, int first, int count, bool alone) {
  const Device d = s_.device;
  const int A = act_dim_;
  const long base = long(t) * s_.num_envs + first;
  const Tensor ob = rows(base, count);
  float* act = r_.actions.data<float>() + base * A;
  const float* log_std = pi_->log_std();
  auto policy = [&] {
    const float* mean = pi_->forward(ob).data<float>();  // [count, A]
    const size_t n = size_t(count) * size_t(A);
    for (size_t i = 0; i < n; ++i) noise_[i] = float(sample_rng_.normal());
    ops::copy_from_host(d, r_.noise.raw(), noise_.data(), sizeof(float) * n);
    train_ops::gaussian_sample(d, count, A, mean, log_std, r_.noise.data<float>(), act);
    train_ops::gaussian_log_prob(d, count, A, mean, log_std, act, r_.logp.data<float>() + base);
  };
  auto value = [&] {
    const float* v = vf_->forward(ob).data<float>();  // [count, 1]
    train_ops::copy_bytes(d, r_.values.data<float>() + base, v, sizeof(float) * size_t(count));
  };
  if (alone) {
    kernels::cpu_alone([&] {
      policy();
      value();
    });
  } else {
    overlapped(policy, value);
  }
  // Only the actions cross to the host, for the envs.
  float* env_act = env_actions_.data() + size_t(first) * A;
  ops::copy_to_host(d, env_act, act, sizeof(float) * size_t(count) * A);
  for (size_t i = 0; i < size_t(count) * A; ++i)
    env_act[i] = std::clamp(env_act[i], -float(s_.action_clip), float(s_.action_clip));
}

IterationStats PpoTrainer::collect() {
  IterationStats st;
  const auto t0 = std::chrono::steady_clock::now();
  profile::ScopedRange range("rollout");
  const Device d = s_.device;
  const int N = s_.num_envs, T = s_.rollout_steps;
  r_.final_rows = 0;
  velocity_sum_ = 0;
  store_current(0);
  if (pipelined()) {
    collect_pipelined(st);
  } else {
    for (int t = 0; t < T; ++t) {
      act_rows(t, 0, N, false);
      const auto te = std::chrono::steady_clock::now();
      profile::ScopedRange env_range("env step + render (waited for)");
      const bool host_frames = s_.pixels() && pool_->frame_mode() == env::FrameMode::Host;
      pool_->step(env_actions_.data(), host_frames ? frames_.data() : nullptr, obs_raw_.data());
      env_range.end();
      st.env_seconds += seconds_since(te);
      record_step(t, st);
    }
  }
  trim_window();

  // Bootstraps: the next step's value inside the rollout, V(s_T) after it; truncated steps
  // already hold V(final observation). Values come to the host once.
  const size_t B = size_t(s_.batch());
  ops::copy_to_host(d, r_.host_values.data(), r_.values.raw(), sizeof(float) * B);
  for (int t = 0; t + 1 < T; ++t)
    for (int n = 0; n < N; ++n) {
      const size_t i = size_t(t) * N + n;
      if (!r_.host_truncated[i]) r_.host_next_values[i] = r_.host_values[i + size_t(N)];
    }
  {
    std::vector<float> last(static_cast<size_t>(N));
    ops::copy_to_host(d, last.data(), vf_->forward(rows(long(T) * N, N)).raw(),
                      sizeof(float) * size_t(N));
    for (int n = 0; n < N; ++n) {
      const size_t i = size_t(T - 1) * N + n;
      if (!r_.host_truncated[i]) r_.host_next_values[i] = last[size_t(n)];
    }
  }
  // One upload of what the host produced.
  ops::copy_from_host(d, r_.rewards.raw(), r_.host_rewards.data(), sizeof(float) * B);
  ops::copy_from_host(d, r_.next_values.raw(), r_.host_next_values.data(), sizeof(float) * B);
  ops::copy_from_host(d, r_.terminated.raw(), r_.host_terminated.data(), B);
  ops::copy_from_host(d, r_.truncated.raw(), r_.host_truncated.data(), B);
  st.mean_velocity = velocity_sum_ / double(B);
  range.end();
  st.rollout_seconds = seconds_since(t0);
  return st;
}

// Halves h = 0, 1: envs [first[h], first[h] + count[h]). While half h steps on the env workers,
// the learner's thread acts on the other half's next observations (one thread: the workers have
// the other core); once both halves of step t are back, record_step(t) as in the plain rollout.
// The policy's noise is drawn in the plain rollout's order (env 0 first, step by step), so the
// sampling stream does not depend on the pipeline.
void PpoTrainer::collect_pipelined(IterationStats& st) {
  const int N = s_.num_envs, T = s_.rollout_steps;
  const int first[2] = {0, N / 2}, count[2] = {N / 2, N - N / 2};
  // An exception leaves no step running into this trainer's arrays.
  struct Settle {
    env::EnvPool& pool;
    ~Settle() { pool.step_settle(); }
  } settle{*pool_};
  auto launch = [&](int h) {
    pool_->step_begin(first[h], count[h], env_actions_.data(), frames_.data(), obs_raw_.data());
  };
  act_rows(0, first[0], count[0], true);
  launch(0);
  for (int t = 0; t < T; ++t) {
    for (int h = 0; h < 2; ++h) {
      // Half h steps t; the other half acts at t (h = 0) or t + 1 (h = 1), if in the rollout.
      const int o = 1 - h, to = h == 0 ? t : t + 1;
      if (to < T) act_rows(to, first[o], count[o], true);
      const auto te = std::chrono::steady_clock::now();
      profile::ScopedRange env_range("env step + render (waited for)");
      pool_->step_wait();
      env_range.end();
      st.env_seconds += seconds_since(te);
      store_current(long(t + 1) * N, first[h], count[h]);  // half h's s_{t+1}
      if (h == 1) record_step(t, st, false);
      if (to < T) launch(o);
    }
  }
}

void PpoTrainer::record_step(int t, IterationStats& st, bool store) {
  const int N = s_.num_envs;
  const long base = long(t) * N;
  if (obs_rms_) obs_rms_->update(obs_raw_.data(), N);
  if (ret_rms_) {
    for (int n = 0; n < N; ++n)
      running_return_[size_t(n)] =
          running_return_[size_t(n)] * s_.gamma + double(pool_->rewards()[n]);
    ret_rms_->update(running_return_.data(), N);
  }
  const double reward_scale = ret_rms_ ? 1.0 / std::sqrt(ret_rms_->var()[0] + 1e-8) : 1.0;
  for (int n = 0; n < N; ++n) {
    const size_t i = size_t(base + n);
    double r = double(pool_->rewards()[n]) * reward_scale;
    if (ret_rms_) r = std::clamp(r, -s_.reward_clip, s_.reward_clip);
    r_.host_rewards[i] = float(r);
    r_.host_terminated[i] = pool_->terminated()[n];
    r_.host_truncated[i] = pool_->truncated()[n];
    velocity_sum_ += pool_->x_velocities()[n];
    r_.next_row[i] = int32_t(base + N + n);
    if (pool_->done(n)) {
      r_.next_row[i] = int32_t(store_final(n));
      if (r_.host_truncated[i] && !r_.host_terminated[i])
        r_.host_next_values[i] = float(value_of_row(r_.next_row[i]));
      running_return_[size_t(n)] = 0;
      window_returns_.push_back(pool_->episode_returns()[n]);
      window_lengths_.push_back(pool_->episode_lengths()[n]);
      ++st.episodes;
      ++episodes_total_;
    }
  }
  if (store) store_current(base + N);  // s_{t+1} (a reset observation where an episode ended)
}

// The episode window keeps the last log_window episodes.
void PpoTrainer::trim_window() {
  const size_t w = size_t(s_.log_window);
  if (window_returns_.size() > w) {
    const auto drop = ptrdiff_t(window_returns_.size() - w);
    window_returns_.erase(window_returns_.begin(), window_returns_.begin() + drop);
    window_lengths_.erase(window_lengths_.begin(), window_lengths_.begin() + drop);
  }
}

void PpoTrainer::learn(IterationStats& st) {
  const auto t0 = std::chrono::steady_clock::now();
  profile::ScopedRange range("PPO update");
  const Device d = s_.device;
  const int T = s_.rollout_steps, N = s_.num_envs;
  const size_t B = size_t(s_.batch());
  train_ops::gae(d, T, N, r_.rewards.data<float>(), r_.values.data<float>(),
                 r_.next_values.data<float>(), r_.terminated.data<uint8_t>(),
                 r_.truncated.data<uint8_t>(), s_.gamma, s_.lambda, r_.advantages.data<float>(),
                 r_.returns.data<float>());
  ops::copy_to_host(d, r_.host_returns.data(), r_.returns.raw(), sizeof(float) * B);
  st.explained_variance = explained_variance(r_.host_values, r_.host_returns);
  if (s_.norm_adv) train_ops::standardize(d, long(B), r_.advantages.data<float>());
  update(st);
  range.end();
  st.update_seconds = seconds_since(t0);

  ++iteration_;
  timesteps_ += s_.batch();
  st.iteration = iteration_;
  st.timesteps = timesteps_;
  st.fps = double(s_.batch()) / std::max(1e-9, st.rollout_seconds + st.update_seconds);
  if (window_returns_.empty()) {
    st.mean_return = st.std_return = st.mean_length = NAN;
  } else {
    double m = 0, m2 = 0, ml = 0;
    for (size_t i = 0; i < window_returns_.size(); ++i) {
      m += window_returns_[i];
      m2 += window_returns_[i] * window_returns_[i];
      ml += window_lengths_[i];
    }
    const double n = double(window_returns_.size());
    st.mean_return = m / n;
    st.std_return = std::sqrt(std::max(0.0, m2 / n - st.mean_return * st.mean_return));
    st.mean_length = ml / n;
  }
}

IterationStats PpoTrainer::iterate() {
  IterationStats st = collect();
  learn(st);
  return st;
}

void PpoTrainer::update(IterationStats& st) {
  const long B = s_.batch();
  const int M = s_.minibatch;
  // Linear decay to 0 over the run: iteration i (0-based) uses lr * (1 - i / iterations).
  const double frac = 1.0 - double(iteration_) / double(s_.iterations());
  pi_opt_->set_lr(s_.lr_decay ? s_.lr * frac : s_.lr);
  vf_opt_->set_lr(s_.value_lr_decay ? s_.value_lr * frac : s_.value_lr);
  st.lr = pi_opt_->lr();

  std::iota(perm_.begin(), perm_.end(), 0L);
  long steps = 0;
  for (int epoch = 0; epoch < s_.epochs; ++epoch) {
    for (long i = B - 1; i > 0; --i)
      std::swap(perm_[size_t(i)], perm_[size_t(shuffle_rng_.below(uint64_t(i + 1)))]);
    // The epoch's order (drawn on the host) to the device.
    for (size_t i = 0; i < perm_.size(); ++i) perm32_[i] = int32_t(perm_[i]);
    ops::copy_from_host(s_.device, r_.perm.raw(), perm32_.data(), sizeof(int32_t) * perm32_.size());
    double epoch_kl = 0;
    long epoch_steps = 0;
    for (long start = 0; start < B; start += M) {
      const int b = int(std::min<long>(M, B - start));
      const Minibatch mb = gather_minibatch(start, b);
      const Tensor& ob = mb.obs;

      // The policy's and the value network's gradients are independent: on a 2-thread CPU run
      // they are computed at the same time, one network per thread (kernels/overlap.h). The
      // learners' hook, clipping and Adam then run in the usual order.
      PolicyObjective po;
      kernels::ValueLossStats vo;
      overlapped(
          [&] {
            pi_->parameters().zero_grad();
            po = policy_objective(*pi_, ob, mb.actions, mb.logp, mb.advantages, s_.clip,
                                  s_.entropy_coef, true, scratch_);
          },
          [&] {
            vf_->parameters().zero_grad();
            vo = value_objective(*vf_, ob, mb.returns, mb.values, s_.value_clip, s_.value_coef,
                                 true, value_scratch_);
          });
      RM_CHECK(std::isfinite(po.loss), "policy loss is ", po.loss, " at iteration ", iteration_ + 1,
               ", epoch ", epoch + 1, ": training diverged");
      if (grad_hook_) grad_hook_(pi_->parameters().grads(), pi_->parameters().size());
      st.policy_grad_norm += clip_grad_norm(pi_->parameters(), s_.max_grad_norm);
      pi_opt_->step();

      RM_CHECK(std::isfinite(vo.loss), "value loss is ", vo.loss, " at iteration ", iteration_ + 1,
               ", epoch ", epoch + 1, ": training diverged");
      if (grad_hook_) grad_hook_(vf_->parameters().grads(), vf_->parameters().size());
      st.value_grad_norm += clip_grad_norm(vf_->parameters(), s_.max_grad_norm);
      vf_opt_->step();

      st.policy_loss += po.stats.loss;
      st.entropy += po.entropy;
      st.approx_kl += po.stats.approx_kl;
      st.clip_fraction += po.stats.clip_fraction;
      st.value_loss += vo.loss;
      st.value_clip_fraction += vo.clip_fraction;
      epoch_kl += po.stats.approx_kl;
      ++epoch_steps;
      ++steps;
    }
    st.epochs_run = epoch + 1;
    if (s_.target_kl > 0 && epoch_kl / double(epoch_steps) > s_.target_kl) break;
  }
  for (double* x : {&st.policy_loss, &st.entropy, &st.approx_kl, &st.clip_fraction, &st.value_loss,
                    &st.value_clip_fraction, &st.policy_grad_norm, &st.value_grad_norm})
    *x /= double(steps);
}

PpoTrainer::Minibatch PpoTrainer::gather_minibatch(long start, int b) {
  const Device d = s_.device;
  const int M = s_.minibatch, A = act_dim_;
  const int32_t* idx = r_.perm.data<int32_t>() + start;
  train_ops::gather_rows(d, b, r_.obs_bytes, idx, r_.obs.raw(), r_.mb_obs.raw());
  train_ops::gather_rows(d, b, long(sizeof(float)) * A, idx, r_.actions.raw(), r_.mb_actions.raw());
  float* sc = r_.mb_scalars.data<float>();
  const Tensor* src[4] = {&r_.logp, &r_.advantages, &r_.returns, &r_.values};
  for (int j = 0; j < 4; ++j)
    train_ops::gather_rows(d, b, long(sizeof(float)), idx, src[j]->raw(), sc + size_t(j) * M);
  Minibatch mb;
  mb.obs = obs_view(r_.mb_obs.raw(), b);
  mb.actions = r_.mb_actions.data<float>();
  mb.logp = sc;
  mb.advantages = sc + M;
  mb.returns = sc + 2 * M;
  mb.values = sc + 3 * M;
  return mb;
}

}  // namespace relmimic::algos
