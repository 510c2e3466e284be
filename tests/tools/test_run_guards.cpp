// What protects the user's files and memory from a wrong argument, as the user meets it on the
// command line: a checkpoint used with another env's sizes, an output file that exists, a demos
// file given to eval, values that make no sense.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "engine/h5.h"
#include "engine/json.h"
#include "engine/sha256.h"
#include "tests/algos/imitate_test_util.h"
#include "tests/test_util.h"

using namespace relmimic;
namespace fs = std::filesystem;

namespace {

fs::path root_dir() {
  static const fs::path root =
      fs::temp_directory_path() / ("relmimic_guards_" + std::to_string(getpid()));
  return root;
}

class TempCleanup : public ::testing::Environment {
 public:
  void TearDown() override { fs::remove_all(root_dir()); }
};
::testing::Environment* const kCleanup = ::testing::AddGlobalTestEnvironment(new TempCleanup);

using Result = relmimic::testing::SplitResult;
Result run(const std::string& args) {
  return relmimic::testing::run_relmimic_split(root_dir(), args);
}

// The lines of stderr but the renderer's "relmimic: EGL ..." note of commands that render.
std::vector<std::string> message_lines(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);)
    if (!l.empty() && l.rfind("relmimic: EGL", 0) != 0) v.push_back(l);
  return v;
}

// A failed command: exit code 1 and one error line on stderr, the last, holding every `want`
// (a run may have announced itself on the line before).
void expect_one_line_error(const Result& r, const std::vector<std::string>& want) {
  EXPECT_EQ(r.code, 1) << r.out << r.err;
  const auto err = message_lines(r.err);
  ASSERT_FALSE(err.empty()) << r.out;
  int errors = 0;
  for (const std::string& l : err) errors += l.find(": error: ") != std::string::npos;
  EXPECT_EQ(errors, 1) << r.err;
  for (const std::string& w : want) EXPECT_NE(err.back().find(w), std::string::npos) << err.back();
}

std::string shipped(const char* env) {
  return std::string(RELMIMIC_SOURCE_DIR) + "/experts/" + env + ".h5";
}

// Sets section.key in a checkpoint's saved config (as relabelling or a mix-up of files would):
// the networks and normaliser stay what they were.
void relabel(const std::string& checkpoint, const char* section, const char* key,
             const json::Value& value) {
  h5::File f = h5::File::open(checkpoint, true);
  json::Value cfg = json::parse(f.attr_string("/", "config"), checkpoint);
  json::Value sec = cfg.at(section);
  sec.set(key, value);
  cfg.set(section, sec);
  f.set_attr("/", "config", json::dump(cfg));
}

// A copy of a shipped expert whose config names another env.
std::string relabelled(const char* expert, const char* env) {
  fs::create_directories(root_dir());
  const std::string out = (root_dir() / (std::string(expert) + "-as-" + env + ".h5")).string();
  fs::copy_file(shipped(expert), out, fs::copy_options::overwrite_existing);
  relabel(out, "env", "name", env);
  return out;
}

// Walker2d: 17 observation values, 6 actions; Hopper: 11 and 3.
TEST(CheckpointEnvSizes, EvalAndRecordRefuseAnotherEnvsCheckpoint) {
  const std::string walker_as_hopper = relabelled("walker2d", "hopper");
  const std::string hopper_as_walker = relabelled("hopper", "walker2d");
  expect_one_line_error(run("eval --checkpoint " + walker_as_hopper + " --episodes 2 --envs 2"),
                        {"walker2d-as-hopper.h5", "17", "6", "the hopper env has 11 and 3"});
  expect_one_line_error(run("eval --checkpoint " + hopper_as_walker + " --episodes 2 --envs 2"),
                        {"hopper-as-walker2d.h5", "11", "3", "the walker2d env has 17 and 6"});
  const std::string demos = (root_dir() / "mismatch.h5").string();
  expect_one_line_error(run("record --expert " + walker_as_hopper +
                            " --episodes 1 --frame-size 32"
                            " --out " +
                            demos),
                        {"walker2d-as-hopper.h5", "the hopper env has 11 and 3"});
  expect_one_line_error(run("record --expert " + hopper_as_walker +
                            " --episodes 1 --frame-size 32"
                            " --out " +
                            demos),
                        {"hopper-as-walker2d.h5", "the walker2d env has 17 and 6"});
  EXPECT_FALSE(fs::exists(demos));
  // --beside evaluates its checkpoint the same way.
  const Result beside =
      run("eval --checkpoint " + shipped("hopper") + " --episodes 1 --gif " +
          (root_dir() / "b.gif").string() + " --gif-size 32 --beside " + walker_as_hopper);
  expect_one_line_error(beside, {"walker2d-as-hopper.h5", "the hopper env has 11 and 3"});
}

