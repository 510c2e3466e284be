// EnvPool's device frame mode (FrameMode::Cuda): frames rendered through CUDA-GL interop and
// stacked in device memory by each worker on its own stream. Same semantics as the host path in
// env/pool.cpp: reset repeats the first frame k times; a step pushes the new frame; a finished
// episode keeps its stack as the final stack, then restarts with a padded stack.
// Plain C++: the device work goes through CudaFrameWriter (env/frames_cuda.h).
#include <cstring>
#include <string>

#include "env/pool.h"
#include "env/pool_internal.h"
#include "kernels/common.h"
#include "kernels/device.h"

namespace relmimic::env {

FrameMode parse_frame_mode(const std::string& s) {
  if (s == "host") return FrameMode::Host;
  if (s == "cuda") return FrameMode::Cuda;
  RM_FAIL("frame mode must be host or cuda, got '", s, "'");
}

const char* frame_mode_name(FrameMode m) {
  return m == FrameMode::Cuda ? "cuda" : "host";
}

void EnvPool::init_device_frames() {
  // Mesa contexts cannot be registered with CUDA: say so before touching CUDA at all.
  const std::string why = cuda_frames_unsupported(gl_info_);
  RM_CHECK(why.empty(), "EnvPool: frame_mode cuda: ", why);
  // Each writer registers its worker's colour buffer, on the thread that owns the context.
  run_all([this](Worker& w) {
    w.frames = std::make_unique<CudaFrameWriter>(*w.renderer, w.end - w.begin);
  });
  const int device = workers_[0]->frames->cuda_device();
  for (const auto& w : workers_)
    RM_CHECK(w->frames->cuda_device() == device, "EnvPool: worker contexts render on CUDA devices ",
             device, " and ", w->frames->cuda_device(), "; one pool needs one device");
  const Shape shape{n_, cfg_.frame_stack, cfg_.render_config.height, cfg_.render_config.width};
  stacks_dev_ = Tensor::zeros(shape, DType::u8, Device::cuda(device));
  final_dev_ = Tensor::zeros(shape, DType::u8, Device::cuda(device));
  // The zeroing ran on the legacy stream, which the workers' non-blocking streams do not wait for.
  kernels::cuda_synchronize();
}

uint8_t* EnvPool::device_stack(int i) const {
  return stacks_dev_.data<uint8_t>() + size_t(i) * size_t(cfg_.frame_stack) * size_t(frame_size_);
}

void EnvPool::push_device(Worker& w, bool reset) {
  w.frames->push(0, w.end - w.begin, cfg_.frame_stack, device_stack(w.begin), reset);
  w.frames->synchronize();  // the stacks are complete when reset()/step() return
}

void EnvPool::step_device(Worker& w, const float* actions, float* obs) {
  CudaFrameWriter& fw = *w.frames;
  const int k = cfg_.frame_stack;
  const size_t stack_bytes = size_t(k) * size_t(frame_size_);
  // Physics and renders of all the worker's envs, then one push of all their frames.
  for (int i = w.begin; i < w.end; ++i) {
    advance(i, actions + size_t(i) * size_t(act_dim_));
    fw.render(i - w.begin, slots_[size_t(i)]->env->data());
  }
  fw.push(0, w.end - w.begin, k, device_stack(w.begin), false);
  // Finished episodes: keep the final stack, restart, pad the new stack with its first frame.
  // Stream order keeps each copy before the slot's re-render and push.
  for (int i = w.begin; i < w.end; ++i) {
    if (!done(i)) continue;
    Slot& s = *slots_[size_t(i)];
    s.final_obs = s.obs;
    s.env->positions(s.final_qpos.data(), s.final_qvel.data());
    fw.copy(final_dev_.data<uint8_t>() + size_t(i) * stack_bytes, device_stack(i), stack_bytes);
    reset_env(w, i);
    fw.push(i - w.begin, 1, k, device_stack(i), true);
  }
  for (int i = w.begin; i < w.end; ++i) write_out(i, nullptr, obs);
  fw.synchronize();
}

std::vector<uint8_t> EnvPool::download_device_stacks() const {
  if (!stacks_dev_.defined()) return {};
  std::vector<uint8_t> host(stacks_dev_.nbytes());
  Tensor::view(host.data(), stacks_dev_.shape(), DType::u8).copy_from(stacks_dev_);
  return host;
}

void EnvPool::upload_device_stacks() {
  const size_t stack_bytes = size_t(cfg_.frame_stack) * size_t(frame_size_);
  std::vector<uint8_t> host(stacks_dev_.nbytes());
  for (int i = 0; i < n_; ++i)
    std::memcpy(host.data() + size_t(i) * stack_bytes, slots_[size_t(i)]->stack.data(),
                stack_bytes);
  stacks_dev_.copy_from(Tensor::view(host.data(), stacks_dev_.shape(), DType::u8));
  // A pageable upload may return before its DMA ends; the workers' streams do not wait for it.
  kernels::cuda_synchronize();
}

const Tensor& EnvPool::frames_device() const {
  RM_CHECK(stacks_dev_.defined(), "EnvPool::frames_device: the pool keeps its frames on the host ",
           "(frame mode ", frame_mode_name(cfg_.frame_mode), ")");
  return stacks_dev_;
}

const Tensor& EnvPool::final_frames_device() const {
  RM_CHECK(final_dev_.defined(), "EnvPool::final_frames_device: the pool keeps its frames on the ",
           "host (frame mode ", frame_mode_name(cfg_.frame_mode), ")");
  return final_dev_;
}

}  // namespace relmimic::env
