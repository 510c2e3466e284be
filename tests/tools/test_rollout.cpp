// `relmimic rollout` and `relmimic render` run as the user runs them: the binary, its files and
// its exit codes.
#include <gtest/gtest.h>
#include <mujoco/mujoco.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "engine/h5.h"
#include "env/pool.h"
#include "report/media.h"
#include "tests/test_util.h"

using namespace relmimic;

namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() /
          ("relmimic_cli_" + std::to_string(getpid()) + "_" + name))
      .string();
}

struct Result {
  int code;
  std::string output;  // stdout and stderr
};

Result run(const std::string& args) {
  const auto r = relmimic::testing::run_relmimic(args);
  return {r.code, r.out};
}

}  // namespace

TEST(RolloutCommand, WritesAlignedTrajectory) {
  const std::string out = temp_path("hopper.h5");
  Result r = run("rollout --env hopper --seed 3 --steps 200 --out " + out);
  ASSERT_EQ(r.code, 0) << r.output;
  h5::File f = h5::File::open(out);
  EXPECT_EQ(f.attr_string("/", "env"), "hopper");
  EXPECT_EQ(f.attr_long("/", "frame_skip"), 4);
  EXPECT_DOUBLE_EQ(f.attr_double("/", "dt"), 0.008);
  Tensor qpos = f.read("qpos"), qvel = f.read("qvel"), obs = f.read("obs");
  Tensor action = f.read("action"), reward = f.read("reward");
  Tensor term = f.read("terminated"), trunc = f.read("truncated");
  EXPECT_EQ(qpos.shape(), (Shape{201, 6}));
  EXPECT_EQ(qvel.shape(), (Shape{201, 6}));
  EXPECT_EQ(obs.shape(), (Shape{201, 11}));
  EXPECT_EQ(action.shape(), (Shape{200, 3}));
  EXPECT_EQ(reward.shape(), (Shape{200}));
  EXPECT_EQ(term.dtype(), DType::u8);
  EXPECT_EQ(trunc.shape(), (Shape{200}));

  const double* q = qpos.data<double>();
  const double* v = qvel.data<double>();
  const double* o = obs.data<double>();
  const float* a = action.data<float>();
  int terminations = 0, checked = 0;
  for (int t = 0; t <= 200; ++t) {
    // obs row = qpos[1:], clip(qvel, -10, 10) of the same row.
    for (int j = 1; j < 6; ++j) ASSERT_EQ(o[t * 11 + j - 1], q[t * 6 + j]) << "row " << t;
    for (int j = 0; j < 6; ++j)
      ASSERT_EQ(o[t * 11 + 5 + j], std::clamp(v[t * 6 + j], -10.0, 10.0)) << "row " << t;
    if (t == 200) break;
    for (int j = 0; j < 3; ++j) ASSERT_TRUE(a[t * 3 + j] >= -1.f && a[t * 3 + j] <= 1.f);
    const bool done = term.data<uint8_t>()[t] || trunc.data<uint8_t>()[t];
    if (done) {
      ++terminations;
      // The next row is a fresh reset: root x and height at their initial values plus noise.
      EXPECT_NEAR(q[(t + 1) * 6 + 0], 0.0, 5e-3) << "row " << t + 1;
      EXPECT_NEAR(q[(t + 1) * 6 + 1], 1.25, 5e-3) << "row " << t + 1;
    } else {
      // Row t+1 follows row t: reward = dx/dt + healthy 1 - 1e-3 |a|^2 (Hopper-v3).
      double a2 = 0;
      for (int j = 0; j < 3; ++j) a2 += double(a[t * 3 + j]) * a[t * 3 + j];
      const double expect = (q[(t + 1) * 6] - q[t * 6]) / 0.008 + 1.0 - 1e-3 * a2;
      ASSERT_NEAR(reward.data<double>()[t], expect, 1e-9) << "step " << t;
      ++checked;
    }
  }
  EXPECT_GE(terminations, 1) << "random actions should topple the hopper within 200 steps";
  EXPECT_GT(checked, 150);

  // The same seed gives the same file; the actions replay exactly through a one-env pool.
  const std::string again = temp_path("hopper2.h5");
  ASSERT_EQ(run("rollout --env hopper --seed 3 --steps 200 --out " + again).code, 0);
  h5::File g = h5::File::open(again);
  Tensor q2 = g.read("qpos");
  EXPECT_EQ(std::memcmp(q2.raw(), qpos.raw(), qpos.nbytes()), 0);
  env::PoolConfig pc;
  pc.task = env::Task::Hopper;
  pc.seed = 3;
  pc.render = false;
  env::EnvPool pool(pc);
  pool.reset(nullptr, nullptr);
  for (int t = 0; t < 200; ++t) {
    pool.step(a + t * 3, nullptr, nullptr);
    const mjData_* d = pool.env(0).data();
    ASSERT_EQ(
        std::memcmp(reinterpret_cast<const mjData*>(d)->qpos, q + (t + 1) * 6, 6 * sizeof(double)),
        0)
        << "pool replay diverges at step " << t;
  }
  std::remove(out.c_str());
  std::remove(again.c_str());
}

