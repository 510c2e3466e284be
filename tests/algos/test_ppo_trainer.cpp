// PpoTrainer's rollout bookkeeping: bootstraps (next state's value inside an episode, the final
// observation's value on truncation), done flags from the time limit, and the iteration counters.
#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <string>
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

// The policy's and value's parameters after `iterations` iterations of a small pixel agent on
// `threads` OpenMP threads.
std::vector<float> pixel_parameters(bool overlap, int threads, int iterations) {
  Config cfg;
  algos::declare_ppo(cfg, algos::PpoPreset::pixels);
  cfg.apply_overrides({"env.num_envs=2", "ppo.rollout_steps=16", "ppo.minibatch=16", "ppo.epochs=2",
                       "ppo.total_steps=64", "net.frames=2", "net.frame_size=32", "seed=5",
                       std::string("run.overlap=") + (overlap ? "true" : "false")});
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  algos::PpoTrainer t(cfg);
  for (int i = 0; i < iterations; ++i) t.iterate();
  omp_set_num_threads(saved);
  std::vector<float> p;
  for (AgentNet<float>* net : {&t.policy(), &t.value()})
    p.insert(p.end(), net->parameters().values(),
             net->parameters().values() + net->parameters().size());
  return p;
}

TEST(PpoTrainer, OverlappedPolicyAndValueGradientsAreReproducibleAndMatchSequentialOnes) {
  // On 2 threads the policy's and the value's minibatch gradients run at the same time, one
  // thread each (run.overlap, kernels/overlap.h): the same seed gives the same bits, and the
  // same training as one after the other up to float rounding (the kernels split work by
  // thread count).
  const std::vector<float> a = pixel_parameters(true, 2, 2);
  const std::vector<float> b = pixel_parameters(true, 2, 2);
  const std::vector<float> seq = pixel_parameters(false, 2, 2);
  const std::vector<float> one = pixel_parameters(false, 1, 2);
  ASSERT_EQ(a.size(), seq.size());
  EXPECT_EQ(a, b);
  // The networks really ran on one thread each: their rounding differs from the 2-thread run's.
  EXPECT_NE(a, seq);
  auto worst = [&](const std::vector<float>& ref) {
    double w = 0;
    for (size_t i = 0; i < a.size(); ++i)
      w = std::max(w, double(std::fabs(a[i] - ref[i])) / (1e-3 + std::fabs(ref[i])));
    return w;
  };
  EXPECT_LT(worst(seq), 1e-2);
  EXPECT_LT(worst(one), 1e-2);
}

// One rollout of a small pixel agent (3 envs: halves of 1 and 2, a 5-step time limit so that
// episodes end and bootstrap inside it), with or without env.pipeline, on `threads` threads.
struct PixelRollout {
  std::vector<uint8_t> obs, terminated, truncated;
  std::vector<float> actions, logp, values, rewards, next_values;
  long final_rows = 0;
  int episodes = 0;
  bool pipelined = false;
};
PixelRollout pixel_rollout(bool pipeline, int threads) {
  Config cfg;
  algos::declare_ppo(cfg, algos::PpoPreset::pixels);
  cfg.apply_overrides({"env.num_envs=3", "env.max_episode_steps=5", "ppo.rollout_steps=12",
                       "ppo.minibatch=12", "ppo.epochs=1", "ppo.total_steps=72", "net.frames=2",
                       "net.frame_size=32", "seed=3",
                       std::string("env.pipeline=") + (pipeline ? "on" : "off")});
  const int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  algos::PpoTrainer t(cfg);
  const algos::IterationStats st = t.collect();
  omp_set_num_threads(saved);
  const algos::Rollout& r = t.rollout();
  PixelRollout o;
  o.final_rows = r.final_rows;
  const long rows = (12 + 1) * 3 + r.final_rows;
  o.obs.assign(static_cast<const uint8_t*>(r.obs.raw()),
               static_cast<const uint8_t*>(r.obs.raw()) + rows * r.obs_bytes);
  auto floats = [](const Tensor& x) {
    return std::vector<float>(x.data<float>(), x.data<float>() + x.numel());
  };
  o.actions = floats(r.actions);
  o.logp = floats(r.logp);
  o.values = floats(r.values);
  o.rewards = r.host_rewards;
  o.next_values = r.host_next_values;
  o.terminated = r.host_terminated;
  o.truncated = r.host_truncated;
  o.episodes = st.episodes;
  o.pipelined = t.pipelined();
  return o;
}

