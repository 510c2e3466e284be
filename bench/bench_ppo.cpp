// PPO iteration throughput on the CPU backend (one benchmark iteration = one PpoTrainer::iterate:
// rollout + GAE + update).
//   BM_PpoExpert/<task>     the expert preset as trained (MLP 64-64, 8 envs x 256 steps = 2048
//                           samples, 10 epochs of minibatch 64, one compute thread)
//   BM_PpoPixels/<arch>     a pixel agent on 84x84 frames, k = 4, 4 envs x 32 steps = 128 samples
//                           and one epoch of minibatch 128 (SPEC's 1024 samples x 10 epochs
//                           would take minutes per iteration on a laptop CPU)
// items_per_second = env samples per second of the whole iteration. Counters: rollout_sps (env
// steps/s while collecting, rendering and inference included), update_sps (sample gradient
// steps/s, policy and value), samples_per_cpu_s (all threads), and for pixel nets the
// projected seconds of one SPEC iteration (1024 samples, 10 epochs).
#include <benchmark/benchmark.h>
#include <omp.h>

#include <ctime>
#include <string>

#include "algos/ppo.h"

using namespace relmimic;

namespace {

double process_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

void run(benchmark::State& state, Config& cfg) {
  const algos::PpoSettings s = algos::ppo_settings(cfg);
  const int saved_threads = omp_get_max_threads();
  if (s.threads > 0) omp_set_num_threads(s.threads);
  algos::PpoTrainer trainer(cfg);
  double rollout = 0, update = 0;
  const double cpu0 = process_cpu_seconds();
  for (auto _ : state) {
    const algos::IterationStats st = trainer.iterate();
    rollout += st.rollout_seconds;
    update += st.update_seconds;
  }
  const double cpu = process_cpu_seconds() - cpu0;
  const double n = double(state.iterations()) * double(s.batch());
  state.SetItemsProcessed(int64_t(n));
  state.counters["rollout_sps"] = n / rollout;
  state.counters["update_sps"] = n * s.epochs / update;
  state.counters["samples_per_cpu_s"] = n / cpu;
  state.counters["threads"] = s.threads > 0 ? s.threads : saved_threads;
  if (s.pixels())
    state.counters["spec_iteration_s"] = 1024.0 * rollout / n + 10 * 1024.0 * update / (n * s.epochs);
  omp_set_num_threads(saved_threads);
}

void BM_PpoExpert(benchmark::State& state) {
  Config cfg;
  algos::declare_ppo(cfg, algos::PpoPreset::expert);
  cfg.apply_override(std::string("env.name=") + (state.range(0) == 0 ? "hopper" : "walker2d"));
  cfg.apply_override("ppo.total_steps=1000000000");
  state.SetLabel(state.range(0) == 0 ? "hopper mlp" : "walker2d mlp");
  run(state, cfg);
}

void BM_PpoPixels(benchmark::State& state) {
  static const char* kArch[] = {"nature", "impala", "local", "nonlocal"};
  Config cfg;
  algos::declare_ppo(cfg, algos::PpoPreset::pixels);
  cfg.apply_overrides({std::string("net.arch=") + kArch[state.range(0)], "env.num_envs=4",
                       "env.threads=2", "ppo.rollout_steps=32", "ppo.minibatch=128",
                       "ppo.epochs=1", "ppo.total_steps=1000000000"});
  state.SetLabel(std::string(kArch[state.range(0)]) + " 84x84 k=4");
  run(state, cfg);
}

}  // namespace

BENCHMARK(BM_PpoExpert)->Arg(0)->Arg(1)->Unit(benchmark::kSecond)->UseRealTime()->MinTime(5);
BENCHMARK(BM_PpoPixels)->DenseRange(0, 3)->Unit(benchmark::kSecond)->UseRealTime()->Iterations(2);

BENCHMARK_MAIN();
