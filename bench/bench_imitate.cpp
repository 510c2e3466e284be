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
#include <benchmark/benchmark.h>
#include <omp.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "algos/imitate.h"
#include "env/demos.h"

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
  double env = 0, fwd = 0, reward = 0, disc = 0, ppo = 0;
  for (auto _ : state) {
    const algos::ImitationStats st = t.iterate();
    env += st.ppo.env_seconds;
    fwd += st.ppo.rollout_seconds - st.ppo.env_seconds - st.reward_seconds - st.disc_seconds;
    reward += st.reward_seconds;
    disc += st.disc_seconds;
    ppo += st.ppo.update_seconds;
  }
  const double it = double(state.iterations()), B = double(s.ppo.batch());
  state.SetItemsProcessed(int64_t(it * B));
  state.counters["env_s"] = env / it;
  state.counters["forward_s"] = fwd / it;
  state.counters["reward_s"] = reward / it;
  state.counters["disc_s"] = disc / it;
  state.counters["ppo_s"] = ppo / it;
  // SPEC: 1024 samples; 1024 / 128 = 8 D updates per pass; 10 epochs of PPO.
  state.counters["spec_iteration_s"] = (env + fwd + reward) / it * (1024.0 / B) +
                                       disc / it * (1024.0 / B) + ppo / it * 10 * (1024.0 / B);
  omp_set_num_threads(saved_threads);
}

}  // namespace

BENCHMARK(BM_ImitationIteration)
    ->DenseRange(0, 3)
    ->Unit(benchmark::kSecond)
    ->UseRealTime()
    ->Iterations(2);

BENCHMARK_MAIN();
