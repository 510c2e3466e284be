// Env throughput: physics-only env steps/s and rendered + stacked env steps/s (84x84 or 48x48 gray,
// k = 4) for N envs on T worker threads. items_per_second = env steps per second (all envs).
// Args: {task (0 hopper, 1 walker2d), N, T, look, frame size}; look 0 is the default
// RenderConfig (no shadows, no floor reflection), 1 adds the reflection, 2 adds reflection and
// shadows (Gym's look); frame size 84 (SPEC) or 48 (the quick settings' frames). Physics-only
// cases have no frame size.
// BM_DeviceFrameSteps: the same rendered steps with FrameMode::Cuda (CUDA-GL interop on the
// NVIDIA EGL device, stacks in device memory); skipped, saying why, without one.
#include <benchmark/benchmark.h>

#include <ctime>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "engine/rng.h"
#include "env/frames_cuda.h"
#include "env/pool.h"
#include "kernels/device.h"

using namespace relmimic;
using namespace relmimic::env;

namespace {

double process_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// A fixed table of uniform actions in [-1, 1], cycled through (no RNG cost in the loop).
std::vector<float> action_table(int n, int a, int rows) {
  Rng rng(7);
  std::vector<float> t(size_t(rows) * n * a);
  for (float& x : t) x = float(rng.uniform(-1.0, 1.0));
  return t;
}

void run(benchmark::State& state, bool render, FrameMode mode = FrameMode::Host) {
  PoolConfig cfg;
  cfg.task = state.range(0) == 0 ? Task::Hopper : Task::Walker2d;
  cfg.num_envs = int(state.range(1));
  cfg.num_threads = int(state.range(2));
  cfg.render = render;
  cfg.seed = 1;
  const int look = int(state.range(3));
  cfg.render_config.reflections = look >= 1;
  cfg.render_config.shadows = look == 2;
  if (render) cfg.render_config.width = cfg.render_config.height = int(state.range(4));
  cfg.frame_mode = mode;
  const bool device = mode == FrameMode::Cuda;
  static std::string skip;  // outlives the call: SkipWithError may keep the pointer
  if (device) {
    cfg.render_config.egl = "nvidia";
    if (!cuda_frames_built())
      skip = "skipped: " + cuda_frames_unsupported({});
    else if (kernels::cuda_device_count() == 0)
      skip = std::string("skipped: device frames need a CUDA device (") +
             kernels::cuda_device_description(0) + ")";
    if (!skip.empty()) return state.SkipWithError(skip.c_str());
  }
  std::unique_ptr<EnvPool> made;
  try {
    made = std::make_unique<EnvPool>(cfg);
  } catch (const std::exception& e) {
    if (!device) throw;
    skip = std::string("skipped: ") + e.what();  // e.g. no NVIDIA EGL device
    return state.SkipWithError(skip.c_str());
  }
  EnvPool& pool = *made;
  const int n = pool.num_envs(), a = pool.action_dim(), rows = 64;
  std::vector<float> actions = action_table(n, a, rows);
  std::vector<uint8_t> frames(
      render && !device ? size_t(n) * pool.frame_stack() * pool.height() * pool.width() : 0);
  std::vector<float> obs(size_t(n) * pool.obs_dim());
  uint8_t* fp = render && !device ? frames.data() : nullptr;
  pool.reset(fp, obs.data());
  long it = 0;
  const double cpu0 = process_cpu_seconds();
  for (auto _ : state) {
    pool.step(actions.data() + size_t(it++ % rows) * n * a, fp, obs.data());
    benchmark::DoNotOptimize(obs.data());
  }
  const double cpu = process_cpu_seconds() - cpu0;
  state.SetItemsProcessed(state.iterations() * n);
  // Env steps per CPU-second of the whole process (all threads): independent of how many
  // cores other processes leave free, so T x this is what T idle cores would reach.
  state.counters["steps_per_cpu_s"] = double(state.iterations()) * n / cpu;
  state.counters["envs"] = n;
  state.counters["threads"] = pool.num_threads();
  if (render) state.SetLabel(pool.gl_info().renderer);
}

void BM_PhysicsSteps(benchmark::State& state) {
  run(state, false);
}
void BM_RenderedSteps(benchmark::State& state) {
  run(state, true);
}
// Frames stay on the GPU: step() returns once every worker's stream has finished its stacks.
void BM_DeviceFrameSteps(benchmark::State& state) {
  run(state, true, FrameMode::Cuda);
}

}  // namespace

BENCHMARK(BM_PhysicsSteps)
    ->ArgsProduct({{0}, {1, 8, 16}, {1, 2}, {0}})
    ->Args({1, 16, 2, 0})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RenderedSteps)
    ->ArgsProduct({{0}, {1, 8, 16}, {1, 2}, {0}, {84}})
    ->Args({1, 8, 2, 0, 84})
    ->Args({1, 16, 2, 0, 84})
    ->Args({0, 16, 2, 1, 84})
    ->Args({0, 16, 2, 2, 84})
    ->ArgsProduct({{0, 1}, {8}, {1, 2}, {0}, {48}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

BENCHMARK(BM_DeviceFrameSteps)
    ->ArgsProduct({{0, 1}, {16, 64}, {1, 4, 8}, {0}, {84}})
    ->UseRealTime()
    ->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
