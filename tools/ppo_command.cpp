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
#include "tools/run_options.h"

namespace relmimic::cli {

int run_ppo_command(const char* command, const char* summary, algos::PpoPreset preset, int argc,
                    char** argv) {
  const bool pixels = preset == algos::PpoPreset::pixels;
  RunFlags f;
  std::string net = "local";
  int frames = 0;
  Args a(command, summary);
  a.add("--env", f.env_name, "hopper or walker2d");
  if (pixels) {
    a.add("--net", net, "agent network: nature, impala, local or nonlocal");
    a.add("--frames", frames,
          "frames k stacked per observation, 4 or 8 (0: the config's, 4; any other k: --set "
          "net.frames=k)");
  }
  f.add_folder(a, pixels ? "run name: runs/<name> (default <env>-rl-<net>-k<frames>)"
                         : "run name: runs/<name> (default <env>-expert)");
  f.add_config(a, "override one setting, key=value (e.g. ppo.lr=1e-4)");
  a.add("--steps", f.steps, "ppo.total_steps (0: the config's); may extend a resumed run");
  a.add("--seed", f.seed, "seed (-1: the config's)");
  a.add("--envs", f.envs, "env.num_envs (0: the config's)");
  f.add_control(a,
                "also write the final checkpoint here (e.g. experts/hopper.h5); an existing file "
                "is replaced only with --force",
                "continue runs/<name> from its latest checkpoint");
  if (!a.parse(argc, argv)) return a.exit_code();

  auto usage = [&](const std::string& m) { return usage_error(command, m); };
  if (const std::string e = f.error(); !e.empty()) return usage(e);
  if (frames != 0 && frames != 4 && frames != 8)
    return usage("--frames must be 4 or 8, got " + std::to_string(frames) +
                 " (any other k: --set net.frames=k)");
  if (f.name.empty())
    f.name = pixels ? f.env_name + "-rl-" + net + "-k" + std::to_string(frames ? frames : 4)
                    : f.env_name + "-expert";
  const std::string run_dir = (std::filesystem::path(f.runs) / f.name).string();

  Config cfg;
  if (f.resume) {
    cfg = algos::resume_config(run_dir, preset);
    // --env names the default run folder; it must be the run's env.
    if (a.given("--env") &&
        env::parse_task(f.env_name) != env::parse_task(cfg.get<std::string>("env.name"))) {
      std::fprintf(stderr, "relmimic %s: %s is a %s run, not %s\n", command, run_dir.c_str(),
                   cfg.get<std::string>("env.name").c_str(), f.env_name.c_str());
      return 2;
    }
    if (f.steps > 0) cfg.set("ppo.total_steps", json::Value(double(f.steps)), "--steps");
    // Settings given again must be the run's own: the same command plus --resume continues it.
    Config again = cfg;
    if (!f.config_file.empty()) again.load_file(f.config_file);
    if (a.given("--env"))
      again.set("env.name", json::Value(cfg.get<std::string>("env.name")), "--env");
    if (pixels && a.given("--net")) again.set("net.arch", json::Value(net), "--net");
    if (pixels && frames > 0) again.set("net.frames", json::Value(double(frames)), "--frames");
    if (f.seed >= 0) again.set("seed", json::Value(double(f.seed)), "--seed");
    if (f.envs > 0) again.set("env.num_envs", json::Value(double(f.envs)), "--envs");
    again.apply_overrides(f.sets);
    if (f.steps > 0) again.set("ppo.total_steps", json::Value(double(f.steps)), "--steps");
    if (const std::string e = resume_error(cfg, again); !e.empty()) return usage(e);
  } else {
    algos::declare_ppo(cfg, preset);
    if (!f.config_file.empty()) cfg.load_file(f.config_file);
    if (a.given("--env") || f.config_file.empty())
      cfg.set("env.name", json::Value(f.env_name), "--env");
    if (pixels) {
      if (a.given("--net") || f.config_file.empty()) cfg.set("net.arch", json::Value(net), "--net");
      if (frames > 0) cfg.set("net.frames", json::Value(double(frames)), "--frames");
    }
    if (f.seed >= 0) cfg.set("seed", json::Value(double(f.seed)), "--seed");
    if (f.envs > 0) cfg.set("env.num_envs", json::Value(double(f.envs)), "--envs");
    cfg.apply_overrides(f.sets);
  }
  if (f.steps > 0) cfg.set("ppo.total_steps", json::Value(double(f.steps)), "--steps");
  const algos::PpoSettings s = algos::ppo_settings(cfg);  // validates before any file is made
  if (f.print_config) {
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

  std::fprintf(stderr, "relmimic %s: %s %s, %ld steps in %ld iterations of %d x %d, run %s%s\n",
               command, env::task_name(s.task), arch_name(s.arch), s.total_steps, s.iterations(),
               s.rollout_steps, s.num_envs, run_dir.c_str(), f.resume ? " (resumed)" : "");
  const algos::RunResult r = algos::train_ppo(cfg, f.run_options(run_dir));
  std::printf("%s: %ld iterations, %ld steps, mean return %.1f (last %d episodes), %s wall%s\n",
              run_dir.c_str(), r.iterations, r.timesteps, r.mean_return, s.log_window,
              algos::human_duration(r.wall_seconds).c_str(), r.finished ? "" : " (stopped)");
  print_checkpoints(r.checkpoint, r.finished, f.out);
  return 0;
}

}  // namespace relmimic::cli
