// `relmimic imitate`: Relational Mimic / the GAIfO baseline from video demonstrations
// (Algorithm 1), or the same loop from proprioceptive observations (--obs state). Config stack:
// defaults < --config file < dedicated flags < key=value overrides; the variant then decides the
// networks. Under mpirun each rank is one learner; rank 0 prints, logs and writes the run folder.
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "algos/imitate_run.h"
#include "algos/logger.h"
#include "engine/comm.h"
#include "kernels/common.h"
#include "tools/cli.h"
#include "tools/commands.h"
#include "tools/run_options.h"

namespace relmimic::cli {

int cmd_imitate(int argc, char** argv) {
  RunFlags f;
  std::string demos, variant = "rm-l-l", obs;
  std::vector<std::string> positional;
  int frames = 0;
  Args a("imitate",
         "imitates an expert's videos: PPO from pixels on the reward of a discriminator trained "
         "against the demonstrations (Relational Mimic, Algorithm 1; no env reward is used, it is "
         "logged). Run under `mpirun -np L` for L learners with averaged gradients. Writes "
         "runs/<name>/config.json, progress.csv and checkpoints/.");
  a.positional("key=value", positional, "setting overrides, like --set (e.g. ppo.epochs=4)");
  a.add("--env", f.env_name, "hopper or walker2d");
  a.add("--demos", demos,
        "HDF5 video demonstrations of the env (relmimic record); with --resume: where the run's "
        "demonstrations are now (their SHA-256 must match)");
  a.add("--variant", variant,
        "baseline | rm-l-l | rm-l-nl | rm-nl-nl (relational reward / policy / value)");
  a.add("--obs", obs,
        "frames | state: imitate the rendered frames or the env's observation vectors (state: "
        "mlp networks, demonstrations with observations; e.g. --config configs/hopper-state.json)"
        " (empty: the config's, frames)");
  a.add("--frames", frames,
        "frames k stacked per state, 4 or 8 (0: the config's, 4; any other k: net.frames=k); with "
        "--obs state: observations per window, any k >= 2");
  a.add("--seed", f.seed, "seed (-1: the config's, 0); learner r uses seed + 1e6 (r + 1)");
  a.add("--steps", f.steps,
        "env steps per learner, ppo.total_steps (0: the config's); may extend a "
        "resumed run");
  a.add("--envs", f.envs, "env.num_envs per learner (0: the config's)");
  f.add_config(a, "override one setting, key=value");
  f.add_folder(a,
               "run name: runs/<name> (default <env>-<variant>-k<frames>-s<seed>; from states "
               "<env>-state-k<frames>-s<seed>)");
  f.add_control(a,
                "also write the final checkpoint here; an existing file is replaced only with "
                "--force",
                "continue runs/<name> from its latest checkpoint, every learner");
  if (!a.parse(argc, argv)) return a.exit_code();

  Comm& comm = Comm::world();
  const bool root = comm.is_root();
  auto usage = [&](const std::string& m) { return root ? usage_error("imitate", m) : 2; };
  if (const std::string e = f.error(); !e.empty()) return usage(e);
  if (obs == "state") {
    if (frames != 0 && frames < 2)
      return usage("--frames with --obs state must be >= 2 observations per window, got " +
                   std::to_string(frames));
  } else if (frames != 0 && frames != 4 && frames != 8) {
    return usage("--frames must be 4 or 8, got " + std::to_string(frames) +
                 " (any other k: net.frames=k; with --obs state any k >= 2)");
  }
  for (const std::string& p : positional)
    if (p.find('=') == std::string::npos)
      return usage("unexpected argument '" + p + "' (settings are key=value)");
  f.sets.insert(f.sets.end(), positional.begin(), positional.end());
  for (const std::string& s : f.sets)
    for (const std::string& k : algos::variant_keys())
      if (s.rfind(k + "=", 0) == 0)
        return usage(k +
                     " is decided by the variant (or --obs) and net.frames/net.frame_size; "
                     "choose --variant or --obs instead");

  if (!obs.empty() && obs != "frames" && obs != "state")
    return usage("--obs must be frames or state, got '" + obs + "'");
  // The flags every config of this command takes over (a new run's and a resumed one's check).
  auto apply_flags = [&](Config& c) {
    if (!obs.empty()) c.set("imitate.obs", json::Value(obs), "--obs");
    if (frames > 0) c.set("net.frames", json::Value(frames), "--frames");
    if (f.seed >= 0) c.set("seed", json::Value(f.seed), "--seed");
    if (f.envs > 0) c.set("env.num_envs", json::Value(f.envs), "--envs");
    c.apply_overrides(f.sets);
    algos::apply_variant(c);
  };
  // The settings these flags make (with --config) for a new run.
  auto fresh_config = [&] {
    Config cfg;
    algos::declare_imitation(cfg);
    if (!f.config_file.empty()) cfg.load_file(f.config_file);
    if (a.given("--env") || f.config_file.empty())
      cfg.set("env.name", json::Value(f.env_name), "--env");
    if (a.given("--variant") || f.config_file.empty())
      cfg.set("variant", json::Value(variant), "--variant");
    if (!demos.empty()) cfg.set("demos", json::Value(demos), "--demos");
    apply_flags(cfg);
    return cfg;
  };
  // Default name <env>-<variant, or "state">[-dstate]-k<frames>-s<seed> from those settings
  // (-dstate: imitate.disc_obs=state beside a pixel policy), so the same command plus --resume
  // finds the run.
  if (f.name.empty()) {
    const Config c = fresh_config();
    const bool states = c.get<std::string>("imitate.obs") == "state";
    const bool disc_states = !states && c.get<std::string>("imitate.disc_obs") == "state";
    f.name = c.get<std::string>("env.name") + "-" +
             (states ? std::string("state") : c.get<std::string>("variant")) +
             (disc_states ? "-dstate" : "") + "-k" + std::to_string(c.get<long>("net.frames")) +
             "-s" + std::to_string(c.get<long>("seed"));
  }
  const std::string run_dir = (std::filesystem::path(f.runs) / f.name).string();

  Config cfg;
  if (f.resume) {
    cfg = algos::imitation_resume_config(run_dir);
    if (f.steps > 0) cfg.set("ppo.total_steps", json::Value(f.steps), "--steps");
    // Settings given again must be the run's own, so the same command plus --resume continues
    // it; the demonstrations are checked by their SHA-256 instead.
    Config again = cfg;
    if (!f.config_file.empty()) again.load_file(f.config_file);
    if (a.given("--env")) again.set("env.name", json::Value(f.env_name), "--env");
    if (a.given("--variant")) again.set("variant", json::Value(variant), "--variant");
    apply_flags(again);
    if (f.steps > 0) again.set("ppo.total_steps", json::Value(f.steps), "--steps");
    if (const std::string e = resume_error(cfg, again, {"demos", "demos_sha256"}); !e.empty())
      return usage(e);
    // The same demonstrations in another place (checked against the run's SHA-256).
    if (!demos.empty()) cfg.set("demos", json::Value(demos), "--demos");
  } else {
    cfg = fresh_config();
  }
  if (f.steps > 0) cfg.set("ppo.total_steps", json::Value(f.steps), "--steps");
  if (f.print_config) {  // also without --demos, to show every key
    if (root) std::printf("%s\n", cfg.dump().c_str());
    return 0;
  }
  const algos::ImitationSettings s = algos::imitation_settings(cfg);  // before any file is made

  const std::string what = s.states        ? std::string("from states")
                           : s.disc_states ? std::string(algos::variant_name(s.variant)) +
                                                 " policy and value, D on states"
                                           : std::string(algos::variant_name(s.variant));
  // Printed once the demonstrations are validated, so a refused run says one line only.
  auto started = [&](algos::ImitationTrainer&) {
    if (!root) return;
    std::fprintf(stderr,
                 "relmimic imitate: %s %s (k=%d), %d learner(s), %ld steps per learner in %ld "
                 "iterations of %d x %d, demos %s, run %s%s\n",
                 env::task_name(s.ppo.task), what.c_str(), s.ppo.frames, comm.size(),
                 s.ppo.total_steps, s.ppo.iterations(), s.ppo.rollout_steps, s.ppo.num_envs,
                 s.demos.c_str(), run_dir.c_str(), f.resume ? " (resumed)" : "");
  };
  const algos::ImitationResult r =
      algos::train_imitation(cfg, f.run_options(run_dir), comm, started);
  if (root) {
    std::printf(
        "%s: %ld iterations, %ld steps per learner, train return %.1f, eval return %.1f, "
        "%s wall%s\n",
        run_dir.c_str(), r.iterations, r.timesteps, r.train_return, r.eval_return,
        algos::human_duration(r.wall_seconds).c_str(), r.finished ? "" : " (stopped)");
    print_checkpoints(r.checkpoint, r.finished, f.out);
  }
  return 0;
}

}  // namespace relmimic::cli
