// PPO runs in a run folder: an interrupted run resumed from its checkpoint ends with parameters
// bit-identical to an uninterrupted one (CPU, fixed seeds), progress.csv reads as one run, a
// diverging run stops with a clear error and leaves the last good checkpoint intact, and bad
// settings are refused by name.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "algos/imitate.h"
#include "algos/logger.h"
#include "algos/ppo.h"
#include "algos/ppo_run.h"
#include "engine/checkpoint.h"
#include "engine/files.h"
#include "kernels/common.h"
#include "report/curves.h"
#include "tests/test_util.h"

namespace relmimic {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir(const std::string& name) {
  fs::path p =
      fs::temp_directory_path() / ("relmimic_test_ppo_" + std::to_string(getpid()) + "_" + name);
  fs::remove_all(p);
  return p;
}

// 6 iterations of 2 envs x 64 steps: small enough for a few seconds, long enough that episodes
// end (random Hopper episodes last ~20 steps) inside and across iteration boundaries.
Config small_config(const std::string& task = "hopper") {
  Config c;
  algos::declare_ppo(c, algos::PpoPreset::expert);
  c.apply_overrides({"env.name=" + task, "env.num_envs=2", "ppo.rollout_steps=64",
                     "ppo.minibatch=32", "ppo.epochs=2", "ppo.total_steps=768",
                     "run.checkpoint_every=2", "seed=5", "eval.every=2", "eval.episodes=2",
                     "eval.envs=2", "eval.window=3"});
  return c;
}

algos::RunOptions options(const fs::path& dir) {
  algos::RunOptions o;
  o.run_dir = dir.string();
  o.progress = false;
  return o;
}

// Every parameter, Adam moment and normaliser value of a checkpoint, as raw bytes.
std::vector<uint8_t> state_bytes(const std::string& path) {
  const h5::File f = h5::File::open(path);
  std::vector<uint8_t> out;
  for (const char* p : {"policy/params", "value/params", "policy/adam/m", "policy/adam/v",
                        "value/adam/m", "value/adam/v"}) {
    if (std::string(p).find("params") != std::string::npos) {
      for (const std::string& name : f.list(p)) {
        const Tensor t = f.read(std::string(p) + "/" + name);
        const auto* b = static_cast<const uint8_t*>(t.raw());
        out.insert(out.end(), b, b + t.nbytes());
      }
    } else {
      const Tensor t = f.read(p);
      const auto* b = static_cast<const uint8_t*>(t.raw());
      out.insert(out.end(), b, b + t.nbytes());
    }
  }
  for (const char* p : {"obs_rms/mean", "obs_rms/var", "ret_rms/mean", "ret_rms/var"}) {
    const Tensor t = f.read(p);
    const auto* b = static_cast<const uint8_t*>(t.raw());
    out.insert(out.end(), b, b + t.nbytes());
  }
  return out;
}

std::vector<std::string> lines(const fs::path& p) {
  return testing::file_lines(p);
}

// The columns of a progress row that do not depend on timing (all but eval_seconds, fps and
// wall_seconds).
std::string deterministic_part(const std::string& row) {
  std::string s = row;
  for (int k = 0; k < 3; ++k) s = s.substr(0, s.rfind(','));
  return s;
}

TEST(PpoRun, ResumedRunIsBitIdenticalToAnUninterruptedOne) {
  const fs::path a = temp_dir("whole"), b = temp_dir("split");
  const Config cfg = small_config();
  const algos::RunResult whole = algos::train_ppo(cfg, options(a));
  ASSERT_TRUE(whole.finished);
  EXPECT_EQ(whole.iterations, 6);
  EXPECT_EQ(whole.timesteps, 768);

  // Stop after 3 iterations (between checkpoint_every boundaries), then resume in a new trainer.
  algos::RunOptions first = options(b);
  first.stop_after = 3;
  const algos::RunResult part = algos::train_ppo(cfg, first);
  EXPECT_FALSE(part.finished);
  EXPECT_EQ(part.iterations, 3);
  // A killed run may have logged rows after its checkpoint: resuming drops them.
  { std::ofstream(b / "progress.csv", std::ios::app) << "4,512,0,0,0,0\n"; }
  algos::RunOptions second = options(b);
  second.resume = true;
  const algos::RunResult rest =
      algos::train_ppo(algos::resume_config(b.string(), algos::PpoPreset::expert), second);
  ASSERT_TRUE(rest.finished);
  EXPECT_EQ(rest.iterations, 6);

  const auto want = state_bytes((a / "checkpoints" / "final.h5").string());
  const auto got = state_bytes((b / "checkpoints" / "final.h5").string());
  ASSERT_EQ(want.size(), got.size());
  EXPECT_TRUE(want == got) << "resumed parameters differ from the uninterrupted run's";

  const auto la = lines(a / "progress.csv"), lb = lines(b / "progress.csv");
  ASSERT_EQ(la.size(), 7u);  // header + 6 iterations
  ASSERT_EQ(lb.size(), la.size());
  for (size_t i = 0; i < la.size(); ++i)
    EXPECT_EQ(deterministic_part(la[i]), deterministic_part(lb[i])) << "progress row " << i;

  // The run folder's config.json replays the run.
  const fs::path c = temp_dir("replay");
  Config replay;
  algos::declare_ppo(replay, algos::PpoPreset::pixels);  // other defaults: the file sets all
  replay.load_file((a / "config.json").string());
  algos::train_ppo(replay, options(c));
  EXPECT_TRUE(want == state_bytes((c / "checkpoints" / "final.h5").string()));
  fs::remove_all(a);
  fs::remove_all(b);
  fs::remove_all(c);
}

// rl and expert evaluate like imitate (algos/evaluate.h): every eval.every iterations and at the
// last, both modes, a window of the last eval.window episodes, and best.h5 at a new best.
TEST(PpoRun, EvaluatesPeriodicallyAndKeepsTheBestCheckpoint) {
  const fs::path a = temp_dir("eval");
  Config cfg = small_config();
  cfg.apply_override("ppo.total_steps=640");  // 5 iterations: evaluated at 2, 4 and 5
  const algos::RunResult r = algos::train_ppo(cfg, options(a));
  ASSERT_TRUE(r.finished);
  const report::CsvTable t = report::read_csv((a / "progress.csv").string());
  const std::vector<double> det = t.column("eval_det_return"), sto = t.column("eval_stoch_return");
  const std::vector<double> n = t.column("eval_episodes"), best = t.column("best_eval_return");
  for (int i = 0; i < 5; ++i) {
    const bool due = i == 1 || i == 3 || i == 4;
    EXPECT_EQ(std::isfinite(det[size_t(i)]), due) << "row " << i;
    EXPECT_EQ(std::isfinite(sto[size_t(i)]), due) << "row " << i;
  }
  EXPECT_EQ(n[4], 6);  // 3 evaluations of 2 deterministic episodes
  EXPECT_TRUE(std::isfinite(best[4]) && best[4] >= best[1]);
  EXPECT_NEAR(r.eval_return, t.column("eval_return")[4], 1e-5 * r.eval_return);  // 7 digits
  EXPECT_TRUE(fs::exists(a / "checkpoints" / "best.h5"));
  fs::remove_all(a);
}

TEST(PpoRun, ResumingWithADifferentSeedChangesTheResult) {
  // The comparison above can fail: a different continuation (sampling stream) changes the bytes.
  const fs::path a = temp_dir("seed_a"), b = temp_dir("seed_b");
  Config cfg = small_config();
  cfg.apply_override("ppo.total_steps=256");
  algos::train_ppo(cfg, options(a));
  cfg.apply_override("seed=6");
  algos::train_ppo(cfg, options(b));
  EXPECT_FALSE(state_bytes((a / "checkpoints" / "final.h5").string()) ==
               state_bytes((b / "checkpoints" / "final.h5").string()));
  fs::remove_all(a);
  fs::remove_all(b);
}

TEST(PpoRun, DivergenceStopsWithTheLastGoodCheckpointIntact) {
  const fs::path dir = temp_dir("nan");
  Config cfg = small_config();
  algos::RunOptions o = options(dir);
  o.stop_after = 2;
  algos::train_ppo(cfg, o);
  const std::string latest = algos::latest_checkpoint(dir.string());
  const auto before = state_bytes(latest);

  // A learning rate of 1e30 blows the parameters up within the next update.
  cfg.apply_override("ppo.lr=1e30");
  cfg.apply_override("ppo.value_lr=1e30");
  o.stop_after = 0;
  o.resume = true;
  try {
    algos::train_ppo(cfg, o);
    ADD_FAILURE() << "a diverging run should stop";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("training stopped at iteration 3"), std::string::npos) << msg;
    EXPECT_NE(msg.find(latest), std::string::npos) << msg;
  }
  EXPECT_TRUE(before == state_bytes(latest));
  CheckpointReader r(latest);
  EXPECT_EQ(r.counter("iteration"), 2);
  fs::remove_all(dir);
}

