// An imitation run in a run folder (rank 0 writes it; the other learners only read):
// runs/<name>/config.json (the complete effective config, with "variant" for `relmimic plot`),
// progress.csv (one row per iteration: env returns, lengths and forward velocity of the training
// episodes, deterministic and stochastic evaluation returns, discriminator loss/accuracies/
// penalty/mean output on expert and agent windows/logit gradient norm at the penalty's
// interpolates, mean and std of the D reward, PPO statistics, phase times, steps/s),
// checkpoints/latest.h5 every run.checkpoint_every iterations, checkpoints/best.h5 whenever an
// evaluation beats the best deterministic evaluation mean so far (ImitationStats::new_best; the
// best value is in every checkpoint, so it survives --resume) and checkpoints/final.h5;
// --resume continues every learner from latest.h5 exactly (a best.h5 written after latest.h5 by
// a killed run is overwritten when the resumed run beats latest.h5's best).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "algos/imitate.h"
#include "algos/ppo_run.h"

namespace relmimic::algos {

// progress.csv's columns, in order; the timing columns come last (from "env_seconds" on).
const std::vector<std::string>& imitation_columns();

// <run_dir>/checkpoints/best.h5
std::string best_checkpoint(const std::string& run_dir);

// The config of a run folder's latest checkpoint (for --resume).
Config imitation_resume_config(const std::string& run_dir);

// The demonstrations of a run: a new run (resume false) records the file's SHA-256 in
// demos_sha256 and makes demos its absolute path; a resumed run refuses a file whose SHA-256
// differs from the recorded one (a run without a recorded hash records it now). train_imitation
// calls it; the config it saves (config.json, checkpoints) holds both.
void pin_demos(Config& cfg, bool resume);

struct ImitationResult {
  long iterations = 0, timesteps = 0;  // timesteps per learner
  bool finished = false;
  double train_return = 0, eval_return = 0;  // last logged (NaN when none yet)
  double wall_seconds = 0;
  std::string checkpoint;  // the last checkpoint written
};

// Trains until ppo.total_steps per learner (or o.stop_after iterations). Collective: every rank
// calls it with the same config and options. o.out: also write the final checkpoint there.
// on_start runs once the trainer is built (demonstrations validated) and resumed, before the
// first iteration.
ImitationResult train_imitation(const Config& cfg, const RunOptions& o, Comm& comm = Comm::world(),
                                const std::function<void(ImitationTrainer&)>& on_start = {});

}  // namespace relmimic::algos
