// EnvPool: reproducibility (runs, thread counts), frame stacking, auto-reset, errors.
#include <gtest/gtest.h>
#include <mujoco/mujoco.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "env/pool.h"
#include "kernels/common.h"

using namespace relmimic;
using namespace relmimic::env;

namespace {

PoolConfig small_config(Task t, int n, int threads, bool render = true) {
  PoolConfig c;
  c.task = t;
  c.num_envs = n;
  c.num_threads = threads;
  c.seed = 11;
  c.render = render;
  c.frame_stack = 3;
  c.render_config.width = 48;  // small frames keep the tests fast
  c.render_config.height = 40;
  return c;
}

// Uniform actions in [-1, 1] for `steps` batched steps, [steps, N, A].
std::vector<float> random_actions(int steps, int n, int a, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(size_t(steps) * n * a);
  for (float& x : v) x = float(rng.uniform(-1.0, 1.0));
  return v;
}

// Everything a run produces, step by step, to compare runs bit for bit.
struct Trace {
  std::vector<uint8_t> frames;
  std::vector<float> obs, rewards;
  std::vector<uint8_t> flags;
  std::vector<double> qpos, qvel;
};

// split > 0: each step as two step_begin()s, envs [0, split) and [split, N), each waited for.
Trace run(const PoolConfig& cfg, int steps, int split = 0) {
  EnvPool pool(cfg);
  const int n = pool.num_envs(), a = pool.action_dim();
  const size_t fsz =
      pool.rendering() ? size_t(pool.frame_stack()) * pool.height() * pool.width() : 0;
  std::vector<uint8_t> frames(n * fsz);
  std::vector<float> obs(size_t(n) * pool.obs_dim());
  std::vector<float> actions = random_actions(steps, n, a, 5);
  Trace t;
  auto record = [&] {
    t.frames.insert(t.frames.end(), frames.begin(), frames.end());
    t.obs.insert(t.obs.end(), obs.begin(), obs.end());
    for (int i = 0; i < n; ++i) {
      t.rewards.push_back(pool.rewards()[i]);
      t.flags.push_back(uint8_t(pool.terminated()[i] * 2 + pool.truncated()[i]));
      const mjData* d = pool.env(i).data();
      t.qpos.insert(t.qpos.end(), d->qpos, d->qpos + pool.env(i).nq());
      t.qvel.insert(t.qvel.end(), d->qvel, d->qvel + pool.env(i).nv());
    }
  };
  uint8_t* fp = pool.rendering() ? frames.data() : nullptr;
  pool.reset(fp, obs.data());
  record();
  for (int s = 0; s < steps; ++s) {
    const float* act = actions.data() + size_t(s) * n * a;
    if (split > 0) {
      pool.step_begin(0, split, act, fp, obs.data());
      pool.step_wait();
      pool.step_begin(split, n - split, act, fp, obs.data());
      pool.step_wait();
    } else {
      pool.step(act, fp, obs.data());
    }
    record();
  }
  return t;
}

void expect_same(const Trace& a, const Trace& b, const char* what) {
  EXPECT_TRUE(a.frames == b.frames) << what << ": frames differ";
  EXPECT_TRUE(a.obs == b.obs) << what << ": observations differ";
  EXPECT_TRUE(a.rewards == b.rewards) << what << ": rewards differ";
  EXPECT_TRUE(a.flags == b.flags) << what << ": done flags differ";
  EXPECT_TRUE(a.qpos == b.qpos) << what << ": qpos differs";
  EXPECT_TRUE(a.qvel == b.qvel) << what << ": qvel differs";
}

}  // namespace

TEST(EnvPool, ReproducibleAcrossRunsAndThreadCounts) {
  PoolConfig c1 = small_config(Task::Hopper, 3, 1);
  c1.task_config = TaskConfig::defaults(Task::Hopper);
  c1.task_config->max_episode_steps = 7;  // crosses auto-resets within the run
  PoolConfig c2 = c1;
  c2.num_threads = 2;
  Trace a = run(c1, 12), b = run(c1, 12), c = run(c2, 12);
  ASSERT_FALSE(a.frames.empty());
  expect_same(a, b, "two runs, T=1");
  expect_same(a, c, "T=1 vs T=2");
  // Rendering does not touch the physics: a physics-only pool follows the same states.
  PoolConfig c3 = c2;
  c3.render = false;
  Trace d = run(c3, 12);
  EXPECT_TRUE(a.qpos == d.qpos && a.obs == d.obs && a.rewards == d.rewards);
}

