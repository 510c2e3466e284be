// Policy evaluation: roll a policy out for a number of whole episodes on a fresh env pool and
// collect returns and lengths (optionally the frames of the first episode). One loop serves
// `relmimic eval` (a checkpoint) and the periodic evaluation of a training run (its live network).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "algos/ppo.h"

namespace relmimic::algos {

struct EvalOptions {
  int episodes = 10;
  bool deterministic = false;       // mean action instead of a sample
  uint64_t seed = 1;                // env reset noise
  uint64_t action_stream = 0x5eed;  // action samples: Rng::derive(seed, action_stream)
  int num_envs = 8;                 // envs stepped together (episodes are split among them)
  int threads = 1;
  // > 0: render env 0's first episode from its track camera at this size, at about video_fps
  // frames per second of simulated time (the terminal state is lost to the auto-reset).
  int video_size = 0;
  int video_fps = 25;
};

struct EvalResult {
  std::vector<double> returns;  // in episode order per env, env 0 first
  std::vector<int> lengths;
  std::vector<uint8_t> video;  // [frames, size, size] gray
  int video_frames = 0;
  int video_delay_cs = 4;  // simulated time between video frames, centiseconds (GIF delay)
  double mean_return() const;
  double std_return() const;  // population std
};

// The episodes of an actor (a cpu network) on a pool of min(episodes, num_envs) envs made by
// pool_config from its settings: its env, time limit (env.max_episode_steps) and, for a pixel
// policy, its frame stacks. Env i plays its share of the episodes (the first episodes % n envs one
// more), so the split does not favour short episodes; actions as in act().
EvalResult evaluate(const Actor& actor, const EvalOptions& o);
// A checkpoint's policy, which must fit its env first (PpoPolicy::check_env).
EvalResult evaluate(PpoPolicy& policy, const EvalOptions& o);

}  // namespace relmimic::algos
