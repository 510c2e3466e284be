// `relmimic record` and `relmimic imitate` as the user runs them: demonstrations recorded from a
// (one-iteration) expert are the frames the expert's episodes render, terminal frame included;
// an imitation run on them completes and its checkpoint evaluates; demonstrations that do not
// fit the run are refused with one line and a non-zero exit code, before any run folder exists.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "algos/ppo.h"
#include "engine/json.h"
#include "engine/sha256.h"
#include "env/demos.h"
#include "env/pool.h"
#include "tests/algos/imitate_test_util.h"
#include "tests/test_util.h"

using namespace relmimic;
namespace fs = std::filesystem;

namespace {

fs::path root_dir() {
  static const fs::path root =
      fs::temp_directory_path() / ("relmimic_imitate_cli_" + std::to_string(getpid()));
  return root;
}

using Result = relmimic::testing::SplitResult;
Result run(const std::string& args) {
  return relmimic::testing::run_relmimic_split(root_dir(), args);
}

using relmimic::testing::nonempty_lines;

// The settings that make an imitation run tiny (32x32 frames, 2 envs x 32 steps, narrow D).
const char* kTiny =
    " --quiet net.frame_size=32 env.num_envs=2 ppo.rollout_steps=32 ppo.minibatch=32 "
    "ppo.epochs=1 imitate.disc_minibatch=32 disc.channels=4,8,8,8,8 disc.embed=2,2 "
    "eval.every=1 eval.episodes=1 eval.envs=1 run.threads=1";

// One expert iteration (512 steps), recorded into 2 demonstration episodes of 32x32 frames.
class RecordCommand : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    fs::remove_all(root_dir());
    expert_ = new Result(run("expert --env hopper --runs " + root_dir().string() +
                             " --name e --steps 512 --set ppo.rollout_steps=64 --quiet"));
    record_ = new Result(run("record --expert " + expert() + " --episodes 2 --out " + demos() +
                             " --frame-size 32 --seed 5 --deterministic"));
  }
  static void TearDownTestSuite() {
    delete expert_;
    delete record_;
    fs::remove_all(root_dir());
  }
  static std::string expert() { return (root_dir() / "e" / "checkpoints" / "final.h5").string(); }
  static std::string demos() { return (root_dir() / "demos.h5").string(); }
  static Result *expert_, *record_;
};
Result* RecordCommand::expert_ = nullptr;
Result* RecordCommand::record_ = nullptr;

TEST_F(RecordCommand, DemonstrationsAreTheExpertsRenderedEpisodes) {
  ASSERT_EQ(expert_->code, 0) << expert_->err;
  ASSERT_EQ(record_->code, 0) << record_->out << record_->err;
  EXPECT_NE(record_->out.find("episode 1: return"), std::string::npos) << record_->out;
  env::DemoExpect expect;
  expect.env = "hopper";
  expect.frame_height = expect.frame_width = 32;
  expect.frame_skip = 4;
  const env::DemoSet d(demos(), expect);
  ASSERT_EQ(d.num_episodes(), 2);
  EXPECT_EQ(d.meta().expert_sha256, sha256_file(expert()));
  EXPECT_EQ(d.meta().camera, "track");

  // Replay: the same expert, seed and deterministic actions on an independent pool must render
  // exactly the recorded frames; the last frame of an episode is its terminal state's render,
  // the next episode starts from its reset frame.
  algos::PpoPolicy policy(expert(), 1);
  env::PoolConfig pc;
  pc.task = env::Task::Hopper;
  pc.num_envs = 1;
  pc.seed = 5;
  pc.frame_stack = 1;
  pc.render_config.width = pc.render_config.height = 32;
  env::EnvPool pool(pc);
  const size_t hw = 32 * 32;
  std::vector<uint8_t> frame(hw);
  std::vector<float> obs(size_t(pool.obs_dim())), act(size_t(pool.action_dim()));
  Rng unused(0);
  pool.reset(frame.data(), obs.data());
  for (int ep = 0; ep < 2; ++ep) {
    const uint8_t* rec = d.frames(ep);
    ASSERT_EQ(std::memcmp(rec, frame.data(), hw), 0) << "episode " << ep << " reset frame";
    for (int t = 1; t <= d.length(ep); ++t) {
      policy.act(1, obs.data(), nullptr, true, unused, act.data());
      pool.step(act.data(), frame.data(), obs.data());
      const bool last = t == d.length(ep);
      ASSERT_EQ(pool.done(0), last) << "episode " << ep << " step " << t;
      const uint8_t* want = last ? pool.final_frames(0) : frame.data();
      ASSERT_EQ(std::memcmp(rec + t * hw, want, hw), 0) << "episode " << ep << " frame " << t;
      if (last) {
        EXPECT_DOUBLE_EQ(d.episode_return(ep), pool.episode_returns()[0]);
        EXPECT_NE(std::memcmp(rec + t * hw, frame.data(), hw), 0) << "terminal = reset frame";
      }
    }
  }
}