TEST(EnvPool, SeedsDifferPerEnvAndPerPoolSeed) {
  PoolConfig c = small_config(Task::Walker2d, 2, 2, false);
  EnvPool p(c);
  std::vector<float> obs(size_t(2) * p.obs_dim());
  p.reset(nullptr, obs.data());
  EXPECT_NE(std::memcmp(obs.data(), obs.data() + p.obs_dim(), p.obs_dim() * sizeof(float)), 0);
  c.seed = 12;
  EnvPool q(c);
  std::vector<float> obs2(obs.size());
  q.reset(nullptr, obs2.data());
  EXPECT_NE(obs, obs2);
  // Reset noise is small: torso height (obs[0] = qpos[1]) stays near Walker2d's 1.25.
  EXPECT_NEAR(obs[0], 1.25, 6e-3);
}

TEST(EnvPool, FrameStackRepeatsAtResetThenShifts) {
  EnvPool pool(small_config(Task::Hopper, 2, 2));
  const int n = 2, k = pool.frame_stack(), a = pool.action_dim();
  const size_t hw = size_t(pool.height()) * pool.width(), env_sz = k * hw;
  std::vector<uint8_t> prev(n * env_sz), cur(n * env_sz);
  pool.reset(prev.data(), nullptr);
  for (int i = 0; i < n; ++i)
    for (int s = 1; s < k; ++s)
      EXPECT_EQ(std::memcmp(&prev[i * env_sz], &prev[i * env_sz + s * hw], hw), 0)
          << "env " << i << " slot " << s << " differs from the first frame at reset";
  // An independent renderer on this thread draws what the pool's newest slot must hold.
  RenderConfig rc = pool.config().render_config;
  Renderer ref(pool.env(0).model(), rc);
  std::vector<uint8_t> expect(hw);
  std::vector<float> actions = random_actions(6, n, a, 9);
  bool moved = false;
  for (int step = 0; step < 6; ++step) {
    pool.step(&actions[size_t(step) * n * a], cur.data(), nullptr);
    for (int i = 0; i < n; ++i) {
      ASSERT_FALSE(pool.done(i));
      const uint8_t* p = &prev[i * env_sz];
      const uint8_t* c = &cur[i * env_sz];
      for (int s = 0; s + 1 < k; ++s)
        EXPECT_EQ(std::memcmp(c + s * hw, p + (s + 1) * hw, hw), 0)
            << "step " << step << " env " << i << ": slot " << s << " is not the old slot "
            << s + 1;
      ref.render_gray(pool.env(i).data(), expect.data());
      EXPECT_EQ(std::memcmp(c + (k - 1) * hw, expect.data(), hw), 0)
          << "step " << step << " env " << i << ": newest slot is not the current state";
      moved |= std::memcmp(c + (k - 1) * hw, p + (k - 1) * hw, hw) != 0;
    }
    prev = cur;
  }
  EXPECT_TRUE(moved) << "six random steps left every frame unchanged";
}

TEST(EnvPool, TruncationAutoResetsAndKeepsTheFinalObservation) {
  PoolConfig c = small_config(Task::Hopper, 2, 2);
  c.task_config = TaskConfig::defaults(Task::Hopper);
  c.task_config->max_episode_steps = 4;
  EnvPool pool(c);
  const int n = 2, a = pool.action_dim(), d = pool.obs_dim(), k = pool.frame_stack();
  const size_t hw = size_t(pool.height()) * pool.width();
  std::vector<uint8_t> frames(n * k * hw);
  std::vector<float> obs(size_t(n) * d), zero(size_t(n) * a, 0.f);
  pool.reset(frames.data(), obs.data());
  double sum[2] = {0, 0};
  for (int s = 1; s <= 4; ++s) {
    pool.step(zero.data(), frames.data(), obs.data());
    for (int i = 0; i < n; ++i) {
      sum[i] += pool.rewards()[i];
      EXPECT_EQ(pool.episode_lengths()[i], s);
      EXPECT_EQ(pool.truncated()[i], s == 4 ? 1 : 0);
      EXPECT_EQ(pool.terminated()[i], 0);
    }
  }
  for (int i = 0; i < n; ++i) {
    ASSERT_TRUE(pool.done(i));
    // The returned episode statistics are those of the finished episode.
    EXPECT_NEAR(pool.episode_returns()[i], sum[i], 1e-4);
    EXPECT_GT(sum[i], 3.0);  // healthy bonus 1 per step, standing still
    // Returned obs/frames belong to the new episode: fresh state, first frame repeated.
    EXPECT_EQ(pool.env(i).elapsed_steps(), 0);
    std::vector<double> now(static_cast<size_t>(d));
    pool.env(i).observation(now.data());
    for (int j = 0; j < d; ++j) EXPECT_EQ(obs[size_t(i) * d + j], float(now[size_t(j)]));
    const uint8_t* st = &frames[i * k * hw];
    for (int s = 1; s < k; ++s) EXPECT_EQ(std::memcmp(st, st + s * hw, hw), 0);
    // The final observation is where the old episode ended, not the reset state.
    const float* fin = pool.final_obs(i);
    bool differs = false;
    for (int j = 0; j < d; ++j) differs |= fin[j] != obs[size_t(i) * d + j];
    EXPECT_TRUE(differs) << "env " << i;
    // The final stack is the old episode's: its newest frame is not the reset frame.
    EXPECT_NE(std::memcmp(pool.final_frames(i) + (k - 1) * hw, st, hw), 0) << "env " << i;
  }
  pool.step(zero.data(), frames.data(), obs.data());
  for (int i = 0; i < n; ++i) {
    EXPECT_FALSE(pool.done(i));
    EXPECT_EQ(pool.episode_lengths()[i], 1);
    EXPECT_NEAR(pool.episode_returns()[i], pool.rewards()[i], 1e-6);
  }
}