// Resuming: the run's checkpoint is checked against the env the resumed run builds.
TEST(CheckpointEnvSizes, ResumeRefusesACheckpointOfAnotherEnv) {
  const fs::path dir = root_dir() / "resume-walker";
  fs::create_directories(dir / "checkpoints");
  fs::copy_file(relabelled("walker2d", "hopper"), dir / "checkpoints" / "latest.h5",
                fs::copy_options::overwrite_existing);
  expect_one_line_error(
      run("expert --runs " + root_dir().string() + " --name resume-walker --resume --quiet"),
      {"latest.h5", "17 observation values and gives 6 actions",
       "this run's hopper env has 11 and 3"});
}

// A pixel agent's checkpoint names its stack: a config that says otherwise is refused by eval
// and by a resume, naming both.
TEST(CheckpointEnvSizes, PixelCheckpointsCheckTheirFrames) {
  const Result r =
      run("rl --env hopper --net local --set net.frames=2 --runs " + root_dir().string() +
          " --name px --quiet --steps 64 --set env.num_envs=2 --set net.frame_size=32"
          " --set ppo.rollout_steps=32 --set ppo.minibatch=32 --set ppo.epochs=1");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const fs::path ckpt = root_dir() / "px" / "checkpoints";
  relabel((ckpt / "final.h5").string(), "net", "frames", 4);
  expect_one_line_error(run("eval --checkpoint " + (ckpt / "final.h5").string() + " --episodes 1"),
                        {"final.h5", "stacks of 2 frames of 32x32", "4 of 32x32"});
  relabel((ckpt / "latest.h5").string(), "net", "frame_size", 48);
  expect_one_line_error(
      run("rl --runs " + root_dir().string() + " --name px --resume --quiet --steps 128"),
      {"latest.h5", "stacks of 2 frames of 32x32", "2 of 48x48"});
}

// A usage error: exit code 2 and one line holding `want`.
void expect_usage_error(const std::string& args, const std::string& want) {
  const Result r = run(args);
  EXPECT_EQ(r.code, 2) << args << "\n" << r.out << r.err;
  const auto err = message_lines(r.err);
  ASSERT_EQ(err.size(), 1u) << args << "\n" << r.err;
  EXPECT_NE(err[0].find(want), std::string::npos) << err[0];
}

// Values outside what a flag allows are refused, not read as "use the config's value"
// (--print-config: a command that would wrongly accept them stops right there).
TEST(CommandValues, OutOfRangeValuesAreRefused) {
  expect_usage_error("expert --steps -5 --print-config", "--steps");
  expect_usage_error("expert --envs -2 --print-config", "--envs");
  expect_usage_error("expert --seed -7 --print-config", "--seed");
  expect_usage_error("rl --stop-after -1 --print-config", "--stop-after");
  expect_usage_error("rl --frames 5 --print-config", "--frames must be 4 or 8, got 5");
  expect_usage_error("imitate --frames 5 --print-config", "--frames must be 4 or 8, got 5");
  expect_usage_error("imitate --obs state --frames 1 --print-config",
                     "--frames with --obs state must be >= 2");
  expect_usage_error("imitate --steps -5 --print-config", "--steps");
  expect_usage_error("imitate --envs -2 --print-config", "--envs");
  const std::string runs = " --runs " + root_dir().string() + " --name none";
  expect_usage_error("expert --resume --force --print-config" + runs, "give one of them");
  expect_usage_error("imitate --resume --force --print-config" + runs, "give one of them");
  EXPECT_FALSE(fs::exists(root_dir() / "none"));
}

