// LocomotionEnv episodes: Gym v3 healthy bounds, termination vs truncation, reset noise, seed
// determinism (also across threads), and the errors users see for bad names, files and inputs.
#include <gtest/gtest.h>
#include <mujoco/mujoco.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "env/locomotion.h"
#include "kernels/common.h"
#include "tests/env/locomotion_test_util.h"
#include "tests/test_util.h"

namespace relmimic::env {
namespace {

using relmimic::testing::error_of;

namespace fs = std::filesystem;
using testing_util::no_noise;
using testing_util::set_qpos;
using testing_util::test_action;

// Sets RELMIMIC_ASSETS for one scope and restores the previous value.
class ScopedAssets {
 public:
  explicit ScopedAssets(const std::string& dir) {
    if (const char* v = std::getenv("RELMIMIC_ASSETS")) old_ = v, had_ = true;
    setenv("RELMIMIC_ASSETS", dir.c_str(), 1);
  }
  ~ScopedAssets() {
    had_ ? setenv("RELMIMIC_ASSETS", old_.c_str(), 1) : unsetenv("RELMIMIC_ASSETS");
  }

 private:
  std::string old_;
  bool had_ = false;
};

fs::path fresh_temp_dir(const std::string& name) {
  fs::path dir =
      fs::temp_directory_path() / ("relmimic_test_env_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// ---- termination and truncation ----------------------------------------------------------

TEST(LocomotionHealth, HopperBoundsAreStrict) {
  LocomotionEnv env(Task::Hopper);
  const double eps = 1e-9;
  set_qpos(env, {});
  EXPECT_TRUE(env.healthy());
  // Torso height qpos[1] in (0.7, inf).
  set_qpos(env, {{1, 0.7 + eps}});
  EXPECT_TRUE(env.healthy());
  set_qpos(env, {{1, 0.7}});
  EXPECT_FALSE(env.healthy());
  set_qpos(env, {{1, 50.0}});
  EXPECT_TRUE(env.healthy());
  // Pitch qpos[2] in (-0.2, 0.2).
  set_qpos(env, {{2, 0.2 - eps}});
  EXPECT_TRUE(env.healthy());
  set_qpos(env, {{2, 0.2}});
  EXPECT_FALSE(env.healthy());
  set_qpos(env, {{2, -0.2 + eps}});
  EXPECT_TRUE(env.healthy());
  set_qpos(env, {{2, -0.2 - eps}});
  EXPECT_FALSE(env.healthy());
  // qpos[2:] and qvel in (-100, 100); root x and height are not part of the state check.
  set_qpos(env, {{0, 1e3}});
  EXPECT_TRUE(env.healthy());
  set_qpos(env, {{4, 100.0 - eps}});
  EXPECT_TRUE(env.healthy());
  set_qpos(env, {{4, 100.0}});
  EXPECT_FALSE(env.healthy());
  for (int v = 0; v < 6; ++v) {
    set_qpos(env, {});
    env.data()->qvel[v] = -100.0 + eps;
    EXPECT_TRUE(env.healthy()) << v;
    env.data()->qvel[v] = -100.0;
    EXPECT_FALSE(env.healthy()) << v;
  }
}

TEST(LocomotionHealth, Walker2dBoundsAreStrict) {
  LocomotionEnv env(Task::Walker2d);
  const double eps = 1e-9;
  set_qpos(env, {});
  EXPECT_TRUE(env.healthy());
  // Torso height in (0.8, 2.0).
  set_qpos(env, {{1, 0.8 + eps}});
  EXPECT_TRUE(env.healthy());
  set_qpos(env, {{1, 0.8}});
  EXPECT_FALSE(env.healthy());
  set_qpos(env, {{1, 2.0 - eps}});
  EXPECT_TRUE(env.healthy());
  set_qpos(env, {{1, 2.0}});
  EXPECT_FALSE(env.healthy());
  // Pitch in (-1, 1).
  set_qpos(env, {{2, 1.0 - eps}});
  EXPECT_TRUE(env.healthy());
  set_qpos(env, {{2, -1.0}});
  EXPECT_FALSE(env.healthy());
  // No state range: huge joint angles and velocities stay healthy (Hopper's would not).
  set_qpos(env, {{4, 500.0}});
  env.data()->qvel[3] = 1e4;
  EXPECT_TRUE(env.healthy());
}

TEST(LocomotionHealth, UnhealthyStepTerminatesButIsNotTruncated) {
  LocomotionEnv env(Task::Hopper);
  set_qpos(env, {{2, 0.5}});
  const double zero[3] = {0, 0, 0};
  StepResult r = env.step(zero);
  EXPECT_TRUE(r.terminated);
  EXPECT_FALSE(r.truncated);
  EXPECT_EQ(r.healthy_reward, 1.0);  // Gym pays it while terminate_when_unhealthy
}

TEST(LocomotionHealth, TruncatesAfter1000HealthySteps) {
  for (Task task : {Task::Hopper, Task::Walker2d}) {
    LocomotionEnv env(task);
    Rng rng(3);
    env.reset(rng);
    std::vector<double> zero(env.action_dim(), 0.0);
    for (int t = 1; t <= 1000; ++t) {
      mj_resetData(env.model(), env.data());  // force the healthy init state before each step
      StepResult r = env.step(zero.data());
      ASSERT_FALSE(r.terminated) << task_name(task) << " step " << t;
      ASSERT_EQ(r.truncated, t == 1000) << task_name(task) << " step " << t;
    }
    EXPECT_EQ(env.elapsed_steps(), 1000);
    env.reset(rng);
    EXPECT_EQ(env.elapsed_steps(), 0);
    EXPECT_FALSE(env.step(zero.data()).truncated);
  }
}

TEST(LocomotionHealth, TerminationAndTruncationAreIndependentFlags) {
  TaskConfig cfg = TaskConfig::defaults(Task::Walker2d);
  cfg.max_episode_steps = 3;
  LocomotionEnv env(Task::Walker2d, cfg);
  const std::vector<double> zero(6, 0.0);
  set_qpos(env, {{1, 0.5}});  // torso far below 0.8: unhealthy for the next steps
  StepResult r1 = env.step(zero.data());
  StepResult r2 = env.step(zero.data());
  StepResult r3 = env.step(zero.data());
  EXPECT_TRUE(r1.terminated && r2.terminated && r3.terminated);
  EXPECT_FALSE(r1.truncated || r2.truncated);
  EXPECT_TRUE(r3.truncated);
}

// ---- reset noise and determinism ---------------------------------------------------------

TEST(LocomotionReset, NoiseIsUniformWithinScale) {
  for (Task task : {Task::Hopper, Task::Walker2d}) {
    LocomotionEnv env(task);
    const double s = env.config().reset_noise_scale;
    ASSERT_EQ(s, 5e-3);
    Rng rng(11);
    double max_abs = 0, sum = 0;
    int n = 0;
    for (int k = 0; k < 200; ++k) {
      env.reset(rng);
      EXPECT_EQ(env.elapsed_steps(), 0);
      for (int i = 0; i < env.nq(); ++i, ++n) {
        const double d = env.data()->qpos[i] - env.model()->qpos0[i];
        ASSERT_LE(std::abs(d), s) << task_name(task) << " qpos " << i;
        max_abs = std::max(max_abs, std::abs(d));
        sum += d;
      }
      for (int i = 0; i < env.nv(); ++i, ++n) {
        const double v = env.data()->qvel[i];
        ASSERT_LE(std::abs(v), s) << task_name(task) << " qvel " << i;
        max_abs = std::max(max_abs, std::abs(v));
        sum += v;
      }
    }
    // U(-s, s): the extremes are reached and the mean is ~0 (std of the mean s / sqrt(3n)).
    EXPECT_GT(max_abs, 0.99 * s) << task_name(task);
    EXPECT_LT(std::abs(sum / n), 5 * s / std::sqrt(3.0 * n)) << task_name(task);
  }
}

TEST(LocomotionReset, ZeroNoiseGivesGymInitState) {
  LocomotionEnv env(Task::Hopper, no_noise(Task::Hopper));
  Rng rng(5);
  env.reset(rng);
  const double init[6] = {0, 1.25, 0, 0, 0, 0};
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(env.data()->qpos[i], init[i]);
    EXPECT_EQ(env.data()->qvel[i], 0.0);
  }
}

// Runs 300 steps with resets on termination; returns every qpos and qvel.
std::vector<double> trajectory(Task task, uint64_t seed) {
  LocomotionEnv env(task);
  Rng rng(seed);
  env.reset(rng);
  std::vector<double> out;
  for (int t = 0; t < 300; ++t) {
    StepResult r = env.step(test_action(t, env.action_dim()).data());
    out.insert(out.end(), env.data()->qpos, env.data()->qpos + env.nq());
    out.insert(out.end(), env.data()->qvel, env.data()->qvel + env.nv());
    if (r.terminated || r.truncated) env.reset(rng);
  }
  return out;
}

TEST(LocomotionReset, SameSeedSameTrajectoryBitForBit) {
  for (Task task : {Task::Hopper, Task::Walker2d}) {
    std::vector<double> a = trajectory(task, 42), b = trajectory(task, 42),
                        c = trajectory(task, 43);
    ASSERT_EQ(a.size(), b.size());
    EXPECT_EQ(0, std::memcmp(a.data(), b.data(), a.size() * sizeof(double))) << task_name(task);
    EXPECT_NE(a, c) << task_name(task) << ": another seed must give another trajectory";
  }
}

TEST(LocomotionReset, EnvsBuiltAndSteppedOnThreadsMatchSequentialOnes) {
  // The env pool builds and steps envs on worker threads: loading and stepping share nothing.
  const Task tasks[4] = {Task::Hopper, Task::Walker2d, Task::Hopper, Task::Walker2d};
  std::vector<double> threaded[4];
  std::vector<std::thread> workers;
  for (int i = 0; i < 4; ++i)
    workers.emplace_back([&, i] { threaded[i] = trajectory(tasks[i], 100 + i); });
  for (auto& w : workers) w.join();
  for (int i = 0; i < 4; ++i) EXPECT_EQ(threaded[i], trajectory(tasks[i], 100 + i)) << i;
}

// ---- errors --------------------------------------------------------------------------------

TEST(LocomotionErrors, TaskNames) {
  EXPECT_EQ(parse_task("hopper"), Task::Hopper);
  EXPECT_EQ(parse_task("Walker2d"), Task::Walker2d);
  EXPECT_STREQ(task_name(Task::Walker2d), "walker2d");
  const std::string msg = error_of([] { parse_task("halfcheetah"); });
  EXPECT_NE(msg.find("unknown task 'halfcheetah'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("hopper or walker2d"), std::string::npos) << msg;
}

TEST(LocomotionErrors, AssetPathAndMissingFile) {
  {
    ScopedAssets unset("");  // an empty RELMIMIC_ASSETS means the build-time folder
    EXPECT_EQ(asset_path(Task::Hopper), std::string(RELMIMIC_ASSET_DIR) + "/hopper.xml");
  }
  const fs::path dir = fresh_temp_dir("missing");
  ScopedAssets scope(dir.string());
  EXPECT_EQ(asset_path(Task::Walker2d), (dir / "walker2d.xml").string());
  const std::string msg = error_of([] { LocomotionEnv env(Task::Walker2d); });
  EXPECT_NE(msg.find("MuJoCo model file not found"), std::string::npos) << msg;
  EXPECT_NE(msg.find((dir / "walker2d.xml").string()), std::string::npos) << msg;
  fs::remove_all(dir);
}

TEST(LocomotionErrors, BrokenOrWrongModelFile) {
  const fs::path dir = fresh_temp_dir("broken");
  ScopedAssets scope(dir.string());
  std::ofstream(dir / "hopper.xml") << "<mujoco><worldbody><body><geom type='capsule'/>";
  std::string msg = error_of([] { LocomotionEnv env(Task::Hopper); });
  EXPECT_NE(msg.find("cannot load MuJoCo model"), std::string::npos) << msg;
  EXPECT_NE(msg.find("hopper.xml"), std::string::npos) << msg;
  // The Hopper model where Walker2d's belongs: loads, but has the wrong sizes.
  fs::copy_file(fs::path(RELMIMIC_ASSET_DIR) / "hopper.xml", dir / "walker2d.xml");
  msg = error_of([] { LocomotionEnv env(Task::Walker2d); });
  EXPECT_NE(msg.find("nq/nv/nu 6/6/3"), std::string::npos) << msg;
  EXPECT_NE(msg.find("needs 9/9/6"), std::string::npos) << msg;
  fs::remove_all(dir);
}

TEST(LocomotionErrors, BadConfigAndActions) {
  TaskConfig cfg = TaskConfig::defaults(Task::Hopper);
  cfg.frame_skip = 0;
  EXPECT_NE(error_of([&] { LocomotionEnv env(Task::Hopper, cfg); }).find("frame_skip"),
            std::string::npos);
  LocomotionEnv env(Task::Hopper);
  const double bad[3] = {0.1, std::nan(""), 0.2};
  const std::string msg = error_of([&] { env.step(bad); });
  EXPECT_NE(msg.find("action[1] is nan"), std::string::npos) << msg;
}

TEST(LocomotionErrors, MujocoErrorsThrowInsteadOfExiting) {
  LocomotionEnv env(Task::Hopper);  // installs the handlers
  EXPECT_NE(error_of([] { mju_error("test error"); }).find("MuJoCo error: test error"),
            std::string::npos);
  // A real engine error: an mjData stack too small for one step.
  mjModel* m = mj_copyModel(nullptr, env.model());
  m->nstack = 64;
  mjData* d = mj_makeData(m);
  const std::string msg = error_of([&] { mj_step(m, d); });
  EXPECT_NE(msg.find("MuJoCo error"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Stack overflow"), std::string::npos) << msg;
  mj_deleteData(d);
  mj_deleteModel(m);
}

TEST(LocomotionErrors, EachWarningIsPrintedOnce) {
  install_mujoco_handlers();
  ::testing::internal::CaptureStderr();
  mju_warning("relmimic test warning A");
  mju_warning("relmimic test warning A");
  mju_warning("relmimic test warning B");
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(err,
            "relmimic: MuJoCo warning: relmimic test warning A\n"
            "relmimic: MuJoCo warning: relmimic test warning B\n");
}

}  // namespace
}  // namespace relmimic::env