TEST(EnvPool, TerminationIsReportedAndReset) {
  PoolConfig c = small_config(Task::Walker2d, 3, 2, false);
  c.task_config = TaskConfig::defaults(Task::Walker2d);
  c.task_config->healthy_z_min = 5.0;  // every state is unhealthy: terminate on the first step
  EnvPool pool(c);
  std::vector<float> obs(size_t(3) * pool.obs_dim()), act(size_t(3) * pool.action_dim(), 0.5f);
  pool.reset(nullptr, obs.data());
  pool.step(act.data(), nullptr, obs.data());
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(pool.terminated()[i], 1);
    EXPECT_EQ(pool.truncated()[i], 0);
    EXPECT_EQ(pool.episode_lengths()[i], 1);
    EXPECT_EQ(pool.env(i).elapsed_steps(), 0);
  }
  EXPECT_THROW(pool.final_frames(0), Error);  // physics only: no frames
}

TEST(EnvPool, ActionsReachTheEnvAsGiven) {
  // Out-of-range actions are not clipped by the pool: the env's control cost sees them.
  PoolConfig c = small_config(Task::Hopper, 1, 1, false);
  EnvPool big(c), unit(c);
  std::vector<float> obs(size_t(big.obs_dim()));
  big.reset(nullptr, obs.data());
  unit.reset(nullptr, obs.data());
  const float a3[3] = {3.f, 3.f, 3.f}, a1[3] = {1.f, 1.f, 1.f};
  big.step(a3, nullptr, nullptr);
  unit.step(a1, nullptr, nullptr);
  // Same state (ctrl is clamped by the ctrlrange), control cost 1e-3 * 27 vs 1e-3 * 3.
  EXPECT_NEAR(unit.rewards()[0] - big.rewards()[0], 1e-3 * (27 - 3), 1e-5);
}

TEST(EnvPool, ReportsEachStepsForwardVelocity) {
  // x_velocity = (x after - x before) / dt of the torso's rootx, as the env's StepResult says.
  EnvPool pool(small_config(Task::Hopper, 2, 1, false));
  pool.reset(nullptr, nullptr);
  EXPECT_EQ(pool.x_velocities()[0], 0.f);
  const float a[6] = {0.5f, -0.3f, 0.8f, -0.5f, 0.2f, 0.9f};
  double moved = 0;
  for (int t = 0; t < 5; ++t) {
    double x0[2];
    for (int i = 0; i < 2; ++i) x0[i] = pool.env(i).data()->qpos[0];
    pool.step(a, nullptr, nullptr);
    for (int i = 0; i < 2; ++i) {
      ASSERT_FALSE(pool.done(i));
      const double want = (pool.env(i).data()->qpos[0] - x0[i]) / pool.env(i).dt();
      EXPECT_NEAR(pool.x_velocities()[i], want, 1e-5 * std::max(1.0, std::fabs(want)));
      moved += std::fabs(want);
    }
  }
  EXPECT_GT(moved, 0.0);
  pool.reset(nullptr, nullptr);
  EXPECT_EQ(pool.x_velocities()[1], 0.f);
}

TEST(EnvPool, StepsInFlightOfEnvRangesEqualWholeSteps) {
  // step_begin() on two ranges of envs, one after the other, equals step() bit for bit, with
  // one worker or with workers whose env shares the ranges cut across.
  PoolConfig c1 = small_config(Task::Hopper, 3, 1);
  c1.task_config = TaskConfig::defaults(Task::Hopper);
  c1.task_config->max_episode_steps = 7;  // crosses auto-resets
  PoolConfig c2 = c1;
  c2.num_threads = 2;  // workers own envs [0, 1) and [1, 3); the split below is [0, 2), [2, 3)
  const Trace whole = run(c1, 12);
  expect_same(whole, run(c1, 12, 1), "ranges [0, 1), [1, 3) on one worker");
  expect_same(whole, run(c2, 12, 2), "ranges [0, 2), [2, 3) on two workers");
}