TEST_F(RecordCommand, ImitationRunsOnTheRecordedDemonstrationsAndEvaluates) {
  ASSERT_EQ(record_->code, 0) << record_->err;
  const std::string runs = root_dir().string();
  const Result r = run("imitate --env hopper --demos " + demos() +
                       " --variant rm-l-nl net.frames=2 --seed 1 --steps 64 --runs " + runs +
                       " --name im" + kTiny);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("1 iterations"), std::string::npos) << r.out;
  const fs::path dir = root_dir() / "im";
  const json::Value cfg = json::parse_file((dir / "config.json").string());
  EXPECT_EQ(cfg.at("variant").as_string(), "rm-l-nl");
  EXPECT_EQ(cfg.at("net").at("value_arch").as_string(), "nonlocal");
  EXPECT_EQ(cfg.at("disc").at("frames").as_long(), 2);
  std::ifstream csv(dir / "progress.csv");
  std::string header, row, extra;
  std::getline(csv, header);
  std::getline(csv, row);
  EXPECT_EQ(header.rfind("iteration,timesteps,", 0), 0u) << header;
  EXPECT_EQ(row.rfind("1,64,64,", 0), 0u) << row;
  EXPECT_FALSE(std::getline(csv, extra));

  const Result e = run("eval --checkpoint " + (dir / "checkpoints" / "final.h5").string() +
                       " --episodes 1 --envs 1 --json");
  ASSERT_EQ(e.code, 0) << e.err;
  EXPECT_EQ(json::parse(e.out, "eval").at("arch").as_string(), "local");

  // Without --resume an existing run is kept.
  const Result again = run("imitate --env hopper --demos " + demos() +
                           " --variant rm-l-nl net.frames=2 --seed 1 --steps 64 --runs " + runs +
                           " --name im" + kTiny);
  EXPECT_EQ(again.code, 1);
  EXPECT_NE(again.err.find("--resume"), std::string::npos) << again.err;
}

// imitate.disc_obs=state beside the pixel policy: the default run name says so (-dstate), so it
// never shares a folder with the frames-D run of the same variant, k and seed.
TEST_F(RecordCommand, StateDiscriminatorRunsGetTheirOwnDefaultName) {
  ASSERT_EQ(record_->code, 0) << record_->err;
  const Result r = run("imitate --env hopper --demos " + demos() +
                       " --variant baseline net.frames=2 --seed 3 --steps 64 --runs " +
                       root_dir().string() + " imitate.disc_obs=state" + kTiny);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const fs::path dir = root_dir() / "hopper-baseline-dstate-k2-s3";
  ASSERT_TRUE(fs::exists(dir / "config.json")) << r.out;
  const json::Value cfg = json::parse_file((dir / "config.json").string());
  EXPECT_EQ(cfg.at("imitate").at("disc_obs").as_string(), "state");
  EXPECT_FALSE(fs::exists(root_dir() / "hopper-baseline-k2-s3"));
}

// A refused run: exit code, exactly one line naming `want`, and no run folder.
void expect_refused(const std::string& args, int code, const std::string& want,
                    const std::string& name) {
  const Result r = run(args + " --runs " + root_dir().string() + " --name " + name);
  EXPECT_EQ(r.code, code) << args << "\n" << r.err;
  const auto err = nonempty_lines(r.err);
  ASSERT_EQ(err.size(), 1u) << r.err;
  EXPECT_NE(err[0].find(want), std::string::npos) << err[0];
  EXPECT_FALSE(fs::exists(root_dir() / name)) << name;
}