TEST(PpoRun, ExistingRunFolderIsNotOverwritten) {
  const fs::path dir = temp_dir("exists");
  Config cfg = small_config();
  cfg.apply_override("ppo.total_steps=128");
  algos::train_ppo(cfg, options(dir));
  EXPECT_THROW(algos::train_ppo(cfg, options(dir)), Error);
  algos::RunOptions o = options(dir);
  o.overwrite = true;
  EXPECT_TRUE(algos::train_ppo(cfg, o).finished);
  fs::remove_all(dir);
}

TEST(PpoSettings, BadValuesAreRefusedByName) {
  auto expect_refused = [](const std::string& override_, const std::string& key) {
    Config c;
    algos::declare_ppo(c, algos::PpoPreset::expert);
    c.apply_override(override_);
    try {
      algos::ppo_settings(c);
      ADD_FAILURE() << override_ << " should be refused";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  };
  expect_refused("ppo.minibatch=100000", "ppo.minibatch");
  expect_refused("ppo.gamma=1.5", "ppo.gamma");
  expect_refused("env.num_envs=0", "env.num_envs");
  expect_refused("ppo.clip=0", "ppo.clip");
  expect_refused("env.name=ant", "ant");
  expect_refused("net.arch=resnet", "resnet");
  expect_refused("env.pipeline=yes", "env.pipeline");
  Config px;
  algos::declare_ppo(px, algos::PpoPreset::pixels);
  px.apply_override("ppo.obs_norm=true");
  EXPECT_THROW(algos::ppo_settings(px), Error);
}

// configs/hopper-rl-quick.json: the pixel-RL ceiling at the main job's settings (the same frames,
// envs, rollout and epochs as configs/hopper-quick.json), for `rl` and `sweep --command rl`.
TEST(PpoSettings, ShippedRlConfigIsThePixelRunOfTheQuickSettings) {
  Config rl;
  algos::declare_ppo(rl, algos::PpoPreset::pixels);
  rl.load_file(std::string(RELMIMIC_SOURCE_DIR) + "/configs/hopper-rl-quick.json");
  const algos::PpoSettings s = algos::ppo_settings(rl);
  EXPECT_TRUE(s.pixels());
  EXPECT_EQ(s.arch, Arch::local);
  Config im;
  algos::declare_imitation(im);
  im.load_file(std::string(RELMIMIC_SOURCE_DIR) + "/configs/hopper-quick.json");
  im.set("demos", json::Value("demos.h5"));
  algos::apply_variant(im);
  const algos::PpoSettings q = algos::imitation_settings(im).ppo;
  EXPECT_EQ(s.frames, q.frames);
  EXPECT_EQ(s.frame_size, q.frame_size);
  EXPECT_EQ(s.num_envs, q.num_envs);
  EXPECT_EQ(s.rollout_steps, q.rollout_steps);
  EXPECT_EQ(s.minibatch, q.minibatch);
  EXPECT_EQ(s.epochs, q.epochs);
  EXPECT_EQ(s.total_steps, q.total_steps);
  EXPECT_EQ(rl.get<int>("eval.every"), im.get<int>("eval.every"));
  EXPECT_EQ(rl.get<int>("eval.episodes"), im.get<int>("eval.episodes"));
  EXPECT_EQ(rl.get<int>("eval.window"), im.get<int>("eval.window"));
}

TEST(CsvLog, KeepsTheCheckpointedRowsAndChecksTheHeader) {
  const fs::path dir = temp_dir("csv");
  fs::create_directories(dir);
  const std::string path = (dir / "p.csv").string();
  {
    algos::CsvLog log(path, {"a", "b"});
    log.row({1, 0.5});
    log.row({2, 1e-9});
    log.row({3, NAN});
    EXPECT_THROW(log.row({1}), Error);
  }
  EXPECT_EQ(lines(path), (std::vector<std::string>{"a,b", "1,0.5", "2,1e-09", "3,nan"}));
  { algos::CsvLog log(path, {"a", "b"}, 2); }
  EXPECT_EQ(lines(path), (std::vector<std::string>{"a,b", "1,0.5", "2,1e-09"}));
  EXPECT_THROW(algos::CsvLog(path, {"a", "c"}, 1), Error);  // other columns
  EXPECT_THROW(algos::CsvLog(path, {"a", "b"}, 5), Error);  // fewer rows than the checkpoint
  fs::remove_all(dir);
}

// Runs f in a child process and returns the signal that ended it (0: it exited).
template <class F>
int killed_by(F&& f) {
  const pid_t pid = fork();
  if (pid == 0) {
    f();
    std::_Exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

// A resumed run rewrites progress.csv down to its checkpoint's rows. Killed during that rewrite
// (before the new version is complete, or after it is written but before it replaces the old
// one), the file keeps every row, and the next resume trims it as usual.
TEST(CsvLog, AKillDuringTheResumeRewriteLosesNothing) {
  const fs::path dir = temp_dir("csv_kill");
  fs::create_directories(dir);
  const std::string path = (dir / "progress.csv").string();
  const std::vector<std::string> cols = {"iteration", "value"};
  {
    algos::CsvLog log(path, cols);
    for (int i = 1; i <= 400; ++i) log.row({double(i), 0.25 * i});
  }
  const std::vector<std::string> all = lines(path);
  ASSERT_EQ(all.size(), 401u);

  // Killed between the synced temporary and the rename.
  EXPECT_EQ(killed_by([&] {
              detail::before_rename_hook = [](const std::string&) { raise(SIGKILL); };
              algos::CsvLog log(path, cols, 300);
            }),
            SIGKILL);
  EXPECT_EQ(lines(path), all);
  // Killed while writing (a file-size limit stops the process part way, SIGXFSZ).
  EXPECT_EQ(killed_by([&] {
              const rlimit lim{1024, 1024};
              setrlimit(RLIMIT_FSIZE, &lim);
              algos::CsvLog log(path, cols, 300);
            }),
            SIGXFSZ);
  EXPECT_EQ(lines(path), all);

  { algos::CsvLog log(path, cols, 300); }  // resumes, and removes the killed writers' temporaries
  const std::vector<std::string> kept = lines(path);
  ASSERT_EQ(kept.size(), 301u);
  EXPECT_TRUE(std::equal(kept.begin(), kept.end(), all.begin()));
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace relmimic
