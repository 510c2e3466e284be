// `relmimic sweep` as the user runs it: a tiny imitation grid (1 variant x 2 seeds) runs to the end
// with --local 2 and `plot` draws it; the same command again skips the finished cells, and with
// more --steps extends them; a cell stopped half-way is resumed and one stopped before its first
// checkpoint is started again; a failed cell is named with its log; the Slurm script and the
// --print lines hold each cell's command; bad input is refused with one line, before any run
// folder exists.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/algos/imitate_test_util.h"
#include "tests/test_util.h"

using namespace relmimic;
namespace fs = std::filesystem;

namespace {

using Result = relmimic::testing::SplitResult;
using relmimic::testing::file_text;
using relmimic::testing::nonempty_lines;

// Settings that make an imitation run tiny: 32x32 frames, k = 2, 2 envs x 32 steps, narrow D;
// 128 steps are 2 iterations.
const char* kTiny =
    " --frames 2 --steps 128 net.frame_size=32 env.num_envs=2 ppo.rollout_steps=32 "
    "ppo.minibatch=32 ppo.epochs=1 imitate.disc_minibatch=32 disc.channels=4,8,8,8,8 "
    "disc.embed=2,2 eval.every=1 eval.episodes=1 eval.envs=1";

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// Whether a run folder holds a previous-* folder: a run's files set aside, not deleted.
bool has_set_aside_files(const fs::path& run) {
  for (const auto& e : fs::directory_iterator(run))
    if (e.path().filename().string().rfind("previous-", 0) == 0) return true;
  return false;
}

// Each test has its own folder (ctest runs the cases as parallel processes) with random
// demonstrations of 32x32 frames.
class Sweep : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("relmimic_sweep_" + std::to_string(getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
    relmimic::testing::write_random_demos(demos(), 32, {40, 40});
  }
  void TearDown() override { fs::remove_all(root_); }
  std::string demos() const { return (root_ / "demos.h5").string(); }
  fs::path grid() const { return root_ / "runs" / "g"; }
  // `relmimic sweep` over baseline x seeds 0,1 on Hopper with the tiny settings, then `more`.
  Result sweep(const std::string& more) const {
    return relmimic::testing::run_relmimic_split(
        root_, "sweep --env hopper --variant baseline --seed 0,1 --demos hopper=" + demos() +
                   " --runs " + (root_ / "runs").string() + " --grid g" + kTiny + " " + more);
  }
  fs::path root_;
};

TEST_F(Sweep, LocalGridRunsToTheEndThenSkipsItsFinishedCellsAndPlots) {
  const Result r = sweep("--local 2 --threads 1");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  for (const char* cell : {"hopper-baseline-k2-s0", "hopper-baseline-k2-s1"}) {
    EXPECT_TRUE(fs::exists(grid() / cell / "checkpoints" / "final.h5")) << cell << "\n" << r.out;
    EXPECT_TRUE(contains(r.out, std::string("start   ") + cell)) << r.out;
    EXPECT_TRUE(contains(r.out, std::string("done    ") + cell)) << r.out;
    // The cell's own log holds its command line and the run's summary.
    const std::string log = file_text(grid() / cell / "sweep.log");
    EXPECT_TRUE(contains(log, "imitate --runs " + grid().string() + " --name " + cell)) << log;
    EXPECT_TRUE(contains(log, "--set run.threads=1")) << log;
    EXPECT_TRUE(contains(log, "2 iterations")) << log;
  }
  EXPECT_TRUE(contains(r.out, "2 cell(s), 0 finished before, 2 ran, 0 failed")) << r.out;
  const auto rows =
      relmimic::testing::file_lines(grid() / "hopper-baseline-k2-s0" / "progress.csv");

  const Result again = sweep("--local 2 --threads 1");
  ASSERT_EQ(again.code, 0) << again.out << again.err;
  EXPECT_TRUE(contains(again.out, "[1/2] skip    hopper-baseline-k2-s0 (finished)")) << again.out;
  EXPECT_TRUE(contains(again.out, "[2/2] skip    hopper-baseline-k2-s1 (finished)")) << again.out;
  EXPECT_FALSE(contains(again.out, "start")) << again.out;
  EXPECT_EQ(relmimic::testing::file_lines(grid() / "hopper-baseline-k2-s0" / "progress.csv"), rows);

  // More steps extend the finished runs: each resumes for one more iteration.
  const Result longer = sweep("--local 2 --threads 1 --steps 192");
  ASSERT_EQ(longer.code, 0) << longer.out << longer.err;
  EXPECT_TRUE(contains(longer.out, "start   hopper-baseline-k2-s0 (resumed)")) << longer.out;
  EXPECT_EQ(relmimic::testing::file_lines(grid() / "hopper-baseline-k2-s1" / "progress.csv").size(),
            rows.size() + 1);

  // `plot` over the grid's folders groups the two seeds by the config's variant.
  const relmimic::testing::CommandResult p =
      relmimic::testing::run_relmimic("plot " + (grid() / "hopper-baseline-k2-s0").string() + " " +
                                      (grid() / "hopper-baseline-k2-s1").string() + " --out ''");
  ASSERT_EQ(p.code, 0) << p.out;
  const auto lines = nonempty_lines(p.out);
  ASSERT_EQ(lines.size(), 2u) << p.out;
  std::istringstream row(lines[1]);
  std::string variant;
  int seeds = 0;
  row >> variant >> seeds;
  EXPECT_EQ(variant, "baseline") << p.out;
  EXPECT_EQ(seeds, 2) << p.out;
}

TEST_F(Sweep, CellStoppedHalfWayResumesAndOneStoppedBeforeItsFirstCheckpointStartsAgain) {
  // Seed 0 stopped after its first of 2 iterations, by its own --print line plus --stop-after.
  const Result print = sweep("--print --threads 1");
  ASSERT_EQ(print.code, 0) << print.err;
  const auto lines = nonempty_lines(print.out);
  ASSERT_EQ(lines.size(), 2u) << print.out;
  ASSERT_EQ(std::system((lines[0] + " --stop-after 1 > /dev/null 2>&1").c_str()), 0) << lines[0];
  const fs::path s0 = grid() / "hopper-baseline-k2-s0", s1 = grid() / "hopper-baseline-k2-s1";
  ASSERT_TRUE(fs::exists(s0 / "checkpoints" / "latest.h5"));
  ASSERT_FALSE(fs::exists(s0 / "checkpoints" / "final.h5"));
  // Seed 1 killed before its first checkpoint: a progress.csv and nothing to resume from.
  fs::create_directories(s1);
  std::ofstream(s1 / "progress.csv") << "iteration\n";

  const Result dry = sweep("--dry-run");
  ASSERT_EQ(dry.code, 0) << dry.err;
  EXPECT_TRUE(contains(dry.out, "resume    " + s0.string())) << dry.out;
  EXPECT_TRUE(contains(dry.out, "restart   " + s1.string())) << dry.out;
  const Result reprint = sweep("--print --threads 1");
  ASSERT_EQ(nonempty_lines(reprint.out).size(), 2u) << reprint.out;
  EXPECT_EQ(nonempty_lines(reprint.out)[0], lines[0] + " --resume");
  EXPECT_EQ(nonempty_lines(reprint.out)[1], lines[1] + " --force");

  const Result r = sweep("--local 2 --threads 1");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_TRUE(contains(r.out, "start   hopper-baseline-k2-s0 (resumed)")) << r.out;
  EXPECT_TRUE(contains(r.out, "start   hopper-baseline-k2-s1 (started again)")) << r.out;
  EXPECT_TRUE(fs::exists(s0 / "checkpoints" / "final.h5"));
  EXPECT_TRUE(fs::exists(s1 / "checkpoints" / "final.h5"));
  // The resumed run went on from iteration 1: one row per iteration, no repeats.
  const auto rows = relmimic::testing::file_lines(s0 / "progress.csv");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1].substr(0, 2), "1,");
  EXPECT_EQ(rows[2].substr(0, 2), "2,");
  // The stale files were set aside, not deleted.
  EXPECT_TRUE(has_set_aside_files(s1));
}