TEST(ImitateCommand, DemonstrationsThatDoNotFitAreRefusedWithOneLine) {
  fs::create_directories(root_dir());
  const std::string small = (root_dir() / "small32.h5").string();
  const std::string short_ep = (root_dir() / "short.h5").string();
  relmimic::testing::write_random_demos(small, 32, {12, 7});
  relmimic::testing::write_random_demos(short_ep, 32, {12, 2});  // 3 frames
  // 84x84 run (the default) on 32x32 demonstrations.
  expect_refused("imitate --demos " + small + " --steps 64 --quiet", 1, "small32.h5", "size");
  expect_refused("imitate --demos " + small + " --steps 64 --quiet", 1, "84", "size");
  // k = 4 needs 4 frames per episode; the second episode has 3.
  expect_refused("imitate --demos " + short_ep + " --frames 4 --steps 64" + kTiny, 1, "k = 4",
                 "short");
  expect_refused("imitate --demos " + (root_dir() / "missing.h5").string() + " --steps 64", 1,
                 "missing.h5", "missing");
  expect_refused("imitate --steps 64", 1, "--demos", "nodemos");
  expect_refused("imitate --demos " + small + " --variant rm-x", 1, "rm-x", "variant");
  expect_refused("imitate --demos " + small + " net.arch=nonlocal", 2, "net.arch", "override");
  expect_refused("imitate --demos " + small + " epochs", 2, "epochs", "positional");
  // Every key, with the variant's networks and the imitation defaults (no demos needed).
  const Result cfg = run("imitate --print-config --variant rm-nl-nl --frames 8");
  ASSERT_EQ(cfg.code, 0) << cfg.err;
  const json::Value c = json::parse(cfg.out, "config");
  EXPECT_EQ(c.at("net").at("arch").as_string(), "nonlocal");
  EXPECT_EQ(c.at("net").at("value_arch").as_string(), "nonlocal");
  EXPECT_EQ(c.at("disc").at("variant").as_string(), "relational");
  EXPECT_EQ(c.at("disc").at("frames").as_long(), 8);
  EXPECT_EQ(c.at("disc").at("lambda").as_number(), 10.0);
  EXPECT_FALSE(c.at("ppo").at("reward_norm").as_bool());
  EXPECT_EQ(c.at("imitate").at("disc_minibatch").as_long(), 128);
  EXPECT_EQ(c.at("eval").at("every").as_long(), 10);
  // The k = 2 run on the same file is accepted.
  const Result ok = run("imitate --demos " + short_ep + " net.frames=2 --steps 64 --runs " +
                        root_dir().string() + " --name short_ok" + kTiny);
  EXPECT_EQ(ok.code, 0) << ok.err;
  fs::remove_all(root_dir());
}

