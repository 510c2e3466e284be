// `relmimic profile`: where one Algorithm-1 iteration spends its time, phase by phase, and with
// --kernels region by region (engine/profile.h: networks, layers of the relational block).
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "algos/imitate.h"
#include "engine/profile.h"
#include "env/demos.h"
#include "kernels/common.h"
#include "kernels/conv2d.h"
#include "tools/cli.h"
#include "tools/commands.h"

namespace relmimic::cli {

namespace {
// Random frames in the demonstration format: the timing does not depend on what they show.
std::string synthetic_demos(const std::string& task, int size, int frames) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("relmimic-profile-demos-" + std::to_string(getpid()) + ".h5"))
                               .string();
  env::DemoMeta meta;
  meta.env = task;
  meta.frame_height = meta.frame_width = size;
  meta.expert_sha256 = std::string(64, '0');
  env::DemoWriter w(path, meta);
  Rng rng(7);
  const int len = std::max(frames, 64);
  Tensor t = Tensor::zeros({len + 1, size, size}, DType::u8);
  for (int ep = 0; ep < 2; ++ep) {
    for (long i = 0; i < t.numel(); ++i) t.data<uint8_t>()[i] = uint8_t(rng.below(256));
    w.add_episode(t, 0.0, len);
  }
  w.commit();
  return path;
}

// The region table: each region's calls and time over the timed iterations, indented by depth,
// with its share of the mean iteration (`iteration_ms`).
void print_regions(const std::vector<profile::Region>& regions, int iterations, double iteration_ms,
                   const char* clock) {
  std::printf("\nregions (%s, total over %d iteration(s))\n", clock, iterations);
  std::printf("%-48s %8s %12s %10s %8s\n", "region", "calls", "total ms", "ms/call", "% iter");
  for (const profile::Region& r : regions) {
    const std::string name = std::string(size_t(2 * r.depth), ' ') + r.name;
    std::printf("%-48s %8ld %12.4f %10.5f %7.1f%%\n", name.c_str(), r.calls, r.ms,
                r.calls > 0 ? r.ms / double(r.calls) : 0.0,
                100 * r.ms / (iteration_ms * iterations));
  }
  // The same names summed wherever they ran (a name nested in itself counted once), largest
  // first: e.g. the relational block's attention over every network and pass.
  struct Sum {
    std::string name;
    long calls = 0;
    double ms = 0;
  };
  std::vector<Sum> sums;
  std::vector<const profile::Region*> stack;
  for (const profile::Region& r : regions) {
    stack.resize(size_t(r.depth));
    const bool nested_in_itself = std::any_of(
        stack.begin(), stack.end(), [&](const profile::Region* p) { return p->name == r.name; });
    stack.push_back(&r);
    if (nested_in_itself) continue;
    auto it =
        std::find_if(sums.begin(), sums.end(), [&](const Sum& x) { return x.name == r.name; });
    if (it == sums.end()) it = sums.insert(sums.end(), Sum{r.name});
    it->calls += r.calls;
    it->ms += r.ms;
  }
  std::stable_sort(sums.begin(), sums.end(),
                   [](const Sum& a, const Sum& b) { return a.ms > b.ms; });
  std::printf("\nregions by name (summed over where they ran)\n");
  std::printf("%-48s %8s %12s %10s %8s\n", "name", "calls", "total ms", "ms/call", "% iter");
  for (const Sum& x : sums)
    std::printf("%-48s %8ld %12.4f %10.5f %7.1f%%\n", x.name.c_str(), x.calls, x.ms,
                x.calls > 0 ? x.ms / double(x.calls) : 0.0,
                100 * x.ms / (iteration_ms * iterations));
}
}  // namespace