TEST_F(Sweep, FailedCellIsNamedWithItsLogAndTheSweepExitsNonZero) {
  // Demonstrations of 64x64 frames do not fit runs on 32x32 frames: every cell fails.
  relmimic::testing::write_random_demos(demos(), 64, {40});
  const Result r = sweep("--local 1 --threads 1");
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  const std::string log = (grid() / "hopper-baseline-k2-s1" / "sweep.log").string();
  EXPECT_TRUE(contains(r.out, "FAILED  hopper-baseline-k2-s1 (exit ")) << r.out;
  EXPECT_TRUE(contains(r.err, "cell hopper-baseline-k2-s1 failed: see " + log)) << r.err;
  EXPECT_TRUE(contains(file_text(log), "relmimic imitate: error:")) << file_text(log);
}

TEST_F(Sweep, SlurmScriptAndPrintLinesHoldEachCellsCommand) {
  const fs::path script = root_ / "grid.sbatch";
  const Result r = sweep("--slurm " + script.string() + " --threads 2");
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string s = file_text(script);
  EXPECT_TRUE(contains(s, "#SBATCH --array=0-1\n")) << s;
  EXPECT_TRUE(contains(s, "#SBATCH --cpus-per-task=2\n")) << s;
  EXPECT_TRUE(contains(s, "then \"$@\" --resume; else \"$@\"; fi")) << s;
  for (int seed : {0, 1}) {
    const std::string cell = "hopper-baseline-k2-s" + std::to_string(seed);
    EXPECT_TRUE(contains(s, "  " + std::to_string(seed) + ") cell " + (grid() / cell).string() +
                                " " + RELMIMIC_BINARY))
        << s;
    EXPECT_TRUE(contains(s, "imitate --runs " + grid().string() + " --name " + cell +
                                " --env hopper --variant baseline --seed " + std::to_string(seed) +
                                " --demos " + demos() +
                                " --steps 128 --set net.frames=2 --set net.frame_size=32"))
        << s;
  }
  EXPECT_TRUE(contains(s, "--set run.threads=2 --quiet ;;")) << s;
  // An existing script is replaced only on purpose.
  const Result again = sweep("--slurm " + script.string());
  EXPECT_EQ(again.code, 2);
  EXPECT_TRUE(contains(again.err, "exists: give --force")) << again.err;

  // --print with learners: one mpirun line per cell; nothing is run or made.
  const Result p = sweep("--print --learners 3");
  ASSERT_EQ(p.code, 0) << p.err;
  const auto lines = nonempty_lines(p.out);
  ASSERT_EQ(lines.size(), 2u) << p.out;
  for (const std::string& l : lines) {
    EXPECT_EQ(l.rfind(std::string("mpirun -np 3 ") + RELMIMIC_BINARY + " imitate ", 0), 0u) << l;
    EXPECT_FALSE(contains(l, "run.threads")) << l;  // --threads 0: the config's
  }
  EXPECT_FALSE(fs::exists(grid() / "hopper-baseline-k2-s0"));

  // Array task 1 as Slurm would run it: seed 1 stopped before its first checkpoint, so its files
  // are set aside, it runs to the end into its sweep.log; run again, it is skipped.
  const fs::path s1 = grid() / "hopper-baseline-k2-s1";
  fs::create_directories(s1);
  std::ofstream(s1 / "progress.csv") << "iteration\n";
  const std::string task = "SLURM_ARRAY_TASK_ID=1 SLURM_ARRAY_JOB_ID=7 bash " + script.string() +
                           " > " + (root_ / "task.out").string() + " 2>&1";
  ASSERT_EQ(std::system(task.c_str()), 0) << file_text(root_ / "task.out");
  EXPECT_TRUE(fs::exists(s1 / "checkpoints" / "final.h5")) << file_text(s1 / "sweep.log");
  EXPECT_TRUE(contains(file_text(s1 / "sweep.log"), "array task 1 of job 7"));
  EXPECT_TRUE(has_set_aside_files(s1));
  ASSERT_EQ(std::system(task.c_str()), 0);
  EXPECT_TRUE(contains(file_text(root_ / "task.out"), s1.string() + ": finished"));
  EXPECT_FALSE(fs::exists(grid() / "hopper-baseline-k2-s0"));

  // An rl grid: the variants are net.arch values, no demonstrations.
  const relmimic::testing::CommandResult rl = relmimic::testing::run_relmimic(
      "sweep --command rl --variant local,nonlocal --seed 4 --frames 4 --runs " +
      (root_ / "runs").string() + " --print");
  ASSERT_EQ(rl.code, 0) << rl.out;
  const auto rl_lines = nonempty_lines(rl.out);
  ASSERT_EQ(rl_lines.size(), 2u) << rl.out;
  EXPECT_TRUE(contains(rl_lines[1], " rl --runs " + (root_ / "runs" / "rl").string() +
                                        " --name hopper-nonlocal-k4-s4 --env hopper --net "
                                        "nonlocal --seed 4 --set net.frames=4 --quiet"))
      << rl.out;
}