TEST(RolloutCommand, SeedsAndEnvsDiffer) {
  const std::string a = temp_path("w1.h5"), b = temp_path("w2.h5");
  ASSERT_EQ(run("rollout --env walker2d --seed 1 --steps 20 --out " + a).code, 0);
  ASSERT_EQ(run("rollout --env walker2d --seed 2 --steps 20 --out " + b).code, 0);
  Tensor qa = h5::File::open(a).read("qpos"), qb = h5::File::open(b).read("qpos");
  EXPECT_EQ(qa.shape(), (Shape{21, 9}));
  EXPECT_EQ(h5::File::open(a).attr_string("/", "env"), "walker2d");
  EXPECT_NE(std::memcmp(qa.raw(), qb.raw(), qa.nbytes()), 0);
  std::remove(a.c_str());
  std::remove(b.c_str());
}

TEST(RenderCommand, WritesPngStripAndGif) {
  const std::string png = temp_path("frames.png"), gif = temp_path("frames.gif");
  Result r = run("render --env hopper --seed 2 --steps 3 --size 32 --out " + png + " --gif " + gif);
  ASSERT_EQ(r.code, 0) << r.output;
  report::Image img = report::read_png(png);
  EXPECT_EQ(img.channels, 1);
  EXPECT_EQ(img.height, 32);
  EXPECT_EQ(img.width, 4 * 32 + 3 * 2);  // reset frame + 3 steps, 2-pixel gaps
  std::ifstream f(gif, std::ios::binary);
  std::vector<uint8_t> b{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
  ASSERT_GT(b.size(), 800u);
  EXPECT_EQ(std::string(b.begin(), b.begin() + 6), "GIF89a");
  EXPECT_EQ(b[6] | b[7] << 8, 32);
  EXPECT_EQ(b.back(), 0x3B);

  // Many frames make a grid; --rgb writes colour.
  ASSERT_EQ(run("render --env walker2d --steps 11 --size 16 --rgb --out " + png).code, 0);
  img = report::read_png(png);
  EXPECT_EQ(img.channels, 3);
  EXPECT_EQ(img.width, 10 * 16 + 9 * 2);  // 12 frames: rows of 10
  EXPECT_EQ(img.height, 2 * 16 + 2);
  std::remove(png.c_str());
  std::remove(gif.c_str());
}

TEST(EnvCommands, BadArgumentsGiveClearErrors) {
  struct Case {
    std::string args, needle;
  };
  const std::string out = temp_path("never.h5");
  const std::vector<Case> cases = {
      {"rollout --env ant --out " + out, "unknown env 'ant'"},
      {"rollout --steps 0 --out " + out, "--steps"},
      {"rollout --steps ten --out " + out, "expected an integer"},
      {"rollout --steps 5", "--out is required"},
      {"rollout --frames 3 --out " + out, "unknown option '--frames'"},
      {"render --size 4 --out x.png", "--size"},
      {"render --env cheetah --out x.png", "unknown env 'cheetah'"},
      {"render --egl vulkan --out x.png", "--egl"},
      {"render --steps 2", "--out is required"},
  };
  for (const Case& c : cases) {
    Result r = run(c.args);
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.output;
    EXPECT_NE(r.output.find(c.needle), std::string::npos) << c.args << "\n" << r.output;
  }
  EXPECT_FALSE(std::filesystem::exists(out));
  Result help = run("rollout --help");
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.output.find("--steps"), std::string::npos);
  EXPECT_EQ(run("render --help").code, 0);
}