int cmd_profile(int argc, char** argv) {
  std::string env_name = "hopper", variant = "rm-l-l", demos;
  std::vector<std::string> sets;
  int frames = 4, frame_size = 84, envs = 0, rollout = 0, iterations = 1, warmup = 1;
  bool regions = false;
  std::string clock = "wall";
  Args a("profile",
         "times full iterations of Algorithm 1 (rollout with rendering, D reward, D updates with "
         "the gradient penalty, PPO update) on this machine's backend and prints each phase's "
         "share and the samples per second. Defaults are the paper's sizes (SPEC.md).");
  a.add("--variant", variant, "baseline | rm-l-l | rm-l-nl | rm-nl-nl");
  a.add("--env", env_name, "hopper or walker2d");
  a.add("--frames", frames, "frames k stacked per state");
  a.add("--frame-size", frame_size, "rendered frame height = width");
  a.add("--envs", envs, "env.num_envs (0: the config's)");
  a.add("--rollout-steps", rollout, "ppo.rollout_steps per env (0: the config's)");
  a.add("--demos", demos, "demonstrations to sample expert windows from (default: random frames)");
  a.add("--iterations", iterations, "timed iterations (averaged)");
  a.add("--warmup", warmup, "untimed iterations first");
  a.add("--set", sets, "override one setting, key=value (e.g. ppo.epochs=2)");
  a.flag("--kernels", regions,
         "also time every named region (networks, the relational block's projections and "
         "attention, ...) and print them as a tree after the phases");
  a.add("--clock", clock,
        "region clock: wall (CPU backend) or cuda (CUDA events on the default stream, resolved "
        "after the run)");
  if (!a.parse(argc, argv)) return a.exit_code();
  if (iterations < 1 || warmup < 0) {
    std::fprintf(stderr, "relmimic profile: --iterations must be >= 1 and --warmup >= 0\n");
    return 2;
  }
  if (clock != "wall" && clock != "cuda") {
    std::fprintf(stderr, "relmimic profile: --clock must be wall or cuda, got '%s'\n",
                 clock.c_str());
    return 2;
  }

  Config cfg;
  algos::declare_imitation(cfg);
  cfg.set("env.name", json::Value(env_name), "--env");
  cfg.set("variant", json::Value(variant), "--variant");
  cfg.set("net.frames", json::Value(frames), "--frames");
  cfg.set("net.frame_size", json::Value(frame_size), "--frame-size");
  if (envs > 0) cfg.set("env.num_envs", json::Value(envs), "--envs");
  if (rollout > 0) cfg.set("ppo.rollout_steps", json::Value(rollout), "--rollout-steps");
  cfg.set("eval.every", json::Value(0), "profile");
  cfg.apply_overrides(sets);
  algos::apply_variant(cfg);
  const bool own_demos = demos.empty();
  cfg.set("demos", json::Value(own_demos ? std::string("(random frames)") : demos), "--demos");
  const algos::ImitationSettings s = algos::imitation_settings(cfg);
  if (own_demos) {
    demos = synthetic_demos(env_name, s.ppo.frame_size, s.ppo.frames);
    cfg.set("demos", json::Value(demos), "--demos");
  }

  struct Phase {
    const char* name;
    double seconds = 0;
  };
  std::vector<Phase> phases = {{"env step + render (waited for)"},
                               {"policy/value forward, sampling, GAE"},
                               {"D forward (reward)"},
                               {"D update (BCE + gradient penalty)"},
                               {"PPO update (policy + value)"}};
  int disc_updates = 0;
  bool pipelined = false;
  std::vector<profile::Region> timed;
  if (s.ppo.threads > 0) omp_set_num_threads(s.ppo.threads);
  try {
    algos::ImitationTrainer t(cfg, Comm::world());
    pipelined = t.ppo().pipelined();
    for (int i = 0; i < warmup + iterations; ++i) {
      if (regions && i == warmup)
        profile::start(clock == "cuda" ? profile::Clock::cuda_events : profile::Clock::wall);
      const algos::ImitationStats st = t.iterate();
      if (i < warmup) continue;
      const double env = st.ppo.env_seconds;
      phases[0].seconds += env;
      phases[1].seconds += st.ppo.rollout_seconds - env;
      phases[2].seconds += st.reward_seconds;
      phases[3].seconds += st.disc_seconds;
      phases[4].seconds += st.ppo.update_seconds;
      disc_updates = st.disc_updates;
    }
    if (regions) {
      timed = profile::regions();
      profile::stop();
    }
  } catch (...) {
    profile::stop();
    if (own_demos) std::filesystem::remove(demos);
    throw;
  }
  if (own_demos) std::filesystem::remove(demos);

  double total = 0;
  for (Phase& p : phases) {
    p.seconds /= iterations;
    total += p.seconds;
  }
  const long B = s.ppo.batch();
  const long minibatches = s.ppo.epochs * ((B + s.ppo.minibatch - 1) / s.ppo.minibatch);
  std::printf(
      "%s %s, k=%d, %dx%d frames, %d envs x %d steps = %ld samples; %d D updates of "
      "%d+%d windows; %ld PPO minibatches of %d; %d thread(s); CPU convolutions %s; rollout %s; "
      "mean of %d iteration(s)\n",
      env::task_name(s.ppo.task), algos::variant_name(s.variant), s.ppo.frames, s.ppo.frame_size,
      s.ppo.frame_size, s.ppo.num_envs, s.ppo.rollout_steps, B, disc_updates, s.disc_minibatch,
      s.disc_minibatch, minibatches, s.ppo.minibatch, omp_get_max_threads(),
      kernels::cpu_conv_name(kernels::cpu_conv()), pipelined ? "pipelined" : "plain", iterations);
  std::printf("%-40s %12s %8s\n", "phase", "ms", "%");
  for (const Phase& p : phases)
    std::printf("%-40s %12.1f %7.1f%%\n", p.name, 1e3 * p.seconds, 100 * p.seconds / total);
  std::printf("%-40s %12.1f %7.1f%%\n", "iteration", 1e3 * total, 100.0);
  std::printf("samples/s (env steps per second of training): %.1f\n", double(B) / total);
  if (regions)
    print_regions(timed, iterations, 1e3 * total, clock == "cuda" ? "CUDA events" : "wall clock");
  return 0;
}

}  // namespace relmimic::cli
