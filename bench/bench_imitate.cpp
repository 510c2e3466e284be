// One Algorithm-1 iteration per variant on the CPU backend (one benchmark iteration =
// ImitationTrainer::iterate: rollout with rendering, D reward, D updates with the exact gradient
// penalty, PPO update). 84x84 frames, k = 4, at a small rollout: 4 envs x 32 steps = 128
// samples, one D pass (one update of 128 expert + 128 agent windows) and one PPO epoch of
// minibatch 128 (SPEC's 1024 samples x 10 epochs take minutes per iteration on a CPU).
// Expert windows come from random frames in the demonstration format (the timing does not
// depend on what they show).
//   items_per_second = env samples per second of the whole iteration
//   counters: env_s, forward_s (policy/value inference, sampling, GAE), reward_s (D forward),
//             disc_s (D update), ppo_s (PPO update), seconds per iteration each, and
//             spec_iteration_s, the projected seconds of one SPEC iteration (1024 samples,
//             8 D updates, 10 PPO epochs) from the measured per-sample rates
// BM_ImitationIterationCuda: the whole loop on the GPU (run.device=cuda, frames by CUDA-GL
// interop from the NVIDIA EGL device), RM-NL-NL, k = 4, at SPEC's sizes: 16 envs x 64 steps =
// 1024 samples, 8 D updates of 128 + 128 windows, 10 PPO epochs of minibatch 128; env worker
// threads 1 and 16. items_per_second is the env steps per second of the full Algorithm-1 loop
// (the goal: >= 25k on one H100 with 16 cores). Skipped, saying why, without a GPU.
#include <benchmark/benchmark.h>
#include <omp.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "algos/imitate.h"
#include "env/demos.h"
#include "kernels/device.h"

using namespace relmimic;

namespace {

const std::string& demos() {
  static const std::string path = [] {
    const std::string p = (std::filesystem::temp_directory_path() /
                           ("relmimic-bench-demos-" + std::to_string(getpid()) + ".h5"))
                              .string();
    env::DemoMeta meta;
    meta.env = "hopper";
    meta.expert_sha256 = std::string(64, '0');
    env::DemoWriter w(p, meta);
    Rng rng(1);
    Tensor t = Tensor::zeros({201, 84, 84}, DType::u8);
    for (long i = 0; i < t.numel(); ++i) t.data<uint8_t>()[i] = uint8_t(rng.below(256));
    w.add_episode(t, 0.0, 200);
    w.commit();
    return p;
  }();
  static const struct Remove {
    ~Remove() { std::filesystem::remove(path); }
  } remove;
  return path;
}

// Seconds per iteration of each phase, averaged over the benchmark's iterations.
struct Phases {
  double env = 0, fwd = 0, reward = 0, disc = 0, ppo = 0;
};

// Times trainer iterations; items are env samples; counters give the phases' seconds.
Phases run_iterations(benchmark::State& state, algos::ImitationTrainer& t, double batch) {
  Phases p;
  for (auto _ : state) {
    const algos::ImitationStats st = t.iterate();
    p.env += st.ppo.env_seconds;
    p.fwd += st.ppo.rollout_seconds - st.ppo.env_seconds;
    p.reward += st.reward_seconds;
    p.disc += st.disc_seconds;
    p.ppo += st.ppo.update_seconds;
  }
  const double it = double(state.iterations());
  state.SetItemsProcessed(int64_t(it * batch));
  for (double* x : {&p.env, &p.fwd, &p.reward, &p.disc, &p.ppo}) *x /= it;
  state.counters["env_s"] = p.env;
  state.counters["forward_s"] = p.fwd;
  state.counters["reward_s"] = p.reward;
  state.counters["disc_s"] = p.disc;
  state.counters["ppo_s"] = p.ppo;
  return p;
}

void BM_ImitationIteration(benchmark::State& state) {
  static const char* kVariant[] = {"baseline", "rm-l-l", "rm-l-nl", "rm-nl-nl"};
  Config cfg;
  algos::declare_imitation(cfg);
  cfg.apply_overrides({std::string("variant=") + kVariant[state.range(0)], "demos=" + demos(),
                       "env.num_envs=4", "env.threads=2", "ppo.rollout_steps=32",
                       "ppo.minibatch=128", "ppo.epochs=1", "imitate.disc_minibatch=128",
                       "eval.every=0", "ppo.total_steps=1000000000"});
  algos::apply_variant(cfg);
  state.SetLabel(std::string(kVariant[state.range(0)]) + " 84x84 k=4, 128 samples");
  const algos::ImitationSettings s = algos::imitation_settings(cfg);
  const int saved_threads = omp_get_max_threads();
  if (s.ppo.threads > 0) omp_set_num_threads(s.ppo.threads);
  algos::ImitationTrainer t(cfg);
  t.iterate();  // warm-up: oneDNN builds (JIT-compiles) its primitives on first use
  const Phases p = run_iterations(state, t, double(s.ppo.batch()));
  // SPEC: 1024 samples; 1024 / 128 = 8 D updates per pass; 10 epochs of PPO.
  const double B = double(s.ppo.batch());
  state.counters["spec_iteration_s"] =
      (p.env + p.fwd + p.reward) * (1024.0 / B) + p.disc * (1024.0 / B) + p.ppo * 10 * (1024.0 / B);
  omp_set_num_threads(saved_threads);
}

void BM_ImitationIterationCuda(benchmark::State& state) {
  static std::string skip;  // outlives the call: SkipWithError may keep the pointer
  if (kernels::cuda_device_count() == 0) {
    skip = "skipped: run.device=cuda needs a CUDA device (this build or machine has none)";
    return state.SkipWithError(skip.c_str());
  }
  const int threads = int(state.range(0));
  Config cfg;
  algos::declare_imitation(cfg);
  cfg.apply_overrides({"variant=rm-nl-nl", "demos=" + demos(), "run.device=cuda",
                       "run.device_frames=interop", "env.num_envs=16",
                       "env.threads=" + std::to_string(threads), "ppo.rollout_steps=64",
                       "ppo.minibatch=128", "ppo.epochs=10", "imitate.disc_minibatch=128",
                       "eval.every=0", "ppo.total_steps=1000000000"});
  algos::apply_variant(cfg);
  state.SetLabel("rm-nl-nl 84x84 k=4 on cuda, 1024 samples, " + std::to_string(threads) +
                 " env thread(s)");
  try {
    algos::ImitationTrainer t(cfg);
    t.iterate();  // warm-up: cuBLAS handles, workspaces, first-touch allocations
    run_iterations(state, t, double(algos::imitation_settings(cfg).ppo.batch()));
  } catch (const std::exception& e) {
    skip = std::string("failed: ") + e.what();
    state.SkipWithError(skip.c_str());
  }
}

}  // namespace

BENCHMARK(BM_ImitationIteration)
    ->DenseRange(0, 3)
    ->Unit(benchmark::kSecond)
    ->UseRealTime()
    ->Iterations(2);

BENCHMARK(BM_ImitationIterationCuda)
    ->Arg(1)
    ->Arg(16)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->MinTime(2.0);

BENCHMARK_MAIN();
