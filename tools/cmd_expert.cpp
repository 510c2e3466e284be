// `relmimic expert`: PPO on proprioceptive state for Hopper / Walker2d.
#include "tools/commands.h"
#include "tools/ppo_command.h"

namespace relmimic::cli {

int cmd_expert(int argc, char** argv) {
  return run_ppo_command(
      "expert",
      "trains an expert with PPO on proprioceptive state (MLP policy and value, observation and "
      "reward normalisation). Writes runs/<name>/config.json, progress.csv and checkpoints/.",
      algos::PpoPreset::expert, argc, argv);
}

}  // namespace relmimic::cli