TEST(CommandValues, EvalOfADemonstrationFileSaysSo) {
  fs::create_directories(root_dir());
  const std::string demos = (root_dir() / "eval-demos.h5").string();
  relmimic::testing::write_random_demos(demos, 32, {5});
  expect_one_line_error(run("eval --checkpoint " + demos),
                        {"eval-demos.h5", "a demonstration file", "not a relmimic checkpoint"});
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// --out never replaces a file unless --force says so; the refusal comes before any work.
TEST(OutputFiles, AnExistingOutputIsReplacedOnlyWithForce) {
  const fs::path dir = root_dir() / "out";
  fs::create_directories(dir);
  const fs::path keep = dir / "keep.h5";
  std::ofstream(keep) << "precious";
  const std::string demos = (dir / "demos.h5").string();
  relmimic::testing::write_random_demos(demos, 32, {12, 7});

  expect_one_line_error(run("record --expert " + shipped("hopper") +
                            " --episodes 1 --frame-size 32 --out " + keep.string()),
                        {"keep.h5 exists", "--force"});
  expect_one_line_error(run("expert --env hopper --steps 512 --quiet --out " + keep.string() +
                            " --runs " + dir.string() + " --name e"),
                        {"keep.h5 exists", "--force"});
  expect_one_line_error(run("imitate --demos " + demos + " --steps 64 --quiet --out " +
                            keep.string() + " --runs " + dir.string() + " --name i"),
                        {"keep.h5 exists", "--force"});
  EXPECT_EQ(slurp(keep), "precious");
  EXPECT_FALSE(fs::exists(dir / "e"));
  EXPECT_FALSE(fs::exists(dir / "i"));

  const Result forced =
      run("record --expert " + shipped("hopper") +
          " --episodes 1 --frame-size 32 --deterministic --force --out " + keep.string());
  ASSERT_EQ(forced.code, 0) << forced.err;
  EXPECT_EQ(h5::File::open(keep.string()).attr_string("/", "format"), "relmimic-demos");
}

// --force on a folder that holds a run moves the old run's files (checkpoints, progress.csv,
// plots, videos) into previous-<date>-<time>/; the new run starts in an empty folder.
TEST(OutputFiles, ForceSetsThePreviousRunAside) {
  const fs::path runs = root_dir() / "force";
  const std::string base =
      "expert --env hopper --steps 512 --set ppo.rollout_steps=64 --quiet "
      "--runs " +
      runs.string() + " --name r";
  const Result first = run(base);
  ASSERT_EQ(first.code, 0) << first.err;
  const fs::path dir = runs / "r";
  fs::create_directories(dir / "plots");
  std::ofstream(dir / "plots" / "learning_curves.png") << "old plot";
  fs::create_directories(dir / "videos");
  std::ofstream(dir / "videos" / "agent.gif") << "old video";
  const std::string old_csv = slurp(dir / "progress.csv");

  const Result second = run(base + " --force");
  ASSERT_EQ(second.code, 0) << second.err;
  EXPECT_NE(second.err.find("the previous run's files are kept in"), std::string::npos)
      << second.err;
  std::vector<fs::path> aside;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().filename().string().rfind("previous-", 0) == 0) aside.push_back(e.path());
  ASSERT_EQ(aside.size(), 1u);
  EXPECT_EQ(slurp(aside[0] / "plots" / "learning_curves.png"), "old plot");
  EXPECT_EQ(slurp(aside[0] / "videos" / "agent.gif"), "old video");
  EXPECT_EQ(slurp(aside[0] / "progress.csv"), old_csv);
  EXPECT_TRUE(fs::exists(aside[0] / "checkpoints" / "final.h5"));
  EXPECT_TRUE(fs::exists(aside[0] / "config.json"));
  EXPECT_FALSE(fs::exists(dir / "plots"));
  EXPECT_FALSE(fs::exists(dir / "videos"));
  EXPECT_TRUE(fs::exists(dir / "checkpoints" / "final.h5"));
  EXPECT_TRUE(fs::exists(dir / "progress.csv"));
}

// A run killed before its first checkpoint has nothing to resume: both a plain restart and
// --resume say to start it again with --force, which works.
TEST(OutputFiles, ARunWithoutCheckpointIsRestartedWithForce) {
  const fs::path runs = root_dir() / "nockpt";
  const fs::path dir = runs / "r";
  fs::create_directories(dir);
  std::ofstream(dir / "progress.csv") << "iteration,timesteps\n";
  std::ofstream(dir / ("progress.csv.tmp-" + std::to_string(1 << 22))) << "stale";
  const std::string base =
      "expert --env hopper --steps 512 --set ppo.rollout_steps=64 --quiet "
      "--runs " +
      runs.string() + " --name r";
  expect_one_line_error(run(base), {"before its first checkpoint", "--force"});
  expect_one_line_error(
      run("expert --env hopper --quiet --resume --runs " + runs.string() + " --name r"),
      {"before its first checkpoint", "--force"});
  const Result forced = run(base + " --force");
  ASSERT_EQ(forced.code, 0) << forced.err;
  EXPECT_TRUE(fs::exists(dir / "checkpoints" / "final.h5"));
  for (const auto& e : fs::recursive_directory_iterator(dir))
    EXPECT_EQ(e.path().string().find(".tmp-"), std::string::npos) << e.path();
}

