// The discriminator on the CPU (float) at SPEC's shapes (84x84, k = 4): one update (expert +
// agent cross-entropy, gradient penalty with its double backward, clip, Adam) at batch 32 and
// 128 for the relational net and the GAIfO baseline, and reward() throughput. samples/s counts
// expert + agent windows for an update, windows scored for reward().
#include <benchmark/benchmark.h>

#include <memory>

#include "algos/discriminator.h"

namespace relmimic {
namespace {

using algos::Discriminator;
using algos::DiscriminatorConfig;

Tensor random_windows(int batch, Rng& rng) {
  Tensor t = Tensor::zeros({batch, 4, 84, 84}, DType::u8);
  for (long i = 0; i < t.numel(); ++i) t.data<uint8_t>()[i] = uint8_t(rng.below(256));
  return t;
}

DiscriminatorConfig config(bool relational, int max_batch) {
  DiscriminatorConfig c;
  c.relational = relational;
  c.max_batch = max_batch;
  c.seed = 1;
  return c;
}

void BM_Update(benchmark::State& state, bool relational) {
  const int batch = int(state.range(0));
  Discriminator<float> d(config(relational, batch));
  Rng rng(2);
  Tensor expert = random_windows(batch, rng), agent = random_windows(batch, rng);
  for (auto _ : state) benchmark::DoNotOptimize(d.update(expert, agent).loss);
  state.counters["samples/s"] =
      benchmark::Counter(double(state.iterations()) * 2 * batch, benchmark::Counter::kIsRate);
  state.counters["params"] = double(d.parameters().size());
}

void BM_Reward(benchmark::State& state, bool relational) {
  const int batch = int(state.range(0));
  Discriminator<float> d(config(relational, 128));  // reward() runs in passes of 128
  Rng rng(3);
  Tensor s = random_windows(batch, rng);
  std::vector<float> r(static_cast<size_t>(batch));
  for (auto _ : state) {
    d.reward(s, r.data());
    benchmark::DoNotOptimize(r.data());
  }
  state.counters["samples/s"] =
      benchmark::Counter(double(state.iterations()) * batch, benchmark::Counter::kIsRate);
}

BENCHMARK_CAPTURE(BM_Update, relational, true)
    ->Arg(32)
    ->Arg(128)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Update, baseline, false)
    ->Arg(32)
    ->Arg(128)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Reward, relational, true)
    ->Arg(256)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_Reward, baseline, false)
    ->Arg(256)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace relmimic

BENCHMARK_MAIN();
