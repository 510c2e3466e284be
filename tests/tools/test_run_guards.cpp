// What protects the user's files and memory from a wrong argument, as the user meets it on the
// command line: a checkpoint used with another env's sizes, an output file that exists, a demos
// file given to eval, values that make no sense.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "engine/h5.h"
#include "engine/json.h"
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
  const Result r = run("rl --env hopper --net local --frames 2 --runs " + root_dir().string() +
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

}  // namespace