// The run's config holds the demonstrations' absolute path and SHA-256; a resume refuses other
// content at that path, and --demos points to the same content elsewhere.
TEST(DemosHash, ResumeChecksTheDemonstrationsContent) {
  const fs::path dir = root_dir() / "hash";
  fs::create_directories(dir);
  const fs::path demos = dir / "demos.h5";
  relmimic::testing::write_random_demos(demos.string(), 32, {12, 9}, "hopper", 3);
  const std::string sha = sha256_file(demos.string());
  const std::string relative = fs::relative(demos).string();
  const std::string tiny =
      " --quiet net.frames=2 net.frame_size=32 env.num_envs=2 ppo.rollout_steps=32 "
      "ppo.minibatch=32 ppo.epochs=1 imitate.disc_minibatch=32 disc.channels=4,8,8,8,8 "
      "disc.embed=2,2 eval.every=0 run.threads=1";
  const std::string where = " --runs " + dir.string() + " --name im";
  const Result first =
      run("imitate --demos " + relative + " --steps 128 --stop-after 1" + where + tiny);
  ASSERT_EQ(first.code, 0) << first.err;
  const json::Value cfg = json::parse_file((dir / "im" / "config.json").string());
  EXPECT_EQ(cfg.at("demos").as_string(), fs::absolute(demos).lexically_normal().string());
  EXPECT_EQ(cfg.at("demos_sha256").as_string(), sha);

  // Other content at the run's path: refused.
  const fs::path moved = dir / "elsewhere.h5";
  fs::rename(demos, moved);
  relmimic::testing::write_random_demos(demos.string(), 32, {12, 9}, "hopper", 4);
  expect_one_line_error(run("imitate --resume" + where),
                        {"demos.h5", "SHA-256", sha.substr(0, 16), "--demos PATH"});
  // Missing: says where to point.
  fs::remove(demos);
  expect_one_line_error(run("imitate --resume" + where), {"demos.h5", "missing", "--demos PATH"});
  // The same content in another place.
  const Result resumed = run("imitate --resume --demos " + moved.string() + where);
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_NE(resumed.out.find("2 iterations"), std::string::npos) << resumed.out;
  const json::Value again = json::parse_file((dir / "im" / "config.json").string());
  EXPECT_EQ(again.at("demos").as_string(), fs::absolute(moved).lexically_normal().string());
  EXPECT_EQ(again.at("demos_sha256").as_string(), sha);
}

// A killed job is continued by the same command plus --resume (as a Slurm requeue would run it);
// a setting that would change the run is refused, naming it.
TEST(ResumeCommand, TheSameCommandPlusResumeContinuesTheRun) {
  const fs::path dir = root_dir() / "same";
  fs::create_directories(dir);
  const std::string demos = (dir / "demos.h5").string();
  relmimic::testing::write_random_demos(demos, 32, {12, 9});
  const fs::path config = dir / "config.json";  // its step budget gives way to --steps
  std::ofstream(config) << R"({"ppo": {"total_steps": 1000000, "epochs": 1}})";
  const std::string command =
      "imitate --config " + config.string() + " --env hopper --demos " + demos +
      " --variant rm-l-l --seed 2 --steps 128 --runs " + dir.string() +
      " --name im --quiet net.frames=2 net.frame_size=32 env.num_envs=2 "
      "ppo.rollout_steps=32 ppo.minibatch=32 ppo.epochs=1 imitate.disc_minibatch=32 "
      "disc.channels=4,8,8,8,8 disc.embed=2,2 eval.every=0 run.threads=1";
  const Result first = run(command + " --stop-after 1");
  ASSERT_EQ(first.code, 0) << first.err;
  expect_usage_error(command + " ppo.epochs=2 --resume", "ppo.epochs is 1 in the run, 2 here");
  expect_usage_error(command + " --seed 3 --resume", "seed is 2 in the run, 3 here");
  const Result resumed = run(command + " --resume");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_NE(resumed.out.find("2 iterations"), std::string::npos) << resumed.out;

  const std::string expert =
      "expert --env hopper --steps 1024 --set ppo.rollout_steps=64 "
      "--quiet --runs " +
      dir.string() + " --name ex";
  const Result e1 = run(expert + " --stop-after 1");
  ASSERT_EQ(e1.code, 0) << e1.err;
  expect_usage_error(expert + " --set ppo.lr=1 --resume", "ppo.lr is ");
  const Result e2 = run(expert + " --resume");
  ASSERT_EQ(e2.code, 0) << e2.err;
  EXPECT_NE(e2.out.find("2 iterations"), std::string::npos) << e2.out;

  // --env overrides the env of a --config file (as sweep cells run a Hopper config on
  // Walker2d), on resuming too.
  const fs::path hopper_config = dir / "hopper.json";
  std::ofstream(hopper_config) << R"({"env": {"name": "hopper"}, "ppo": {"rollout_steps": 64}})";
  const std::string walker = "expert --config " + hopper_config.string() +
                             " --env walker2d --steps 1024 --quiet --runs " + dir.string() +
                             " --name wk";
  const Result w1 = run(walker + " --stop-after 1");
  ASSERT_EQ(w1.code, 0) << w1.err;
  const Result w2 = run(walker + " --resume");
  ASSERT_EQ(w2.code, 0) << w2.err;
  EXPECT_EQ(
      json::parse_file((dir / "wk" / "config.json").string()).at("env").at("name").as_string(),
      "walker2d");
  EXPECT_NE(w2.out.find("2 iterations"), std::string::npos) << w2.out;
}

}  // namespace
