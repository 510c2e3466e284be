// PpoTrainer's rollout bookkeeping: bootstraps (next state's value inside an episode, the final
// observation's value on truncation), done flags from the time limit, and the iteration counters.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "algos/ppo.h"

namespace relmimic {
namespace {

TEST(PpoTrainer, TruncatedStepsBootstrapFromTheFinalObservation) {
  Config cfg;
  algos::declare_ppo(cfg, algos::PpoPreset::expert);
  // A 6-step time limit: random Hopper episodes rarely fall that fast, so most end truncated.
  cfg.apply_overrides({"env.num_envs=2", "env.max_episode_steps=6", "ppo.rollout_steps=32",
                       "ppo.minibatch=32", "ppo.epochs=1", "ppo.total_steps=640", "seed=2"});
  algos::PpoTrainer t(cfg);
  const algos::IterationStats st = t.iterate();
  EXPECT_EQ(st.iteration, 1);
  EXPECT_EQ(st.timesteps, 64);
  EXPECT_EQ(t.timesteps(), 64);
  const algos::Rollout& b = t.rollout();
  const std::vector<float> adv(b.advantages.data<float>(),
                               b.advantages.data<float>() + b.advantages.numel());
  const int N = 2, T = 32;
  int truncated = 0, inner = 0;
  for (int s = 0; s + 1 < T; ++s)
    for (int n = 0; n < N; ++n) {
      const size_t i = size_t(s) * N + n;
      if (b.host_terminated[i]) continue;  // no bootstrap
      if (b.host_truncated[i]) {
        // V(final observation), not V(reset observation) stored at the next row.
        EXPECT_NE(b.host_next_values[i], b.host_values[i + N]) << "step " << s << " env " << n;
        EXPECT_TRUE(std::isfinite(b.host_next_values[i]));
        ++truncated;
      } else {
        EXPECT_EQ(b.host_next_values[i], b.host_values[i + N]) << "step " << s << " env " << n;
        ++inner;
      }
    }
  EXPECT_GE(truncated, 4);
  EXPECT_GT(inner, 20);
  // Episodes end every 6 steps at the latest: 64 steps give at least 10 finished episodes.
  EXPECT_GE(st.episodes, 10);
  EXPECT_LE(st.mean_length, 6.0);
  // Advantages are standardized over the rollout.
  double m = 0, v = 0;
  for (float a : adv) m += a;
  m /= double(adv.size());
  for (float a : adv) v += (a - m) * (a - m);
  EXPECT_NEAR(m, 0.0, 1e-5);
  EXPECT_NEAR(v / double(adv.size()), 1.0, 1e-3);
}

}  // namespace
}  // namespace relmimic
