// Renderer on Mesa (llvmpipe) without a display: image content, orientation, determinism, errors.
#include <gtest/gtest.h>
#include <mujoco/mujoco.h>

#include <cstdlib>
#include <vector>

#include "env/locomotion.h"
#include "env/renderer.h"
#include "kernels/common.h"
#include "kernels/image.h"

using namespace relmimic;
using namespace relmimic::env;

namespace {

std::vector<uint8_t> render(LocomotionEnv& e, const RenderConfig& cfg) {
  Renderer r(e.model(), cfg);
  std::vector<uint8_t> img(size_t(cfg.width) * cfg.height);
  r.render_gray(e.data(), img.data());
  return img;
}

// The same scene with every robot geom moved to geom group 5, which the default visual options
// do not draw: what remains is sky and floor.
std::vector<uint8_t> render_without_robot(Task t, const RenderConfig& cfg) {
  LocomotionEnv e(t);
  Rng rng(1);
  e.reset(rng);
  mjModel* m = e.model();
  for (int g = 0; g < m->ngeom; ++g)
    if (m->geom_type[g] != mjGEOM_PLANE) m->geom_group[g] = 5;
  return render(e, cfg);
}

struct Diff {
  int count = 0, min_x = 1 << 30, max_x = -1, min_y = 1 << 30, max_y = -1;
};
Diff diff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b, int h, int w) {
  Diff d;
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      if (a[size_t(y) * w + x] != b[size_t(y) * w + x]) {
        ++d.count;
        d.min_x = std::min(d.min_x, x), d.max_x = std::max(d.max_x, x);
        d.min_y = std::min(d.min_y, y), d.max_y = std::max(d.max_y, y);
      }
  return d;
}

}  // namespace

class RendererTask : public ::testing::TestWithParam<Task> {};

TEST_P(RendererTask, RobotIsDrawnAtTheCentreAgainstSkyAndFloor) {
  const Task t = GetParam();
  RenderConfig cfg;  // 84x84, track camera
  LocomotionEnv e(t);
  Rng rng(1);
  e.reset(rng);
  std::vector<uint8_t> with = render(e, cfg), without = render_without_robot(t, cfg);
  Diff d = diff(with, without, 84, 84);
  // The tracking camera keeps the torso in the middle columns; legs reach the floor below.
  EXPECT_GT(d.count, 60) << task_name(t);
  EXPECT_GE(d.min_x, 28);
  EXPECT_LE(d.max_x, 60);
  EXPECT_LE(d.min_x, 42);
  EXPECT_GE(d.max_x, 43);
  EXPECT_LE(d.min_y, 30);  // the torso's top in the upper half
  EXPECT_GE(d.max_y, 70);  // the foot near the bottom
  // Torso rows: some robot pixels are much darker than the sky behind them.
  int dark = 0;
  for (int y = 28; y < 50; ++y)
    for (int x = 36; x < 48; ++x)
      if (int(with[size_t(y) * 84 + x]) + 15 < int(without[size_t(y) * 84 + x])) ++dark;
  EXPECT_GE(dark, 10) << task_name(t);
}

INSTANTIATE_TEST_SUITE_P(Tasks, RendererTask, ::testing::Values(Task::Hopper, Task::Walker2d),
                         [](const auto& info) { return std::string(task_name(info.param)); });

TEST(Renderer, RowsAreTopDownSkyAboveCheckerFloor) {
  LocomotionEnv e(Task::Hopper);
  Rng rng(2);
  e.reset(rng);
  std::vector<uint8_t> img = render(e, RenderConfig{});
  // Sky (top rows) is a smooth gradient; the checker floor (bottom rows) has hard edges.
  auto roughness = [&](int y0, int y1) {
    long s = 0;
    for (int y = y0; y < y1; ++y)
      for (int x = 1; x < 84; ++x) s += std::abs(int(img[y * 84 + x]) - int(img[y * 84 + x - 1]));
    return s;
  };
  EXPECT_LT(roughness(0, 10), 200);
  EXPECT_GT(roughness(74, 84), 2000);
  EXPECT_GT(img[0], 0);  // not a blank clear colour
}