void expect_same_rollout(const PixelRollout& x, const PixelRollout& y, const char* what) {
  EXPECT_EQ(x.obs, y.obs) << what;
  EXPECT_EQ(x.actions, y.actions) << what;
  EXPECT_EQ(x.logp, y.logp) << what;
  EXPECT_EQ(x.values, y.values) << what;
  EXPECT_EQ(x.next_values, y.next_values) << what;
  EXPECT_EQ(x.rewards, y.rewards) << what;
  EXPECT_EQ(x.terminated, y.terminated) << what;
  EXPECT_EQ(x.truncated, y.truncated) << what;
  EXPECT_EQ(x.final_rows, y.final_rows) << what;
}

double worst_difference(const std::vector<float>& x, const std::vector<float>& y) {
  EXPECT_EQ(x.size(), y.size());
  double w = 0;
  for (size_t i = 0; i < std::min(x.size(), y.size()); ++i)
    w = std::max(w, double(std::fabs(x[i] - y[i])) / (1e-3 + std::fabs(y[i])));
  return w;
}

TEST(PpoTrainer, PipelinedRolloutIsReproducibleAndAgreesWithThePlainOne) {
  // env.pipeline: the envs step in two halves, each while the policy acts on the other half on
  // the learner's thread alone. The same seed gives the same bits on 1 or 2 threads (the
  // networks run on one thread either way), and the plain rollout up to the networks' float
  // rounding on half the batch: the noise is drawn in the same order and the envs step the same
  // actions (with oneDNN's convolutions the bits are the same; OpenBLAS's GEMMs of a build
  // without it pick kernels by size).
  const PixelRollout a = pixel_rollout(true, 2), b = pixel_rollout(true, 2);
  const PixelRollout one = pixel_rollout(true, 1), plain = pixel_rollout(false, 2);
  EXPECT_TRUE(a.pipelined);
  EXPECT_FALSE(plain.pipelined);
  EXPECT_GE(a.episodes, 3);  // 36 steps of 3 envs with a 5-step limit
  EXPECT_GT(a.final_rows, 0);
  expect_same_rollout(a, b, "two pipelined runs");
  expect_same_rollout(a, one, "pipelined on 2 threads vs 1");
  // Episodes end by the time limit here, so the same steps end them.
  EXPECT_EQ(a.terminated, plain.terminated);
  EXPECT_EQ(a.truncated, plain.truncated);
  EXPECT_EQ(a.final_rows, plain.final_rows);
  EXPECT_LT(worst_difference(a.actions, plain.actions), 1e-4);
  EXPECT_LT(worst_difference(a.logp, plain.logp), 1e-4);
  EXPECT_LT(worst_difference(a.values, plain.values), 1e-4);
  EXPECT_LT(worst_difference(a.next_values, plain.next_values), 1e-4);
  ASSERT_EQ(a.obs.size(), plain.obs.size());
  size_t pixels_differ = 0;
  for (size_t i = 0; i < a.obs.size(); ++i) pixels_differ += a.obs[i] != plain.obs[i];
  EXPECT_LT(pixels_differ, a.obs.size() / 1000) << "frames of the same actions up to rounding";
}

TEST(PpoTrainer, PipelineAutoLeavesOutTheNonLocalTorsoOnLargeFrames) {
  auto pipelined = [](const std::string& arch, int frame_size, const std::string& pipeline) {
    Config cfg;
    algos::declare_ppo(cfg, algos::PpoPreset::pixels);
    cfg.apply_overrides({"env.num_envs=2", "ppo.rollout_steps=4", "ppo.minibatch=8", "net.frames=2",
                         "net.arch=" + arch, "net.frame_size=" + std::to_string(frame_size),
                         "env.pipeline=" + pipeline});
    return algos::PpoTrainer(cfg).pipelined();
  };
  EXPECT_TRUE(pipelined("nonlocal", 48, "auto"));
  EXPECT_TRUE(pipelined("local", 84, "auto"));
  EXPECT_FALSE(pipelined("nonlocal", 84, "auto"));
  EXPECT_TRUE(pipelined("nonlocal", 84, "on"));
  EXPECT_FALSE(pipelined("local", 48, "off"));
}

}  // namespace
}  // namespace relmimic
