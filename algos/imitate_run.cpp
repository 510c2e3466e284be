#include "algos/imitate_run.h"

#include <omp.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "algos/logger.h"
#include "engine/checkpoint.h"
#include "engine/files.h"
#include "engine/json.h"
#include "engine/sha256.h"
#include "kernels/common.h"

namespace fs = std::filesystem;

namespace relmimic::algos {

std::string best_checkpoint(const std::string& run_dir) {
  return (fs::path(run_dir) / "checkpoints" / "best.h5").string();
}

const std::vector<std::string>& imitation_columns() {
  static const std::vector<std::string> cols = {"iteration",
                                                "timesteps",
                                                "total_timesteps",
                                                "episodes",
                                                "train_return",
                                                "train_length",
                                                "train_velocity",
                                                "eval_return",
                                                "eval_std",
                                                "eval_det_return",
                                                "eval_det_std",
                                                "eval_stoch_return",
                                                "eval_stoch_std",
                                                "eval_episodes",
                                                "best_eval_return",
                                                "disc_loss",
                                                "disc_expert_loss",
                                                "disc_agent_loss",
                                                "disc_penalty",
                                                "disc_expert_acc",
                                                "disc_agent_acc",
                                                "disc_expert_d",
                                                "disc_agent_d",
                                                "disc_grad_norm",
                                                "disc_logit_grad_norm",
                                                "disc_updates",
                                                "mean_reward",
                                                "reward_std",
                                                "policy_loss",
                                                "value_loss",
                                                "entropy",
                                                "approx_kl",
                                                "clip_fraction",
                                                "explained_variance",
                                                "lr",
                                                "env_seconds",
                                                "rollout_seconds",
                                                "reward_seconds",
                                                "disc_seconds",
                                                "update_seconds",
                                                "eval_seconds",
                                                "fps",
                                                "wall_seconds"};
  return cols;
}

Config imitation_resume_config(const std::string& run_dir) {
  const std::string path = latest_checkpoint(run_dir);
  check_resumable(path);
  CheckpointReader r(path);
  RM_CHECK(r.file().has_attr("/", "imitate_config"), path, ": not an imitation checkpoint");
  Config cfg;
  declare_imitation(cfg);
  cfg.load_json(json::parse(r.string("imitate_config"), path + ":imitate_config"),
                path + ":imitate_config");
  return cfg;
}

void pin_demos(Config& cfg, bool resume) {
  const std::string path = cfg.get<std::string>("demos");
  const std::string want = cfg.get<std::string>("demos_sha256");
  RM_CHECK(!path.empty(), "config demos: no demonstration file given (--demos)");
  if (!fs::exists(path)) {
    RM_CHECK(!resume, "cannot resume: the run's demonstrations ", path,
             " are missing (give their new place with --demos PATH)");
    RM_FAIL("demonstrations not found: '", path, "'");
  }
  const std::string have = sha256_file(path);
  if (resume && !want.empty())
    RM_CHECK(have == want, path, ": SHA-256 ", have.substr(0, 16), "... differs from the run's ",
             "demonstrations (", want.substr(0, 16),
             "...): give the file the run started with (--demos PATH)");
  cfg.set("demos", json::Value(fs::absolute(path).lexically_normal().string()), "demos path");
  cfg.set("demos_sha256", json::Value(have), "demos file");
}

ImitationResult train_imitation(const Config& run_cfg, const RunOptions& o, Comm& comm,
                                const std::function<void(ImitationTrainer&)>& on_start) {
  RM_CHECK(!o.run_dir.empty(), "train_imitation: no run folder");
  const fs::path dir(o.run_dir);
  const std::string latest = latest_checkpoint(o.run_dir);
  const std::string best = best_checkpoint(o.run_dir);
  const std::string csv = (dir / "progress.csv").string();
  // Every rank decides the same way (they all see the folder), so none waits alone.
  check_run_folder_free(o.run_dir, csv, latest, o.resume, o.overwrite);
  check_output_free(o.out, o.overwrite);
  if (o.resume) {
    const CheckpointReader r(latest);
    RM_CHECK(r.has_counter("learners") && r.counter("learners") == comm.size(), latest,
             ": the run had ", r.has_counter("learners") ? r.counter("learners") : 0,
             " learner(s), this one has ", comm.size(), " (resume with mpirun -np <learners>)");
  }

  Config cfg = run_cfg;
  pin_demos(cfg, o.resume);
  const ImitationSettings settings = imitation_settings(cfg);
  if (settings.ppo.threads > 0) omp_set_num_threads(settings.ppo.threads);
  ImitationTrainer trainer(cfg, comm);  // validates the demonstrations before any file is made
  const bool root = comm.is_root();
  double wall_before = 0;
  if (o.resume) {
    trainer.load(latest);
    CheckpointReader r(latest);
    if (r.file().has_attr("/", "wall_seconds"))
      wall_before = r.file().attr_double("/", "wall_seconds");
  }
  if (on_start) on_start(trainer);
  std::unique_ptr<CsvLog> log;
  std::unique_ptr<ProgressBar> bar;
  if (root) {
    if (o.overwrite) note_set_aside(o.run_dir, set_aside_run(o.run_dir));
    fs::create_directories(dir / "checkpoints");
    remove_stale_temps(o.run_dir);
    remove_stale_temps((dir / "checkpoints").string());
    // The effective config: a resumed run may have extended ppo.total_steps or found its
    // demonstrations in another place.
    json::write_file((dir / "config.json").string(), cfg.to_json());
    log = std::make_unique<CsvLog>(csv, imitation_columns(), o.resume ? trainer.iteration() : -1);
    if (o.progress)
      bar = std::make_unique<ProgressBar>(dir.filename().string(), settings.ppo.total_steps);
  }

  const auto start = std::chrono::steady_clock::now();
  auto wall = [&] {
    return wall_before +
           std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  ImitationResult res;
  res.checkpoint = o.resume ? latest : "";
  res.train_return = res.eval_return = NAN;
  const long learners = comm.size();
  long done_here = 0;
  while (!trainer.finished() && (o.stop_after <= 0 || done_here < o.stop_after)) {
    const ImitationStats st = checked_iteration([&] { return trainer.iterate(); },
                                                trainer.iteration() + 1, res.checkpoint, bar.get());
    ++done_here;
    const IterationStats& p = st.ppo;
    res.train_return = st.train_return;
    if (std::isfinite(st.eval_return)) res.eval_return = st.eval_return;
    if (log)
      log->row({double(p.iteration),
                double(p.timesteps),
                double(p.timesteps * learners),
                double(st.episodes),
                st.train_return,
                st.train_length,
                st.train_velocity,
                st.eval_return,
                st.eval_std,
                st.eval_det_return,
                st.eval_det_std,
                st.eval_stoch_return,
                st.eval_stoch_std,
                double(st.eval_total),
                std::isfinite(st.best_eval_return) ? st.best_eval_return : NAN,
                st.disc.loss,
                st.disc.expert_loss,
                st.disc.agent_loss,
                st.disc.penalty,
                st.disc.expert_accuracy,
                st.disc.agent_accuracy,
                st.disc.expert_d,
                st.disc.agent_d,
                st.disc.grad_norm,
                st.disc.logit_grad_norm,
                double(st.disc_updates),
                st.mean_reward,
                st.reward_std,
                p.policy_loss,
                p.value_loss,
                p.entropy,
                p.approx_kl,
                p.clip_fraction,
                p.explained_variance,
                p.lr,
                p.env_seconds,
                p.rollout_seconds,
                st.reward_seconds,
                st.disc_seconds,
                p.update_seconds,
                st.eval_seconds,
                st.fps,
                wall()});
    if (st.new_best) trainer.save(best, wall());  // collective: every rank knows new_best
    const bool last = trainer.finished() || (o.stop_after > 0 && done_here >= o.stop_after);
    if (last || p.iteration % settings.ppo.checkpoint_every == 0) {
      trainer.save(latest, wall());
      res.checkpoint = latest;
    }
    if (bar) {
      char buf[200];
      std::snprintf(buf, sizeof(buf),
                    "it %ld return %.1f eval %.1f D acc %.2f/%.2f reward %.3f fps %.0f",
                    p.iteration, st.train_return, res.eval_return, st.disc.expert_accuracy,
                    st.disc.agent_accuracy, st.mean_reward, st.fps);
      bar->update(p.timesteps, buf);
    }
  }
  const double seconds = wall();
  end_run(
      trainer, bar.get(), seconds, dir, o.out, root,
      [&](const std::string& path) { trainer.save(path, seconds); }, res);
  return res;
}

}  // namespace relmimic::algos
