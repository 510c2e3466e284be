// The one evaluation loop (algos/evaluate): a checkpoint (`relmimic eval`) and the live network of
// the trainer that wrote it (a run's periodic evaluation) play the same episodes, and every
// policy, pixel ones too, plays to its run's time limit.
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "algos/evaluate.h"
#include "algos/ppo.h"
#include "engine/checkpoint.h"
#include "tests/test_util.h"

namespace relmimic {
namespace {

Config state_config() {
  Config cfg;
  algos::declare_ppo(cfg, algos::PpoPreset::expert);
  cfg.apply_overrides({"env.num_envs=2", "env.max_episode_steps=40", "ppo.rollout_steps=32",
                       "ppo.minibatch=32", "ppo.epochs=1", "ppo.total_steps=640", "seed=3"});
  return cfg;
}

Config pixel_config(int max_episode_steps) {
  Config cfg;
  algos::declare_ppo(cfg, algos::PpoPreset::pixels);
  cfg.apply_overrides({"net.arch=nature", "net.frames=2", "net.frame_size=48", "env.num_envs=2",
                       "env.max_episode_steps=" + std::to_string(max_episode_steps),
                       "ppo.rollout_steps=32", "ppo.minibatch=32", "ppo.epochs=1",
                       "ppo.total_steps=640", "seed=3"});
  return cfg;
}

// One iteration of training (so the state normaliser has moved), then its checkpoint through
// PpoPolicy and the trainer's own network and normaliser: the same episodes, deterministic and
// sampled.
void expect_checkpoint_plays_like_its_trainer(const Config& cfg, const std::string& name) {
  algos::PpoTrainer t(cfg);
  t.iterate();
  const std::string path = testing::tmp_path(name + ".h5");
  {
    CheckpointWriter w(path);
    t.save(w);
    w.commit();
  }
  algos::EvalOptions o;
  o.episodes = 5;
  o.num_envs = 3;
  o.seed = 9;
  algos::PpoPolicy checkpoint(path, o.num_envs);
  const algos::Actor live{t.policy(), t.settings(), t.obs_rms()};
  std::vector<double> sampled;
  for (bool deterministic : {false, true}) {
    o.deterministic = deterministic;
    const algos::EvalResult a = algos::evaluate(checkpoint, o), b = algos::evaluate(live, o);
    ASSERT_EQ(a.returns.size(), 5u) << name;
    EXPECT_EQ(a.returns, b.returns) << name << (deterministic ? " deterministic" : " sampled");
    EXPECT_EQ(a.lengths, b.lengths) << name;
    if (!deterministic)
      sampled = a.returns;
    else
      EXPECT_NE(a.returns, sampled) << name << ": the sampled episodes are not the mean's";
  }
  std::remove(path.c_str());
}

TEST(Evaluate, ACheckpointPlaysLikeTheTrainerThatWroteIt) {
  expect_checkpoint_plays_like_its_trainer(state_config(), "eval_state");
  expect_checkpoint_plays_like_its_trainer(pixel_config(20), "eval_pixels");
}

// A pixel policy's episodes end at env.max_episode_steps, not at the task's default 1000 (random
// Hopper policies fall after about 20 steps, never within 5).
TEST(Evaluate, PixelEpisodesEndAtTheRunsTimeLimit) {
  algos::PpoTrainer t(pixel_config(5));
  algos::EvalOptions o;
  o.episodes = 3;
  o.num_envs = 2;
  for (bool deterministic : {false, true}) {
    o.deterministic = deterministic;
    const algos::EvalResult r = algos::evaluate(algos::Actor{t.policy(), t.settings()}, o);
    EXPECT_EQ(r.lengths, std::vector<int>(3, 5));
  }
}

}  // namespace
}  // namespace relmimic
