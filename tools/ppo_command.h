// What `relmimic expert` and `relmimic rl` share: run-folder flags, the config stack
// (preset defaults < --config file < dedicated flags < --set key=value), resume and reporting.
#pragma once

#include "algos/ppo.h"

namespace relmimic::cli {

int run_ppo_command(const char* command, const char* summary, algos::PpoPreset preset, int argc,
                    char** argv);

}  // namespace relmimic::cli
