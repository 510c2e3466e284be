// The host side of the device frame path: which builds and GL stacks can hand frames to CUDA, the
// errors when they cannot (Mesa, no CUDA backend), the pool's frame-mode validation, and the
// renderer's draw-only entry point that the interop path uses. The device path itself is tested
// in tests/gpu/test_cuda_render.cpp.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/rng.h"
#include "env/frames_cuda.h"
#include "env/locomotion.h"
#include "env/pool.h"
#include "env/renderer.h"
#include "kernels/common.h"

using namespace relmimic;
using namespace relmimic::env;

namespace {

// The message of the relmimic::Error that f throws ("" when it throws none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

PoolConfig mesa_pool(FrameMode mode) {
  PoolConfig c;
  c.num_envs = 2;
  c.num_threads = 2;
  c.frame_stack = 2;
  c.render_config.width = 32;
  c.render_config.height = 24;
  c.render_config.egl = "mesa";
  c.frame_mode = mode;
  return c;
}

}  // namespace

TEST(FramesCuda, UnsupportedReasonNamesWhatIsMissing) {
  const GlInfo mesa{"mesa-surfaceless", "Mesa", "llvmpipe (LLVM 15.0.6, 256 bits)", "4.5"};
  const GlInfo nvidia{"nvidia-device", "NVIDIA Corporation", "NVIDIA H100 80GB HBM3/PCIe/SSE2",
                      "4.6.0 NVIDIA 580.65"};
  const GlInfo impostor{"nvidia-device", "Mesa", "llvmpipe", "4.5"};
  const std::string on_mesa = cuda_frames_unsupported(mesa);
  const std::string on_nvidia = cuda_frames_unsupported(nvidia);
  const std::string on_impostor = cuda_frames_unsupported(impostor);
  if (cuda_frames_built()) {
    EXPECT_TRUE(contains(on_mesa, "'mesa-surfaceless'")) << on_mesa;
    EXPECT_TRUE(contains(on_mesa, "NVIDIA EGL device")) << on_mesa;
    EXPECT_TRUE(contains(on_mesa, "llvmpipe")) << on_mesa;
    EXPECT_EQ(on_nvidia, "");
    EXPECT_TRUE(contains(on_impostor, "GL vendor 'Mesa'")) << on_impostor;
  } else {
    for (const std::string& s : {on_mesa, on_nvidia, on_impostor})
      EXPECT_TRUE(contains(s, "built without CUDA")) << s;
  }
}

TEST(FramesCuda, WriterOnAMesaRendererSaysWhy) {
  LocomotionEnv e(Task::Hopper);
  RenderConfig cfg;
  cfg.width = 32;
  cfg.height = 24;
  cfg.egl = "mesa";
  Renderer r(e.model(), cfg);
  ASSERT_EQ(r.gl_info().platform, "mesa-surfaceless");
  const std::string msg = error_of([&] { CudaFrameWriter w(r, 1); });
  ASSERT_NE(msg, "") << "a Mesa context was accepted for CUDA-GL interop";
  EXPECT_TRUE(contains(msg, "CudaFrameWriter")) << msg;
  EXPECT_TRUE(contains(msg, cuda_frames_built() ? "'mesa-surfaceless'" : "built without CUDA"))
      << msg;
  // The renderer is untouched by the refusal and still renders on the host.
  std::vector<uint8_t> gray(size_t(cfg.width) * cfg.height);
  r.render_gray(e.data(), gray.data());
}

TEST(FramesCuda, PoolInCudaModeOnMesaFailsClearly) {
  const std::string msg = error_of([] { EnvPool pool(mesa_pool(FrameMode::Cuda)); });
  ASSERT_NE(msg, "") << "a Mesa pool accepted frame_mode cuda";
  EXPECT_TRUE(contains(msg, "frame_mode cuda")) << msg;
  EXPECT_TRUE(contains(msg, cuda_frames_built() ? "'mesa-surfaceless'" : "built without CUDA"))
      << msg;
  // The failed pool released its threads and contexts: a host pool works right after.
  EnvPool ok(mesa_pool(FrameMode::Host));
  std::vector<uint8_t> frames(size_t(2) * 2 * 32 * 24);
  ok.reset(frames.data(), nullptr);
}

TEST(FramesCuda, PoolConfigValidation) {
  PoolConfig c = mesa_pool(FrameMode::Cuda);
  c.render = false;
  const std::string msg = error_of([&] { EnvPool pool(c); });
  EXPECT_TRUE(contains(msg, "needs render = true")) << msg;

  EXPECT_EQ(parse_frame_mode("host"), FrameMode::Host);
  EXPECT_EQ(parse_frame_mode("cuda"), FrameMode::Cuda);
  EXPECT_STREQ(frame_mode_name(FrameMode::Host), "host");
  EXPECT_STREQ(frame_mode_name(FrameMode::Cuda), "cuda");
  EXPECT_TRUE(contains(error_of([] { parse_frame_mode("gpu"); }), "'gpu'"));
  EXPECT_EQ(PoolConfig{}.frame_mode, FrameMode::Host);  // the host path stays the default
}

TEST(FramesCuda, HostPoolHasNoDeviceFrames) {
  EnvPool pool(mesa_pool(FrameMode::Host));
  EXPECT_EQ(pool.frame_mode(), FrameMode::Host);
  std::vector<uint8_t> frames(size_t(2) * 2 * 32 * 24);
  pool.reset(frames.data(), nullptr);
  EXPECT_TRUE(contains(error_of([&] { pool.frames_device(); }), "on the host"));
  EXPECT_TRUE(contains(error_of([&] { pool.final_frames_device(); }), "on the host"));
  EXPECT_EQ(error_of([&] { pool.final_frames(0); }), "");
}

TEST(FramesCuda, DrawOnlyLeavesTheImageAReadBackReturns) {
  // draw() + the colour renderbuffer are what the interop path reads; on Mesa they must give what
  // render_gray reads back, and draw() must leave no GL error behind.
  LocomotionEnv e(Task::Walker2d);
  Rng rng(3);
  e.reset(rng);
  RenderConfig cfg;
  cfg.width = 40;
  cfg.height = 30;
  cfg.egl = "mesa";
  Renderer r(e.model(), cfg);
  EXPECT_NE(r.color_renderbuffer(), 0u);
  std::vector<uint8_t> a(size_t(cfg.width) * cfg.height), b(a.size());
  r.render_gray(e.data(), a.data());
  for (int i = 0; i < 3; ++i) r.draw(e.data());
  r.render_gray(e.data(), b.data());
  EXPECT_EQ(a, b);
  EXPECT_TRUE(contains(error_of([&] { r.draw(nullptr); }), "null mjData"));
}
