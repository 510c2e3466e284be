// A PPO run in a run folder: runs/<name>/config.json (the complete effective config),
// progress.csv (one row per iteration), checkpoints/latest.h5 every run.checkpoint_every
// iterations (atomic) and checkpoints/final.h5 at the end; --resume continues from latest.h5
// exactly as if the run had not stopped.
#pragma once

#include <cmath>
#include <string>

#include "algos/ppo.h"
#include "engine/config.h"

namespace relmimic::algos {

struct RunOptions {
  std::string run_dir;     // runs/<name>
  bool resume = false;     // continue from run_dir/checkpoints/latest.h5
  bool overwrite = false;  // start afresh in a run folder that already holds a run
  std::string out;         // also write the final checkpoint here (e.g. experts/hopper.h5)
  long stop_after = 0;     // > 0: checkpoint and return after this many iterations
  bool progress = true;    // progress bar on stderr
};

struct RunResult {
  long iterations = 0, timesteps = 0;
  bool finished = false;  // reached ppo.total_steps (false when stop_after ended it)
  double mean_return = 0, wall_seconds = 0;  // wall time of all segments of the run
  double eval_return = NAN;  // the last periodic evaluation's (eval.*; NaN when none yet)
  std::string checkpoint;    // the last checkpoint written
};

// The config of a run folder's checkpoint (for --resume): declared like a new run, then set
// from the checkpoint's JSON.
Config resume_config(const std::string& run_dir, PpoPreset preset);
std::string latest_checkpoint(const std::string& run_dir);

// Trains until ppo.total_steps (or stop_after). A non-finite loss or gradient stops the run with
// an error naming the iteration; the last checkpoint stays as it was.
RunResult train_ppo(const Config& cfg, const RunOptions& o);

}  // namespace relmimic::algos
