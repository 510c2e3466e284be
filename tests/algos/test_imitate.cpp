// Relational Mimic's learner: the stored next-state windows are the true s^k_{t+1} (final
// stacks on done steps, not reset frames), the reward written into the rollout is exactly D's
// reward of those windows with D frozen, D then trains, a few-iteration run logs finite values,
// an interrupted run resumes bit-identically, and the variants / bad settings / bad demos are
// handled by name.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "algos/imitate_run.h"
#include "algos/probe.h"
#include "engine/checkpoint.h"
#include "kernels/common.h"
#include "report/curves.h"
#include "tests/algos/imitate_test_util.h"
#include "tests/test_util.h"

namespace relmimic {
namespace {

namespace fs = std::filesystem;
using testing::tiny_imitation;
using testing::write_random_demos;

fs::path temp_dir(const std::string& name) {
  fs::path p = fs::temp_directory_path() /
               ("relmimic_test_imitate_" + std::to_string(getpid()) + "_" + name);
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

// One demonstration file for the whole program: 3 episodes of random 32x32 frames.
const std::string& demos() {
  static const std::string path = [] {
    const fs::path d = temp_dir("demos");
    const std::string p = (d / "demos.h5").string();
    write_random_demos(p, 32, {20, 35, 9});
    return p;
  }();
  static const struct Remove {
    ~Remove() { fs::remove_all(fs::path(path).parent_path()); }
  } remove;
  return path;
}

// A copy of the trainer's D as it is now (parameters and spectral-norm buffers), e.g. to score a
// rollout with D as it was before the iteration updated it.
std::unique_ptr<algos::Discriminator<float>> frozen_copy(algos::ImitationTrainer& t) {
  auto d = std::make_unique<algos::Discriminator<float>>(t.disc().config());
  auto copy = [](ParamSet<float>& from, ParamSet<float>& to) {
    EXPECT_EQ(from.size(), to.size());
    std::memcpy(to.values(), from.values(), size_t(from.size()) * sizeof(float));
  };
  copy(t.disc().parameters(), d->parameters());
  copy(t.disc().net().buffers(), d->net().buffers());
  return d;
}

TEST(Imitation, RewardIsDOfTheStoredNextStateWindows) {
  algos::ImitationTrainer t(tiny_imitation(demos(), 1));
  // A copy of D as it is during the rollout (the iteration updates D after the reward).
  const auto frozen_d = frozen_copy(t);
  algos::Discriminator<float>& frozen = *frozen_d;

  const algos::ImitationStats st = t.iterate();
  const algos::Rollout& buf = t.ppo().rollout();
  const long B = t.settings().ppo.batch();
  const int N = t.settings().ppo.num_envs, k = 2;
  const long per = long(k) * 32 * 32, hw = 32 * 32;
  const Tensor next = t.next_windows();
  ASSERT_EQ(next.dim(0), B);

  std::vector<float> want(static_cast<size_t>(B));
  frozen.reward(next, want.data());
  ASSERT_EQ(buf.rewards.numel(), B);
  double sum = 0;
  for (long i = 0; i < B; ++i) {
    ASSERT_EQ(buf.rewards.data<float>()[i], want[size_t(i)]) << "sample " << i;
    EXPECT_EQ(t.rewards()[size_t(i)], want[size_t(i)]);
    EXPECT_TRUE(std::isfinite(want[size_t(i)]) && want[size_t(i)] >= 0);
    sum += want[size_t(i)];
  }
  EXPECT_NEAR(st.mean_reward, sum / double(B), 1e-9);
  double dev = 0;
  for (long i = 0; i < B; ++i) dev += std::pow(want[size_t(i)] - sum / double(B), 2) / double(B);
  EXPECT_NEAR(st.reward_std, std::sqrt(dev), 1e-6 * std::sqrt(dev));
  EXPECT_GT(st.reward_std, 0.0);
  // Random actions move the hopper: a finite, non-zero mean forward velocity.
  EXPECT_TRUE(std::isfinite(st.train_velocity) && st.train_velocity != 0 &&
              std::fabs(st.train_velocity) < 10);
  // D trained after the reward: the same windows now score differently.
  EXPECT_EQ(st.disc_updates, 2);
  std::vector<float> after(static_cast<size_t>(B));
  t.disc().reward(next, after.data());
  EXPECT_NE(after, want);

  // s^k_{t+1} is the stack after the step: its older k-1 frames are the newest k-1 of s^k_t
  // (also on done steps, whose next sample starts a new episode), and on a done step it is not
  // the reset stack that the next sample observes.
  const uint8_t* obs = buf.obs.data<uint8_t>();
  const uint8_t* nx = next.data<uint8_t>();
  int dones = 0;
  for (long i = 0; i < B; ++i) {
    ASSERT_EQ(std::memcmp(nx + i * per, obs + i * per + hw, size_t(per - hw)), 0) << "sample " << i;
    const bool done = buf.host_terminated[size_t(i)] || buf.host_truncated[size_t(i)];
    if (i + N < B && !done)
      EXPECT_EQ(std::memcmp(nx + i * per, obs + (i + N) * per, size_t(per)), 0) << "sample " << i;
    if (i + N < B && done) {
      ++dones;
      EXPECT_NE(std::memcmp(nx + i * per, obs + (i + N) * per, size_t(per)), 0) << "sample " << i;
    }
  }
  EXPECT_GT(dones, 0) << "no episode ended inside the rollout; the done path went untested";
}

// Raw bytes of the networks, optimizer moments and spectral-norm vectors of a checkpoint.
std::vector<uint8_t> state_bytes(const std::string& path) {
  const h5::File f = h5::File::open(path);
  std::vector<uint8_t> out;
  auto add = [&](const std::string& p) {
    const Tensor t = f.read(p);
    const auto* b = static_cast<const uint8_t*>(t.raw());
    out.insert(out.end(), b, b + t.nbytes());
  };
  for (const std::string net : {"policy", "value", "discriminator"}) {
    for (const std::string& name : f.list(net + "/params")) add(net + "/params/" + name);
    if (f.exists(net + "/buffers"))
      for (const std::string& name : f.list(net + "/buffers")) add(net + "/buffers/" + name);
    add(net + "/adam/m");
    add(net + "/adam/v");
  }
  return out;
}

std::vector<std::string> lines(const fs::path& p) {
  return testing::file_lines(p);
}

// A progress row without its timing columns (env_seconds onwards).
std::string deterministic_part(const std::string& row) {
  const auto& cols = algos::imitation_columns();
  size_t timing = 0;
  while (cols[timing] != "env_seconds") ++timing;
  size_t pos = 0;
  for (size_t i = 0; i < timing; ++i) pos = row.find(',', pos) + 1;
  return row.substr(0, pos);
}

algos::RunOptions options(const fs::path& dir) {
  algos::RunOptions o;
  o.run_dir = dir.string();
  o.progress = false;
  return o;
}

TEST(Imitation, FewIterationRunLogsFiniteValues) {
  const fs::path dir = temp_dir("run");
  const algos::ImitationResult r = algos::train_imitation(tiny_imitation(demos(), 3), options(dir));
  ASSERT_TRUE(r.finished);
  EXPECT_EQ(r.iterations, 3);
  EXPECT_EQ(r.timesteps, 192);
  const report::CsvTable t = report::read_csv((dir / "progress.csv").string());
  ASSERT_EQ(t.rows(), 3);
  for (const char* c :
       {"disc_loss", "disc_expert_loss", "disc_agent_loss", "disc_penalty", "disc_expert_acc",
        "disc_agent_acc", "mean_reward", "policy_loss", "value_loss", "entropy", "approx_kl",
        "eval_return", "eval_std", "lr", "fps", "env_seconds", "disc_seconds"})
    for (double v : t.column(c)) EXPECT_TRUE(std::isfinite(v)) << c;
  for (double v : t.column("disc_penalty")) EXPECT_GE(v, 0);
  for (double v : t.column("disc_expert_acc")) EXPECT_TRUE(v >= 0 && v <= 1);
  EXPECT_EQ(t.column("disc_updates")[0], 2);
  EXPECT_EQ(t.column("eval_episodes")[2], 6);
  // Random Hopper episodes end within the first 64 steps: the training return is logged.
  EXPECT_TRUE(std::isfinite(t.column("train_return")[2]));
  // `relmimic plot` groups runs by config.json's variant and reads eval_return.
  const report::RunData run = report::load_run(dir.string());
  EXPECT_EQ(run.variant, "rm-l-l");
  EXPECT_EQ(run.y.size(), 3u);
  EXPECT_TRUE(fs::exists(dir / "checkpoints" / "final.h5"));
  fs::remove_all(dir);
}

// Runs cfg whole into a and, stopped after one iteration (not on a checkpoint_every boundary)
// and resumed, into b; expects the same parameters, Adam moments and progress rows (timings left
// out), iterations + 1 rows each.
void expect_resume_is_exact(const Config& cfg, const fs::path& a, const fs::path& b,
                            size_t iterations) {
  ASSERT_TRUE(algos::train_imitation(cfg, options(a)).finished);
  algos::RunOptions first = options(b);
  first.stop_after = 1;
  EXPECT_FALSE(algos::train_imitation(cfg, first).finished);
  algos::RunOptions second = options(b);
  second.resume = true;
  const algos::ImitationResult rest =
      algos::train_imitation(algos::imitation_resume_config(b.string()), second);
  ASSERT_TRUE(rest.finished);
  EXPECT_EQ(rest.iterations, long(iterations));
  const auto want = state_bytes((a / "checkpoints" / "final.h5").string());
  const auto got = state_bytes((b / "checkpoints" / "final.h5").string());
  ASSERT_EQ(want.size(), got.size());
  EXPECT_TRUE(want == got) << "resumed parameters differ from the uninterrupted run's";
  const auto la = lines(a / "progress.csv"), lb = lines(b / "progress.csv");
  ASSERT_EQ(la.size(), iterations + 1);
  ASSERT_EQ(lb.size(), la.size());
  for (size_t i = 0; i < la.size(); ++i)
    EXPECT_EQ(deterministic_part(la[i]), deterministic_part(lb[i])) << "progress row " << i;
}

TEST(Imitation, ResumedRunIsBitIdenticalToAnUninterruptedOne) {
  const fs::path a = temp_dir("whole"), b = temp_dir("split");
  const Config cfg = tiny_imitation(demos(), 4, "rm-l-nl");
  expect_resume_is_exact(cfg, a, b, 4);
  // The checkpoint is also a PPO checkpoint: evaluation and recording read its policy.
  algos::PpoPolicy pol((a / "checkpoints" / "final.h5").string(), 1);
  EXPECT_EQ(pol.settings().arch, Arch::local);
  EXPECT_EQ(pol.settings().value_arch, Arch::nonlocal);
  EXPECT_EQ(pol.timesteps(), 256);

  // Another seed gives other bytes: the comparison above can fail.
  const fs::path c = temp_dir("seed");
  Config other = cfg;
  other.apply_override("seed=4");
  other.apply_override("ppo.total_steps=64");
  algos::train_imitation(other, options(c));
  Config one = cfg;
  one.apply_override("ppo.total_steps=64");
  const fs::path d = temp_dir("seed3");
  algos::train_imitation(one, options(d));
  EXPECT_FALSE(state_bytes((c / "checkpoints" / "final.h5").string()) ==
               state_bytes((d / "checkpoints" / "final.h5").string()));
  for (const fs::path& p : {a, b, c, d}) fs::remove_all(p);
}

Config with_reward_norm(Config c) {
  c.apply_overrides({"imitate.reward_norm=return_std", "imitate.reward_clip=5"});
  return c;
}

// imitate.reward_norm = return_std: the rollout holds D's reward of the stored windows scaled
// as a fresh VecNormalize-style normaliser scales it (the iteration's gamma, episode ends and
// clip); the logged mean reward stays D's own.
TEST(Imitation, NormalisedRewardIsDsRewardOverItsReturnStd) {
  EXPECT_EQ(algos::imitation_settings(tiny_imitation(demos(), 1)).reward_norm, false);
  algos::ImitationTrainer t(with_reward_norm(tiny_imitation(demos(), 1)));
  ASSERT_NE(t.reward_normalizer(), nullptr);
  const auto frozen_d = frozen_copy(t);
  algos::Discriminator<float>& frozen = *frozen_d;

  const algos::ImitationStats st = t.iterate();
  const algos::Rollout& buf = t.ppo().rollout();
  const long B = t.settings().ppo.batch();
  std::vector<float> raw(static_cast<size_t>(B)), want(static_cast<size_t>(B));
  frozen.reward(t.next_windows(), raw.data());
  algos::ReturnNormalizer n(t.settings().ppo.num_envs, t.settings().ppo.gamma, 5.0);
  n.scale(t.settings().ppo.rollout_steps, raw.data(), buf.host_terminated.data(),
          buf.host_truncated.data(), want.data());
  double sum = 0;
  for (long i = 0; i < B; ++i) {
    ASSERT_EQ(buf.rewards.data<float>()[i], want[size_t(i)]) << "sample " << i;
    EXPECT_EQ(t.rewards()[size_t(i)], want[size_t(i)]);
    EXPECT_NE(want[size_t(i)], raw[size_t(i)]) << "sample " << i;
    sum += raw[size_t(i)];
  }
  EXPECT_NEAR(st.mean_reward, sum / double(B), 1e-9);
  EXPECT_EQ(t.reward_normalizer()->stats().var(), n.stats().var());
  EXPECT_EQ(t.reward_normalizer()->running(), n.running());
}

// The normaliser's statistics and running returns travel in the checkpoint: a run killed after
// one iteration and resumed ends like the uninterrupted one.
TEST(Imitation, ResumedRunWithNormalisedRewardIsBitIdentical) {
  const fs::path a = temp_dir("norm_whole"), b = temp_dir("norm_split");
  const Config cfg = with_reward_norm(tiny_imitation(demos(), 3));
  expect_resume_is_exact(cfg, a, b, 3);
  const std::string fa = (a / "checkpoints" / "final.h5").string();
  const std::string fb = (b / "checkpoints" / "final.h5").string();
  const h5::File ha = h5::File::open(fa), hb = h5::File::open(fb);
  for (const std::string d :
       {"imitate_reward_norm/mean", "imitate_reward_norm/var", "imitate_reward_norm/running"}) {
    const Tensor ta = ha.read(d), tb = hb.read(d);
    ASSERT_EQ(ta.nbytes(), tb.nbytes()) << d;
    EXPECT_EQ(std::memcmp(ta.raw(), tb.raw(), ta.nbytes()), 0) << d;
  }

  // A checkpoint of a run without the normaliser cannot resume one with it.
  {
    algos::ImitationTrainer plain(tiny_imitation(demos(), 1));
    plain.save((a / "plain.h5").string());
  }
  algos::ImitationTrainer normed(cfg);
  try {
    normed.load((a / "plain.h5").string());
    ADD_FAILURE() << "loaded a checkpoint without the reward normaliser";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("imitate.reward_norm"), std::string::npos) << e.what();
  }
  for (const fs::path& p : {a, b}) fs::remove_all(p);
}

TEST(Imitation, VariantsChooseTheRelationalModules) {
  struct Want {
    const char* name;
    bool reward;
    Arch policy, value;
  };
  for (const Want& w : {Want{"baseline", false, Arch::local, Arch::local},
                        Want{"rm-l-l", true, Arch::local, Arch::local},
                        Want{"rm-l-nl", true, Arch::local, Arch::nonlocal},
                        Want{"rm-nl-nl", true, Arch::nonlocal, Arch::nonlocal}}) {
    const algos::ImitationSettings s =
        algos::imitation_settings(tiny_imitation(demos(), 1, w.name));
    EXPECT_EQ(algos::variant_name(s.variant), std::string(w.name));
    EXPECT_EQ(s.disc.relational, w.reward) << w.name;
    EXPECT_EQ(s.ppo.arch, w.policy) << w.name;
    EXPECT_EQ(s.ppo.value_arch, w.value) << w.name;
    EXPECT_EQ(s.disc.frames, 2);
    EXPECT_EQ(s.disc.height, 32);
  }
  // The built networks follow: RM-NL-NL has relational policy and value torsos.
  algos::ImitationTrainer t(tiny_imitation(demos(), 1, "rm-nl-nl"));
  EXPECT_EQ(t.ppo().policy().config().arch, Arch::nonlocal);
  EXPECT_EQ(t.ppo().value().config().arch, Arch::nonlocal);
  EXPECT_GT(t.disc().net().attention_flops(), 0);
  algos::ImitationTrainer base(tiny_imitation(demos(), 1, "baseline"));
  EXPECT_EQ(base.disc().net().attention_flops(), 0);
}

// Expects imitation_settings to refuse c with `override_` applied, naming `key`.
void refused(Config c, const std::string& override_, const std::string& key) {
  c.apply_override(override_);
  try {
    algos::imitation_settings(c);
    ADD_FAILURE() << override_ << " should be refused";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
  }
}

TEST(Imitation, BadSettingsAreRefusedByName) {
  const Config c = tiny_imitation(demos(), 1);
  refused(c, "net.arch=nonlocal", "net.arch");
  refused(c, "net.value_arch=nonlocal", "net.value_arch");
  refused(c, "disc.variant=baseline", "disc.variant");
  refused(c, "disc.frames=4", "disc.frames");
  refused(c, "ppo.reward_norm=true", "ppo.reward_norm");
  refused(c, "demos=", "demos");
  refused(c, "imitate.disc_minibatch=65", "imitate.disc_minibatch");
  refused(c, "imitate.disc_passes=-1", "imitate.disc_passes");
  refused(c, "eval.envs=1000", "eval.envs");
  refused(c, "variant=rm-x", "rm-x");
  refused(c, "eval.modes=greedy", "eval.modes");
  refused(c, "eval.deterministic=true", "eval.modes");
  refused(c, "imitate.reward_norm=std", "imitate.reward_norm");
  refused(c, "imitate.reward_clip=0", "imitate.reward_clip");
  refused(c, "imitate.disc_shift=-1", "imitate.disc_shift");
  refused(c, "imitate.disc_shift=32", "imitate.disc_shift");  // net.frame_size 32
}

const std::string& state_demos();  // below, with the state imitation tests

// imitate.disc_shift: D's update windows are shifted copies (a fixed seed and a resumed run give
// the same bits), D learns from other inputs than without it, and D on states refuses it.
TEST(Imitation, ShiftedDiscriminatorWindowsAreReproducible) {
  const fs::path a = temp_dir("shift-whole"), b = temp_dir("shift-split"), c = temp_dir("no-shift");
  Config cfg = tiny_imitation(demos(), 3);
  cfg.apply_override("imitate.disc_shift=3");
  expect_resume_is_exact(cfg, a, b, 3);
  Config plain = cfg;
  plain.apply_override("imitate.disc_shift=0");
  ASSERT_TRUE(algos::train_imitation(plain, options(c)).finished);
  EXPECT_FALSE(state_bytes((a / "checkpoints" / "final.h5").string()) ==
               state_bytes((c / "checkpoints" / "final.h5").string()));
  Config states = tiny_imitation(state_demos(), 1);
  states.apply_override("imitate.disc_obs=state");
  refused(states, "imitate.disc_shift=1", "imitate.disc_shift");
  for (const fs::path& p : {a, b, c}) fs::remove_all(p);
}

// Both evaluation modes run side by side from the same initial states; eval_return follows the
// deterministic one; with one mode only, the other's columns stay empty.
TEST(Imitation, EvaluatesDeterministicAndStochasticSideBySide) {
  algos::ImitationTrainer both(tiny_imitation(demos(), 1));
  const algos::ImitationStats st = both.iterate();
  ASSERT_TRUE(std::isfinite(st.eval_det_return) && std::isfinite(st.eval_stoch_return));
  EXPECT_NE(st.eval_det_return, st.eval_stoch_return);
  EXPECT_EQ(st.eval_return, st.eval_det_return);
  EXPECT_EQ(st.eval_std, st.eval_det_std);
  EXPECT_EQ(st.eval_total, 2);
  // The first evaluation is the best so far: its deterministic mean (the window holds just it).
  EXPECT_TRUE(st.new_best);
  EXPECT_NEAR(st.best_eval_return, st.eval_det_return, 1e-9 * std::fabs(st.eval_det_return));
  EXPECT_EQ(both.best_eval_return(), st.best_eval_return);

  Config c = tiny_imitation(demos(), 1);
  c.apply_override("eval.modes=stochastic");
  algos::ImitationTrainer stoch(c);
  const algos::ImitationStats s = stoch.iterate();
  EXPECT_TRUE(std::isnan(s.eval_det_return) && std::isnan(s.eval_det_std));
  EXPECT_EQ(s.eval_return, s.eval_stoch_return);
  // Same seed and initial states: the stochastic evaluation is the one of the run with both.
  EXPECT_EQ(s.eval_stoch_return, st.eval_stoch_return);
  EXPECT_EQ(s.best_eval_return, s.eval_stoch_return);

  c.apply_override("eval.modes=deterministic");
  algos::ImitationTrainer det(c);
  const algos::ImitationStats d = det.iterate();
  EXPECT_TRUE(std::isnan(d.eval_stoch_return));
  EXPECT_EQ(d.eval_det_return, st.eval_det_return);
}

// The run logs the diagnostics, keeps best.h5 at the best deterministic evaluation, and the
// best value survives a checkpoint round trip (so a resumed run knows it).
// A run shorter than eval.every iterations is still evaluated, at its last iteration only.
TEST(Imitation, TheLastIterationIsEvaluated) {
  const fs::path dir = temp_dir("last_eval");
  Config c = tiny_imitation(demos(), 3);
  c.apply_override("eval.every=10");
  ASSERT_TRUE(algos::train_imitation(c, options(dir)).finished);
  const report::CsvTable t = report::read_csv((dir / "progress.csv").string());
  ASSERT_EQ(t.rows(), 3);
  const std::vector<double>& ev = t.column("eval_det_return");
  EXPECT_TRUE(std::isnan(ev[0]) && std::isnan(ev[1]));
  EXPECT_TRUE(std::isfinite(ev[2]));
  fs::remove_all(dir);
}

TEST(Imitation, DiagnosticsAreLoggedAndBestCheckpointIsKept) {
  const fs::path dir = temp_dir("best");
  ASSERT_TRUE(algos::train_imitation(tiny_imitation(demos(), 3), options(dir)).finished);
  const report::CsvTable t = report::read_csv((dir / "progress.csv").string());
  ASSERT_EQ(t.rows(), 3);
  for (const char* c : {"reward_std", "train_velocity", "eval_det_return", "eval_det_std",
                        "eval_stoch_return", "eval_stoch_std", "best_eval_return",
                        "disc_logit_grad_norm", "disc_expert_d", "disc_agent_d"})
    for (double v : t.column(c)) EXPECT_TRUE(std::isfinite(v)) << c;
  for (double v : t.column("disc_logit_grad_norm")) EXPECT_GT(v, 0);
  const std::vector<double>& best = t.column("best_eval_return");
  EXPECT_LE(best[0], best[1]);
  EXPECT_LE(best[1], best[2]);
  for (long i = 0; i < 3; ++i)
    EXPECT_EQ(t.column("eval_return")[i], t.column("eval_det_return")[i]);

  const std::string best_path = algos::best_checkpoint(dir.string());
  ASSERT_TRUE(fs::exists(best_path));
  {
    const h5::File f = h5::File::open(best_path);
    EXPECT_NEAR(f.attr_double("/", "best_eval_return"), best[2], 1e-6 * std::fabs(best[2]));
    const h5::File fin = h5::File::open((dir / "checkpoints" / "final.h5").string());
    EXPECT_NEAR(fin.attr_double("/", "best_eval_return"), best[2], 1e-6 * std::fabs(best[2]));
  }
  algos::PpoPolicy pol(best_path, 1);  // an ordinary checkpoint: it evaluates
  EXPECT_GT(pol.timesteps(), 0);

  // Loaded into a fresh trainer, the best value and the evaluation windows come back.
  algos::ImitationTrainer fresh(tiny_imitation(demos(), 3));
  EXPECT_TRUE(std::isinf(fresh.best_eval_return()));
  fresh.load((dir / "checkpoints" / "final.h5").string());
  EXPECT_NEAR(fresh.best_eval_return(), best[2], 1e-6 * std::fabs(best[2]));
  fs::remove_all(dir);
}

TEST(Imitation, DemonstrationsThatDoNotFitTheRunAreRejected) {
  const fs::path dir = temp_dir("bad_demos");
  const std::string wrong_size = (dir / "size48.h5").string();
  const std::string short_ep = (dir / "short.h5").string();
  const std::string walker = (dir / "walker.h5").string();
  write_random_demos(wrong_size, 48, {10});
  write_random_demos(short_ep, 32, {10, 1});  // 2 frames: fewer than k = 4
  write_random_demos(walker, 32, {10}, "walker2d");
  auto message = [](const Config& c) {
    try {
      algos::ImitationTrainer t(c);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  std::string m = message(tiny_imitation(wrong_size, 1));
  EXPECT_NE(m.find("size48.h5"), std::string::npos) << m;
  EXPECT_NE(m.find("48"), std::string::npos) << m;
  Config k4 = tiny_imitation(short_ep, 1);
  k4.apply_override("net.frames=4");
  algos::apply_variant(k4);
  m = message(k4);
  EXPECT_NE(m.find("short.h5"), std::string::npos) << m;
  EXPECT_NE(m.find("k = 4"), std::string::npos) << m;
  EXPECT_EQ(message(tiny_imitation(short_ep, 1)), "accepted");  // k = 2 fits
  m = message(tiny_imitation(walker, 1));
  EXPECT_NE(m.find("walker2d"), std::string::npos) << m;
  fs::remove_all(dir);
}

// ---- imitation from states -----------------------------------------------------------------

using testing::record_state_demos;
using testing::state_imitation;

// Observation demonstrations of the shipped Hopper expert, recorded once for the program.
const std::string& state_demos() {
  static const std::string path = [] {
    const fs::path d = temp_dir("state_demos");
    const std::string p = (d / "hopper-state.h5").string();
    record_state_demos(p, std::string(RELMIMIC_SOURCE_DIR) + "/experts/hopper.h5");
    return p;
  }();
  static const struct Remove {
    ~Remove() { fs::remove_all(fs::path(path).parent_path()); }
  } remove;
  return path;
}

// A short state run: 2 envs x 32 steps, one epoch, so random episodes end inside the rollout.
Config tiny_state_imitation(int iterations) {
  Config c = state_imitation(state_demos(), iterations);
  c.apply_overrides({"env.num_envs=2", "ppo.rollout_steps=32", "ppo.minibatch=32", "ppo.epochs=1",
                     "imitate.disc_minibatch=32", "eval.every=1", "eval.episodes=2", "eval.envs=2",
                     "ppo.total_steps=" + std::to_string(64 * iterations)});
  return c;
}

TEST(StateImitation, WindowsAreTheRawObservationsAfterEachStepAndDScoresThem) {
  algos::ImitationTrainer t(tiny_state_imitation(1));
  const int N = 2, k = 2, D = 11;
  ASSERT_EQ(t.ppo().pool().obs_dim(), D);
  EXPECT_EQ(t.ppo().policy().config().arch, Arch::mlp);
  EXPECT_TRUE(t.ppo().obs_rms() != nullptr);
  // Before any step every window is the reset observation, k times.
  for (int n = 0; n < N; ++n)
    for (int j = 0; j < k; ++j)
      EXPECT_EQ(std::memcmp(t.obs_windows().data() + (n * k + j) * D, t.ppo().raw_obs() + n * D,
                            D * sizeof(float)),
                0);
  const auto frozen_d = frozen_copy(t);
  algos::Discriminator<float>& frozen = *frozen_d;

  const algos::ImitationStats st = t.iterate();
  const algos::Rollout& buf = t.ppo().rollout();
  const long B = t.settings().ppo.batch();
  const Tensor next = t.next_windows();
  ASSERT_EQ(next.shape(), (Shape{B, k, D}));
  ASSERT_EQ(next.dtype(), DType::f32);
  std::vector<float> want(static_cast<size_t>(B));
  frozen.reward(next, want.data());
  for (long i = 0; i < B; ++i) ASSERT_EQ(buf.rewards.data<float>()[i], want[size_t(i)]) << i;
  EXPECT_EQ(st.disc_updates, 2);

  // s_{t+1} = (o_t, o_{t+1}): the older slot is the previous window's newer one within an
  // episode; after a done step the next episode starts from its reset observation (not the
  // finished episode's final one, which the done step's window ends on).
  const float* w = next.data<float>();
  const size_t row = D * sizeof(float);
  auto slot = [&](long i, int j) { return w + (i * k + j) * D; };
  int dones = 0;
  for (long i = N; i < B; ++i) {
    const bool prev_done = buf.host_terminated[size_t(i - N)] || buf.host_truncated[size_t(i - N)];
    if (prev_done) {
      ++dones;
      EXPECT_NE(std::memcmp(slot(i, 0), slot(i - N, 1), row), 0) << i;
    } else {
      EXPECT_EQ(std::memcmp(slot(i, 0), slot(i - N, 1), row), 0) << i;
    }
  }
  EXPECT_GT(dones, 0) << "no episode ended inside the rollout; the done path went untested";
  // The windows go on from where the rollout ended: their newest slot is the envs' observation.
  for (int n = 0; n < N; ++n)
    EXPECT_EQ(
        std::memcmp(t.obs_windows().data() + (n * k + k - 1) * D, t.ppo().raw_obs() + n * D, row),
        0);
}

TEST(StateImitation, ShortRunMovesForwardFarAboveARandomPolicy) {
  const fs::path dir = temp_dir("state_run");
  const algos::ImitationResult r =
      algos::train_imitation(state_imitation(state_demos(), 16), options(dir));
  ASSERT_TRUE(r.finished);
  const report::CsvTable t = report::read_csv((dir / "progress.csv").string());
  ASSERT_EQ(t.rows(), 16);
  const double ret = t.column("train_return")[15], len = t.column("train_length")[15];
  // A random policy: return ~16-20 over ~20 steps, i.e. ~1 per step (the alive bonus). The
  // imitating agent stays up longer and moves forward (the expert's gait earns ~3.5 per step).
  EXPECT_GT(ret, 100) << "training return after 16k steps";
  EXPECT_GT(ret / len, 1.3) << "return per step: the agent does not move forward";
  EXPECT_GT(r.eval_return, 100) << "deterministic evaluation return after 16k steps";
  for (double v : t.column("disc_penalty")) EXPECT_TRUE(std::isfinite(v) && v >= 0);
  fs::remove_all(dir);
}

TEST(StateImitation, ResumedRunIsBitIdenticalToAnUninterruptedOne) {
  const fs::path a = temp_dir("state_whole"), b = temp_dir("state_split");
  expect_resume_is_exact(tiny_state_imitation(4), a, b, 4);
  // The checkpoint keeps the discriminator's input moments and the agent's windows, and is a
  // PPO checkpoint of an mlp policy.
  const h5::File f = h5::File::open((a / "checkpoints" / "final.h5").string());
  EXPECT_TRUE(f.exists("discriminator/buffers/reward.input_mean"));
  EXPECT_EQ(f.shape("imitate/obs_windows"), (Shape{2, 22}));
  algos::PpoPolicy pol((a / "checkpoints" / "final.h5").string(), 1);
  EXPECT_EQ(pol.settings().arch, Arch::mlp);
  // relmimic probe scores frame windows: a state checkpoint is refused saying so.
  algos::ProbeOptions po;
  po.checkpoint = (a / "checkpoints" / "final.h5").string();
  po.demos = state_demos();
  const std::string e = testing::error_of([&] { algos::probe_checkpoint(po); });
  EXPECT_NE(e.find("discriminator scores states"), std::string::npos) << e;
  for (const fs::path& p : {a, b}) fs::remove_all(p);
}

// imitate.disc_obs=state: D on windows of k raw observations (the state runs' mlp D) while the
// policy and value still see frames. The pixel trainer keeps every row's raw observation, D's
// windows end on the observation of each sample's s_{t+1} row, the rewards are D's on them, and
// a resumed run is bit-identical.
TEST(StateImitation, DiscriminatorOnStatesBesideAPixelPolicy) {
  Config c = tiny_imitation(state_demos(), 1);
  c.apply_override("imitate.disc_obs=state");
  algos::ImitationTrainer t(c);
  const int k = 2, D = 11;
  EXPECT_EQ(t.ppo().policy().config().arch, Arch::local);
  EXPECT_TRUE(t.ppo().obs_rms() == nullptr);
  EXPECT_TRUE(t.settings().disc_states);
  EXPECT_FALSE(t.settings().states);
  const auto frozen_d = frozen_copy(t);

  t.iterate();
  const algos::Rollout& buf = t.ppo().rollout();
  const long B = t.settings().ppo.batch();
  ASSERT_EQ(buf.obs_bytes, long(k) * 32 * 32);  // the policy's rows are frame stacks
  ASSERT_GE(buf.raw_obs.size(), size_t(B) * D);
  const Tensor next = t.next_windows();
  ASSERT_EQ(next.shape(), (Shape{B, k, D}));
  std::vector<float> want(static_cast<size_t>(B));
  frozen_d->reward(next, want.data());
  int dones = 0;
  for (long i = 0; i < B; ++i) {
    ASSERT_EQ(buf.rewards.data<float>()[i], want[size_t(i)]) << i;
    const float* newest = next.data<float>() + (i * k + k - 1) * D;
    const float* raw = buf.raw_obs.data() + size_t(buf.next_row[size_t(i)]) * D;
    ASSERT_EQ(std::memcmp(newest, raw, D * sizeof(float)), 0) << i;
    dones += buf.host_terminated[size_t(i)] || buf.host_truncated[size_t(i)];
  }
  EXPECT_GT(dones, 0) << "no episode ended inside the rollout; the final rows went untested";

  refused(c, "imitate.disc_obs=pixels", "imitate.disc_obs");
  const fs::path a = temp_dir("hybrid_whole"), b = temp_dir("hybrid_split");
  Config three = tiny_imitation(state_demos(), 3);
  three.apply_override("imitate.disc_obs=state");
  expect_resume_is_exact(three, a, b, 3);
  algos::ProbeOptions po;
  po.checkpoint = (a / "checkpoints" / "final.h5").string();
  po.demos = state_demos();
  const std::string e = testing::error_of([&] { algos::probe_checkpoint(po); });
  EXPECT_NE(e.find("discriminator scores states"), std::string::npos) << e;
  for (const fs::path& p : {a, b}) fs::remove_all(p);
}

TEST(StateImitation, DemonstrationsAndSettingsThatDoNotFitAreRefused) {
  auto message = [](const Config& c) {
    try {
      algos::ImitationTrainer t(c);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  // Frames only (random frames, no observations) for a state run.
  Config c = tiny_state_imitation(1);
  c.apply_override("demos=" + demos());
  std::string m = message(c);
  EXPECT_NE(m.find("holds no observations"), std::string::npos) << m;
  // Observations only for a frame run.
  m = message(tiny_imitation(state_demos(), 1));
  EXPECT_NE(m.find("holds no frames"), std::string::npos) << m;

  const Config s = tiny_state_imitation(1);
  refused(s, "net.arch=local", "net.arch");
  refused(s, "ppo.obs_norm=false", "ppo.obs_norm");
  refused(s, "imitate.obs=pixels", "imitate.obs");
  refused(s, "disc.hidden=256,0", "disc.hidden");
  refused(s, "run.device=cuda", "run.device");
}

TEST(StateImitation, ShippedConfigsAreValidStateRuns) {
  for (const std::string env : {"hopper", "walker2d"}) {
    Config c;
    algos::declare_imitation(c);
    c.load_file(std::string(RELMIMIC_SOURCE_DIR) + "/configs/" + env + "-state.json");
    c.set("demos", json::Value("demos.h5"));
    algos::apply_variant(c);
    const algos::ImitationSettings s = algos::imitation_settings(c);
    EXPECT_TRUE(s.states) << env;
    EXPECT_EQ(env::task_name(s.ppo.task), env);
    EXPECT_EQ(s.ppo.arch, Arch::mlp);
    EXPECT_TRUE(s.ppo.obs_norm);
    EXPECT_EQ(s.disc.frames, 2);
  }
}
// ---------------------------------------------------------------- stored numbers
// Short frame (rm-nl-nl) and state runs against numbers stored from the code as it was when the
// trainer was restructured: a change of the loop's order, its random streams or its data flow
// moves them. RELMIMIC_GOLDEN_PRINT=1 prints the current numbers in this table's format, and a
// 64-bit hash of the final parameters and Adam moments and of the progress rows (timings left
// out) that compares two builds exactly on one machine. The tolerance allows another CPU's BLAS
// kernels (their sums round differently); it is far below what a change of behaviour moves.
struct Golden {
  const char* column;
  std::vector<double> values;  // per iteration
};

uint64_t fnv1a(const void* data, size_t n, uint64_t h = 1469598103934665603ull) {
  const auto* b = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  return h;
}

void expect_golden(const char* name, const Config& cfg, const std::vector<Golden>& want) {
  const fs::path dir = temp_dir(std::string("golden_") + name);
  ASSERT_TRUE(algos::train_imitation(cfg, options(dir)).finished);
  const report::CsvTable t = report::read_csv((dir / "progress.csv").string());
  if (std::getenv("RELMIMIC_GOLDEN_PRINT")) {
    const auto bytes = state_bytes((dir / "checkpoints" / "final.h5").string());
    uint64_t rows = 0;
    for (const std::string& l : lines(dir / "progress.csv")) {
      const std::string d = deterministic_part(l);
      rows = fnv1a(d.data(), d.size(), rows ? rows : 1469598103934665603ull);
    }
    std::printf("%s: state hash %016llx, progress hash %016llx\n", name,
                (unsigned long long)fnv1a(bytes.data(), bytes.size()), (unsigned long long)rows);
    for (const Golden& g : want) {
      std::printf("      {\"%s\", {", g.column);
      for (double v : t.column(g.column)) std::printf("%.9g, ", v);
      std::printf("}},\n");
    }
  }
  for (const Golden& g : want) {
    const std::vector<double> got = t.column(g.column);
    ASSERT_EQ(got.size(), g.values.size()) << name << " " << g.column;
    for (size_t i = 0; i < got.size(); ++i)
      EXPECT_NEAR(got[i], g.values[i], 2e-4 * std::abs(g.values[i]) + 1e-6)
          << name << " " << g.column << " at iteration " << i + 1;
  }
  fs::remove_all(dir);
}

TEST(Imitation, ShortRunsMatchTheStoredNumbers) {
  expect_golden("frames", tiny_imitation(demos(), 3, "rm-nl-nl"),
                {
                    {"policy_loss", {0.004449098, -0.001625372, -0.0006219778}},
                    {"value_loss", {10.03867, 6.742681, 7.567978}},
                    {"entropy", {2.724189, 2.723131, 2.722425}},
                    {"approx_kl", {0.0006138422, 2.65862e-05, 1.895581e-05}},
                    {"disc_loss", {9.55981, 9.474113, 9.397893}},
                    {"disc_penalty", {8.191582, 8.108197, 8.030144}},
                    {"disc_logit_grad_norm", {0.09514517, 0.09987652, 0.1042178}},
                    {"mean_reward", {0.7058334, 0.7019677, 0.7023635}},
                    {"reward_std", {0.001160636, 0.001444375, 0.0006942221}},
                    {"train_return", {8.429731, 28.17135, 20.54587}},
                    {"eval_det_return", {42.55637, 59.833, 78.29396}},
                    {"eval_stoch_return", {25.73208, 21.90711, 18.71084}},
                });
  expect_golden("states", tiny_state_imitation(3),
                {
                    {"policy_loss", {-0.0005894197, 2.438733e-05, -6.220202e-05}},
                    {"value_loss", {1.359897, 2.336825, 1.859008}},
                    {"entropy", {4.256366, 4.254974, 4.254401}},
                    {"approx_kl", {9.66749e-06, 2.240416e-06, 3.661595e-07}},
                    {"disc_loss", {8.184778, 7.484644, 6.944828}},
                    {"disc_penalty", {6.970456, 6.316253, 5.837597}},
                    {"disc_logit_grad_norm", {0.1653816, 0.2055394, 0.2363466}},
                    {"mean_reward", {0.2155612, 0.4250527, 0.3558817}},
                    {"reward_std", {0.03985046, 0.02897422, 0.03598036}},
                    {"train_return", {7.051278, 18.9931, 15.79822}},
                    {"eval_det_return", {112.0425, 107.3011, 101.3074}},
                });
}
}  // namespace
}  // namespace relmimic