TEST(EnvPool, AStepInFlightBlocksOtherCallsUntilWaitedFor) {
  EnvPool pool(small_config(Task::Hopper, 2, 1));
  ASSERT_TRUE(pool.async_steps());
  const size_t fsz = size_t(pool.frame_stack()) * pool.height() * pool.width();
  std::vector<uint8_t> frames(2 * fsz);
  std::vector<float> obs(size_t(2) * pool.obs_dim()), act(size_t(2) * pool.action_dim(), 0.1f);
  EXPECT_THROW(pool.step_begin(0, 1, act.data(), frames.data(), obs.data()), Error);  // no reset
  pool.reset(frames.data(), obs.data());
  auto message = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message([&] {
              pool.step_begin(1, 2, act.data(), frames.data(), obs.data());
            }).find("out of range"),
            std::string::npos);
  EXPECT_THROW(pool.step_begin(0, 0, act.data(), frames.data(), obs.data()), Error);
  EXPECT_THROW(pool.step_begin(0, 1, nullptr, frames.data(), obs.data()), Error);
  pool.step_begin(0, 1, act.data(), frames.data(), obs.data());
  for (const std::string m :
       {message([&] { pool.step(act.data(), frames.data(), obs.data()); }),
        message([&] { pool.step_begin(1, 1, act.data(), frames.data(), obs.data()); }),
        message([&] { pool.reset(frames.data(), obs.data()); }),
        message([&] { (void)pool.snapshot(); })})
    EXPECT_NE(m.find("step_wait"), std::string::npos) << m;
  pool.step_wait();
  pool.step_wait();  // none in flight: returns at once
  EXPECT_EQ(pool.episode_lengths()[0], 1);
  EXPECT_EQ(pool.episode_lengths()[1], 0);  // env 1 did not step
  pool.step_begin(1, 1, act.data(), frames.data(), obs.data());
  pool.step_wait();
  EXPECT_EQ(pool.episode_lengths()[1], 1);

  // Physics-only pools step on the calling thread: no steps in flight there.
  EnvPool physics(small_config(Task::Hopper, 2, 1, false));
  EXPECT_FALSE(physics.async_steps());
  physics.reset(nullptr, obs.data());
  EXPECT_THROW(physics.step_begin(0, 1, act.data(), nullptr, obs.data()), Error);
}

TEST(EnvPool, DestroyingAPoolWithAStepInFlightWaitsForIt) {
  const int n = 2;
  auto pool = std::make_unique<EnvPool>(small_config(Task::Hopper, n, 2));
  const size_t fsz = size_t(pool->frame_stack()) * pool->height() * pool->width();
  std::vector<uint8_t> frames(n * fsz);
  std::vector<float> obs(size_t(n) * pool->obs_dim()), act(size_t(n) * pool->action_dim(), 0.f);
  pool->reset(frames.data(), obs.data());
  const std::vector<float> before = obs;
  pool->step_begin(0, n, act.data(), frames.data(), obs.data());
  pool.reset();  // joins the workers after the step finished writing
  EXPECT_NE(obs, before);
}

TEST(EnvPool, BadArgumentsThrow) {
  auto expect_error = [](PoolConfig c, const char* needle) {
    try {
      EnvPool p(c);
      ADD_FAILURE() << "expected an error mentioning " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  PoolConfig c = small_config(Task::Hopper, 1, 1);
  c.num_envs = 0;
  expect_error(c, "num_envs");
  c = small_config(Task::Hopper, 1, 1);
  c.num_threads = 0;
  expect_error(c, "num_threads");
  c = small_config(Task::Hopper, 1, 1);
  c.frame_stack = 0;
  expect_error(c, "frame_stack");
  c = small_config(Task::Hopper, 1, 1);
  c.render_config.width = -3;
  expect_error(c, "frame size");
  c = small_config(Task::Hopper, 1, 1);
  c.render_config.camera = "overhead";
  expect_error(c, "overhead");  // raised on a worker thread, rethrown here
  EXPECT_THROW(parse_task("ant"), Error);

  EnvPool physics(small_config(Task::Hopper, 2, 4, false));
  EXPECT_EQ(physics.num_threads(), 2);  // clamped to N
  std::vector<float> act(size_t(2) * physics.action_dim(), 0.f);
  EXPECT_THROW(physics.step(act.data(), nullptr, nullptr), Error);  // before reset()
  std::vector<uint8_t> frames(16);
  EXPECT_THROW(physics.reset(frames.data(), nullptr), Error);
  physics.reset(nullptr, nullptr);
  EXPECT_THROW(physics.step(nullptr, nullptr, nullptr), Error);
  EXPECT_THROW(physics.step(act.data(), frames.data(), nullptr), Error);
  EXPECT_THROW(physics.final_obs(2), Error);
}
