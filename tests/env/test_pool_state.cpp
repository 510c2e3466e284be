// EnvPool snapshot/restore: a fresh pool restored from a snapshot continues bit for bit as the
// original (physics with its warm start, reset-noise streams across auto-resets, frame stacks,
// episode counters); mismatched snapshots are refused.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "env/pool.h"
#include "kernels/common.h"

using namespace relmimic;
using namespace relmimic::env;

namespace {

PoolConfig config(Task t, int n, bool render) {
  PoolConfig c;
  c.task = t;
  c.num_envs = n;
  c.num_threads = 2;
  c.seed = 23;
  c.render = render;
  c.frame_stack = 2;
  c.render_config.width = 32;
  c.render_config.height = 32;
  return c;
}

struct Outputs {
  std::vector<uint8_t> frames;
  std::vector<float> obs, rewards;
  std::vector<uint8_t> flags;
  std::vector<double> returns;
};

// Steps the pool `steps` times with actions drawn from rng, recording everything it reports.
Outputs drive(EnvPool& pool, int steps, Rng& rng) {
  const int n = pool.num_envs(), a = pool.action_dim();
  const size_t fsz =
      pool.rendering() ? size_t(pool.frame_stack()) * pool.height() * pool.width() : 0;
  std::vector<uint8_t> frames(n * fsz);
  std::vector<float> obs(size_t(n) * pool.obs_dim()), act(size_t(n) * a);
  Outputs o;
  for (int s = 0; s < steps; ++s) {
    for (float& x : act) x = float(rng.uniform(-1.0, 1.0));
    pool.step(act.data(), pool.rendering() ? frames.data() : nullptr, obs.data());
    o.frames.insert(o.frames.end(), frames.begin(), frames.end());
    o.obs.insert(o.obs.end(), obs.begin(), obs.end());
    for (int i = 0; i < n; ++i) {
      o.rewards.push_back(pool.rewards()[i]);
      o.flags.push_back(uint8_t(pool.terminated()[i] * 2 + pool.truncated()[i]));
      o.returns.push_back(pool.episode_returns()[i]);
    }
  }
  return o;
}

void expect_same(const Outputs& a, const Outputs& b) {
  ASSERT_EQ(a.obs.size(), b.obs.size());
  EXPECT_EQ(0, std::memcmp(a.obs.data(), b.obs.data(), a.obs.size() * sizeof(float)));
  EXPECT_EQ(a.rewards, b.rewards);
  EXPECT_EQ(a.flags, b.flags);
  EXPECT_EQ(a.returns, b.returns);
  EXPECT_EQ(a.frames, b.frames);
}

void check_restore(Task task, bool render) {
  const PoolConfig cfg = config(task, 3, render);
  EnvPool original(cfg);
  original.reset(nullptr, nullptr);
  Rng act_rng(4);
  drive(original, 15, act_rng);  // mid-episode, warm start and counters non-trivial
  const std::vector<EnvSnapshot> snap = original.snapshot();
  const Rng::State act_state = act_rng.state();
  // 60 random-action steps end several Hopper/Walker episodes: the resets draw from the streams.
  const Outputs want = drive(original, 60, act_rng);
  int episodes = 0;
  for (uint8_t f : want.flags) episodes += f != 0;
  EXPECT_GT(episodes, 0) << "the continuation should cross an auto-reset";

  EnvPool resumed(cfg);
  const int n = resumed.num_envs();
  std::vector<float> obs(size_t(n) * resumed.obs_dim());
  std::vector<uint8_t> frames(render ? size_t(n) * 2 * 32 * 32 : 0);
  resumed.restore(snap, render ? frames.data() : nullptr, obs.data());
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(resumed.episode_lengths()[i], snap[size_t(i)].episode_length);
    EXPECT_EQ(resumed.env(i).elapsed_steps(), snap[size_t(i)].physics.elapsed_steps);
  }
  if (render) EXPECT_EQ(0, std::memcmp(frames.data(), snap[0].stack.data(), snap[0].stack.size()));
  act_rng.set_state(act_state);
  expect_same(drive(resumed, 60, act_rng), want);
}

TEST(EnvPoolState, PhysicsOnlyRestoreContinuesBitForBit) {
  check_restore(Task::Hopper, false);
  check_restore(Task::Walker2d, false);
}

TEST(EnvPoolState, RenderingRestoreContinuesBitForBit) {
  check_restore(Task::Hopper, true);
}

TEST(EnvPoolState, MismatchedSnapshotsAreRefused) {
  EnvPool pool(config(Task::Hopper, 2, false));
  EXPECT_THROW(pool.snapshot(), Error);  // before reset()
  pool.reset(nullptr, nullptr);
  std::vector<EnvSnapshot> snap = pool.snapshot();
  std::vector<EnvSnapshot> one(snap.begin(), snap.begin() + 1);
  EXPECT_THROW(pool.restore(one, nullptr, nullptr), Error);
  std::vector<EnvSnapshot> bad = snap;
  bad[1].physics.qpos.pop_back();
  try {
    pool.restore(bad, nullptr, nullptr);
    ADD_FAILURE() << "a short qpos should be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("qpos"), std::string::npos) << e.what();
  }
  EnvPool walker(config(Task::Walker2d, 2, false));
  EXPECT_THROW(walker.restore(snap, nullptr, nullptr), Error);  // Hopper state in a Walker pool
}

}  // namespace
