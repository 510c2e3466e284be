// The flags `relmimic expert`, `rl` and `imitate` share: the run folder (--name, --runs, --resume,
// --force, --out, --stop-after), the config stack (--config, --set, --seed, --steps, --envs) and
// the output (--quiet, --print-config), with their checks, and the lines that end a run.
#pragma once

#include <string>
#include <vector>

#include "algos/ppo_run.h"
#include "engine/config.h"
#include "tools/cli.h"

namespace relmimic::cli {

struct RunFlags {
  std::string env_name = "hopper", name, runs = "runs", config_file, out;
  std::vector<std::string> sets;
  long steps = 0, seed = -1, stop_after = 0;
  int envs = 0;
  bool resume = false, force = false, quiet = false, print_config = false;

  // --name (name_help: the command's default name) and --runs.
  void add_folder(Args& a, const std::string& name_help);
  // --config and --set.
  void add_config(Args& a, const std::string& set_help);
  // --out, --stop-after, --resume, --force, --quiet and --print-config (out_help and resume_help
  // in the command's words).
  void add_control(Args& a, const std::string& out_help, const std::string& resume_help);
  // The usage error of the first bad value or combination among these flags; "" when none.
  std::string error() const;
  algos::RunOptions run_options(const std::string& run_dir) const;
};

// The usage error of a --resume whose flags would change the run's saved config (see
// changed_setting); "" when they leave it as it is.
std::string resume_error(const Config& saved, const Config& given,
                         const std::vector<std::string>& ignore = {});

// After a run's summary line: the last checkpoint, and the --out copy once the run finished.
void print_checkpoints(const std::string& checkpoint, bool finished, const std::string& out);

}  // namespace relmimic::cli
