// ImitationTrainer on a CUDA device: demonstrations uploaded once, windows gathered there.
#include <algorithm>
#include <cstring>

#include "algos/imitate.h"
#include "algos/train_ops.h"
#include "engine/device_ops.h"
#include "kernels/common.h"

namespace relmimic::algos {

void ImitationTrainer::init_device() {
  const long B = s_.ppo.batch();
  const int k = s_.ppo.frames, hw = s_.ppo.frame_size, M = s_.disc_minibatch;
  next_dev_ = Tensor::zeros({B, k, hw, hw}, DType::u8, dev_);
  agent_mb_dev_ = Tensor::zeros({M, k, hw, hw}, DType::u8, dev_);
  expert_mb_dev_ = Tensor::zeros({M, k, hw, hw}, DType::u8, dev_);
  // Agent minibatches gather M windows, expert minibatches M * k frames.
  index_dev_ = Tensor::zeros({long(M) * std::max(k, 1)}, DType::i32, dev_);
  index_.resize(size_t(M) * size_t(k));

  // Every demonstration frame, episode after episode: [F, H, W].
  const long fsz = demos_->frame_size();
  long frames = 0;
  for (int e = 0; e < demos_->num_episodes(); ++e) {
    demo_first_row_.push_back(frames);
    frames += demos_->num_frames(e);
  }
  RM_CHECK(frames <= long(INT32_MAX), "demonstrations '", demos_->path(), "' hold ", frames,
           " frames, more than a device gather indexes (2^31 - 1)");
  demo_frames_dev_ = Tensor::zeros({frames, demos_->height(), demos_->width()}, DType::u8, dev_);
  for (int e = 0; e < demos_->num_episodes(); ++e)
    ops::copy_from_host(dev_,
                        static_cast<uint8_t*>(demo_frames_dev_.raw()) +
                            size_t(demo_first_row_[size_t(e)]) * size_t(fsz),
                        demos_->frames(e), size_t(demos_->num_frames(e)) * size_t(fsz));
}

void ImitationTrainer::capture_next_device(int t, const env::EnvPool& pool, const uint8_t* frames,
                                           const uint8_t* final_frames) {
  const int N = pool.num_envs();
  const size_t per = size_t(per_);
  uint8_t* dst = static_cast<uint8_t*>(next_dev_.raw()) + size_t(t) * size_t(N) * per;
  // s^k_{t+1}: the step's stacks, except the finished episodes' last stacks on done steps.
  train_ops::copy_bytes(dev_, dst, frames, per * size_t(N));
  for (int n = 0; n < N; ++n)
    if (pool.done(n))
      train_ops::copy_bytes(dev_, dst + size_t(n) * per, final_frames + size_t(n) * per, per);
}

Tensor ImitationTrainer::agent_batch_device(long start, int c) {
  for (int j = 0; j < c; ++j) index_[size_t(j)] = int32_t(perm_[size_t(start + j)]);
  ops::copy_from_host(dev_, index_dev_.raw(), index_.data(), sizeof(int32_t) * size_t(c));
  train_ops::gather_rows(dev_, c, per_, index_dev_.data<int32_t>(), next_dev_.raw(),
                         agent_mb_dev_.raw());
  return agent_mb_dev_.slice(0, c);
}

// The positions DemoSet::sample_windows would draw from the same stream; slot j of the window
// ending at frame t is frame max(t - (k - 1) + j, 0) of its episode (DemoSet::window).
Tensor ImitationTrainer::expert_batch_device(int c) {
  const int k = s_.ppo.frames;
  std::vector<int> eps(static_cast<size_t>(c)), ts(static_cast<size_t>(c));
  demos_->sample_positions(c, expert_rng_, eps.data(), ts.data(), 1);
  for (int s = 0; s < c; ++s)
    for (int j = 0; j < k; ++j)
      index_[size_t(s) * k + j] = int32_t(demo_first_row_[size_t(eps[size_t(s)])] +
                                          std::max(ts[size_t(s)] - (k - 1) + j, 0));
  const long rows = long(c) * k;
  ops::copy_from_host(dev_, index_dev_.raw(), index_.data(), sizeof(int32_t) * size_t(rows));
  train_ops::gather_rows(dev_, rows, demos_->frame_size(), index_dev_.data<int32_t>(),
                         demo_frames_dev_.raw(), expert_mb_dev_.raw());
  return expert_mb_dev_.slice(0, c);
}

AgentNet<float>& ImitationTrainer::eval_policy() {
  AgentNet<float>& pi = ppo_->policy();
  if (pi.device().is_cpu()) return pi;
  // Evaluation renders to the host: a cpu copy of the current parameters acts there.
  if (!eval_policy_) {
    AgentConfig c = pi.config();
    c.device = Device::cpu();
    eval_policy_ = std::make_unique<AgentNet<float>>(c);
  }
  eval_policy_->parameters().copy_values_from(pi.parameters());
  if (pi.buffers().size() > 0) eval_policy_->buffers().copy_values_from(pi.buffers());
  return *eval_policy_;
}

}  // namespace relmimic::algos
