// Policy evaluation: roll a policy out for a number of whole episodes on a fresh env pool and
// collect returns and lengths (optionally the frames of the first episode). One loop serves
// `relmimic eval` (a checkpoint) and the periodic evaluation of a training run (its live network).
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "algos/ppo.h"
#include "engine/config.h"

namespace relmimic::h5 {
class File;
}  // namespace relmimic::h5

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

// The network an evaluation can run: net itself on the cpu, else a cpu copy of its current
// parameters and buffers kept in `copy` (evaluation renders to the host).
AgentNet<float>& cpu_policy(AgentNet<float>& net, std::unique_ptr<AgentNet<float>>& copy);

// ---------------------------------------------------------------------------------------------
// The periodic evaluation of a training run (imitate, rl, expert).

// eval.*: declared for every training run by declare_ppo.
struct EvalSettings {
  int every = 10, episodes = 10, window = 100, envs = 10;
  bool deterministic = true, stochastic = true;  // eval.modes
};
void declare_eval(Config& c);
// Reads and validates eval.* (messages name the key); eval.envs at most max_envs (the policy's
// largest batch).
EvalSettings eval_settings(const Config& c, int max_envs);

// Every eval.every iterations and at the last one: eval.episodes whole episodes per mode of
// eval.modes (deterministic: the policy's mean; stochastic: sampled actions; from the same
// initial states) on a fresh pool seeded by the iteration. Each mode's logged value is the mean
// and std of its last eval.window episodes; best() is the best deterministic evaluation mean so
// far (the stochastic one without that mode). Its state goes into the run's checkpoints.
class PeriodicEvaluation {
 public:
  struct Window {
    std::vector<double> returns;  // the last eval.window evaluation episodes
    long total = 0;               // evaluation episodes so far
  };
  struct Result {
    // eval_return/eval_std: the deterministic mode's when evaluated, else the stochastic one's;
    // NaN for a mode not in eval.modes.
    double ret = NAN, std = NAN, det_return = NAN, det_std = NAN, stoch_return = NAN,
           stoch_std = NAN;
    double now = NAN;  // this evaluation's mean of the mode best() follows
    double seconds = 0;
  };
  // run_seed: the run's seed (the pools' seeds derive from it and the iteration); action_stream:
  // the sampled actions' stream (EvalOptions::action_stream).
  PeriodicEvaluation(const EvalSettings& s, uint64_t run_seed, uint64_t action_stream);
  bool due(long iteration, long iterations) const;
  // Evaluates actor at this iteration; updates the windows and best().
  Result run(const Actor& actor, long iteration, int threads);
  double best() const { return best_; }
  void set_best(double b) { best_ = b; }
  long total() const { return (s_.deterministic ? det_ : stoch_).total; }
  // /eval/<mode> [n], /@eval_total_<mode>, /@eval_window_<mode> (mode deterministic or
  // stochastic), /@best_eval_return. A checkpoint without them (older runs) loads empty windows.
  void save(h5::File& f) const;
  void load(const h5::File& f);

 private:
  EvalSettings s_;
  uint64_t seed_, action_stream_;
  Window det_, stoch_;
  double best_ = -INFINITY;
};

}  // namespace relmimic::algos