TEST_F(Sweep, BadInputIsRefusedWithOneLine) {
  const std::string runs = " --runs " + (root_ / "runs").string();
  auto refused = [&](const std::string& args, const std::string& message) {
    const Result r = relmimic::testing::run_relmimic_split(root_, "sweep" + runs + " " + args);
    EXPECT_NE(r.code, 0) << args;
    EXPECT_EQ(nonempty_lines(r.err).size(), 1u) << args << "\n" << r.err;
    EXPECT_TRUE(contains(r.err, message)) << args << "\n" << r.err;
    EXPECT_FALSE(fs::exists(root_ / "runs")) << args;
  };
  const std::string d = " --demos hopper=" + demos();
  refused("--env cheetah --local 1" + d, "unknown task 'cheetah'");
  refused("--env hopper,walker2d --local 1" + d,
          "no demonstrations for walker2d: give --demos walker2d=FILE");
  refused("--local 1 --demos hopper=" + (root_ / "none.h5").string(), "no file");
  refused("--local 0" + d, "--local must be >= 1");
  refused("--local 1 --variant rm-x" + d, "unknown variant 'rm-x'");
  refused("--local 1 --seed 0,x" + d, "--seed: expected an integer, got 'x'");
  refused("--local 1 net.frames=2" + d, "net.frames is set per cell by --frames");
  refused("--local 1 --set net.arch=nonlocal" + d, "net.arch is decided by the variant");
  refused("--local 1 ppo.nope=2" + d, "unknown config key 'ppo.nope'");
  refused(d, "say what to do with the grid");
  refused("--command rl --print" + d, "--demos is for --command imitate");
  refused("--command rl --variant mlp --print", "must be an image network");
  refused("--command ppo --print", "--command must be imitate or rl");
}

}  // namespace
