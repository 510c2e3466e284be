// CUDA-GL interop frames against the host path on the same NVIDIA GL stack: the writer's gray
// frames equal Renderer::render_gray bit for bit, and an EnvPool in FrameMode::Cuda produces the
// same stacks, padding, auto-resets, final stacks and snapshots as one in FrameMode::Host. Skips
// without a CUDA device or without the NVIDIA EGL device.
#include <gtest/gtest.h>

#include <algorithm>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "engine/rng.h"
#include "engine/tensor.h"
#include "env/frames_cuda.h"
#include "env/locomotion.h"
#include "env/pool.h"
#include "env/renderer.h"
#include "kernels/common.h"
#include "kernels/device.h"
#include "kernels/image.h"
#include "tests/gpu/cuda_test_util.h"

namespace relmimic {
namespace {

using namespace env;

#ifdef RELMIMIC_WITH_CUDA

// "" when the NVIDIA EGL device renders here, else why not.
std::string nvidia_egl_missing() {
  try {
    LocomotionEnv e(Task::Hopper);
    RenderConfig cfg;
    cfg.width = cfg.height = 8;
    cfg.egl = "nvidia";
    Renderer r(e.model(), cfg);
    return cuda_frames_unsupported(r.gl_info());
  } catch (const std::exception& e) {
    return e.what();
  }
}

#define RM_REQUIRE_NVIDIA_EGL()                                                              \
  do {                                                                                       \
    RM_REQUIRE_GPU();                                                                        \
    const std::string why_ = nvidia_egl_missing();                                           \
    if (!why_.empty()) GTEST_SKIP() << "no NVIDIA EGL device for CUDA-GL interop: " << why_; \
  } while (0)

std::vector<uint8_t> download(const uint8_t* p, size_t n) {
  std::vector<uint8_t> h(n);
  kernels::cuda_memcpy(h.data(), p, n, kernels::CopyKind::DeviceToHost);
  return h;
}

std::vector<uint8_t> download(const Tensor& t) {
  EXPECT_TRUE(t.device().is_cuda());
  return download(t.data<uint8_t>(), t.nbytes());
}

std::vector<float> random_actions(int n, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = float(rng.uniform(-1.0, 1.0));
  return v;
}

TEST(CudaRender, RgbaToGrayMatchesCpuOnTheRgbChannels) {
  RM_REQUIRE_GPU();
  const int frames = 3, h = 5, w = 7;
  const long hw = long(h) * w;
  Rng rng(2);
  std::vector<uint8_t> rgba(size_t(frames * hw * 4)), rgb(size_t(frames * hw * 3));
  for (long p = 0; p < frames * hw; ++p)
    for (int c = 0; c < 4; ++c) {
      rgba[size_t(p * 4 + c)] = uint8_t(rng.uniform(0, 256));
      if (c < 3) rgb[size_t(p * 3 + c)] = rgba[size_t(p * 4 + c)];
    }
  for (bool flip : {false, true}) {
    std::vector<uint8_t> want(size_t(frames * hw));
    for (int f = 0; f < frames; ++f)
      kernels::rgb_to_gray_cpu(h, w, rgb.data() + f * hw * 3, want.data() + f * hw, flip);
    testing::DeviceBuffer<uint8_t> d_in(rgba), d_out(frames * hw);
    d_out.poison();
    kernels::rgba_to_gray_cuda(frames, h, w, d_in.get(), d_out.get(), flip);
    EXPECT_EQ(d_out.download(), want) << (flip ? "flipped" : "not flipped");
  }
}

TEST(CudaRender, RgbaToGrayRejectsBadArguments) {
  // Checked before any CUDA call: runs in every CUDA build, GPU or not.
  uint8_t b = 0;
  for (auto call :
       {+[](uint8_t* p) { kernels::rgba_to_gray_cuda(0, 2, 2, p, p, true); },
        +[](uint8_t* p) { kernels::rgba_to_gray_cuda(1, 0, 2, p, p, true); },
        +[](uint8_t*) { kernels::rgba_to_gray_cuda(1, 2, 2, nullptr, nullptr, true); }}) {
    try {
      call(&b);
      ADD_FAILURE() << "bad arguments accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("rgba_to_gray_cuda"), std::string::npos) << e.what();
    }
  }
}

class CudaRenderTask : public ::testing::TestWithParam<Task> {};

TEST_P(CudaRenderTask, WriterFramesEqualHostFramesBitForBit) {
  RM_REQUIRE_NVIDIA_EGL();
  const Task t = GetParam();
  // Non-square: a transposed or unflipped copy cannot pass.
  for (auto [w, h] : {std::pair{84, 84}, std::pair{48, 40}}) {
    SCOPED_TRACE(std::string(task_name(t)) + " " + std::to_string(w) + "x" + std::to_string(h));
    LocomotionEnv e(t);
    Rng rng(21);
    e.reset(rng);
    RenderConfig cfg;
    cfg.width = w;
    cfg.height = h;
    cfg.egl = "nvidia";
    Renderer r(e.model(), cfg);
    CudaFrameWriter fw(r, 2);
    EXPECT_EQ(fw.slots(), 2);
    const size_t hw = size_t(w) * h;
    std::vector<uint8_t> host(hw);
    std::vector<double> act(size_t(e.action_dim()));
    for (int step = 0; step < 6; ++step) {
      const int slot = step % 2;
      r.render_gray(e.data(), host.data());
      fw.render(slot, e.data());
      fw.synchronize();
      const std::vector<uint8_t> dev = download(fw.frame(slot), hw);
      EXPECT_EQ(dev, host) << "step " << step;
      // A frame with content: not one flat colour.
      EXPECT_NE(*std::min_element(dev.begin(), dev.end()),
                *std::max_element(dev.begin(), dev.end()));
      for (double& a : act) a = rng.uniform(-1.0, 1.0);
      e.step(act.data());
    }
  }
}

// Per step: the stacks, the done flags and, for finished episodes, the final stacks.
struct PoolTrace {
  std::vector<uint8_t> frames, finals, flags;
  std::vector<float> obs;
};

PoolConfig pool_config(Task t, FrameMode mode, int threads) {
  PoolConfig c;
  c.task = t;
  c.task_config = TaskConfig::defaults(t);
  c.task_config->max_episode_steps = 5;  // several auto-resets within the run
  c.num_envs = 3;
  c.num_threads = threads;
  c.seed = 17;
  c.frame_stack = 3;
  c.render_config.width = 48;
  c.render_config.height = 40;
  c.render_config.egl = "nvidia";
  c.frame_mode = mode;
  return c;
}

PoolTrace run_pool(const PoolConfig& cfg, int steps) {
  EnvPool pool(cfg);
  const int n = pool.num_envs(), a = pool.action_dim();
  const size_t stack = size_t(pool.frame_stack()) * pool.height() * pool.width();
  const bool dev = cfg.frame_mode == FrameMode::Cuda;
  std::vector<uint8_t> frames(size_t(n) * stack);
  std::vector<float> obs(size_t(n) * pool.obs_dim());
  PoolTrace tr;
  auto record = [&] {
    const std::vector<uint8_t> f = dev ? download(pool.frames_device()) : frames;
    tr.frames.insert(tr.frames.end(), f.begin(), f.end());
    tr.obs.insert(tr.obs.end(), obs.begin(), obs.end());
    const std::vector<uint8_t> fin =
        dev ? download(pool.final_frames_device()) : std::vector<uint8_t>();
    for (int i = 0; i < n; ++i) {
      tr.flags.push_back(uint8_t(pool.terminated()[i] * 2 + pool.truncated()[i]));
      if (!pool.done(i)) continue;
      const uint8_t* p = dev ? fin.data() + size_t(i) * stack : pool.final_frames(i);
      tr.finals.insert(tr.finals.end(), p, p + stack);
    }
  };
  pool.reset(dev ? nullptr : frames.data(), obs.data());
  record();
  const std::vector<float> actions = random_actions(steps * n * a, 4);
  for (int s = 0; s < steps; ++s) {
    pool.step(actions.data() + size_t(s) * n * a, dev ? nullptr : frames.data(), obs.data());
    record();
  }
  return tr;
}

TEST_P(CudaRenderTask, DevicePoolMatchesHostPool) {
  RM_REQUIRE_NVIDIA_EGL();
  const Task t = GetParam();
  const int steps = 12;
  const PoolTrace host = run_pool(pool_config(t, FrameMode::Host, 2), steps);
  const PoolTrace dev2 = run_pool(pool_config(t, FrameMode::Cuda, 2), steps);
  const PoolTrace dev1 = run_pool(pool_config(t, FrameMode::Cuda, 1), steps);
  ASSERT_FALSE(host.finals.empty()) << "no episode ended: the auto-reset path went untested";
  EXPECT_EQ(host.flags, dev2.flags);
  EXPECT_EQ(host.obs, dev2.obs);
  EXPECT_TRUE(host.frames == dev2.frames) << "stacks differ (T=2)";
  EXPECT_TRUE(host.finals == dev2.finals) << "final stacks differ (T=2)";
  EXPECT_TRUE(dev1.frames == dev2.frames && dev1.finals == dev2.finals) << "T=1 vs T=2";
}

INSTANTIATE_TEST_SUITE_P(Tasks, CudaRenderTask, ::testing::Values(Task::Hopper, Task::Walker2d),
                         [](const auto& info) { return std::string(task_name(info.param)); });

TEST(CudaRender, DevicePoolSnapshotsLikeTheHostPool) {
  RM_REQUIRE_NVIDIA_EGL();
  EnvPool host(pool_config(Task::Hopper, FrameMode::Host, 1));
  EnvPool dev(pool_config(Task::Hopper, FrameMode::Cuda, 2));
  const int n = 3, a = host.action_dim();
  const size_t stack = size_t(host.frame_stack()) * host.height() * host.width();
  std::vector<uint8_t> frames(size_t(n) * stack);
  const std::vector<float> actions = random_actions(10 * n * a, 8);
  host.reset(frames.data(), nullptr);
  dev.reset(nullptr, nullptr);
  for (int s = 0; s < 3; ++s) {
    host.step(actions.data() + size_t(s) * n * a, frames.data(), nullptr);
    dev.step(actions.data() + size_t(s) * n * a, nullptr, nullptr);
  }
  const std::vector<EnvSnapshot> hs = host.snapshot(), ds = dev.snapshot();
  for (int i = 0; i < n; ++i) EXPECT_EQ(hs[size_t(i)].stack, ds[size_t(i)].stack) << "env " << i;
  // Restoring the host pool's state into a fresh device pool continues like the host pool.
  EnvPool dev2(pool_config(Task::Hopper, FrameMode::Cuda, 1));
  dev2.restore(hs, nullptr, nullptr);
  EXPECT_EQ(download(dev2.frames_device()), frames);
  for (int s = 3; s < 10; ++s) {
    host.step(actions.data() + size_t(s) * n * a, frames.data(), nullptr);
    dev2.step(actions.data() + size_t(s) * n * a, nullptr, nullptr);
    EXPECT_EQ(download(dev2.frames_device()), frames) << "step " << s;
  }
}

TEST(CudaRender, DevicePoolRefusesHostFrameBuffers) {
  RM_REQUIRE_NVIDIA_EGL();
  EnvPool pool(pool_config(Task::Walker2d, FrameMode::Cuda, 1));
  EXPECT_EQ(pool.frames_device().shape(), (Shape{3, 3, 40, 48}));
  EXPECT_EQ(pool.frames_device().dtype(), DType::u8);
  std::vector<uint8_t> frames(size_t(3) * 3 * 40 * 48);
  EXPECT_THROW(pool.reset(frames.data(), nullptr), Error);
  pool.reset(nullptr, nullptr);
  const std::vector<float> act(size_t(3) * pool.action_dim(), 0.f);
  EXPECT_THROW(pool.step(act.data(), frames.data(), nullptr), Error);
  EXPECT_THROW(pool.final_frames(0), Error);
}

#else

TEST(CudaRender, NotBuilt) {
  GTEST_SKIP() << "relmimic was built without CUDA: no CUDA-GL interop frames";
}

#endif

}  // namespace
}  // namespace relmimic
