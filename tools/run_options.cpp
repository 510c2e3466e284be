#include "tools/run_options.h"

#include <cstdio>

namespace relmimic::cli {

void RunFlags::add_folder(Args& a, const std::string& name_help) {
  a.add("--name", name, name_help);
  a.add("--runs", runs, "folder holding the run folders");
}

void RunFlags::add_config(Args& a, const std::string& set_help) {
  a.add("--config", config_file, "JSON file of settings (see --print-config for every key)");
  a.add("--set", sets, set_help);
}

void RunFlags::add_control(Args& a, const std::string& out_help, const std::string& resume_help) {
  a.add("--out", out, out_help);
  a.add("--stop-after", stop_after, "checkpoint and stop after this many iterations (0: run on)");
  a.flag("--resume", resume, resume_help);
  a.flag("--force", force,
         "start afresh even if runs/<name> holds a run (its files are moved into "
         "runs/<name>/previous-<date>-<time>/), and replace an existing --out file");
  a.flag("--quiet", quiet, "no progress bar");
  a.flag("--print-config", print_config, "print the effective config as JSON and exit");
}

std::string RunFlags::error() const {
  if (resume && force) return "--resume continues a run, --force replaces it: give one of them";
  if (steps < 0) return "--steps must be > 0 (or 0: the config's)";
  if (envs < 0) return "--envs must be > 0 (or 0: the config's)";
  if (seed < -1) return "--seed must be >= 0 (or -1: the config's)";
  if (stop_after < 0) return "--stop-after must be >= 0";
  return "";
}

algos::RunOptions RunFlags::run_options(const std::string& run_dir) const {
  return {.run_dir = run_dir,
          .resume = resume,
          .overwrite = force,
          .out = out,
          .stop_after = stop_after,
          .progress = !quiet};
}

std::string resume_error(const Config& saved, const Config& given,
                         const std::vector<std::string>& ignore) {
  const std::string changed = changed_setting(saved, given, ignore);
  if (changed.empty()) return "";
  return "--resume continues with the run's saved config, which this command would change: " +
         changed;
}

void print_checkpoints(const std::string& checkpoint, bool finished, const std::string& out) {
  std::printf("checkpoint: %s\n", checkpoint.c_str());
  if (finished && !out.empty()) std::printf("wrote %s\n", out.c_str());
}

}  // namespace relmimic::cli
