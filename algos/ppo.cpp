// PpoTrainer: rollout, GAE and the clipped PPO update.
#include "algos/ppo.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <numeric>

#include "engine/device_ops.h"
#include "engine/profile.h"
#include "kernels/common.h"

namespace relmimic::algos {

namespace {
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

  const int N = s_.num_envs;
  const long B = s_.batch();
  buf_.obs_bytes =
      s_.pixels() ? long(s_.frames) * s_.frame_size * s_.frame_size : long(obs_dim_) * 4;
  if (s_.device.is_cpu()) {  // on a device these live in DeviceRollout only
    buf_.obs.assign(size_t(B * buf_.obs_bytes), 0);
    buf_.actions.assign(size_t(B * act_dim_), 0.f);
    buf_.logp.assign(size_t(B), 0.f);
    buf_.advantages.assign(size_t(B), 0.f);
  }
  for (auto* v : {&buf_.values, &buf_.next_values, &buf_.rewards, &buf_.returns})
    v->assign(size_t(B), 0.f);
  buf_.terminated.assign(size_t(B), 0);
  buf_.truncated.assign(size_t(B), 0);
  obs_raw_.assign(size_t(N) * obs_dim_, 0.f);
  if (s_.pixels()) frames_.assign(size_t(N * buf_.obs_bytes), 0);
  running_return_.assign(size_t(N), 0.0);
  env_actions_.assign(size_t(N) * act_dim_, 0.f);
  noise_.assign(size_t(N) * act_dim_, 0.f);
  mb_obs_.assign(size_t(s_.minibatch * buf_.obs_bytes), 0);
  mb_floats_.assign(size_t(s_.minibatch) * (act_dim_ + 4), 0.f);
  perm_.resize(size_t(B));
  if (s_.device.is_cuda()) init_device();

