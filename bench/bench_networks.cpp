// Forward + backward of each network on the CPU (float), policy form (A = 3 actions) at
// 84x84x4, batch 1 / 32 / 128; the reward nets' forward + backward and gradient penalty too.
// Reports samples/s and achieved forward+backward GFLOP/s (backward counted as 2x forward).
#include <benchmark/benchmark.h>

#include <memory>

#include "engine/networks.h"

namespace relmimic {
namespace {

Tensor random_frames(int batch, Rng& rng) {
  Tensor t = Tensor::zeros({batch, 4, 84, 84}, DType::u8);
  for (long i = 0; i < t.numel(); ++i) t.data<uint8_t>()[i] = uint8_t(rng.below(256));
  return t;
}

void report(benchmark::State& state, int batch, long flops) {
  state.counters["samples/s"] =
      benchmark::Counter(double(state.iterations()) * batch, benchmark::Counter::kIsRate);
  state.counters["GFLOP/s"] =
      benchmark::Counter(double(state.iterations()) * batch * 3.0 * flops,
                         benchmark::Counter::kIsRate, benchmark::Counter::kIs1000);
}

void BM_Agent(benchmark::State& state, Arch arch) {
  const int batch = int(state.range(0));
  AgentConfig c;
  c.arch = arch;
  c.actions = 3;
  c.max_batch = batch;
  AgentNet<float> net(c);
  Rng rng(1);
  Tensor obs = random_frames(batch, rng);
  Tensor dmean = Tensor::zeros({batch, 3}, DType::f32);
  for (long i = 0; i < dmean.numel(); ++i) dmean.data<float>()[i] = float(rng.normal());
  for (auto _ : state) {
    Tensor mean = net.forward(obs);
    benchmark::DoNotOptimize(mean.data<float>());
    net.backward(dmean);
  }
  report(state, batch, net.flops());
}

void BM_Reward(benchmark::State& state, bool relational) {
  const int batch = int(state.range(0));
  RewardConfig c;
  c.relational = relational;
  c.max_batch = batch;
  RewardNet<float> net(c);
  Rng rng(2);
  Tensor frames = random_frames(batch, rng);
  Tensor dlogit = Tensor::zeros({batch, 1}, DType::f32);
  for (long i = 0; i < batch; ++i) dlogit.data<float>()[i] = float(rng.normal());
  for (auto _ : state) {
    Tensor logit = net.forward(frames);
    benchmark::DoNotOptimize(logit.data<float>());
    net.backward(dlogit);
  }
  report(state, batch, net.flops());
}

// forward + grad_x backward + jvp + backward_jvp (about 5x a forward).
void BM_RewardPenalty(benchmark::State& state, bool relational) {
  const int batch = int(state.range(0));
  RewardConfig c;
  c.relational = relational;
  c.max_batch = batch;
  RewardNet<float> net(c);
  Rng rng(3);
  Tensor x = Tensor::zeros({batch, 4, 84, 84}, DType::f32);
  for (long i = 0; i < x.numel(); ++i) x.data<float>()[i] = float(rng.uniform());
  for (auto _ : state) benchmark::DoNotOptimize(net.gradient_penalty(x, 10.0, true));
  state.counters["samples/s"] =
      benchmark::Counter(double(state.iterations()) * batch, benchmark::Counter::kIsRate);
}

#define AGENT_BENCH(arch)                       \
  BENCHMARK_CAPTURE(BM_Agent, arch, Arch::arch) \
      ->Arg(1)                                  \
      ->Arg(32)                                 \
      ->Arg(128)                                \
      ->Unit(benchmark::kMillisecond)           \
      ->UseRealTime()

AGENT_BENCH(nature);
AGENT_BENCH(impala);
AGENT_BENCH(local);
AGENT_BENCH(nonlocal);
BENCHMARK_CAPTURE(BM_Reward, reward, true)
    ->Arg(1)
    ->Arg(32)
    ->Arg(128)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Reward, reward_baseline, false)
    ->Arg(1)
    ->Arg(32)
    ->Arg(128)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_RewardPenalty, reward, true)
    ->Arg(32)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_RewardPenalty, reward_baseline, false)
    ->Arg(32)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace relmimic

BENCHMARK_MAIN();
