#include "algos/ppo_run.h"

#include <omp.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>

#include "algos/evaluate.h"
#include "algos/logger.h"
#include "engine/checkpoint.h"
#include "engine/device_ops.h"
#include "engine/files.h"
#include "engine/json.h"
#include "kernels/common.h"

namespace fs = std::filesystem;

namespace relmimic::algos {

namespace {

const std::vector<std::string> kColumns = {"iteration",
                                           "timesteps",
                                           "episodes",
                                           "mean_return",
                                           "std_return",
                                           "mean_length",
                                           "policy_loss",
                                           "value_loss",
                                           "entropy",
                                           "approx_kl",
                                           "clip_fraction",
                                           "value_clip_fraction",
                                           "explained_variance",
                                           "policy_grad_norm",
                                           "value_grad_norm",
                                           "lr",
                                           "epochs",
                                           "eval_return",
                                           "eval_std",
                                           "eval_det_return",
                                           "eval_stoch_return",
                                           "eval_episodes",
                                           "best_eval_return",
                                           "eval_seconds",
                                           "fps",
                                           "wall_seconds"};

void write_checkpoint(const PpoTrainer& t, const PeriodicEvaluation& e, const std::string& path,
                      double wall_seconds) {
  CheckpointWriter w(path);
  t.save(w);
  e.save(w.file());
  w.file().set_attr("/", "wall_seconds", wall_seconds);
  w.commit();
}

}  // namespace

std::string latest_checkpoint(const std::string& run_dir) {
  return (fs::path(run_dir) / "checkpoints" / "latest.h5").string();
}

Config resume_config(const std::string& run_dir, PpoPreset preset) {
  const std::string path = latest_checkpoint(run_dir);
  check_resumable(path);
  CheckpointReader r(path);
  Config cfg;
  declare_ppo(cfg, preset);
  cfg.load_json(json::parse(r.string("config"), path + ":config"), path + ":config");
  return cfg;
}

RunResult train_ppo(const Config& cfg, const RunOptions& o) {
  RM_CHECK(!o.run_dir.empty(), "train_ppo: no run folder");
  const fs::path dir(o.run_dir);
  const std::string latest = latest_checkpoint(o.run_dir);
  const std::string csv = (dir / "progress.csv").string();
  check_run_folder_free(o.run_dir, csv, latest, o.resume, o.overwrite);
  check_output_free(o.out, o.overwrite);
  const PpoSettings settings = ppo_settings(cfg);
  ops::check_device(settings.device, "config run.device");  // before any file is made
  if (o.overwrite) note_set_aside(o.run_dir, set_aside_run(o.run_dir));
  fs::create_directories(dir / "checkpoints");
  remove_stale_temps(o.run_dir);
  remove_stale_temps((dir / "checkpoints").string());

  if (settings.threads > 0) omp_set_num_threads(settings.threads);
  PpoTrainer trainer(cfg);
  const PpoSettings& s = trainer.settings();
  // Evaluations with the training runs' own stream of sampled actions (1), as imitate's.
  PeriodicEvaluation eval(eval_settings(cfg, std::max(s.num_envs, s.minibatch)), uint64_t(s.seed),
                          1);
  std::unique_ptr<AgentNet<float>> cpu_copy;  // the policy's, for a run on a GPU
  const std::string best = (dir / "checkpoints" / "best.h5").string();
  double wall_before = 0;  // wall time of earlier segments of this run
  if (o.resume) {
    CheckpointReader r(latest);
    trainer.load(r);
    eval.load(r.file());
    if (r.file().has_attr("/", "wall_seconds"))
      wall_before = r.file().attr_double("/", "wall_seconds");
  }
  // The effective config (a resumed run may have extended ppo.total_steps).
  json::write_file((dir / "config.json").string(), cfg.to_json());
  CsvLog log(csv, kColumns, o.resume ? trainer.iteration() : -1);

  const auto start = std::chrono::steady_clock::now();
  auto wall = [&] {
    return wall_before +
           std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  std::unique_ptr<ProgressBar> bar;
  if (o.progress)
    bar = std::make_unique<ProgressBar>(fs::path(o.run_dir).filename().string(), s.total_steps);

  RunResult res;
  res.checkpoint = o.resume ? latest : "";
  long done_here = 0;
  while (!trainer.finished() && (o.stop_after <= 0 || done_here < o.stop_after)) {
    const IterationStats st = checked_iteration([&] { return trainer.iterate(); },
                                                trainer.iteration() + 1, res.checkpoint, bar.get());
    ++done_here;
    PeriodicEvaluation::Result ev;  // NaN: not evaluated this iteration
    const double best_before = eval.best();
    if (eval.due(st.iteration, s.iterations()))
      ev = eval.run(Actor{cpu_policy(trainer.policy(), cpu_copy), s, trainer.obs_rms()},
                    st.iteration, s.env_threads);
    log.row({double(st.iteration),
             double(st.timesteps),
             double(st.episodes),
             st.mean_return,
             st.std_return,
             st.mean_length,
             st.policy_loss,
             st.value_loss,
             st.entropy,
             st.approx_kl,
             st.clip_fraction,
             st.value_clip_fraction,
             st.explained_variance,
             st.policy_grad_norm,
             st.value_grad_norm,
             st.lr,
             double(st.epochs_run),
             ev.ret,
             ev.std,
             ev.det_return,
             ev.stoch_return,
             double(eval.total()),
             eval.best(),
             ev.seconds,
             st.fps,
             wall()});
    res.mean_return = st.mean_return;
    if (std::isfinite(ev.ret)) res.eval_return = ev.ret;
    if (eval.best() > best_before) write_checkpoint(trainer, eval, best, wall());
    const bool last = trainer.finished() || (o.stop_after > 0 && done_here >= o.stop_after);
    if (last || st.iteration % s.checkpoint_every == 0) {
      write_checkpoint(trainer, eval, latest, wall());
      res.checkpoint = latest;
    }
    if (bar) {
      char buf[160];
      std::snprintf(buf, sizeof(buf), "it %ld return %.1f len %.0f eval %.1f kl %.4f fps %.0f",
                    st.iteration, st.mean_return, st.mean_length, res.eval_return, st.approx_kl,
                    st.fps);
      bar->update(st.timesteps, buf);
    }
  }
  const double seconds = wall();
  end_run(
      trainer, bar.get(), seconds, dir, o.out, true,
      [&](const std::string& path) { write_checkpoint(trainer, eval, path, seconds); }, res);
  return res;
}

}  // namespace relmimic::algos