// Imitation from states as a user runs it: record observations only from the shipped Hopper
// expert, train briefly with --obs state, resume, evaluate; a frames-only file and a bad --obs
// are refused with one line.
TEST(ImitateCommand, ImitatesFromStatesRecordedWithoutFrames) {
  fs::create_directories(root_dir());
  const std::string demos = (root_dir() / "state.h5").string();
  const Result rec =
      run("record --expert " + std::string(RELMIMIC_SOURCE_DIR) +
          "/experts/hopper.h5 --episodes 2 --deterministic --no-frames --out " + demos);
  ASSERT_EQ(rec.code, 0) << rec.err;
  EXPECT_NE(rec.out.find("observations of 11 values (no frames)"), std::string::npos) << rec.out;
  const std::string runs = root_dir().string();
  const std::string args = "imitate --obs state --demos " + demos +
                           " --frames 2 --steps 192 --quiet env.num_envs=2 ppo.rollout_steps=32 "
                           "ppo.minibatch=32 imitate.disc_minibatch=32 eval.every=1 "
                           "eval.episodes=1 eval.envs=1 --runs " +
                           runs;
  const Result r = run(args + " --stop-after 2");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.err.find("hopper from states (k=2)"), std::string::npos) << r.err;
  const fs::path dir = root_dir() / "hopper-state-k2-s0";  // the default name
  const json::Value cfg = json::parse_file((dir / "config.json").string());
  EXPECT_EQ(cfg.at("imitate").at("obs").as_string(), "state");
  EXPECT_EQ(cfg.at("net").at("arch").as_string(), "mlp");
  EXPECT_TRUE(cfg.at("ppo").at("obs_norm").as_bool());
  const Result resumed =
      run("imitate --resume --quiet --runs " + runs + " --name hopper-state-k2-s0");
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_NE(resumed.out.find("3 iterations"), std::string::npos) << resumed.out;
  const Result e = run("eval --checkpoint " + (dir / "checkpoints" / "final.h5").string() +
                       " --episodes 1 --envs 1 --json");
  ASSERT_EQ(e.code, 0) << e.err;
  EXPECT_EQ(json::parse(e.out, "eval").at("arch").as_string(), "mlp");

  const std::string frames_only = (root_dir() / "frames_only.h5").string();
  relmimic::testing::write_random_demos(frames_only, 32, {12});
  expect_refused("imitate --obs state --steps 64 --demos " + frames_only, 1,
                 "holds no observations", "frames_only");
  expect_refused("imitate --demos " + demos + " --steps 64 --quiet" + std::string(kTiny), 1,
                 "holds no frames", "no_frames");
  expect_refused("imitate --obs pixels --demos " + demos, 2, "--obs must be frames or state",
                 "bad_obs");
  expect_refused("imitate --obs state --demos " + demos + " ppo.obs_norm=false", 2, "ppo.obs_norm",
                 "obs_norm");

  // The default name follows the settings a --config file makes (k = 3 and seed 5 here), and the
  // same command plus --resume finds the run.
  const std::string conf = (root_dir() / "state3.json").string();
  {
    std::ofstream o(conf);
    o << R"({"imitate": {"obs": "state"}, "net": {"frames": 3}, "seed": 5})";
  }
  const std::string by_config = "imitate --config " + conf + " --demos " + demos +
                                " --steps 128 --quiet env.num_envs=2 ppo.rollout_steps=32 "
                                "ppo.minibatch=32 imitate.disc_minibatch=32 eval.every=1 "
                                "eval.episodes=1 eval.envs=1 --runs " +
                                runs;
  const Result named = run(by_config + " --stop-after 1");
  ASSERT_EQ(named.code, 0) << named.err;
  EXPECT_TRUE(fs::exists(root_dir() / "hopper-state-k3-s5" / "config.json"));
  const Result again = run(by_config + " --resume");
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_TRUE(fs::exists(root_dir() / "hopper-state-k3-s5" / "checkpoints" / "final.h5"));
  fs::remove_all(root_dir());
}

}  // namespace

namespace {

TEST(ProfileCommand, PrintsEveryPhaseWithItsShare) {
  const Result r =
      run("profile --variant rm-nl-nl --frames 2 --frame-size 32 --envs 2 --rollout-steps 16 "
          "--warmup 0 --set ppo.minibatch=16 --set ppo.epochs=1 --set imitate.disc_minibatch=16 "
          "--set disc.channels=4,8,8,8,8 --set run.threads=1");
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("hopper rm-nl-nl, k=2, 32x32 frames, 2 envs x 16 steps = 32 samples; 2 D "
                       "updates of 16+16 windows; 2 PPO minibatches"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("; rollout pipelined;"), std::string::npos) << r.out;  // env.pipeline=auto
  double share = 0;
  for (const char* phase :
       {"env step + render (waited for)", "policy/value forward, sampling, GAE",
        "D forward (reward)", "D update (BCE + gradient penalty)", "PPO update (policy + value)"}) {
    const size_t at = r.out.find(phase);
    ASSERT_NE(at, std::string::npos) << phase << "\n" << r.out;
    double ms = -1, pct = -1;
    ASSERT_EQ(std::sscanf(r.out.c_str() + at + std::strlen(phase), "%lf %lf%%", &ms, &pct), 2)
        << phase;
    EXPECT_GE(ms, 0) << phase;
    share += pct;
  }
  EXPECT_NEAR(share, 100.0, 0.5);
  const size_t at = r.out.find("samples/s");
  ASSERT_NE(at, std::string::npos);
  double sps = 0;
  ASSERT_EQ(std::sscanf(r.out.c_str() + r.out.find(':', at) + 1, "%lf", &sps), 1);
  EXPECT_GT(sps, 0);
  fs::remove_all(root_dir());
}

}  // namespace
