// PpoTrainer on a CUDA device (run.device=cuda): the rollout storage, sampling, GAE and the
// minibatch gathers on the device. The host keeps what it computes anyway (rewards and their
// normalisation, dones, the episode window) and draws the same random numbers as the CPU path.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "algos/ppo.h"
#include "algos/train_ops.h"
#include "engine/device_ops.h"
#include "engine/profile.h"
#include "kernels/common.h"

namespace relmimic::algos {

namespace {
double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

uint8_t* bytes(const Tensor& t) {
  return static_cast<uint8_t*>(t.raw());
}
}  // namespace

void PpoTrainer::init_device() {
  const Device d = s_.device;
  const int N = s_.num_envs, A = act_dim_, M = s_.minibatch;
  const long B = s_.batch();
  const int k = s_.frames, hw = s_.frame_size;
  if (pool_->frame_mode() == env::FrameMode::Cuda)
    RM_CHECK(pool_->frames_device().device() == d, "config run.device=", d.str(),
             ": the envs render on ", pool_->frames_device().device().str(),
             " (CUDA-GL interop uses the GPU of the EGL context); choose that device or "
             "run.device_frames=upload");
  dev_ = std::make_unique<DeviceRollout>();
  DeviceRollout& r = *dev_;
  r.obs = Tensor::zeros({B, k, hw, hw}, DType::u8, d);
  r.actions = Tensor::zeros({B, A}, DType::f32, d);
  for (Tensor* t : {&r.logp, &r.values, &r.next_values, &r.rewards, &r.advantages, &r.returns})
    *t = Tensor::zeros({B}, DType::f32, d);
  r.terminated = Tensor::zeros({B}, DType::u8, d);
  r.truncated = Tensor::zeros({B}, DType::u8, d);
  r.noise = Tensor::zeros({N, A}, DType::f32, d);
  if (s_.upload_frames) {
    r.frames = Tensor::zeros({N, k, hw, hw}, DType::u8, d);
    r.final_frames = Tensor::zeros({N, k, hw, hw}, DType::u8, d);
  }
  r.perm = Tensor::zeros({B}, DType::i32, d);
  r.mb_obs = Tensor::zeros({M, k, hw, hw}, DType::u8, d);
  r.mb_actions = Tensor::zeros({M, A}, DType::f32, d);
  r.mb_scalars = Tensor::zeros({4, M}, DType::f32, d);
  perm32_.resize(size_t(B));
}

void PpoTrainer::refresh_device_frames(bool reset) {
  if (!s_.upload_frames) return;
  const int N = s_.num_envs;
  const size_t per = size_t(buf_.obs_bytes);
  ops::copy_from_host(s_.device, dev_->frames.raw(), frames_.data(), per * size_t(N));
  if (reset) return;
  for (int n = 0; n < N; ++n)
    if (pool_->done(n))
      ops::copy_from_host(s_.device, bytes(dev_->final_frames) + per * size_t(n),
                          pool_->final_frames(n), per);
}

const uint8_t* PpoTrainer::device_frames() const {
  return s_.upload_frames ? bytes(dev_->frames) : bytes(pool_->frames_device());
}

const uint8_t* PpoTrainer::device_final_frames() const {
  return s_.upload_frames ? bytes(dev_->final_frames) : bytes(pool_->final_frames_device());
}

double PpoTrainer::value_of_final_device(int env) {
  const Tensor ob = Tensor::view(
      const_cast<uint8_t*>(device_final_frames()) + size_t(env) * size_t(buf_.obs_bytes),
      {1, s_.frames, s_.frame_size, s_.frame_size}, DType::u8, s_.device);
  float v = 0;
  ops::copy_to_host(s_.device, &v, vf_->forward(ob).raw(), sizeof(float));
  return double(v);
}

void PpoTrainer::rollout_device(IterationStats& st) {
  profile::ScopedRange range("rollout");
  const Device d = s_.device;
  const int N = s_.num_envs, A = act_dim_, T = s_.rollout_steps;
  const size_t per = size_t(buf_.obs_bytes);
  const float* log_std = pi_->log_std();
  DeviceRollout& r = *dev_;
  float* actions = r.actions.data<float>();
  const bool host_frames = s_.upload_frames;
  for (int t = 0; t < T; ++t) {
    const long base = long(t) * N;
    uint8_t* obs = bytes(r.obs) + size_t(base) * per;
    train_ops::copy_bytes(d, obs, device_frames(), per * size_t(N));
    const Tensor ob = Tensor::view(obs, {N, s_.frames, s_.frame_size, s_.frame_size}, DType::u8, d);
    const float* mean = pi_->forward(ob).data<float>();  // [N, A]
    for (float& z : noise_) z = float(sample_rng_.normal());
    ops::copy_from_host(d, r.noise.raw(), noise_.data(), sizeof(float) * noise_.size());
    float* act = actions + base * A;
    train_ops::gaussian_sample(d, N, A, mean, log_std, r.noise.data<float>(), act);
    train_ops::gaussian_log_prob(d, N, A, mean, log_std, act, r.logp.data<float>() + base);
    const float* v = vf_->forward(ob).data<float>();  // [N, 1]
    train_ops::copy_bytes(d, r.values.data<float>() + base, v, sizeof(float) * size_t(N));
    // Only the actions cross to the host, for the envs.
    ops::copy_to_host(d, env_actions_.data(), act, sizeof(float) * env_actions_.size());
    for (float& a : env_actions_) a = std::clamp(a, -float(s_.action_clip), float(s_.action_clip));

    const auto te = std::chrono::steady_clock::now();
    profile::ScopedRange env_range("env step + render");
    pool_->step(env_actions_.data(), host_frames ? frames_.data() : nullptr, obs_raw_.data());
    refresh_device_frames(false);
    env_range.end();
    st.env_seconds += seconds_since(te);
    if (hooks_.after_step_device)
      hooks_.after_step_device(t, *pool_, device_frames(), device_final_frames());
    record_step(t, st);
  }
  trim_window();

  // Bootstraps as on the cpu: values come to the host once, V(s_T) after the rollout.
  const size_t B = size_t(s_.batch());
  ops::copy_to_host(d, buf_.values.data(), r.values.raw(), sizeof(float) * B);
  for (int t = 0; t + 1 < T; ++t)
    for (int n = 0; n < N; ++n) {
      const size_t i = size_t(t) * N + n;
      if (!buf_.truncated[i]) buf_.next_values[i] = buf_.values[i + size_t(N)];
    }
  {
    const Tensor ob = Tensor::view(const_cast<uint8_t*>(device_frames()),
                                   {N, s_.frames, s_.frame_size, s_.frame_size}, DType::u8, d);
    std::vector<float> last(static_cast<size_t>(N));
    ops::copy_to_host(d, last.data(), vf_->forward(ob).raw(), sizeof(float) * size_t(N));
    for (int n = 0; n < N; ++n) {
      const size_t i = size_t(T - 1) * N + n;
      if (!buf_.truncated[i]) buf_.next_values[i] = last[size_t(n)];
    }
  }

  range.end();  // the hook's phases (the discriminator's) are not part of the rollout
  if (hooks_.after_rollout) hooks_.after_rollout(buf_);
  // One upload of what the host produced, then GAE and the advantages on the device.
  ops::copy_from_host(d, r.rewards.raw(), buf_.rewards.data(), sizeof(float) * B);
  ops::copy_from_host(d, r.next_values.raw(), buf_.next_values.data(), sizeof(float) * B);
  ops::copy_from_host(d, r.terminated.raw(), buf_.terminated.data(), B);
  ops::copy_from_host(d, r.truncated.raw(), buf_.truncated.data(), B);
  train_ops::gae(d, T, N, r.rewards.data<float>(), r.values.data<float>(),
                 r.next_values.data<float>(), r.terminated.data<uint8_t>(),
                 r.truncated.data<uint8_t>(), s_.gamma, s_.lambda, r.advantages.data<float>(),
                 r.returns.data<float>());
  ops::copy_to_host(d, buf_.returns.data(), r.returns.raw(), sizeof(float) * B);
  st.explained_variance = explained_variance(buf_.values, buf_.returns);
  if (s_.norm_adv) train_ops::standardize(d, long(B), r.advantages.data<float>());
}

// The epoch's order (drawn on the host from the same stream as the cpu path) to the device.
void PpoTrainer::upload_perm() {
  for (size_t i = 0; i < perm_.size(); ++i) perm32_[i] = int32_t(perm_[i]);
  ops::copy_from_host(s_.device, dev_->perm.raw(), perm32_.data(),
                      sizeof(int32_t) * perm32_.size());
}

PpoTrainer::Minibatch PpoTrainer::gather_minibatch_device(long start, int b) {
  const Device d = s_.device;
  const int M = s_.minibatch, A = act_dim_;
  DeviceRollout& r = *dev_;
  const int32_t* idx = r.perm.data<int32_t>() + start;
  train_ops::gather_rows(d, b, buf_.obs_bytes, idx, r.obs.raw(), r.mb_obs.raw());
  train_ops::gather_rows(d, b, long(sizeof(float)) * A, idx, r.actions.raw(), r.mb_actions.raw());
  float* sc = r.mb_scalars.data<float>();
  const Tensor* src[4] = {&r.logp, &r.advantages, &r.returns, &r.values};
  for (int j = 0; j < 4; ++j)
    train_ops::gather_rows(d, b, long(sizeof(float)), idx, src[j]->raw(), sc + size_t(j) * M);
  Minibatch mb;
  mb.obs = r.mb_obs.slice(0, b);
  mb.actions = r.mb_actions.data<float>();
  mb.logp = sc;
  mb.advantages = sc + M;
  mb.returns = sc + 2 * M;
  mb.values = sc + 3 * M;
  return mb;
}

}  // namespace relmimic::algos
