// Policy evaluation: roll a checkpoint's policy out for a number of whole episodes on a fresh
// env pool and collect returns and lengths (optionally the frames of the first episode).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "algos/ppo.h"

namespace relmimic::algos {

struct EvalOptions {
  int episodes = 10;
  bool deterministic = false;  // mean action instead of a sample
  uint64_t seed = 1;           // env reset noise and action sampling
  int num_envs = 8;            // envs stepped together (episodes are split among them)
  int threads = 1;
  // > 0: render env 0's first episode from its track camera at this size, one frame every
  // `video_every` steps (after reset and after each kept step; the terminal state is lost to
  // the auto-reset).
  int video_size = 0;
  int video_every = 1;
};

struct EvalResult {
  std::vector<double> returns;  // in episode order per env, env 0 first
  std::vector<int> lengths;
  std::vector<uint8_t> video;  // [frames, size, size] gray
  int video_frames = 0;
  double mean_return() const;
  double std_return() const;  // population std
};

EvalResult evaluate(PpoPolicy& policy, const EvalOptions& o);

}  // namespace relmimic::algos