TEST(Renderer, GrayEqualsConvertedRgbAndRepeatsExactly) {
  LocomotionEnv e(Task::Walker2d);
  Rng rng(3);
  e.reset(rng);
  RenderConfig cfg;
  cfg.width = 64;  // non-square catches width/height mix-ups
  cfg.height = 48;
  Renderer r(e.model(), cfg);
  ASSERT_EQ(r.width(), 64);
  ASSERT_EQ(r.height(), 48);
  std::vector<uint8_t> gray(64 * 48), gray2(64 * 48), rgb(64 * 48 * 3), conv(64 * 48);
  r.render_gray(e.data(), gray.data());
  r.render_rgb(e.data(), rgb.data());
  r.render_gray(e.data(), gray2.data());
  kernels::rgb_to_gray_cpu(48, 64, rgb.data(), conv.data(), false);
  EXPECT_EQ(gray, conv);
  EXPECT_EQ(gray, gray2);
  // Robot in the middle columns of the wider frame too: the centre column of the torso rows is
  // not sky-coloured like the left border.
  int differs = 0;
  for (int y = 15; y < 30; ++y) differs += gray[size_t(y) * 64 + 32] != gray[size_t(y) * 64 + 2];
  EXPECT_GE(differs, 10);
}

TEST(Renderer, TwoContextsAgreeAndStatesDiffer) {
  LocomotionEnv e(Task::Hopper);
  Rng rng(4);
  e.reset(rng);
  RenderConfig cfg;
  Renderer a(e.model(), cfg), b(e.model(), cfg);
  std::vector<uint8_t> fa(84 * 84), fb(84 * 84), fc(84 * 84);
  a.render_gray(e.data(), fa.data());
  b.render_gray(e.data(), fb.data());
  EXPECT_EQ(fa, fb);
  const double act[3] = {1.0, -1.0, 1.0};
  for (int i = 0; i < 10; ++i) e.step(act);
  a.render_gray(e.data(), fc.data());
  EXPECT_NE(fa, fc);
  EXPECT_FALSE(a.gl_info().platform.empty());
  EXPECT_FALSE(a.gl_info().renderer.empty());
}

TEST(Renderer, ShadowsAndReflectionsChangeTheImage) {
  LocomotionEnv e(Task::Hopper);
  Rng rng(5);
  e.reset(rng);
  RenderConfig plain, shadow, mirror;
  shadow.shadows = true;
  mirror.reflections = true;
  std::vector<uint8_t> p = render(e, plain);
  EXPECT_NE(p, render(e, shadow));
  EXPECT_NE(p, render(e, mirror));
}

TEST(Renderer, BadArgumentsThrow) {
  LocomotionEnv e(Task::Hopper);
  RenderConfig cfg;
  cfg.width = 0;
  EXPECT_THROW(Renderer(e.model(), cfg), Error);
  cfg = RenderConfig{};
  cfg.height = 5000;
  EXPECT_THROW(Renderer(e.model(), cfg), Error);
  cfg = RenderConfig{};
  cfg.camera = "no_such_camera";
  try {
    Renderer r(e.model(), cfg);
    FAIL() << "expected an error for an unknown camera";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("no_such_camera"), std::string::npos) << err.what();
  }
  cfg = RenderConfig{};
  cfg.egl = "vulkan";
  EXPECT_THROW(Renderer(e.model(), cfg), Error);
  EXPECT_THROW(Renderer(nullptr, RenderConfig{}), Error);
}

TEST(Renderer, EglChoiceComesFromConfigThenEnvironment) {
  const char* old = std::getenv("RELMIMIC_EGL");
  std::string saved = old ? old : "";
  setenv("RELMIMIC_EGL", "mesa", 1);
  EXPECT_EQ(resolve_egl_choice(""), "mesa");
  EXPECT_EQ(resolve_egl_choice("nvidia"), "nvidia");
  setenv("RELMIMIC_EGL", "opengl", 1);
  EXPECT_THROW(resolve_egl_choice(""), Error);
  unsetenv("RELMIMIC_EGL");
  EXPECT_EQ(resolve_egl_choice(""), "auto");
  if (old) setenv("RELMIMIC_EGL", saved.c_str(), 1);
}

TEST(Renderer, NvidiaRequestFailsClearlyWithoutAnNvidiaDevice) {
  LocomotionEnv e(Task::Hopper);
  RenderConfig cfg;
  cfg.egl = "auto";
  Renderer r(e.model(), cfg);
  if (r.gl_info().platform != "mesa-surfaceless") GTEST_SKIP() << "an NVIDIA device is present";
  cfg.egl = "nvidia";
  try {
    Renderer n(e.model(), cfg);
    FAIL() << "expected an error";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("NVIDIA"), std::string::npos) << err.what();
  }
}
