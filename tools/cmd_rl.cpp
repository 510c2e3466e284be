// `relmimic rl`: PPO from pixels with the env reward (the architecture comparison).
#include "tools/commands.h"
#include "tools/ppo_command.h"

namespace relmimic::cli {

int cmd_rl(int argc, char** argv) {
  return run_ppo_command(
      "rl",
      "trains a pixel agent with PPO on the env reward (stacked grayscale frames; the "
      "architecture comparison of the paper's Figure 5). Same run folder as `expert`.",
      algos::PpoPreset::pixels, argc, argv);
}

}  // namespace relmimic::cli