  const bool host_frames = s_.pixels() && pool_->frame_mode() == env::FrameMode::Host;
  pool_->reset(host_frames ? frames_.data() : nullptr, obs_raw_.data());
  if (dev_) refresh_device_frames(true);
  if (obs_rms_) obs_rms_->update(obs_raw_.data(), N);
}

void PpoTrainer::set_hooks(PpoHooks hooks) {
  RM_CHECK(!dev_ || !hooks.after_step,
           "PpoTrainer::set_hooks: after_step takes host frames, but "
           "this trainer runs on ",
           s_.device.str(), " (use after_step_device)");
  hooks_ = std::move(hooks);
}

PpoTrainer::~PpoTrainer() = default;

void PpoTrainer::write_obs(long sample, const float* obs_raw, const uint8_t* frames) {
  uint8_t* dst = buf_.obs.data() + sample * buf_.obs_bytes;
  if (s_.pixels()) {
    std::memcpy(dst, frames, size_t(buf_.obs_bytes));
  } else if (obs_rms_) {
    obs_rms_->normalize(obs_raw, reinterpret_cast<float*>(dst), 1, s_.obs_clip);
  } else {
    std::memcpy(dst, obs_raw, size_t(buf_.obs_bytes));
  }
}

Tensor PpoTrainer::obs_batch(const uint8_t* rows, int batch) {
  void* p = const_cast<uint8_t*>(rows);
  if (s_.pixels())
    return Tensor::view(p, {batch, s_.frames, s_.frame_size, s_.frame_size}, DType::u8);
  return Tensor::view(p, {batch, obs_dim_}, DType::f32);
}

double PpoTrainer::value_of(const float* obs_raw, const uint8_t* frames) {
  // One observation through the minibatch scratch (free during the rollout).
  if (s_.pixels()) {
    std::memcpy(mb_obs_.data(), frames, size_t(buf_.obs_bytes));
  } else if (obs_rms_) {
    obs_rms_->normalize(obs_raw, reinterpret_cast<float*>(mb_obs_.data()), 1, s_.obs_clip);
  } else {
    std::memcpy(mb_obs_.data(), obs_raw, size_t(buf_.obs_bytes));
  }
  return double(vf_->forward(obs_batch(mb_obs_.data(), 1)).data<float>()[0]);
}

void PpoTrainer::rollout(IterationStats& st) {
  if (dev_) return rollout_device(st);
  profile::ScopedRange range("rollout");
  const int N = s_.num_envs, A = act_dim_, T = s_.rollout_steps;
  const float* log_std = pi_->log_std();
  for (int t = 0; t < T; ++t) {
    const long base = long(t) * N;
    for (int n = 0; n < N; ++n)
      write_obs(base + n, obs_raw_.data() + size_t(n) * obs_dim_,
                s_.pixels() ? frames_.data() + size_t(n) * buf_.obs_bytes : nullptr);
    const Tensor ob = obs_batch(buf_.obs.data() + base * buf_.obs_bytes, N);
    const float* mean = pi_->forward(ob).data<float>();  // [N, A]
    for (float& z : noise_) z = float(sample_rng_.normal());
    float* act = buf_.actions.data() + base * A;
    kernels::gaussian_sample_cpu(N, A, mean, log_std, noise_.data(), act);
    kernels::gaussian_log_prob_cpu(N, A, mean, log_std, act, buf_.logp.data() + base);
    const float* v = vf_->forward(ob).data<float>();  // [N, 1]
    std::copy(v, v + N, buf_.values.data() + base);
    for (long i = 0; i < long(N) * A; ++i)
      env_actions_[size_t(i)] = std::clamp(act[i], -float(s_.action_clip), float(s_.action_clip));

    const auto te = std::chrono::steady_clock::now();
    profile::ScopedRange env_range("env step + render");
    pool_->step(env_actions_.data(), s_.pixels() ? frames_.data() : nullptr, obs_raw_.data());
    env_range.end();
    st.env_seconds += seconds_since(te);
    if (hooks_.after_step) hooks_.after_step(t, *pool_, s_.pixels() ? frames_.data() : nullptr);
    record_step(t, st);
  }
  trim_window();

  // Bootstraps: the next step's value inside the rollout, V(s_T) after it; truncated steps
  // already hold V(final observation).
  for (int t = 0; t + 1 < T; ++t)
    for (int n = 0; n < N; ++n) {
      const size_t i = size_t(t) * N + n;
      if (!buf_.truncated[i]) buf_.next_values[i] = buf_.values[i + size_t(N)];
    }
  {
    std::vector<uint8_t> last(size_t(N * buf_.obs_bytes));
    for (int n = 0; n < N; ++n) {
      uint8_t* dst = last.data() + size_t(n) * buf_.obs_bytes;
      if (s_.pixels())
        std::memcpy(dst, frames_.data() + size_t(n) * buf_.obs_bytes, size_t(buf_.obs_bytes));
      else if (obs_rms_)
        obs_rms_->normalize(obs_raw_.data() + size_t(n) * obs_dim_, reinterpret_cast<float*>(dst),
                            1, s_.obs_clip);
      else
        std::memcpy(dst, obs_raw_.data() + size_t(n) * obs_dim_, size_t(buf_.obs_bytes));
    }
    const float* v = vf_->forward(obs_batch(last.data(), N)).data<float>();
    for (int n = 0; n < N; ++n) {
      const size_t i = size_t(T - 1) * N + n;
      if (!buf_.truncated[i]) buf_.next_values[i] = v[n];
    }
  }

  range.end();  // the hook's phases (the discriminator's) are not part of the rollout
  if (hooks_.after_rollout) hooks_.after_rollout(buf_);
  kernels::gae_cpu(T, N, buf_.rewards.data(), buf_.values.data(), buf_.next_values.data(),
                   buf_.terminated.data(), buf_.truncated.data(), s_.gamma, s_.lambda,
                   buf_.advantages.data(), buf_.returns.data());
  st.explained_variance = explained_variance(buf_.values, buf_.returns);
  if (s_.norm_adv) kernels::standardize_cpu(long(buf_.advantages.size()), buf_.advantages.data());
}

void PpoTrainer::record_step(int t, IterationStats& st) {
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
    const long i = base + n;
    double r = double(pool_->rewards()[n]) * reward_scale;
    if (ret_rms_) r = std::clamp(r, -s_.reward_clip, s_.reward_clip);
    buf_.rewards[size_t(i)] = float(r);
    buf_.terminated[size_t(i)] = pool_->terminated()[n];
    buf_.truncated[size_t(i)] = pool_->truncated()[n];
    if (buf_.truncated[size_t(i)] && !buf_.terminated[size_t(i)])
      buf_.next_values[size_t(i)] =
          dev_ ? float(value_of_final_device(n))
               : float(
                     value_of(pool_->final_obs(n), s_.pixels() ? pool_->final_frames(n) : nullptr));
    if (pool_->done(n)) {
      running_return_[size_t(n)] = 0;
      window_returns_.push_back(pool_->episode_returns()[n]);
      window_lengths_.push_back(pool_->episode_lengths()[n]);
      ++st.episodes;
      ++episodes_total_;
    }
  }
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
    if (dev_) upload_perm();
    double epoch_kl = 0;
    long epoch_steps = 0;
    for (long start = 0; start < B; start += M) {
      const int b = int(std::min<long>(M, B - start));
      const Minibatch mb = dev_ ? gather_minibatch_device(start, b) : gather_minibatch(start, b);
      const Tensor& ob = mb.obs;

      pi_->parameters().zero_grad();
      const PolicyObjective po = policy_objective(*pi_, ob, mb.actions, mb.logp, mb.advantages,
                                                  s_.clip, s_.entropy_coef, true, scratch_);
      RM_CHECK(std::isfinite(po.loss), "policy loss is ", po.loss, " at iteration ", iteration_ + 1,
               ", epoch ", epoch + 1, ": training diverged");
      if (hooks_.policy_grads)
        hooks_.policy_grads(pi_->parameters().grads(), pi_->parameters().size());
      st.policy_grad_norm += clip_grad_norm(pi_->parameters(), s_.max_grad_norm);
      pi_opt_->step();

      vf_->parameters().zero_grad();
      const kernels::ValueLossStats vo = value_objective(
          *vf_, ob, mb.returns, mb.values, s_.value_clip, s_.value_coef, true, scratch_);
      RM_CHECK(std::isfinite(vo.loss), "value loss is ", vo.loss, " at iteration ", iteration_ + 1,
               ", epoch ", epoch + 1, ": training diverged");
      if (hooks_.value_grads)
        hooks_.value_grads(vf_->parameters().grads(), vf_->parameters().size());
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
  const int A = act_dim_, M = s_.minibatch;
  Minibatch mb;
  float* mb_act = mb_floats_.data();
  float* mb_logp = mb_act + size_t(M) * A;
  float* mb_adv = mb_logp + M;
  float* mb_ret = mb_adv + M;
  float* mb_v = mb_ret + M;
  for (int k = 0; k < b; ++k) {
    const size_t j = size_t(perm_[size_t(start + k)]);
    std::memcpy(mb_obs_.data() + size_t(k) * buf_.obs_bytes, buf_.obs.data() + j * buf_.obs_bytes,
                size_t(buf_.obs_bytes));
    std::copy_n(buf_.actions.data() + j * A, A, mb_act + size_t(k) * A);
    mb_logp[k] = buf_.logp[j];
    mb_adv[k] = buf_.advantages[j];
    mb_ret[k] = buf_.returns[j];
    mb_v[k] = buf_.values[j];
  }
  mb.obs = obs_batch(mb_obs_.data(), b);
  mb.actions = mb_act;
  mb.logp = mb_logp;
  mb.advantages = mb_adv;
  mb.returns = mb_ret;
  mb.values = mb_v;
  return mb;
}

IterationStats PpoTrainer::iterate() {
  IterationStats st;
  const auto t0 = std::chrono::steady_clock::now();
  rollout(st);
  st.rollout_seconds = seconds_since(t0);
  const auto t1 = std::chrono::steady_clock::now();
  profile::ScopedRange update_range("PPO update");
  update(st);
  update_range.end();
  st.update_seconds = seconds_since(t1);
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
  return st;
}

}  // namespace relmimic::algos
