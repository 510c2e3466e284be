#include "tools/ppo_command.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "algos/logger.h"
#include "algos/ppo_run.h"
#include "kernels/common.h"
#include "tools/cli.h"

namespace relmimic::cli {

int run_ppo_command(const char* command, const char* summary, algos::PpoPreset preset, int argc,
                    char** argv) {
  const bool pixels = preset == algos::PpoPreset::pixels;
  std::string env_name = "hopper", name, runs = "runs", config_file, out, net = "local";
  std::vector<std::string> sets;
  long steps = 0, seed = -1, stop_after = 0;
  int envs = 0, frames = 0;
  bool resume = false, force = false, quiet = false, print_config = false;
  Args a(command, summary);
  a.add("--env", env_name, "hopper or walker2d");
  if (pixels) {
    a.add("--net", net, "agent network: nature, impala, local or nonlocal");
    a.add("--frames", frames,
          "frames k stacked per observation, 4 or 8 (0: the config's, 4; any other k: --set "
          "net.frames=k)");
  }
  a.add("--name", name,
        pixels ? "run name: runs/<name> (default <env>-rl-<net>-k<frames>)"
               : "run name: runs/<name> (default <env>-expert)");
  a.add("--runs", runs, "folder holding the run folders");
  a.add("--config", config_file, "JSON file of settings (see --print-config for every key)");
  a.add("--set", sets, "override one setting, key=value (e.g. ppo.lr=1e-4)");
  a.add("--steps", steps, "ppo.total_steps (0: the config's); may extend a resumed run");
  a.add("--seed", seed, "seed (-1: the config's)");
  a.add("--envs", envs, "env.num_envs (0: the config's)");
  a.add("--out", out,
        "also write the final checkpoint here (e.g. experts/hopper.h5); an existing file is "
        "replaced only with --force");
  a.add("--stop-after", stop_after, "checkpoint and stop after this many iterations (0: run on)");
  a.flag("--resume", resume, "continue runs/<name> from its latest checkpoint");
  a.flag("--force", force,
         "start afresh even if runs/<name> holds a run (its files are moved into "
         "runs/<name>/previous-<date>-<time>/), and replace an existing --out file");
  a.flag("--quiet", quiet, "no progress bar");
  a.flag("--print-config", print_config, "print the effective config as JSON and exit");
  if (!a.parse(argc, argv)) return a.exit_code();

  auto given = [&](const char* flag) {
    return std::find(a.given().begin(), a.given().end(), flag) != a.given().end();
  };
  auto usage = [&](const std::string& m) {
    std::fprintf(stderr, "relmimic %s: %s (see relmimic %s --help)\n", command, m.c_str(), command);
    return 2;
  };
  if (resume && force)
    return usage("--resume continues a run, --force replaces it: give one of them");
  if (steps < 0) return usage("--steps must be > 0 (or 0: the config's)");
  if (envs < 0) return usage("--envs must be > 0 (or 0: the config's)");
  if (seed < -1) return usage("--seed must be >= 0 (or -1: the config's)");
  if (stop_after < 0) return usage("--stop-after must be >= 0");
  if (frames != 0 && frames != 4 && frames != 8)
    return usage("--frames must be 4 or 8, got " + std::to_string(frames) +
                 " (any other k: --set net.frames=k)");
  if (name.empty())
    name = pixels ? env_name + "-rl-" + net + "-k" + std::to_string(frames ? frames : 4)
                  : env_name + "-expert";
  const std::string run_dir = (std::filesystem::path(runs) / name).string();

  Config cfg;
  if (resume) {
    cfg = algos::resume_config(run_dir, preset);
    // --env names the default run folder; it must be the run's env.
    if (given("--env") &&
        env::parse_task(env_name) != env::parse_task(cfg.get<std::string>("env.name"))) {
      std::fprintf(stderr, "relmimic %s: %s is a %s run, not %s\n", command, run_dir.c_str(),
                   cfg.get<std::string>("env.name").c_str(), env_name.c_str());
      return 2;
    }
    if (steps > 0) cfg.set("ppo.total_steps", json::Value(double(steps)), "--steps");
    // Settings given again must be the run's own: the same command plus --resume continues it.
    Config again = cfg;
    if (!config_file.empty()) again.load_file(config_file);
    if (pixels && given("--net")) again.set("net.arch", json::Value(net), "--net");
    if (pixels && frames > 0) again.set("net.frames", json::Value(double(frames)), "--frames");
    if (seed >= 0) again.set("seed", json::Value(double(seed)), "--seed");
    if (envs > 0) again.set("env.num_envs", json::Value(double(envs)), "--envs");
    again.apply_overrides(sets);
    if (steps > 0) again.set("ppo.total_steps", json::Value(double(steps)), "--steps");
    const std::string changed = changed_setting(cfg, again);
    if (!changed.empty())
      return usage(
          "--resume continues with the run's saved config, which this command would "
          "change: " +
          changed);
  } else {
    algos::declare_ppo(cfg, preset);
    if (!config_file.empty()) cfg.load_file(config_file);
    if (given("--env") || config_file.empty()) cfg.set("env.name", json::Value(env_name), "--env");
    if (pixels) {
      if (given("--net") || config_file.empty()) cfg.set("net.arch", json::Value(net), "--net");
      if (frames > 0) cfg.set("net.frames", json::Value(double(frames)), "--frames");
    }
    if (seed >= 0) cfg.set("seed", json::Value(double(seed)), "--seed");
    if (envs > 0) cfg.set("env.num_envs", json::Value(double(envs)), "--envs");
    cfg.apply_overrides(sets);
  }
  if (steps > 0) cfg.set("ppo.total_steps", json::Value(double(steps)), "--steps");
  const algos::PpoSettings s = algos::ppo_settings(cfg);  // validates before any file is made
  if (print_config) {
    std::printf("%s\n", cfg.dump().c_str());
    return 0;
  }
  if (pixels && !s.pixels()) {
    std::fprintf(stderr, "relmimic %s: net.arch must be an image network, got mlp\n", command);
    return 2;
  }
  if (!pixels && s.pixels()) {
    std::fprintf(stderr, "relmimic %s: experts learn from state (net.arch=mlp), got %s\n", command,
                 arch_name(s.arch));
    return 2;
  }

  algos::RunOptions o;
  o.run_dir = run_dir;
  o.resume = resume;
  o.overwrite = force;
  o.out = out;
  o.stop_after = stop_after;
  o.progress = !quiet;
  std::fprintf(stderr, "relmimic %s: %s %s, %ld steps in %ld iterations of %d x %d, run %s%s\n",
               command, env::task_name(s.task), arch_name(s.arch), s.total_steps, s.iterations(),
               s.rollout_steps, s.num_envs, run_dir.c_str(), resume ? " (resumed)" : "");
  const algos::RunResult r = algos::train_ppo(cfg, o);
  std::printf("%s: %ld iterations, %ld steps, mean return %.1f (last %d episodes), %s wall%s\n",
              run_dir.c_str(), r.iterations, r.timesteps, r.mean_return, s.log_window,
              algos::human_duration(r.wall_seconds).c_str(), r.finished ? "" : " (stopped)");
  std::printf("checkpoint: %s\n", r.checkpoint.c_str());
  if (r.finished && !out.empty()) std::printf("wrote %s\n", out.c_str());
  return 0;
}

}  // namespace relmimic::cli
