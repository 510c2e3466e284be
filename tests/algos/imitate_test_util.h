// Shared by the imitation tests (tests/algos, tests/mpi): tiny runs on 32x32 frames, k = 2, and
// demonstration files of random frames; imitation from states with demonstrations of the shipped
// Hopper expert.
#pragma once

#include <string>
#include <vector>

#include "algos/imitate.h"
#include "algos/record.h"
#include "engine/rng.h"
#include "env/demos.h"

namespace relmimic::testing {

// Random frames in the demonstration format: episodes of the given lengths (env steps).
inline void write_random_demos(const std::string& path, int size, const std::vector<int>& lengths,
                               const std::string& task = "hopper", uint64_t seed = 11) {
  env::DemoMeta meta;
  meta.env = task;
  meta.frame_height = meta.frame_width = size;
  meta.expert_sha256 = std::string(64, 'a');
  env::DemoWriter w(path, meta);
  Rng rng(seed);
  for (int len : lengths) {
    Tensor t = Tensor::zeros({len + 1, size, size}, DType::u8);
    for (long i = 0; i < t.numel(); ++i) t.data<uint8_t>()[i] = uint8_t(rng.below(256));
    w.add_episode(t, 100.0 + len, len);
  }
  w.commit();
}

// 2 envs x 32 steps per iteration, 32x32 frames, k = 2, a narrow discriminator, one PPO epoch
// of two minibatches, an evaluation of 2 episodes every iteration.
inline Config tiny_imitation(const std::string& demos, int iterations,
                             const std::string& variant = "rm-l-l") {
  Config c;
  algos::declare_imitation(c);
  c.apply_overrides({"variant=" + variant,
                     "demos=" + demos,
                     "env.num_envs=2",
                     "env.threads=1",
                     "ppo.rollout_steps=32",
                     "ppo.minibatch=32",
                     "ppo.epochs=1",
                     "net.frames=2",
                     "net.frame_size=32",
                     "imitate.disc_minibatch=32",
                     "disc.channels=4,8,8,8,8",
                     "disc.embed=2,2",
                     "disc.max_batch=64",
                     "run.threads=1",
                     "run.checkpoint_every=2",
                     "eval.every=1",
                     "eval.episodes=2",
                     "eval.envs=2",
                     "seed=3",
                     "ppo.total_steps=" + std::to_string(64 * iterations)});
  algos::apply_variant(c);
  return c;
}

// Observation-only demonstrations of an expert (e.g. the shipped experts/hopper.h5) acting with
// its mean: recorded without rendering in well under a second.
inline void record_state_demos(const std::string& path, const std::string& expert,
                               int episodes = 4) {
  algos::RecordOptions o;
  o.expert = expert;
  o.out = path;
  o.episodes = episodes;
  o.deterministic = true;
  o.frames = false;
  algos::record_demos(o);
}

// Imitation from states with the expert's PPO (8 envs x 128 steps, 10 epochs of 64) and a small
// discriminator schedule (2 updates of 128 + 128 windows per iteration, k = 2); an evaluation of
// 4 deterministic episodes after the last iteration.
inline Config state_imitation(const std::string& demos, int iterations) {
  Config c;
  algos::declare_imitation(c);
  c.apply_overrides({"imitate.obs=state",
                     "demos=" + demos,
                     "env.num_envs=8",
                     "ppo.rollout_steps=128",
                     "ppo.minibatch=64",
                     "ppo.epochs=10",
                     "net.frames=2",
                     "net.hidden=64",
                     "net.init_log_std=0",
                     "imitate.disc_minibatch=128",
                     "imitate.disc_updates=2",
                     "disc.hidden=256,256",
                     "disc.max_batch=128",
                     "run.threads=1",
                     "run.checkpoint_every=2",
                     "eval.every=" + std::to_string(iterations),
                     "eval.episodes=4",
                     "eval.envs=4",
                     "eval.modes=deterministic",
                     "seed=3",
                     "ppo.total_steps=" + std::to_string(1024 * iterations)});
  algos::apply_variant(c);
  return c;
}

}  // namespace relmimic::testing
